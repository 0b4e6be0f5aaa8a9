// Runs in the browser (bundled by Vite, loaded in Chromium by test/browser/net.test.ts): two stacks
// joined in memory, the `wtcp/net` API on both, an echo server on one and a client on the other.
// Everything the page imports is the package's browser-safe surface: the main entry and `net`.
import { Stack, MemoryLink, loadCoreModule } from '../../../src/index.js';
import '../../../src/net.js';
import type { Socket } from '../../../src/net.js';

interface Result {
  ok: boolean;
  error?: string;
  sent?: number;
  received?: number;
  sentDigest?: string;
  receivedDigest?: string;
  serverSaw?: { remoteAddress?: string; remotePort?: number };
  client?: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number };
  refused?: { code?: string; syscall?: string; errno?: number };
  bufferIsUint8Array?: boolean;
}

async function hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function run(): Promise<Result> {
  const bytes = new Uint8Array(await (await fetch('/wtcp.wasm')).arrayBuffer());
  const module = await loadCoreModule({ module: bytes });
  const [serverEnd, clientEnd] = MemoryLink.pair();
  const server = new Stack({ link: serverEnd, interfaces: [{ ip: '198.18.0.2/24' }], core: { module } });
  const client = new Stack({ link: clientEnd, interfaces: [{ ip: '198.18.0.1/24' }], core: { module } });

  const serverSaw: Result['serverSaw'] = {};
  const listener = server.net.createServer((s: Socket) => {
    serverSaw.remoteAddress = s.remoteAddress;
    serverSaw.remotePort = s.remotePort;
    s.pipe(s); // echo, with the stream's own backpressure
  });
  await new Promise<void>((resolve) => listener.listen({ port: 7, host: '198.18.0.2' }, resolve));

  // 1 MiB of pseudo-random bytes, written in uneven pieces, read back through the echo
  const sent: Uint8Array<ArrayBuffer> = new Uint8Array(1 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < sent.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; sent[i] = x & 0xff; }
  const sock = client.net.connect(7, '198.18.0.2');
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const clientInfo = { localAddress: sock.localAddress, localPort: sock.localPort, remoteAddress: sock.remoteAddress, remotePort: sock.remotePort };
  const chunks: Uint8Array[] = [];
  let bufferIsUint8Array = true;
  sock.on('data', (c: Uint8Array) => { bufferIsUint8Array &&= c instanceof Uint8Array; chunks.push(c); });
  const ended = new Promise<void>((resolve, reject) => { sock.once('end', resolve); sock.once('error', reject); });
  for (let off = 0, step = 1000; off < sent.length; off += step, step = step * 3 % 65521 + 1) {
    if (!sock.write(sent.subarray(off, Math.min(sent.length, off + step)))) {
      await new Promise<void>((resolve) => sock.once('drain', resolve));
    }
  }
  sock.end();
  await ended;
  const received: Uint8Array<ArrayBuffer> = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) { received.set(c, off); off += c.length; }

  // a port nobody listens on: a Node-shaped error, emitted asynchronously
  const refused = await new Promise<Result['refused']>((resolve) => {
    const s = client.net.connect(9, '198.18.0.2');
    s.once('error', (e: { code?: string; syscall?: string; errno?: number }) => resolve({ code: e.code, syscall: e.syscall, errno: e.errno }));
  });

  listener.close();
  server.close();
  client.close();
  return {
    ok: true, sent: sent.length, received: received.length,
    sentDigest: await hex(sent), receivedDigest: await hex(received),
    serverSaw, client: clientInfo, refused, bufferIsUint8Array,
  };
}

const out = document.getElementById('out')!;
run().then(
  (r) => { (window as unknown as { wtcpResult: Result }).wtcpResult = r; out.textContent = JSON.stringify(r, null, 2); },
  (e: Error) => {
    const r = { ok: false, error: `${e.name}: ${e.message}\n${e.stack ?? ''}` };
    (window as unknown as { wtcpResult: Result }).wtcpResult = r;
    out.textContent = r.error;
  },
);
