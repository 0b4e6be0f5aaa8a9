// Target 3a: bytes per half-open connection (SYN-queue entry), as the growth between two instances
// that differ only in maxSyn (2^20 entries apart), so that everything an entry costs is counted:
// its fields, its hash bucket, per-bucket data, and its slot in the timer wheel (timers are sized
// maxSyn + maxConn).
// Two measures:
//  - heap bytes: the stub runtime's allocation pointer after init (~lib/rt/stub/offset, exported
//    for the benchmark by re-emitting build/wtcp.debug.wasm with binaryen: same allocations as the
//    release build). This is what the core's tables take.
//  - WASM memory: memory.buffer.byteLength of the release build. init() first grows memory to an
//    estimate of its tables (assembly/stack.ts reserveHeap: 72 B per SYN-queue entry, 288 B per
//    connection, ...), so this figure is that estimate, not the heap; untouched pages cost address
//    space, not RSS. (Without the estimate the stub runtime doubles memory whenever it grows.)
// memoryBytes() is reported too: it counts only poolAlloc'd regions (frame areas, receive chunks,
// ARP slots), not the per-entry tables, so it does not change with maxSyn.
// The same for connections (maxConn), for information.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeStack, WASM_PATH } from '../lib/wtcp.mjs';

export async function heapProbe() {
  try {
    const { default: binaryen } = await import('binaryen');
    const dbg = path.join(path.dirname(WASM_PATH), 'wtcp.debug.wasm');
    const mod = binaryen.readBinary(readFileSync(dbg));
    mod.addGlobalExport('~lib/rt/stub/offset', '__bench_heapTop');
    const compiled = await WebAssembly.compile(mod.emitBinary());
    mod.dispose();
    const { instantiate } = await import(path.join(path.dirname(WASM_PATH), 'wtcp.debug.js'));
    return async (maxSyn, maxConn, maxListeners = 4, rxChunks = 16) => {
      const w = await instantiate(compiled, {});
      const rc = w.init(maxListeners, maxSyn, maxConn, 0, rxChunks, 64, 1, 2, 3, 4);
      if (rc !== 0) throw new Error(`init ${rc}`);
      return w.__bench_heapTop.value >>> 0;
    };
  } catch (e) {
    return null;   // binaryen missing or the runtime changed: WASM memory figures only
  }
}

export async function run() {
  const D = 1 << 20;
  const base = { maxSyn: 1024, maxConn: 1024, listen: false };
  const a = await makeStack(base);
  const b = await makeStack({ ...base, maxSyn: 1024 + D });
  const c = await makeStack({ ...base, maxConn: 1 << 19 });
  const d = await makeStack({ ...base, maxConn: 1 << 20 });
  const wasmPerSyn = (b.memorySize() - a.memorySize()) / D;
  const poolPerSyn = (b.w.memoryBytes() - a.w.memoryBytes()) / D;
  const wasmPerConn = (d.memorySize() - c.memorySize()) / (1 << 19);
  const probe = await heapProbe();
  let heapPerSyn = null, heapPerConn = null;
  if (probe) {
    heapPerSyn = ((await probe(1024 + D, 1024)) - (await probe(1024, 1024))) / D;
    heapPerConn = ((await probe(1024, 1 << 20)) - (await probe(1024, 1 << 19))) / (1 << 19);
  }
  const perSyn = heapPerSyn ?? wasmPerSyn;
  return {
    figures: [
      {
        id: 'bytes_per_half_open', title: 'Memory per half-open connection (heap growth per maxSyn entry, incl. hash + timer)',
        value: perSyn, unit: 'bytes', runs: 1, samples: [perSyn],
        target: { text: '<= 64 bytes', max: 64 },
        extra: {
          measure: heapPerSyn != null ? 'heap (stub allocator offset)' : 'WASM memory size (binaryen unavailable)',
          wasmMemoryPerEntry: wasmPerSyn,
          memoryBytesPerEntry: poolPerSyn,
          wasmMemoryMaxSyn1024: a.memorySize(), wasmMemoryMaxSyn1024plus2pow20: b.memorySize(),
          memoryBytesMaxSyn1024: a.w.memoryBytes(), memoryBytesMaxSyn1024plus2pow20: b.w.memoryBytes(),
        },
      },
      {
        id: 'bytes_per_connection', title: 'Memory per connection record (heap growth per maxConn entry, incl. hash + timer)',
        value: heapPerConn ?? wasmPerConn, unit: 'bytes', runs: 1, samples: [heapPerConn ?? wasmPerConn],
        extra: { wasmMemoryPerEntry: wasmPerConn, wasmMemoryMaxConn2pow19: c.memorySize(), wasmMemoryMaxConn2pow20: d.memorySize() },
      },
    ],
    checks: { heapProbeAvailable: probe != null },
  };
}
