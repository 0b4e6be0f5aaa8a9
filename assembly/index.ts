// The WebAssembly core's exports. Everything the host calls is a function over i32 handles and
// pointers into this instance's memory; see src/core.ts for the host side.
export * from './test-exports';

export function abiVersion(): i32 {
  return 1;
}
