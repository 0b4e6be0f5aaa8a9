{
  # Built by `npm run build:native` (node-gyp rebuild --directory=native --nodedir=/usr).
  # This file lives in native/ rather than at the top level on purpose:
  #  - node-gyp writes its output to build/ next to binding.gyp, and `node-gyp rebuild` deletes that
  #    folder first; at the top level that is the folder holding the AssemblyScript .wasm output;
  #  - npm runs `node-gyp rebuild` on install for any package with a top-level binding.gyp and no
  #    install script, which would do exactly that to consumers.
  # Output: native/build/Release/wtcp_tap.node (loaded by src/links/tap.ts).
  "targets": [
    {
      "target_name": "wtcp_tap",
      "sources": ["tap.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
