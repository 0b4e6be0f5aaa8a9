// The host's fast data path: bsd.recvInto / tryRecvInto / trySend, errno()/errnoName(), the cheap
// EAGAIN SocketError, and MemoryLink's batches of records (sendRecords, onReceiveRecords and its
// `take`) between two Stacks, with every byte checked.
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { Stack } from '../../src/stack.js';
import { MemoryHub, MemoryLink } from '../../src/links/memory.js';
import { recordSize } from '../../src/links/link.js';
import { VirtualClock } from '../../src/clock.js';
import { SocketError } from '../../src/bsd.js';
import { netFor } from '../../src/net.js';

const settle = () => new Promise<void>((r) => setImmediate(r));
type P = 'linux-5.4' | 'freebsd-12.1' | '4.3bsd';

async function connected(p: P = 'linux-5.4', mtu = 1500) {
  const clock = new VirtualClock();
  const [la, lb] = MemoryLink.pair({ mtu });
  const a = new Stack({ personality: p, clock, link: la, interfaces: [{ ip: '10.0.0.1/24' }], seed: 1 });
  const b = new Stack({ personality: p, clock, link: lb, interfaces: [{ ip: '10.0.0.2/24' }], seed: 2 });
  const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
  b.bsd.bind(l, { address: '0.0.0.0', port: 8080 });
  b.bsd.listen(l, 16);
  const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
  const done = a.bsd.connectAsync(c, { address: '10.0.0.2', port: 8080 });
  const acc = b.bsd.acceptAsync(l);
  await clock.advanceAsync(10, settle);
  await done;
  const { fd: s } = await acc;
  return { clock, a, b, la, lb, c, s, l };
}

function pattern(n: number, seed: number): Uint8Array {
  const u = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; u[i] = x & 255; }
  return u;
}
const sha = (u: Uint8Array) => createHash('sha256').update(u).digest('hex');

function caught(fn: () => unknown): unknown {
  try { fn(); } catch (e) { return e; }
  return undefined;
}

describe('bsd.recvInto', () => {
  it('reads into the caller\'s buffer at an offset, up to a length, and returns the count', async () => {
    const { a, b, c, s, clock } = await connected();
    expect(a.bsd.send(c, new TextEncoder().encode('hello world'))).toBe(11);
    await clock.advanceAsync(1, settle);
    const buf = new Uint8Array(32).fill(0xee);
    expect(b.bsd.recvInto(s, buf, 4, 5)).toBe(5);
    expect(new TextDecoder().decode(buf.subarray(4, 9))).toBe('hello');
    expect(buf[3]).toBe(0xee);
    expect(buf[9]).toBe(0xee); // nothing past offset + length
    expect(b.bsd.recvInto(s, buf, 10)).toBe(6); // the rest of the buffer by default
    expect(new TextDecoder().decode(buf.subarray(10, 16))).toBe(' world');
    expect(b.bsd.recvInto(s, buf, 0, 0)).toBe(0); // length 0: 0, as recv(2)
  });

  it('throws EAGAIN as recv() does: a SocketError with code, errno, syscall and message', async () => {
    const { b, s } = await connected();
    const e1 = caught(() => b.bsd.recv(s, 10)) as SocketError;
    const e2 = caught(() => b.bsd.recvInto(s, new Uint8Array(10))) as SocketError;
    for (const e of [e1, e2]) {
      expect(e).toBeInstanceOf(SocketError);
      expect(e.code).toBe('EAGAIN');
      expect(e.errno).toBe(11);
      expect(e.syscall).toBe('recv');
      expect(e.message).toBe('recv: EAGAIN: Resource temporarily unavailable');
    }
    // other errors still carry a stack trace; the stack-trace limit is left as it was
    expect(Error.stackTraceLimit).toBeGreaterThan(0);
    const notConn = caught(() => b.bsd.recvInto(b.bsd.socket('AF_INET', 'SOCK_STREAM'), new Uint8Array(1))) as SocketError;
    expect(notConn.code).toBe('ENOTCONN');
    expect(notConn.stack).toMatch(/\n\s+at /);
  });

  it('returns 0 at end of stream and reports a reset once', async () => {
    const { a, b, c, s, clock } = await connected();
    a.bsd.shutdown(c, 'SHUT_WR');
    await clock.advanceAsync(1, settle);
    expect(b.bsd.recvInto(s, new Uint8Array(8))).toBe(0);
    const env = await connected();
    env.a.bsd.setsockopt(env.c, 'SOL_SOCKET', 'SO_LINGER', 0);
    env.a.bsd.close(env.c); // RST
    await env.clock.advanceAsync(1, settle);
    expect((caught(() => env.b.bsd.recvInto(env.s, new Uint8Array(8))) as SocketError).code).toBe('ECONNRESET');
    expect(env.b.bsd.recvInto(env.s, new Uint8Array(8))).toBe(0);
  });

  it('rejects bad arguments with TypeError / RangeError naming the argument', async () => {
    const { b, s } = await connected();
    const buf = new Uint8Array(16);
    expect(() => b.bsd.recvInto(s, new ArrayBuffer(4) as never)).toThrow(new TypeError('recvInto: buf must be a Uint8Array, got ArrayBuffer'));
    expect(() => b.bsd.recvInto(s, null as never)).toThrow(new TypeError('recvInto: buf must be a Uint8Array, got null'));
    expect(() => b.bsd.recvInto(s, [1, 2] as never)).toThrow(/buf must be a Uint8Array, got Array/);
    expect(() => b.bsd.recvInto(s, buf, '1' as never)).toThrow(new TypeError('recvInto: offset must be a number, got string'));
    expect(() => b.bsd.recvInto(s, buf, -1)).toThrow(new RangeError("recvInto: offset must be an integer 0..16 (the buffer's length), got -1"));
    expect(() => b.bsd.recvInto(s, buf, 1.5)).toThrow(RangeError);
    expect(() => b.bsd.recvInto(s, buf, 17)).toThrow(RangeError);
    expect(() => b.bsd.recvInto(s, buf, 4, 13)).toThrow(new RangeError('recvInto: length must be an integer 0..12 (the room after offset 4), got 13'));
    expect(() => b.bsd.recvInto(s, buf, 0, -1)).toThrow(RangeError);
    expect(() => b.bsd.recvInto(s, buf, 0, Number.NaN)).toThrow(RangeError);
    expect(() => b.bsd.recvInto(s, buf, 0, 2n as never)).toThrow(new TypeError('recvInto: length must be a number, got bigint'));
    expect(() => b.bsd.recvInto(1.5, buf)).toThrow(TypeError);
    expect((caught(() => b.bsd.recvInto(99, buf)) as SocketError).code).toBe('EBADF');
    expect((caught(() => b.bsd.recvInto(1, buf)) as SocketError).code).toBe('ENOTSOCK');
    // a Buffer is a Uint8Array
    expect((caught(() => b.bsd.recvInto(s, Buffer.alloc(4))) as SocketError).code).toBe('EAGAIN');
  });
});

describe('bsd.tryRecvInto / bsd.trySend', () => {
  it('return -errno in the personality\'s numbering instead of throwing', async () => {
    for (const [p, EAGAIN, EBADF, ENOTSOCK, ENOTCONN] of [['linux-5.4', 11, 9, 88, 107], ['freebsd-12.1', 35, 9, 38, 57]] as const) {
      const { a, b, c, s, l, clock } = await connected(p);
      const buf = new Uint8Array(100);
      expect(b.bsd.errno('EAGAIN')).toBe(EAGAIN);
      expect(b.bsd.tryRecvInto(s, buf)).toBe(-EAGAIN);
      expect(b.bsd.errnoName(-EAGAIN)).toBe('EAGAIN');
      expect(b.bsd.errnoName(EAGAIN)).toBe('EAGAIN');
      expect(b.bsd.errnoName(100000)).toBeUndefined();
      expect(b.bsd.tryRecvInto(999, buf)).toBe(-EBADF);
      expect(b.bsd.tryRecvInto(0, buf)).toBe(-ENOTSOCK);
      expect(b.bsd.tryRecvInto(l, buf)).toBe(-ENOTCONN);
      expect(a.bsd.trySend(c, Uint8Array.of(1, 2, 3))).toBe(3);
      expect(a.bsd.trySend(c, new Uint8Array(0))).toBe(0);
      await clock.advanceAsync(1, settle);
      expect(b.bsd.tryRecvInto(s, buf, 10, 2)).toBe(2);
      expect(b.bsd.tryRecvInto(s, buf, 12)).toBe(1);
      expect([...buf.subarray(10, 13)]).toEqual([1, 2, 3]);
      a.bsd.shutdown(c, 'SHUT_WR');
      expect(a.bsd.trySend(c, Uint8Array.of(1))).toBe(-a.bsd.errno('EPIPE'));
      await clock.advanceAsync(1, settle);
      expect(b.bsd.tryRecvInto(s, buf)).toBe(0);
      a.close();
      expect(a.bsd.trySend(c, Uint8Array.of(1))).toBe(-EBADF);
      expect(a.bsd.tryRecvInto(c, buf)).toBe(-EBADF);
    }
  });

  it('trySend returns -EAGAIN while connecting and when the send buffer is full', async () => {
    const clock = new VirtualClock();
    const [la] = MemoryLink.pair();
    const a = new Stack({ clock, link: la, interfaces: [{ ip: '10.0.0.1/24' }], seed: 1 });
    const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    void a.bsd.connectAsync(c, { address: '10.0.0.2', port: 1 }).catch(() => undefined);
    expect(a.bsd.trySend(c, Uint8Array.of(1))).toBe(-11);
    a.close();
    const env = await connected();
    const big = new Uint8Array(1 << 20);
    let n = 0;
    let r: number;
    while ((r = env.a.bsd.trySend(env.c, big)) > 0) n += r;
    expect(n).toBeGreaterThan(0);
    expect(r).toBe(-11);
  });

  it('report a reset once, then end of stream; bad arguments throw', async () => {
    const env = await connected();
    env.a.bsd.setsockopt(env.c, 'SOL_SOCKET', 'SO_LINGER', 0);
    env.a.bsd.close(env.c);
    await env.clock.advanceAsync(1, settle);
    const buf = new Uint8Array(8);
    expect(env.b.bsd.tryRecvInto(env.s, buf)).toBe(-104);
    expect(env.b.bsd.tryRecvInto(env.s, buf)).toBe(0);
    expect(() => env.b.bsd.tryRecvInto(env.s, 'x' as never)).toThrow(new TypeError('tryRecvInto: buf must be a Uint8Array, got string'));
    expect(() => env.b.bsd.tryRecvInto(env.s, buf, 9)).toThrow(new RangeError("tryRecvInto: offset must be an integer 0..8 (the buffer's length), got 9"));
    expect(() => env.b.bsd.tryRecvInto(env.s, buf, 0, 9)).toThrow(RangeError);
    expect(() => env.b.bsd.tryRecvInto('3' as never, buf)).toThrow(TypeError);
    expect(() => env.b.bsd.trySend(env.s, 'abc' as never)).toThrow(new TypeError('trySend: data must be a Uint8Array'));
  });
});

describe('two stacks over MemoryLink: batches of records', () => {
  for (const mtu of [1500, 9000, 65535]) {
    it(`moves 3 MiB each way intact (MTU ${mtu}), one copy core to core, nothing dropped`, async () => {
      const { a, b, c, s, clock, la, lb } = await connected('linux-5.4', mtu);
      const up = pattern(3 << 20, 7);
      const down = pattern(3 << 20, 11);
      const gotB = new Uint8Array(up.length);
      const gotA = new Uint8Array(down.length);
      let sentUp = 0, sentDown = 0, nB = 0, nA = 0;
      for (let i = 0; i < 20000 && (nB < up.length || nA < down.length); i++) {
        if (sentUp < up.length) { const r = a.bsd.trySend(c, up.subarray(sentUp)); if (r > 0) sentUp += r; }
        if (sentDown < down.length) { const r = b.bsd.trySend(s, down.subarray(sentDown)); if (r > 0) sentDown += r; }
        await clock.advanceAsync(1, settle);
        // odd-sized reads at moving offsets
        for (let r; nB < up.length && (r = b.bsd.tryRecvInto(s, gotB, nB, Math.min(7777, up.length - nB))) > 0;) nB += r;
        for (let r; nA < down.length && (r = a.bsd.tryRecvInto(c, gotA, nA)) > 0;) nA += r;
      }
      expect(nB).toBe(up.length);
      expect(nA).toBe(down.length);
      expect(sha(gotB)).toBe(sha(up));
      expect(sha(gotA)).toBe(sha(down));
      expect(la.dropped + lb.dropped).toBe(0);
      expect(a.rxDropped + b.rxDropped).toBe(0);
      expect(a.core.counter('TcpRetransSegs') + b.core.counter('TcpRetransSegs')).toBe(0);
      expect(la.received).toBe(lb.sent);
      expect(lb.received).toBe(la.sent);
    });
  }

  it('a Stack behind a plain (per-frame) receiver still talks to one using records', async () => {
    // A sends records; B's end is watched by a tap, which makes the link deliver frame by frame
    const clock = new VirtualClock();
    const [la, lb] = MemoryLink.pair();
    const seen: Uint8Array[] = [];
    lb.onTap((f, dir) => { if (dir === 'in') seen.push(f); });
    const a = new Stack({ clock, link: la, interfaces: [{ ip: '10.0.0.1/24' }], seed: 1 });
    const b = new Stack({ clock, link: lb, interfaces: [{ ip: '10.0.0.2/24' }], seed: 2 });
    const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
    b.bsd.bind(l, { address: '0.0.0.0', port: 80 });
    b.bsd.listen(l, 4);
    const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    const done = a.bsd.connectAsync(c, { address: '10.0.0.2', port: 80 });
    const acc = b.bsd.acceptAsync(l);
    await clock.advanceAsync(10, settle);
    await done;
    const { fd: s } = await acc;
    const data = pattern(200_000, 3);
    let sent = 0, got = 0;
    const out = new Uint8Array(data.length);
    for (let i = 0; i < 2000 && got < data.length; i++) {
      if (sent < data.length) { const r = a.bsd.trySend(c, data.subarray(sent)); if (r > 0) sent += r; }
      await clock.advanceAsync(1, settle);
      for (let r; (r = b.bsd.tryRecvInto(s, out, got)) > 0;) got += r;
    }
    expect(sha(out)).toBe(sha(data));
    expect(seen.length).toBe(lb.received);
    // the tap's frames are copies: distinct buffers that stay valid
    expect(new Set(seen.map((f) => f.buffer)).size).toBe(seen.length);
    expect(seen[0]?.[12]).toBe(0x08); // ARP or IPv4
  });
});

describe('MemoryLink records', () => {
  function records(frames: Uint8Array[]): { data: Uint8Array; end: number } {
    const size = frames.reduce((n, f) => n + recordSize(f.length), 0);
    const data = new Uint8Array(size + 8);
    let p = 4; // not at 0: records anywhere in the buffer
    for (const f of frames) {
      data[p] = f.length & 0xff;
      data[p + 1] = f.length >>> 8;
      data[p + 2] = 0x77; // reserved: whatever the sender had there
      data.set(f, p + 4);
      p += recordSize(f.length);
    }
    return { data, end: p };
  }

  it('sendRecords delivers copies to a plain handler, in order, after the call', async () => {
    const [a, b] = MemoryLink.pair();
    const got: Uint8Array[] = [];
    b.onReceive((f) => got.push(f));
    a.send(Uint8Array.of(1));
    const { data, end } = records([Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3, 3, 3)]);
    a.sendRecords(data, 4, end, 2);
    data.fill(0); // the sender may reuse its memory
    a.send(Uint8Array.of(4));
    expect(got).toEqual([]);
    expect(b.pending).toBe(4);
    await Promise.resolve();
    expect(got.map((f) => [...f])).toEqual([[1], [2, 2], [3, 3, 3, 3, 3], [4]]);
    expect(a.sent).toBe(4);
    expect(b.received).toBe(4);
  });

  it('hands whole batches to a records handler; take copies in at once when nothing is queued', async () => {
    const [a, b] = MemoryLink.pair();
    const batches: number[][] = [];
    const handler = (data: Uint8Array, start: number, end: number, count: number) => {
      const lens: number[] = [];
      for (let p = start, i = 0; i < count; i++) {
        const len = (data[p] as number) | ((data[p + 1] as number) << 8);
        lens.push(len);
        p += recordSize(len);
        if (i === count - 1) expect(p).toBe(end);
      }
      batches.push(lens);
    };
    const taken: number[] = [];
    // take the first record only
    b.onReceiveRecords(handler, (data, start) => {
      taken.push((data[start] as number) | ((data[start + 1] as number) << 8));
      return start + recordSize((data[start] as number) | ((data[start + 1] as number) << 8));
    });
    const { data, end } = records([Uint8Array.of(1), new Uint8Array(300), new Uint8Array(5)]);
    a.sendRecords(data, 4, end, 3);
    expect(taken).toEqual([1]); // during the call
    expect(b.received).toBe(1);
    expect(b.pending).toBe(2); // the rest is queued
    a.sendRecords(data, 4, end, 3); // something is queued: no take, behind it
    expect(taken).toEqual([1]);
    await Promise.resolve();
    expect(batches).toEqual([[300, 5, 1, 300, 5]]);
    expect(b.received).toBe(6);
  });

  it('does not take in manual or macrotask delivery, or while a tap watches', async () => {
    for (const delivery of ['manual', 'macrotask'] as const) {
      const [a, b] = MemoryLink.pair({ delivery });
      let takes = 0;
      let got = 0;
      b.onReceiveRecords((_d, _s, _e, n) => { got += n; }, (_d, _s, e) => { takes++; return e; });
      const { data, end } = records([Uint8Array.of(1)]);
      a.sendRecords(data, 4, end, 1);
      expect(takes).toBe(0);
      if (delivery === 'manual') expect(b.flush()).toBe(1);
      else await settle();
      expect(got).toBe(1);
    }
    const [a, b] = MemoryLink.pair();
    let takes = 0;
    const taps: string[] = [];
    b.onTap((f, dir) => taps.push(`${dir} ${f.length}`));
    a.onTap((f, dir) => taps.push(`a ${dir} ${f.length}`));
    let got = 0;
    b.onReceiveRecords((_d, _s, _e, n) => { got += n; }, (_d, _s, e) => { takes++; return e; });
    const { data, end } = records([Uint8Array.of(1), Uint8Array.of(1, 2)]);
    a.sendRecords(data, 4, end, 2);
    await Promise.resolve();
    expect(takes).toBe(0);
    expect(got).toBe(2);
    expect(taps).toEqual(['a out 1', 'a out 2', 'in 1', 'in 2']);
  });

  it('carries frames longer than a record can hold to the plain handler, in order', async () => {
    const [a, b] = MemoryLink.pair({ mtu: 65535 });
    const order: string[] = [];
    b.onReceiveRecords((data, start, _end, count) => order.push(`records ${count} first ${data[start + 4]}`));
    b.onReceive((f) => order.push(`frame ${f.length}`));
    a.send(Uint8Array.of(1));
    a.send(new Uint8Array(70000));
    a.send(Uint8Array.of(2));
    a.send(Uint8Array.of(3));
    await Promise.resolve();
    expect(order).toEqual(['records 1 first 1', 'frame 70000', 'records 2 first 2']);
    expect(b.received).toBe(4);
    // without a plain handler the long frame is dropped and counted
    const [c, d] = MemoryLink.pair({ mtu: 65535 });
    let n = 0;
    d.onReceiveRecords((_x, _s, _e, count) => { n += count; });
    c.send(new Uint8Array(70000));
    c.send(Uint8Array.of(1));
    await Promise.resolve();
    expect(n).toBe(1);
    expect(d.dropped).toBe(1);
  });

  it('validates sendRecords arguments', () => {
    const [a] = MemoryLink.pair();
    const { data, end } = records([Uint8Array.of(1)]);
    expect(() => a.sendRecords([1] as never, 0, 4, 1)).toThrow(new TypeError('MemoryLink.sendRecords: data must be a Uint8Array'));
    expect(() => a.sendRecords(data, 4, end + 4 + data.length, 1)).toThrow(RangeError);
    expect(() => a.sendRecords(data, 5, end, 1)).toThrow(/whole records/);
    expect(() => a.sendRecords(data, 8, 4, 1)).toThrow(RangeError);
    expect(() => a.sendRecords(data, 4, end, -1)).toThrow(new RangeError('MemoryLink.sendRecords: count must be an integer >= 0, got -1'));
    expect(() => a.onReceiveRecords(() => undefined, 5 as never)).toThrow(TypeError);
  });

  it('drops what is queued when the receiving end closes', async () => {
    const [a, b] = MemoryLink.pair({ delivery: 'manual' });
    b.onReceiveRecords(() => undefined);
    const { data, end } = records([Uint8Array.of(1), Uint8Array.of(2)]);
    a.sendRecords(data, 4, end, 2);
    b.close();
    expect(b.dropped).toBe(2);
    a.sendRecords(data, 4, end, 2);
    expect(b.flush()).toBe(0);
  });
});

describe('bsd.recvReadyAsync', () => {
  it('resolves once data, end of stream or an error waits, reading nothing', async () => {
    const { a, b, c, s, clock } = await connected();
    let ready = false;
    const p = b.bsd.recvReadyAsync(s).then(() => { ready = true; });
    await settle();
    expect(ready).toBe(false);
    a.bsd.send(c, Uint8Array.of(9, 8, 7));
    await clock.advanceAsync(1, settle);
    await p;
    expect(ready).toBe(true);
    const buf = new Uint8Array(8);
    expect(b.bsd.recvInto(s, buf)).toBe(3); // nothing was read by the wait
    let again = false;
    void b.bsd.recvReadyAsync(s).then(() => { again = true; });
    await settle();
    expect(again).toBe(false); // nothing waits now
    a.bsd.shutdown(c, 'SHUT_WR');
    await clock.advanceAsync(1, settle);
    await expect(b.bsd.recvReadyAsync(s)).resolves.toBeUndefined(); // the FIN: at once
    expect(b.bsd.recvInto(s, buf)).toBe(0);
  });

  it('rejects for a bad descriptor, on abort, and when the socket is closed while waiting', async () => {
    const { b, s } = await connected();
    await expect(b.bsd.recvReadyAsync(99)).rejects.toMatchObject({ code: 'EBADF' });
    await expect(b.bsd.recvReadyAsync(1.5)).rejects.toThrow(TypeError);
    const ac = new AbortController();
    const p = b.bsd.recvReadyAsync(s, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    const q = b.bsd.recvReadyAsync(s);
    b.bsd.close(s);
    await expect(q).rejects.toMatchObject({ code: 'EBADF' });
  });
});

describe('net.Socket reads through the pool', () => {
  it('hands out chunks that stay intact while later reads arrive (4 MiB, kept until the end)', async () => {
    const [la, lb] = MemoryLink.pair();
    const a = new Stack({ link: la, interfaces: [{ ip: '10.0.0.1/24' }], seed: 1 });
    const b = new Stack({ link: lb, interfaces: [{ ip: '10.0.0.2/24' }], seed: 2 });
    const data = pattern(4 << 20, 5);
    const chunks: Buffer[] = [];
    const got = new Promise<void>((resolve) => {
      netFor(b).createServer((sock) => {
        sock.on('data', (d: Buffer) => chunks.push(d));
        sock.on('end', () => resolve());
      }).listen(7000);
    });
    const cl = netFor(a).connect(7000, '10.0.0.2');
    // in pieces of odd sizes, so that reads come in many sizes
    for (let off = 0; off < data.length; off += 99_991) cl.write(data.subarray(off, Math.min(data.length, off + 99_991)));
    cl.end();
    await got;
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(data.length);
    expect(sha(all)).toBe(sha(data));
    expect(chunks.length).toBeGreaterThan(1);
    a.close();
    b.close();
  });
});

describe('stacks on a MemoryHub (records through the switch)', () => {
  it('moves data intact between two of three stacks; the third sees only the ARP broadcasts', async () => {
    const clock = new VirtualClock();
    const hub = new MemoryHub();
    const [a, b, c] = [1, 2, 3].map((i) => new Stack({ clock, link: hub.attach(), interfaces: [{ ip: `10.0.0.${i}/24` }], seed: i })) as [Stack, Stack, Stack];
    const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
    b.bsd.bind(l, { address: '0.0.0.0', port: 80 });
    b.bsd.listen(l, 4);
    const fd = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    const done = a.bsd.connectAsync(fd, { address: '10.0.0.2', port: 80 });
    const acc = b.bsd.acceptAsync(l);
    await clock.advanceAsync(10, settle);
    await done;
    const { fd: s } = await acc;
    const data = pattern(1 << 20, 9);
    const out = new Uint8Array(data.length);
    let sent = 0, got = 0;
    for (let i = 0; i < 5000 && got < data.length; i++) {
      if (sent < data.length) { const r = a.bsd.trySend(fd, data.subarray(sent)); if (r > 0) sent += r; }
      await clock.advanceAsync(1, settle);
      for (let r; (r = b.bsd.tryRecvInto(s, out, got)) > 0;) got += r;
    }
    expect(sha(out)).toBe(sha(data));
    expect(c.counters().IpInReceives).toBe(0); // unicast went to b only
    expect(a.rxDropped + b.rxDropped + c.rxDropped).toBe(0);
    hub.close();
  });
});
