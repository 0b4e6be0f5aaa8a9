/**
 * Stacks joined through a real relay (`Relay`, a `ws` server on 127.0.0.1) by WebSocketLinks over
 * real `ws` clients: TCP data both ways, the learning switch, text messages, malformed frames,
 * QEMU length-prefixed clients beside plain ones, a relay restart survived by reconnecting, and a
 * client that speaks the v86 / websockproxy convention by hand (raw `ws`, no wtcp code).
 * Addresses: 127.0.0.1 for the relay; the stacks' own addresses (198.18.x) exist only in memory.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { createHash } from 'node:crypto';
import WS, { WebSocketServer } from 'ws';
import { Stack } from '../../src/stack.js';
import { Relay } from '../../src/relay.js';
import { createWebSocketLink, connectWebSocketLink, NodeWebSocket } from '../../src/links/ws-node.js';
import { WebSocketLink } from '../../src/links/websocket.js';
import { netFor } from '../../src/net.js';
import type { Socket } from '../../src/net.js';
import { buildArp, buildEthernet } from '../../src/testing/frames.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function relay(opts: Parameters<typeof Relay.start>[0] = {}): Promise<Relay> {
  const r = await Relay.start(opts);
  cleanup.push(() => r.close());
  return r;
}

async function stackOn(url: string, ip: string, framing: 'frame' | 'qemu' = 'frame'): Promise<{ stack: Stack; link: WebSocketLink }> {
  const link = await connectWebSocketLink({ url: framing === 'qemu' ? `${url}?framing=qemu` : url, framing });
  const stack = new Stack({ link, interfaces: [{ ip: `${ip}/24` }] });
  cleanup.push(() => { stack.close(); link.close(); });
  return { stack, link };
}

function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** An echo server on `server` port 7 and a client from `client` sending `data`; resolves with what came back. */
async function echoRoundTrip(server: Stack, client: Stack, serverIp: string, data: Buffer): Promise<Buffer> {
  const l = netFor(server).createServer((s: Socket) => s.pipe(s));
  await new Promise<void>((r) => l.listen({ port: 7, host: serverIp }, r));
  cleanup.push(() => l.close());
  const sock = netFor(client).connect(7, serverIp);
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => { sock.once('end', resolve); sock.once('error', reject); });
  sock.end(data);
  await done;
  return Buffer.concat(chunks);
}

describe('WebSocketLink through a Relay', () => {
  it('two stacks exchange 4 MiB through the relay (echo), intact; the switch learns both MACs and stops flooding', async () => {
    const r = await relay();
    const a = await stackOn(r.url, '198.18.40.1');
    const b = await stackOn(r.url, '198.18.40.2');
    const data = pattern(4 << 20, 7);
    const back = await echoRoundTrip(b.stack, a.stack, '198.18.40.2', data);
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
    const st = r.stats();
    expect(st.clients).toBe(2);
    expect(st.macs.map((m) => m.mac).sort()).toEqual([a.stack.interfaces[0]!.mac, b.stack.interfaces[0]!.mac].map((m) => m.toLowerCase()).sort());
    // only the first ARP request (broadcast) and frames before learning are flooded
    expect(st.flooded).toBeLessThan(5);
    expect(st.unicast).toBeGreaterThan(1000);
    expect(a.link.stats.rxFrames).toBeGreaterThan(1000);
    expect(a.link.stats.txDroppedClosed).toBe(0);
  }, 60_000);

  it('a third station sees the broadcast ARP request but none of the unicast traffic', async () => {
    const r = await relay();
    const a = await stackOn(r.url, '198.18.41.1');
    const b = await stackOn(r.url, '198.18.41.2');
    const spy = new WS(r.url, { perMessageDeflate: false });
    cleanup.push(() => spy.terminate());
    const seen: Buffer[] = [];
    spy.on('message', (d: Buffer, bin: boolean) => { if (bin) seen.push(d); });
    await new Promise((res) => spy.once('open', res));
    await until(() => r.stats().clients === 3, 5000, 'three clients');
    const back = await echoRoundTrip(b.stack, a.stack, '198.18.41.2', pattern(200_000, 3));
    expect(back.length).toBe(200_000);
    await new Promise((res) => setTimeout(res, 50));
    expect(seen.length).toBeGreaterThanOrEqual(1);
    for (const f of seen) expect(f[0]! & 1, 'only group-addressed frames reach the spy').toBe(1);
    expect(seen.some((f) => f.readUInt16BE(12) === 0x0806)).toBe(true);
  }, 60_000);

  it('answers ping: text with pong:, ignores other text, drops and counts frames that are too short (relay and link)', async () => {
    const r = await relay();
    const raw = new WS(r.url, { perMessageDeflate: false });
    cleanup.push(() => raw.terminate());
    await new Promise((res) => raw.once('open', res));
    const texts: string[] = [];
    raw.on('message', (d: Buffer, bin: boolean) => { if (!bin) texts.push(d.toString()); });
    raw.send('ping:42');
    raw.send('hello');
    raw.send(Buffer.from([1, 2, 3, 4, 5]));
    await until(() => texts.length === 1 && r.stats().malformed === 1, 5000, 'pong and a malformed count');
    expect(texts).toEqual(['pong:42']);
    expect(r.stats().text).toBe(2);

    // the link side: a relay-like server that sends text and a runt to a WebSocketLink
    const srv = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanup.push(() => new Promise((res) => srv.close(res)));
    await new Promise((res) => srv.once('listening', res));
    const got: string[] = [];
    srv.on('connection', (c: WS) => {
      c.on('message', (d: Buffer, bin: boolean) => { if (!bin) got.push(d.toString()); });
      c.send('ping:abc');
      c.send('something else');
      c.send(Buffer.alloc(10));
      c.send(Buffer.alloc(1600));
    });
    const link = await connectWebSocketLink({ url: `ws://127.0.0.1:${(srv.address() as { port: number }).port}/` });
    cleanup.push(() => link.close());
    const frames: number[] = [];
    link.onReceive((f) => frames.push(f.length));
    await until(() => got.length === 1 && link.stats.rxMalformed === 2, 5000, 'pong from the link');
    expect(got).toEqual(['pong:abc']);
    expect(link.stats.rxText).toBe(2);
    expect(frames).toEqual([]);
  }, 30_000);

  it('a QEMU length-prefixed client and a plain client share the segment; the stream is cut at arbitrary points', async () => {
    const r = await relay();
    const a = await stackOn(r.url, '198.18.42.1', 'qemu');
    const b = await stackOn(r.url, '198.18.42.2');
    const data = pattern(1 << 20, 11);
    const back = await echoRoundTrip(b.stack, a.stack, '198.18.42.2', data);
    expect(sha(back)).toBe(sha(data));
    expect(r.stats().ports.map((p) => p.framing).sort()).toEqual(['frame', 'qemu']);

    // a hand-made container2wasm-style client: two ARP requests in one message, split across three
    const raw = new WS(`${r.url}?framing=qemu`, { perMessageDeflate: false });
    cleanup.push(() => raw.terminate());
    await new Promise((res) => raw.once('open', res));
    const replies: Buffer[] = [];
    raw.on('message', (d: Buffer) => replies.push(d));
    const arp = (target: string) => Buffer.from(buildEthernet({
      dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:42:99', type: 0x0806,
      payload: buildArp({ op: 1, senderMac: '02:00:00:00:42:99', senderIp: '198.18.42.99', targetMac: '00:00:00:00:00:00', targetIp: target }),
    }));
    const lp = (f: Buffer) => Buffer.concat([Buffer.from([0, 0, f.length >> 8, f.length & 255]), f]);
    const stream = Buffer.concat([lp(arp('198.18.42.1')), lp(arp('198.18.42.2'))]);
    raw.send(stream.subarray(0, 3));
    raw.send(stream.subarray(3, 50));
    raw.send(stream.subarray(50));
    await until(() => Buffer.concat(replies).length >= 2 * (4 + 42), 5000, 'two ARP replies');
    const all = Buffer.concat(replies);
    const lens = [all.readUInt32BE(0), all.readUInt32BE(4 + all.readUInt32BE(0))];
    expect(lens.every((n) => n >= 42 && n <= 60)).toBe(true);
    // a length of zero cannot be resynchronised: the relay closes that client and counts it
    const closed = new Promise((res) => raw.once('close', res));
    raw.send(Buffer.from([0, 0, 0, 0, 1, 2]));
    await closed;
    expect(r.stats().malformed).toBe(1);
  }, 60_000);

  it('reconnects with back-off after the relay restarts; a TCP connection carries on across the outage', async () => {
    const r1 = await Relay.start();
    const port = r1.address().port;
    const url = `ws://127.0.0.1:${port}/`;
    const states: string[] = [];
    const la = createWebSocketLink({ url, reconnect: { initialMs: 50, maxMs: 400 } });
    const lb = createWebSocketLink({ url, reconnect: { initialMs: 50, maxMs: 400 } });
    la.onStateChange((s) => states.push(s));
    await Promise.all([la.opened(), lb.opened()]);
    const a = new Stack({ link: la, interfaces: [{ ip: '198.18.43.1/24' }] });
    const b = new Stack({ link: lb, interfaces: [{ ip: '198.18.43.2/24' }] });
    cleanup.push(() => { a.close(); b.close(); la.close(); lb.close(); });
    const l = netFor(b).createServer((s: Socket) => s.pipe(s));
    await new Promise<void>((res) => l.listen({ port: 7, host: '198.18.43.2' }, res));
    cleanup.push(() => l.close());
    const sock = netFor(a).connect(7, '198.18.43.2');
    await new Promise((res) => sock.once('connect', res));
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.write(Buffer.from('before '));
    await until(() => Buffer.concat(chunks).toString() === 'before ', 5000, 'echo before the outage');

    await r1.close();
    await until(() => la.state === 'waiting' || la.state === 'connecting', 5000, 'the link to notice');
    sock.write(Buffer.from('during ')); // lost on the wire (dropped, counted), retransmitted later
    await new Promise((res) => setTimeout(res, 300));
    expect(la.stats.txDroppedClosed).toBeGreaterThan(0);
    const r2 = await Relay.start({ port });
    cleanup.push(() => r2.close());
    await until(() => la.state === 'open' && lb.state === 'open', 10_000, 'both links to reconnect');
    sock.end(Buffer.from('after'));
    await new Promise<void>((resolve, reject) => { sock.once('end', resolve); sock.once('error', reject); });
    expect(Buffer.concat(chunks).toString()).toBe('before during after');
    expect(la.stats.reconnects).toBe(1);
    expect(states[0]).toBe('open');
    expect(states).toContain('waiting');
    expect(states.at(-1)).toBe('open');
  }, 60_000);

  it('drops frames (counted) instead of queueing without bound when the socket is backed up', async () => {
    const srv = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanup.push(() => new Promise((res) => srv.close(res)));
    await new Promise((res) => srv.once('listening', res));
    const peers: WS[] = [];
    cleanup.push(() => { for (const p of peers) p.terminate(); });
    // the server stops reading: the client's bytes pile up in the kernel, then in ws's buffer
    srv.on('connection', (c: WS) => { peers.push(c); (c as unknown as { _socket: { pause(): void } })._socket.pause(); });
    const link = await connectWebSocketLink({ url: `ws://127.0.0.1:${(srv.address() as { port: number }).port}/`, maxBufferedBytes: 64 * 1024 });
    cleanup.push(() => link.close());
    const frame = new Uint8Array(1514);
    for (let i = 0; i < 20_000; i++) link.send(frame);
    expect(link.stats.txDroppedBackpressure).toBeGreaterThan(0);
    expect(link.stats.txFrames + link.stats.txDroppedBackpressure).toBe(20_000);
    expect(link.stats.txFrames * 1514).toBeLessThan(64 * 1024 + 16 * 1024 * 1024); // bounded by what the kernel took
  }, 30_000);

  it('refuses bad options with a clear error', () => {
    expect(() => new WebSocketLink({ url: 'http://x/', WebSocket: NodeWebSocket })).toThrow(/ws:\/\/ or wss:\/\//);
    expect(() => new WebSocketLink({ url: 'ws://127.0.0.1:1/', WebSocket: NodeWebSocket, framing: 'x' as 'frame' })).toThrow(/framing/);
    expect(() => new WebSocketLink({ url: 'ws://127.0.0.1:1/', WebSocket: NodeWebSocket, mtu: 20 })).toThrow(/mtu/);
    expect(() => new WebSocketLink({ url: 'ws://127.0.0.1:1/', WebSocket: NodeWebSocket, reconnect: { initialMs: 0 } })).toThrow(/reconnect/);
    expect(() => new WebSocketLink({ url: 'ws://127.0.0.1:1/' })).toThrow(/no WebSocket here/);
  });

  it('without reconnect, a refused connection rejects connect() and the link ends closed', async () => {
    const r = await Relay.start();
    const port = r.address().port;
    await r.close();
    await expect(connectWebSocketLink({ url: `ws://127.0.0.1:${port}/`, reconnect: false })).rejects.toThrow(/closed/);
  });
});
