/**
 * The core and the `wtcp/net` API run in a real browser: Vite bundles test/browser/net-page (which
 * imports the main entry and src/net.ts, nothing else) for the browser, a static server on
 * 127.0.0.1 serves it with build/wtcp.wasm, and Debian's Chromium (headless, through
 * playwright-core) runs two stacks joined in memory with an echo server and a client on the net
 * API. A Node built-in left in the import graph would fail the bundle's load or the run.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, createLogger, type Rollup } from 'vite';
import { launchChromium, type LaunchedBrowser } from '../helpers/chromium.js';

const ROOT = fileURLToPath(new URL('./net-page/', import.meta.url));
const WASM = fileURLToPath(new URL('../../build/wtcp.wasm', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

let outDir = '';
let server: Server | undefined;
let base = '';
let chromium: LaunchedBrowser | undefined;
const warnings: string[] = [];

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'wtcp-browser-'));
  // Vite reports a Node built-in it had to stub out ("externalized for browser compatibility")
  // through its logger, Rollup through onwarn: keep both
  const logger = createLogger('warn', { allowClearScreen: false });
  logger.warn = (msg: string) => { warnings.push(msg); };
  logger.warnOnce = logger.warn;
  await build({
    root: ROOT,
    customLogger: logger,
    configFile: false,
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2022',
      minify: false,
      rollupOptions: { onwarn: (w: Rollup.RollupLog) => { warnings.push(w.message); } },
    },
  });
  server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path === '/favicon.ico') { res.writeHead(204).end(); return; }
    const file = path === '/wtcp.wasm' ? WASM : join(outDir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(outDir) && file !== WASM) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch { res.writeHead(404).end(); }
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('static server has no port');
  base = `http://127.0.0.1:${addr.port}`;
  chromium = await launchChromium();
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('the core and wtcp/net in Chromium', () => {
  it('bundles for the browser with no Node built-in left to externalise', async () => {
    // Vite replaces a Node built-in it cannot bundle with a stub module named __vite-browser-external
    const js = (await readdir(join(outDir, 'assets'))).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    for (const f of js) expect(await readFile(join(outDir, 'assets', f), 'utf8')).not.toContain('__vite-browser-external');
    expect(warnings.filter((w) => /externali[sz]ed for browser/.test(w))).toEqual([]);
  });

  it('two stacks in a page: 1 MiB echoed intact through net.Socket streams; ECONNREFUSED shaped like Node\'s', async () => {
    const page = await chromium!.browser.newPage();
    const errors: string[] = [];
    let failed: (e: Error) => void = () => undefined;
    const pageFailed = new Promise<never>((_, reject) => { failed = reject; });
    page.on('pageerror', (e) => { errors.push(e.message); failed(new Error(`page error: ${e.message}`)); });
    page.on('console', (m) => { if (m.type() === 'error') { errors.push(m.text()); failed(new Error(`console error: ${m.text()}`)); } });
    await page.goto(`${base}/`);
    await Promise.race([
      pageFailed,
      page.waitForFunction(() => (window as unknown as { wtcpResult?: unknown }).wtcpResult !== undefined, undefined, { timeout: 60_000 }),
    ]);
    const r = await page.evaluate(() => (window as unknown as { wtcpResult: Record<string, unknown> }).wtcpResult);
    await page.close();
    expect(errors).toEqual([]);
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.sent).toBe(1 << 20);
    expect(r.received).toBe(1 << 20);
    expect(r.receivedDigest).toBe(r.sentDigest);
    expect(r.bufferIsUint8Array).toBe(true);
    expect(r.client).toMatchObject({ localAddress: '198.18.0.1', remoteAddress: '198.18.0.2', remotePort: 7 });
    expect(r.serverSaw).toEqual({ remoteAddress: '198.18.0.1', remotePort: (r.client as { localPort: number }).localPort });
    expect(r.refused).toEqual({ code: 'ECONNREFUSED', syscall: 'connect', errno: -111 });
  }, 90_000);
});
