// Loads the WebAssembly core for unit tests: compiles build/wtcp.debug.wasm once per test process
// (vitest runs each test file in its own worker) and gives a fresh instance, through the raw
// bindings in build/wtcp.debug.js, on every `instantiate()` call. Build first: `npm run build:wasm`.
//
// WTCP_CORE_BASE, if set, names another raw-bindings build by its path without extension (say
// /tmp/x for /tmp/x.wasm + /tmp/x.js), to test a scratch build of a few modules.

import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { instantiate as instantiateRaw } from '../../build/wtcp.debug.js';

/** The adapted exports of one core instance (u32 results as numbers, u64 as BigInt, bool as boolean). */
export type CoreExports = Awaited<ReturnType<typeof instantiateRaw>>;

const BASE = process.env.WTCP_CORE_BASE ?? fileURLToPath(new URL('../../build/wtcp.debug', import.meta.url));

let compiled: Promise<WebAssembly.Module> | undefined;
let bindings: Promise<{ instantiate: typeof instantiateRaw }> | undefined;

/** The compiled core module, compiled on first use and shared afterwards. */
export function coreModule(): Promise<WebAssembly.Module> {
  compiled ??= readFile(`${BASE}.wasm`).then((bytes) => WebAssembly.compile(bytes));
  return compiled;
}

/** The imports the raw bindings take (the generated type follows the core's own imports). */
export type CoreImports = Parameters<typeof instantiateRaw>[1];

/**
 * A fresh core instance: its own memory and globals, nothing shared with other instances.
 * `imports.env` entries are added to those the bindings provide (abort, ...).
 */
export async function instantiate(imports: Partial<CoreImports> = {}): Promise<CoreExports> {
  bindings ??= import(pathToFileURL(`${BASE}.js`).href) as Promise<{ instantiate: typeof instantiateRaw }>;
  const [module, raw] = await Promise.all([coreModule(), bindings]);
  return raw.instantiate(module, { env: {}, ...imports } as CoreImports);
}
