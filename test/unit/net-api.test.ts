// The Node net-compatible API (src/net.ts) between two stacks joined in memory: events and their
// order, Node-shaped errors emitted asynchronously, backpressure with a paused reader, half-close,
// setTimeout, destroy, server close.
import { describe, it, expect, afterEach } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { VirtualClock } from '../../src/clock.js';
import '../../src/net.js'; // installs stack.net
import type { Server, Socket } from '../../src/net.js';
import type { NetError } from '../../src/net.js';

const A_IP = '198.18.7.1';
const B_IP = '198.18.7.2';
const stacks: Stack[] = [];

function pair(personality: 'linux-5.4' | 'freebsd-12.1' | '4.3bsd' = 'linux-5.4') {
  const [la, lb] = MemoryLink.pair();
  const a = new Stack({ personality, link: la, interfaces: [{ ip: `${A_IP}/24` }], seed: 1 });
  const b = new Stack({ personality, link: lb, interfaces: [{ ip: `${B_IP}/24` }], seed: 2 });
  stacks.push(a, b);
  return { a, b };
}

afterEach(() => {
  for (const s of stacks.splice(0)) s.close();
});

/** resolves on 'close' (events.once would reject on 'error'); register it early */
function closed(s: Socket | Server): Promise<unknown> {
  return new Promise((r) => s.once('close', r));
}

async function listening(server: Server, port = 0): Promise<number> {
  server.listen({ port, host: '0.0.0.0' });
  await once(server, 'listening');
  return server.address()!.port;
}

/** a connected pair: client socket on A, server-side socket on B */
async function connectedPair(opts: { allowHalfOpen?: boolean } = {}) {
  const { a, b } = pair();
  const server = b.net.createServer({ allowHalfOpen: opts.allowHalfOpen });
  const port = await listening(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = a.net.connect({ port, host: B_IP, allowHalfOpen: opts.allowHalfOpen });
  await once(client, 'connect');
  const [peer] = await accepted;
  return { a, b, server, client, peer, port, clientClosed: closed(client), peerClosed: closed(peer) };
}

describe('Server', () => {
  it('listens on port 0 (autobind), emits listening asynchronously, address() shows the port', async () => {
    const { b } = pair();
    const server = b.net.createServer();
    const events: string[] = [];
    server.on('listening', () => events.push('listening'));
    server.listen(0);
    expect(events).toEqual([]); // not synchronously
    expect(server.listening).toBe(true);
    await once(server, 'listening');
    const addr = server.address()!;
    expect(addr.family).toBe('IPv4');
    expect(addr.address).toBe('0.0.0.0');
    expect(addr.port).toBeGreaterThan(1023);
    expect(events).toEqual(['listening']);
  });

  it('accepts listen(port, host, backlog, cb) and listen({ port, host, backlog })', async () => {
    const { b } = pair();
    const s1 = b.net.createServer();
    await new Promise<void>((r) => s1.listen(8001, B_IP, 5, r));
    expect(s1.address()).toEqual({ address: B_IP, family: 'IPv4', port: 8001 });
    expect(b.listeners().find((l) => l.port === 8001)?.backlog).toBe(5);
    const s2 = b.net.createServer();
    await new Promise<void>((r) => s2.listen({ port: 8002, host: B_IP, backlog: 7 }, r));
    expect(b.listeners().find((l) => l.port === 8002)?.backlog).toBe(7);
  });

  it('EADDRINUSE comes as an async error event with syscall listen, address and port', async () => {
    const { b } = pair();
    const s1 = b.net.createServer();
    await listening(s1, 9000);
    const s2 = b.net.createServer();
    let sync = true;
    const p = once(s2, 'error') as Promise<[NetError]>;
    s2.listen(9000, '0.0.0.0');
    sync = false;
    const [err] = await p;
    expect(sync).toBe(false);
    expect(err.code).toBe('EADDRINUSE');
    expect(err.errno).toBe(-98);
    expect(err.syscall).toBe('listen');
    expect(err.address).toBe('0.0.0.0');
    expect(err.port).toBe(9000);
    expect(err.message).toBe('listen EADDRINUSE 0.0.0.0:9000');
    expect(s2.listening).toBe(false);
  });

  it('close() stops listening at once and emits close only after its connections end', async () => {
    const { a, server, client, peer, port } = await connectedPair();
    const order: string[] = [];
    server.close(() => order.push('close cb'));
    server.on('close', () => order.push('close'));
    expect(server.listening).toBe(false);
    expect(server.address()).toBe(null);
    // new connections are refused now
    const refused = a.net.connect(port, B_IP);
    const [err] = (await once(refused, 'error')) as [NetError];
    expect(err.code).toBe('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]); // the accepted connection is still open
    client.end();
    peer.resume();
    await once(server, 'close');
    expect(order).toEqual(['close cb', 'close']);
  });

  it('close() on a server that is not listening calls back with ERR_SERVER_NOT_RUNNING', async () => {
    const { b } = pair();
    const err = await new Promise<Error | undefined>((r) => b.net.createServer().close(r));
    expect((err as NetError).code).toBe('ERR_SERVER_NOT_RUNNING');
  });

  it('maxConnections closes connections beyond the limit', async () => {
    const { a, b } = pair();
    const server = b.net.createServer();
    server.maxConnections = 1;
    const port = await listening(server);
    const conns: Socket[] = [];
    server.on('connection', (s) => conns.push(s));
    const c1 = a.net.connect(port, B_IP);
    await once(c1, 'connect');
    const c2 = a.net.connect(port, B_IP);
    const c2Closed = closed(c2);
    c2.resume();
    await c2Closed;
    expect(conns.length).toBe(1);
  });
});

describe('Socket', () => {
  it('events in order on the client: connect, ready, data, end, close(false)', async () => {
    const { a, b } = pair();
    const server = b.net.createServer((s) => s.end('hello'));
    const port = await listening(server);
    const events: string[] = [];
    const c = a.net.connect(port, B_IP, () => events.push('cb'));
    expect(c.connecting).toBe(true);
    expect(c.pending).toBe(true);
    c.on('connect', () => events.push('connect'));
    c.on('ready', () => events.push('ready'));
    c.on('data', (d: Buffer) => events.push(`data:${d.toString()}`));
    c.on('end', () => events.push('end'));
    const cClosed = closed(c);
    c.on('close', (hadError: boolean) => events.push(`close:${hadError}`));
    await cClosed;
    expect(events).toEqual(['cb', 'connect', 'ready', 'data:hello', 'end', 'close:false']);
    expect(c.bytesRead).toBe(5);
    expect(c.remoteAddress).toBe(B_IP);
    expect(c.remotePort).toBe(port);
    expect(c.remoteFamily).toBe('IPv4');
    expect(c.localAddress).toBe(A_IP);
    expect(c.localPort).toBeGreaterThan(1023);
  });

  it('addresses, address() and byte counters on both ends', async () => {
    const { client, peer, port } = await connectedPair();
    expect(client.address()).toEqual({ address: A_IP, family: 'IPv4', port: client.localPort });
    expect(peer.remoteAddress).toBe(A_IP);
    expect(peer.remotePort).toBe(client.localPort);
    expect(peer.localAddress).toBe(B_IP);
    expect(peer.localPort).toBe(port);
    const got = once(peer, 'data');
    client.write('abcdef');
    const [d] = (await got) as [Buffer];
    expect(d.toString()).toBe('abcdef');
    expect(client.bytesWritten).toBe(6);
    expect(peer.bytesRead).toBe(6);
    expect(client.setNoDelay(true)).toBe(client);
    expect(client.setKeepAlive(true, 5000)).toBe(client);
    expect(client.setTimeout(0)).toBe(client);
    expect(client.ref()).toBe(client);
    expect(client.unref()).toBe(client);
    expect(client.readyState).toBe('open');
  });

  it('ECONNREFUSED is emitted asynchronously, shaped as Node (code, errno, syscall, address, port), then close(true)', async () => {
    const { a } = pair();
    const events: string[] = [];
    const c = a.net.connect({ port: 4242, host: B_IP });
    c.on('close', (hadError: boolean) => events.push(`close:${hadError}`));
    const cClosed = closed(c);
    c.on('error', () => events.push('error'));
    const [err] = (await once(c, 'error')) as [NetError];
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(-111);
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe(B_IP);
    expect(err.port).toBe(4242);
    expect(err.message).toBe(`connect ECONNREFUSED ${B_IP}:4242`);
    await cClosed;
    expect(events).toEqual(['error', 'close:true']);
    expect(c.destroyed).toBe(true);
  });

  it('errno follows the personality (FreeBSD: ECONNREFUSED is -61)', async () => {
    const { a } = pair('freebsd-12.1');
    const c = a.net.connect(4242, B_IP);
    const [err] = (await once(c, 'error')) as [NetError];
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(-61);
  });

  it('a host name (no resolver) fails as a failed lookup: ENOTFOUND, syscall getaddrinfo', async () => {
    const { a } = pair();
    const c = a.net.connect(80, 'example.invalid');
    const [err] = (await once(c, 'error')) as [NetError];
    expect(err.code).toBe('ENOTFOUND');
    expect(err.syscall).toBe('getaddrinfo');
    expect(err.hostname).toBe('example.invalid');
  });

  it('moves a few MB intact with backpressure: write() returns false, the paused reader limits the sender', async () => {
    const { client, peer } = await connectedPair();
    const total = 4 * 1024 * 1024;
    const data = randomBytes(total);
    peer.pause();
    let sawFalse = false;
    let off = 0;
    const writeAll = async () => {
      while (off < total) {
        const chunk = data.subarray(off, off + 65536);
        off += chunk.length;
        if (!client.write(chunk)) {
          sawFalse = true;
          await once(client, 'drain');
        }
      }
      client.end();
    };
    const writer = writeAll();
    // while the reader is paused, the sender cannot get far: the receive window, send buffer and
    // stream buffers are all it may fill
    await new Promise((r) => setTimeout(r, 100));
    expect(sawFalse).toBe(true);
    expect(off).toBeLessThan(total);
    const stuckAt = client.bytesWritten;
    expect(stuckAt).toBeLessThan(total);
    const h = createHash('sha256');
    let n = 0;
    peer.on('data', (d: Buffer) => { h.update(d); n += d.length; });
    peer.resume();
    await once(peer, 'end');
    await writer;
    expect(n).toBe(total);
    expect(h.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(client.bytesWritten).toBe(total);
    expect(peer.bytesRead).toBe(total);
  });

  it('pipe() works end to end (echo server)', async () => {
    const { a, b } = pair();
    const server = b.net.createServer((s) => s.pipe(s));
    const port = await listening(server);
    const c = a.net.connect(port, B_IP);
    const data = randomBytes(300_000);
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.end(data);
    await once(c, 'end');
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('half-close with allowHalfOpen: the peer keeps writing after our end()', async () => {
    const { client, peer, clientClosed, peerClosed } = await connectedPair({ allowHalfOpen: true });
    const got: string[] = [];
    peer.on('data', (d: Buffer) => got.push(d.toString()));
    client.end('request');
    await once(peer, 'end');
    expect(got.join('')).toBe('request');
    expect(peer.writable).toBe(true); // allowHalfOpen: still open for writing
    const reply: string[] = [];
    client.on('data', (d: Buffer) => reply.push(d.toString()));
    peer.write('reply after your FIN');
    peer.end();
    await once(client, 'end');
    expect(reply.join('')).toBe('reply after your FIN');
    await Promise.all([clientClosed, peerClosed]);
  });

  it('without allowHalfOpen the socket ends its side when the peer ends', async () => {
    const { client, peer, clientClosed, peerClosed } = await connectedPair();
    peer.resume();
    const peerFinished = once(peer, 'finish');
    client.end();
    client.resume();
    await peerFinished; // the peer's writable side ended by itself
    await Promise.all([clientClosed, peerClosed]);
  });

  it("setTimeout emits 'timeout' after idleness without closing; activity restarts it; 0 disables", async () => {
    const { client, peer } = await connectedPair();
    peer.resume();
    const t0 = Date.now();
    let fired = 0;
    client.setTimeout(60, () => fired++);
    await once(client, 'timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(fired).toBe(1);
    expect(client.destroyed).toBe(false);
    expect(client.timeout).toBe(60);
    client.setTimeout(0);
    let later = 0;
    client.on('timeout', () => later++);
    await new Promise((r) => setTimeout(r, 120));
    expect(later).toBe(0);
  });

  it("setTimeout runs on the stack's clock: a VirtualClock fires it only when advanced", async () => {
    const clock = new VirtualClock();
    const [la, lb] = MemoryLink.pair();
    const a = new Stack({ link: la, clock, interfaces: [{ ip: `${A_IP}/24` }], seed: 1 });
    const b = new Stack({ link: lb, clock, interfaces: [{ ip: `${B_IP}/24` }], seed: 2 });
    stacks.push(a, b);
    const server = b.net.createServer((s) => s.resume());
    const port = await listening(server);
    const c = a.net.connect(port, B_IP);
    await once(c, 'connect');
    let fired = 0;
    c.setTimeout(5000, () => fired++);
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(0);
    clock.advance(4999);
    expect(fired).toBe(0);
    clock.advance(1);
    expect(fired).toBe(1);
  });

  it('destroy() closes: the peer sees end (FIN) or ECONNRESET (RST with unread data)', async () => {
    const { client, peer, peerClosed } = await connectedPair();
    const events: string[] = [];
    peer.on('end', () => events.push('end'));
    peer.resume();
    client.on('close', (e: boolean) => events.push(`client close:${e}`));
    client.destroy();
    expect(client.destroyed).toBe(true);
    await peerClosed;
    expect(events).toContain('client close:false');
    expect(events).toContain('end');

    // unread data at close (pauseOnConnect: nothing read from the stack): Linux sends a RST; the
    // other end's read fails with ECONNRESET
    const { a, b } = pair();
    const server = b.net.createServer({ pauseOnConnect: true });
    const port = await listening(server);
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const c = a.net.connect(port, B_IP);
    const [s] = await accepted;
    c.write('unread');
    await new Promise((r) => setTimeout(r, 20));
    c.resume();
    const err = once(c, 'error') as Promise<[NetError]>;
    s.destroy();
    const [e] = await err;
    expect(e.code).toBe('ECONNRESET');
    expect(e.syscall).toBe('read');
    expect(e.errno).toBe(-104);
  });

  it('destroy(err) emits that error and close(true)', async () => {
    const { client, clientClosed } = await connectedPair();
    const order: string[] = [];
    client.on('error', (e: Error) => order.push(`error:${e.message}`));
    client.on('close', (h: boolean) => order.push(`close:${h}`));
    client.destroy(new Error('boom'));
    expect(order).toEqual([]);
    await clientClosed;
    expect(order).toEqual(['error:boom', 'close:true']);
  });

  it('writes before the connection is established are sent once it is', async () => {
    const { a, b } = pair();
    const server = b.net.createServer((s) => { s.pipe(s); });
    const port = await listening(server);
    const c = a.net.connect(port, B_IP);
    c.write('early ');
    c.end('bird');
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    await once(c, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('early bird');
  });

  it('stack.net is one object per stack; createConnection is connect', () => {
    const { a } = pair();
    expect(a.net).toBe(a.net);
    expect(a.net.createConnection).toBeTypeOf('function');
    expect(a.net.isIP('1.2.3.4')).toBe(4);
  });
});
