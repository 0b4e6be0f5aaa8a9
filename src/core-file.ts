/**
 * Finding and reading the compiled core (build/wtcp.wasm, build/wtcp.debug.wasm).
 *
 * The only file of the host that touches the file system, and it does so without a static Node
 * import: Node's modules are reached through `process.getBuiltinModule` (Node >= 20.16) or a dynamic
 * import, so a browser bundle can include this file and simply fall back to fetch(). src/core.ts
 * calls it; users who have the bytes or a compiled WebAssembly.Module pass them instead
 * (`new Stack({ core: { module } })`, `setCoreModule()`).
 */

/** Which build: release (optimised, asserts kept) or debug (source maps, the one tests prefer). */
export type CoreVariant = 'release' | 'debug';

/** The URL of a build, relative to this file: src/ and dist/ both sit one level below the package root. */
export function coreUrl(variant: CoreVariant): URL {
  return new URL(variant === 'debug' ? '../build/wtcp.debug.wasm' : '../build/wtcp.wasm', import.meta.url);
}

interface NodeFs {
  readFileSync(path: URL): Uint8Array;
}
interface NodeFsPromises {
  readFile(path: URL): Promise<Uint8Array>;
}
type GetBuiltin = (id: string) => unknown;

function getBuiltin(): GetBuiltin | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: GetBuiltin } }).process;
  return typeof p?.getBuiltinModule === 'function' ? p.getBuiltinModule.bind(p) : undefined;
}

/**
 * The bytes of a build, read synchronously, or undefined where that is impossible (browsers, Node
 * before 20.16, a URL that is not a file). Throws if the file should exist but cannot be read.
 */
export function readCoreSync(variant: CoreVariant): Uint8Array | undefined {
  const url = coreUrl(variant);
  if (url.protocol !== 'file:') return undefined;
  const gb = getBuiltin();
  if (!gb) return undefined;
  const fs = gb('node:fs') as NodeFs | undefined;
  if (!fs) return undefined;
  try {
    return fs.readFileSync(url);
  } catch (e) {
    throw new Error(
      `wtcp: cannot read the WebAssembly core ${url.pathname} (${(e as Error).message}); ` +
        'build it with `npm run build:wasm`',
    );
  }
}

/** The bytes of a build, read from the file system (Node) or fetched (browsers). */
export async function readCore(variant: CoreVariant): Promise<Uint8Array> {
  const url = coreUrl(variant);
  if (url.protocol === 'file:') {
    const sync = readCoreSync(variant);
    if (sync) return sync;
    const fsp = (await import(/* @vite-ignore */ 'node:fs/promises' as string)) as NodeFsPromises;
    return fsp.readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`wtcp: cannot fetch the WebAssembly core ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The variant asked for by the environment: WTCP_CORE=debug or WTCP_DEBUG=1 pick the debug build. */
export function variantFromEnv(): CoreVariant {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (!env) return 'release';
  if (env.WTCP_CORE === 'debug' || (env.WTCP_DEBUG !== undefined && env.WTCP_DEBUG !== '' && env.WTCP_DEBUG !== '0')) {
    return 'debug';
  }
  return 'release';
}
