// Node's own http module on two stacks joined in memory: http.createServer on stack A (fed with
// server.emit('connection', socket)), http.request on stack B through a StackAgent (an http.Agent
// whose createConnection uses the stack). NEVER the `agent` option set to false: Node would then ignore
// createConnection and open a real kernel connection.
import { describe, it, expect, afterEach } from 'vitest';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import '../../src/net.js'; // installs stack.net
import { StackAgent } from '../../src/http.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const A_IP = '198.18.0.2';
const B_IP = '198.18.0.1';
const cleanups: (() => void)[] = [];
afterEach(() => { for (const f of cleanups.splice(0)) f(); });

async function setup(handler: http.RequestListener) {
  const [la, lb] = MemoryLink.pair();
  const a = new Stack({ link: la, interfaces: [{ ip: `${A_IP}/24` }], seed: 1 });
  const b = new Stack({ link: lb, interfaces: [{ ip: `${B_IP}/24` }], seed: 2 });
  const httpServer = http.createServer({ keepAlive: true }, handler);
  let connections = 0;
  const server = a.net.createServer((socket) => {
    connections++;
    httpServer.emit('connection', socket);
  });
  await new Promise<void>((r) => server.listen({ port: 80, host: A_IP }, r));
  cleanups.push(() => { server.close(); a.close(); b.close(); });
  return { a, b, httpServer, server, connections: () => connections };
}

function request(opts: http.RequestOptions, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('Node http over the stack', () => {
  it('serves 1,000 requests over a few keep-alive connections, every body verified', async () => {
    const env = await setup((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`response to ${req.method} ${req.url} from ${req.socket.remoteAddress}`);
    });
    const agent = new StackAgent(env.b, { keepAlive: true, maxSockets: 4 });
    cleanups.unshift(() => agent.destroy());
    const N = 1000;
    const results = await Promise.all(Array.from({ length: N }, (_, i) =>
      request({ host: A_IP, port: 80, path: `/item/${i}`, agent })));
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`response to GET /item/${i} from ${B_IP}`);
    });
    expect(env.connections()).toBeGreaterThan(0);
    expect(env.connections()).toBeLessThanOrEqual(4);
    // and sequential requests reuse one connection
    const before = env.connections();
    for (let i = 0; i < 20; i++) {
      const r = await request({ host: A_IP, port: 80, path: `/seq/${i}`, agent });
      expect(r.body.toString()).toBe(`response to GET /seq/${i} from ${B_IP}`);
    }
    expect(env.connections()).toBe(before);
  });

  it('POSTs a 1 MB body and gets its digest back', async () => {
    const env = await setup((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => { h.update(c); n += c.length; });
      req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
    });
    const agent = new StackAgent(env.b, { keepAlive: true });
    cleanups.unshift(() => agent.destroy());
    const body = randomBytes(1024 * 1024);
    const r = await request({ host: A_IP, port: 80, path: '/upload', method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, body);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`${body.length} ${createHash('sha256').update(body).digest('hex')}`);
  });

  it('downloads a 2 MB response body intact (chunked)', async () => {
    const payload = randomBytes(2 * 1024 * 1024);
    const env = await setup((_req, res) => {
      let off = 0;
      const pump = () => {
        while (off < payload.length) {
          const chunk = payload.subarray(off, off + 100_000);
          off += chunk.length;
          if (!res.write(chunk)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    });
    const agent = new StackAgent(env.b, { keepAlive: true });
    cleanups.unshift(() => agent.destroy());
    const r = await request({ host: A_IP, port: 80, path: '/big', agent });
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.body.equals(payload)).toBe(true);
  });

  it('a request to a port nobody listens on fails with ECONNREFUSED as Node reports it', async () => {
    const env = await setup((_req, res) => res.end());
    const agent = new StackAgent(env.b);
    cleanups.unshift(() => agent.destroy());
    const err = await request({ host: A_IP, port: 81, path: '/', agent }).then(() => undefined, (e: unknown) => e as NodeJS.ErrnoException & { address?: string; port?: number });
    expect(err?.code).toBe('ECONNREFUSED');
    expect(err?.syscall).toBe('connect');
    expect(err?.address).toBe(A_IP);
    expect(err?.port).toBe(81);
  });

  it('examples/http.mjs runs and prints the status line and body', async () => {
    if (!existsSync(path.join(ROOT, 'dist/net.js')) || !existsSync(path.join(ROOT, 'dist/http.js'))) {
      throw new Error('dist/ is missing or stale (no dist/net.js): run `npm run build:ts` (npm install does it) before this test');
    }
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [path.join(ROOT, 'examples/http.mjs')], { cwd: ROOT, timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`examples/http.mjs failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    expect(out).toBe('HTTP/1.1 200 OK\nhello from wtcp, you asked for /index.html\n');
  });
});
