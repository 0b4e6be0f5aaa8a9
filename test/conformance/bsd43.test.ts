// 4.3BSD personality: the listen/accept rules of listen-behaviour.md §4 as corrected by §9, and the
// 4.3bsd (B) column of its scenarios (§6), driven segment by segment on a virtual clock. One describe
// per rule, scenario or man-page sentence, named after the behaviour. `c` is the peer's ISN, `s` the
// stack's ISS. Rules the spec marks code-derived (§7 item 8: S34/S37/S38/S40/S43) come from reading
// tcp_input.c / tcp_output.c / tcp_subr.c / tcp_timer.c of the 1986 release, not from running it.
// Timer tolerance: ±600 ms (§6 harness notes: the 500-ms slow timer).
import { describe, it, expect } from 'vitest';
import { Stack } from '../../src/stack.js';
import { VirtualClock, type Clock, type TimerHandle } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import { Peer, type TcpFlow, type ReceivedSegment } from '../../src/testing/peer.js';
import type { SysctlOverrides } from '../../src/sysctl.js';

const STACK_IP = '198.18.0.2';
const PEER_IP = '198.18.0.99';
const PORT = 8080;
const TOL = 600;

interface Env {
  clock: VirtualClock;
  stack: Stack;
  peer: Peer;
  fd: number;
}

interface SetupOptions {
  sysctls?: SysctlOverrides;
  backlog?: number;
  /** the stack's interface, CIDR (default 198.18.0.2/24) */
  iface?: string;
  gateway?: string;
  /** the peer's link-level identity (default 198.18.0.99); set it to the gateway for remote peers */
  peerIp?: string;
  /** the source address the peer's segments carry (default: peerIp) */
  srcIp?: string;
  /** the clock the stack runs on, made from the test's VirtualClock (default: that clock) */
  clockFor?: (v: VirtualClock) => Clock;
}

/** A clock whose callbacks run late: at the next multiple of `step` ms (a host that polls late). */
class LateClock implements Clock {
  constructor(readonly inner: VirtualClock, readonly step: number) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const now = this.inner.now();
    const due = Math.ceil((now + Math.max(0, ms)) / this.step) * this.step;
    return this.inner.setTimeout(callback, due - now);
  }
  clearTimeout(handle: TimerHandle): void {
    this.inner.clearTimeout(handle);
  }
}

async function setup(o: SetupOptions = {}): Promise<Env> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const iface = o.iface ?? `${STACK_IP}/24`;
  const stackIp = iface.split('/')[0] as string;
  const stack = new Stack({
    personality: '4.3bsd',
    sysctls: o.sysctls ?? {},
    clock: o.clockFor ? o.clockFor(clock) : clock,
    link: a,
    interfaces: [{ ip: iface, ...(o.gateway !== undefined ? { gateway: o.gateway } : {}) }],
    seed: 43,
    core: { debug: true },
  });
  const peer = new Peer({
    link: b, clock, ip: o.peerIp ?? PEER_IP, stackIp,
    template: { dport: PORT, ...(o.srcIp !== undefined ? { ip: { src: o.srcIp } } : {}) },
  });
  const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
  stack.bsd.listen(fd, o.backlog ?? 5);
  await peer.resolve({ within: 10 });
  return { clock, stack, peer, fd };
}

let nextPort = 30000;
function flow(env: Env, isn = 1000): TcpFlow {
  return env.peer.flow({ sport: nextPort++, dport: PORT, isn });
}

/** SYN, SYN-ACK, third ACK; returns the SYN-ACK. */
async function handshake(f: TcpFlow): Promise<ReceivedSegment> {
  f.send({ flags: 'S' });
  const sa = await f.expect({ flags: 'S.', ack: f.isn + 1 });
  f.send({ flags: '.' });
  return sa;
}

/** A SYN answered by a SYN-ACK, no third ACK: an embryo on q0. */
async function embryo(f: TcpFlow): Promise<ReceivedSegment> {
  f.send({ flags: 'S' });
  return f.expect({ flags: 'S.', ack: f.isn + 1 });
}

/** Non-blocking accept(): the peer port, or the errno name. */
function tryAccept(env: Env): number | string {
  try {
    return env.stack.bsd.accept(env.fd).port;
  } catch (e) {
    return (e as { code: string }).code;
  }
}

function tryRecv(env: Env, fd: number): string {
  try {
    return Buffer.from(env.stack.bsd.recv(fd, 65536)).toString('latin1');
  } catch (e) {
    return (e as { code: string }).code;
  }
}

function listener(env: Env) {
  const l = env.stack.listeners()[0];
  if (!l) throw new Error('no listener');
  return l;
}

function near(seg: ReceivedSegment, t: number): void {
  expect(Math.abs(seg.time - t), `${seg.text} at ${seg.time} ms, expected ${t} ± ${TOL}`).toBeLessThanOrEqual(TOL);
}

// ------------------------------------------------------------------------------------------------
// §4.2, §1: q0 + q counted together
// ------------------------------------------------------------------------------------------------

describe('queue limit: embryos and completed connections share ⌊3b/2⌋+1 (sonewconn)', () => {
  const cases: [number, number][] = [[0, 1], [1, 2], [2, 4], [3, 5], [4, 7], [5, 8], [64, 8]];

  for (const [backlog, q] of cases) {
    it(`backlog ${backlog}: ${q} completed connections, the next SYN gets nothing (S10-S14)`, async () => {
      const env = await setup({ backlog });
      for (let i = 0; i < q; i++) await handshake(flow(env, 1000 + i * 100000));
      const extra = flow(env, 9000000);
      extra.send({ flags: 'S' });
      await env.peer.expectNothing(2000);
      let n = 0;
      for (let r = tryAccept(env); typeof r === 'number'; r = tryAccept(env)) n++;
      expect(n).toBe(q);
      expect(tryAccept(env)).toBe('EAGAIN');
    });

    it(`backlog ${backlog}: ${q} embryos that never complete fill it just the same`, async () => {
      const env = await setup({ backlog });
      for (let i = 0; i < q; i++) await embryo(flow(env, 1000 + i * 100000));
      expect(listener(env).synQueue).toBe(q);
      flow(env, 9000000).send({ flags: 'S' });
      await env.peer.expectNothing(2000);
      expect(listener(env).synQueue).toBe(q);
      expect(listener(env).overflows).toBe(1);
    });
  }

  it('backlog 1: one embryo plus one completed connection is the limit', async () => {
    const env = await setup({ backlog: 1 });
    await handshake(flow(env, 1000));
    await embryo(flow(env, 200000));
    expect(listener(env)).toMatchObject({ acceptQueue: 1, synQueue: 1 });
    flow(env, 300000).send({ flags: 'S' });
    await env.peer.expectNothing(1000);
    // accept() frees a place: the next SYN is answered
    expect(typeof tryAccept(env)).toBe('number');
    await embryo(flow(env, 400000));
  });

  it('the embryo moves q0 -> q without any limit check when its handshake completes', async () => {
    const env = await setup({ backlog: 0 });
    const f = flow(env);
    await embryo(f);
    expect(listener(env)).toMatchObject({ acceptQueue: 0, synQueue: 1 });
    f.send({ flags: '.' });
    await env.peer.settle();
    expect(listener(env)).toMatchObject({ acceptQueue: 1, synQueue: 0 });
    expect(typeof tryAccept(env)).toBe('number');
  });
});

describe('listen(2) BUGS: "The backlog is currently limited (silently) to 5"', () => {
  it('listen(fd, 64) succeeds and the effective backlog is 5', async () => {
    const env = await setup({ backlog: 64 });
    expect(listener(env).backlog).toBe(5);
  });

  it('the limit is on so_qlimit, not on connections: 8 connections fit', async () => {
    const env = await setup({ backlog: 1000 });
    for (let i = 0; i < 8; i++) await handshake(flow(env, 1000 + i * 100000));
    flow(env, 9000000).send({ flags: 'S' });
    await env.peer.expectNothing(1000);
    expect(listener(env).acceptQueue).toBe(8);
  });

  it('a negative backlog is 0: one connection', async () => {
    const env = await setup({ backlog: -1 });
    expect(listener(env).backlog).toBe(0);
    await handshake(flow(env, 1000));
    flow(env, 500000).send({ flags: 'S' });
    await env.peer.expectNothing(1000);
  });
});

describe('listen(2): "the request may be ignored so that retries may succeed" (S17, S49)', () => {
  it('a SYN to a full queue is ignored, never refused; its retry succeeds once there is room', async () => {
    const env = await setup({ backlog: 1 });
    await handshake(flow(env, 1000));
    await handshake(flow(env, 200000));
    const f = flow(env, 300000);
    f.send({ flags: 'S' });
    await env.peer.expectNothing(3000);           // no SYN-ACK and no RST (no ECONNREFUSED)
    f.send({ flags: 'S', seq: 300000 });          // the client's retransmission
    await env.peer.expectNothing(3000);
    expect(typeof tryAccept(env)).toBe('number');
    f.send({ flags: 'S', seq: 300000 });
    await f.expect({ flags: 'S.', ack: 300001 });
  });
});

describe('listen() and bind(): the 4.3BSD column of S01-S21, S56, S61 (the host\'s socket layer)', () => {
  function errno(fn: () => unknown): string {
    try {
      fn();
      return 'ok';
    } catch (e) {
      return (e as { code: string }).code;
    }
  }

  it('S01/S03: listen() on a bad descriptor is EBADF, on a UDP socket EOPNOTSUPP', async () => {
    const env = await setup();
    expect(errno(() => env.stack.bsd.listen(9999, 5))).toBe('EBADF');
    const u = env.stack.bsd.socket('AF_INET', 'SOCK_DGRAM');
    expect(errno(() => env.stack.bsd.listen(u, 5))).toBe('EOPNOTSUPP');
  });

  it('S06: listen() on an unbound socket autobinds sequentially from 1024', async () => {
    const env = await setup();
    const a = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    const b = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    env.stack.bsd.listen(a, 5);
    env.stack.bsd.listen(b, 5);
    expect([env.stack.bsd.getsockname(a).port, env.stack.bsd.getsockname(b).port]).toEqual([1024, 1025]);
  });

  it('S18/S19: a second bind to the port fails with EADDRINUSE, SO_REUSEADDR or not', async () => {
    const env = await setup();
    const a = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(errno(() => env.stack.bsd.bind(a, { address: '0.0.0.0', port: PORT }))).toBe('EADDRINUSE');
    const x = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    const y = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    env.stack.bsd.setsockopt(x, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    env.stack.bsd.setsockopt(y, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    env.stack.bsd.bind(x, { address: '0.0.0.0', port: 9090 });
    expect(errno(() => env.stack.bsd.bind(y, { address: '0.0.0.0', port: 9090 }))).toBe('EADDRINUSE');
  });

  it('S21/S56/S61: SO_REUSEPORT and SO_ACCEPTFILTER do not exist (ENOPROTOOPT), TCP_DEFER_ACCEPT is EINVAL', async () => {
    const env = await setup();
    expect(errno(() => env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_REUSEPORT', 1))).toBe('ENOPROTOOPT');
    expect(errno(() => env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' }))).toBe('ENOPROTOOPT');
    expect(errno(() => env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5))).toBe('EINVAL');
  });

  it('relisten only changes the backlog: queued connections stay, the new limit applies to new SYNs', async () => {
    const env = await setup({ backlog: 5 });
    for (let i = 0; i < 3; i++) await handshake(flow(env, 1000 + i * 100000));
    await env.peer.settle();
    env.stack.bsd.listen(env.fd, 1);
    expect(listener(env)).toMatchObject({ backlog: 1, acceptQueue: 3 });
    flow(env, 900000).send({ flags: 'S' });
    await env.peer.expectNothing(1000);
    env.stack.bsd.listen(env.fd, 5);
    await embryo(flow(env, 950000));
  });
});

// ------------------------------------------------------------------------------------------------
// §4.2: sonewconn runs before the flags are looked at
// ------------------------------------------------------------------------------------------------

describe('while the queue is full every segment to the listener is dropped silently (§4.2)', () => {
  async function full(): Promise<Env> {
    const env = await setup({ backlog: 0 });
    await embryo(flow(env, 1000));
    return env;
  }

  it('a bare ACK gets nothing (not the RST of S26) and counts as an overflow', async () => {
    const env = await full();
    env.peer.send({ flags: '.', sport: 4001, seq: 5000, ack: 7000 });
    await env.peer.expectNothing(1000);
    expect(listener(env)).toMatchObject({ overflows: 1, drops: 1 });
    const c = env.stack.counters();
    expect(c.TcpExtListenOverflows).toBe(1);
    expect(c.TcpExtListenDrops).toBe(1);
  });

  it('a SYN|ACK, an ACK with data, a FIN|ACK and a RST get nothing', async () => {
    const env = await full();
    env.peer.send({ flags: 'S.', sport: 4002, seq: 5000, ack: 7000 });
    env.peer.send({ flags: 'P.', sport: 4003, seq: 5000, ack: 7000, payload: '0123456789' });
    env.peer.send({ flags: 'F.', sport: 4004, seq: 5000, ack: 7000 });
    env.peer.send({ flags: 'R', sport: 4005, seq: 5000 });
    await env.peer.expectNothing(1000);
    expect(listener(env).overflows).toBe(4);
  });
});

describe('LISTEN on the temporary socket: RST-worthy segments when the queue is not full (§4.3, §9 item 3)', () => {
  it('a bare ACK gets <SEQ=SEG.ACK><RST>, window 4096 (the temporary socket\'s receive space) (S26)', async () => {
    const env = await setup();
    env.peer.send({ flags: '.', sport: 4101, seq: 5000, ack: 7000 });
    await env.peer.expect({ flags: 'R', seq: 7000, ack: 0, win: 4096, sport: PORT, dport: 4101 });
    expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 0, overflows: 0 });
  });

  it('an ACK with data gets <SEQ=SEG.ACK><RST> (S27)', async () => {
    const env = await setup();
    env.peer.send({ flags: 'P.', sport: 4102, seq: 5000, ack: 7100, payload: '0123456789' });
    await env.peer.expect({ flags: 'R', seq: 7100, win: 4096 });
  });

  it('a SYN|ACK gets <SEQ=SEG.ACK><RST> (S29)', async () => {
    const env = await setup();
    env.peer.send({ flags: 'S.', sport: 4103, seq: 5000, ack: 7200 });
    await env.peer.expect({ flags: 'R', seq: 7200, win: 4096 });
  });

  it('the recvspace knob is that window', async () => {
    const env = await setup({ sysctls: { 'wtcp.bsd43.recvspace': 2000 } });
    env.peer.send({ flags: '.', sport: 4104, seq: 5000, ack: 7300 });
    await env.peer.expect({ flags: 'R', seq: 7300, win: 2000 });
  });

  it('RST, RST|ACK, FIN alone and no flags get nothing; a SYN afterwards is answered (S28, S30)', async () => {
    const env = await setup();
    env.peer.send({ flags: 'R', sport: 4105, seq: 5000 });
    env.peer.send({ flags: 'R.', sport: 4106, seq: 5000, ack: 7000 });
    env.peer.send({ flags: 'F', sport: 4107, seq: 5000 });
    env.peer.send({ flags: '', sport: 4108, seq: 5000 });
    await env.peer.expectNothing(1000);
    await embryo(flow(env));
  });

  it('a SYN to the broadcast address gets nothing (S31)', async () => {
    const env = await setup();
    env.peer.send({ flags: 'S', sport: 4109, seq: 5000, ip: { dst: '198.18.0.255' }, dstMac: 'ff:ff:ff:ff:ff:ff' });
    await env.peer.expectNothing(1000);
    expect(listener(env).synQueue).toBe(0);
  });

  it('an ACK to the broadcast address gets no RST', async () => {
    const env = await setup();
    env.peer.send({ flags: '.', sport: 4110, seq: 5000, ack: 7000, ip: { dst: '198.18.0.255' }, dstMac: 'ff:ff:ff:ff:ff:ff' });
    await env.peer.expectNothing(1000);
  });
});

// ------------------------------------------------------------------------------------------------
// §4.3 item 7: the SYN-ACK
// ------------------------------------------------------------------------------------------------

describe('SYN-ACK: MSS option only, 1024 to a local peer, none to a remote one, window 4096 (S23)', () => {
  const allOptions = { mss: 1460, sackOk: true, ts: [12345, 0] as [number, number], wscale: 7 };

  it('a peer on the local network: <mss 1024>, window 4096, no WS/TS/SACK whatever the SYN offered', async () => {
    const env = await setup();
    const f = flow(env);
    f.send({ flags: 'S', win: 65535, options: allOptions });
    const sa = await f.expect({ flags: 'S.', ack: f.isn + 1, win: 4096 });
    expect(sa.options).toEqual({ mss: 1024 });
  });

  it('a remote peer (through the gateway, another network): no option at all', async () => {
    const env = await setup({ gateway: '198.18.0.1', peerIp: '198.18.0.1', srcIp: '203.0.113.7' });
    const f = flow(env);
    f.send({ flags: 'S', options: allOptions });
    const sa = await f.expect({ flags: 'S.', ack: f.isn + 1, win: 4096 });
    expect(sa.ip.dst).toBe('203.0.113.7');
    expect(sa.options).toEqual({});
  });

  it('in_localaddr with SUBNETSARELOCAL: another subnet of our class A network is local', async () => {
    const env = await setup({ iface: '10.1.0.2/16', gateway: '10.1.0.1', peerIp: '10.1.0.1', srcIp: '10.2.0.9' });
    const f = flow(env);
    f.send({ flags: 'S', options: { mss: 1460 } });
    const sa = await f.expect({ flags: 'S.', ack: f.isn + 1 });
    expect(sa.options).toEqual({ mss: 1024 });
  });

  it('... and another class A network is not', async () => {
    const env = await setup({ iface: '10.1.0.2/16', gateway: '10.1.0.1', peerIp: '10.1.0.1', srcIp: '11.0.0.9' });
    const f = flow(env);
    f.send({ flags: 'S', options: { mss: 1460 } });
    const sa = await f.expect({ flags: 'S.', ack: f.isn + 1 });
    expect(sa.options).toEqual({});
  });

  it('the machine-dependent mss_local knob sets the option: MIN(recvspace/2, tcp_mss)', async () => {
    const env = await setup({ sysctls: { 'wtcp.bsd43.mss_local': 1460 } });
    const f = flow(env);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.' });
    expect(sa.options).toEqual({ mss: 1460 });
  });

  it('a receive space of 1000 gives window 1000 and no option (500 is not above 536)', async () => {
    const env = await setup({ sysctls: { 'wtcp.bsd43.recvspace': 1000 } });
    const f = flow(env);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', win: 1000 });
    expect(sa.options).toEqual({});
  });
});

describe('ISS: RFC 6528 unless predictable_isn (§5.3, §4.3 item 5)', () => {
  it('by default successive ISSs are not the historical counter', async () => {
    const env = await setup();
    const a = await embryo(flow(env));
    const b = await embryo(flow(env));
    expect(((b.seq - a.seq) >>> 0)).not.toBe(64000);
    expect(a.seq).not.toBe(1);
  });

  it('predictable_isn: tcp_iss starts at 1, +64000 per connection and per 500-ms tick', async () => {
    const env = await setup({ sysctls: { 'wtcp.bsd43.predictable_isn': 1 } });
    const t0 = env.clock.now();
    expect(t0).toBeLessThan(500);
    const a = await embryo(flow(env));
    const b = await embryo(flow(env));
    expect(a.seq).toBe(1);
    expect(b.seq).toBe(64001);
    await env.peer.wait(1000 - env.clock.now());    // two slow ticks: 500 and 1000 ms
    const c = await embryo(flow(env));
    expect(c.seq).toBe(1 + 2 * 64000 + 2 * 64000);
  });
});

// ------------------------------------------------------------------------------------------------
// §4.3 item 6: SYN data, SYN|FIN
// ------------------------------------------------------------------------------------------------

describe('data on the SYN is queued and presented after the handshake (§4.3 item 6, §5.1)', () => {
  it('the SYN-ACK acknowledges only the SYN; accept() then reads the SYN\'s data', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    f.send({ flags: 'S', payload: 'hello' });
    const sa = await f.expect({ flags: 'S.', ack: c + 1 });
    // the third ACK from c+1, as a client whose data was not acknowledged sends it: no answer
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.expectNothing(500);
    const r = env.stack.bsd.accept(env.fd);
    expect(tryRecv(env, r.fd)).toBe('hello');
    // the client resends the bytes: now they are old news, acknowledged up to c+6
    env.peer.send({ flags: 'P.', sport: f.sport, seq: c + 1, ack: sa.seq + 1, payload: 'hello' });
    await env.peer.expect({ flags: '.', ack: c + 6 });
    expect(tryRecv(env, r.fd)).toBe('EAGAIN');
  });

  it('a FIN on a SYN with data is lost: the data arrives, no end of file', async () => {
    const env = await setup();
    const c = 5000;
    const f = flow(env, c);
    f.send({ flags: 'SF', payload: 'abc' });
    const sa = await f.expect({ flags: 'S.', ack: c + 1 });
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    expect(tryRecv(env, r.fd)).toBe('abc');
    expect(tryRecv(env, r.fd)).toBe('EAGAIN');
  });

  it('SYN data beyond the receive window is trimmed to it', async () => {
    const env = await setup({ sysctls: { 'wtcp.bsd43.recvspace': 600 } });
    const c = 7000;
    const f = flow(env, c);
    const data = 'x'.repeat(600) + 'y'.repeat(400);
    f.send({ flags: 'S', payload: data });
    const sa = await f.expect({ flags: 'S.', ack: c + 1, win: 600 });
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    expect(tryRecv(env, r.fd)).toBe('x'.repeat(600));
  });

  it('the data of an embryo that is reset never reaches anyone', async () => {
    const env = await setup();
    const c = 9000;
    const f = flow(env, c);
    f.send({ flags: 'S', payload: 'secret' });
    const sa = await f.expect({ flags: 'S.', ack: c + 1 });
    env.peer.send({ flags: 'R', sport: f.sport, seq: c + 1 });
    await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1 });
    expect(tryAccept(env)).toBe('EAGAIN');
    // same 4-tuple again: a fresh embryo, with no trace of the old data
    const g = env.peer.flow({ sport: f.sport, dport: PORT, isn: 20000 });
    await handshake(g);
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    expect(tryRecv(env, r.fd)).toBe('EAGAIN');
  });
});

describe('SYN|FIN: the FIN is processed, a plain ACK, a CLOSE_WAIT embryo (§9 item 1, S25)', () => {
  it('answers <SEQ=ISS><ACK=c+2><ACK>: no SYN, no options, window 4096; then nothing for 60 s', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    f.send({ flags: 'SF' });
    const a = await env.peer.expect({ flags: '.', ack: c + 2, win: 4096 });
    expect(a.options).toEqual({});
    await env.peer.expectNothing(60000);            // no SYN-ACK, no retransmission, no keep RST
    expect(listener(env)).toMatchObject({ synQueue: 1, acceptQueue: 0 });
  });

  it('it holds one of the queue\'s places until it is reset, then a SYN is answered again', async () => {
    const env = await setup({ backlog: 0 });
    const c = 1000;
    const f = flow(env, c);
    f.send({ flags: 'SF' });
    const a = await env.peer.expect({ flags: '.', ack: c + 2 });
    const s = a.seq;
    flow(env, 50000).send({ flags: 'S' });
    await env.peer.expectNothing(1000);
    // a RST at c+1 is left of the window (RCV.NXT is c+2): ignored
    env.peer.send({ flags: 'R', sport: f.sport, seq: c + 1 });
    await env.peer.expectNothing(1000);
    expect(listener(env).synQueue).toBe(1);
    // at c+2: tcp_drop, RST|ACK <SEQ=ISS><ACK=c+2>, with the MSS option of a state below ESTABLISHED
    env.peer.send({ flags: 'R', sport: f.sport, seq: c + 2 });
    const r = await env.peer.expect({ flags: 'R.', seq: s, ack: c + 2, win: 4096 });
    expect(r.options).toEqual({ mss: 1024 });
    expect(listener(env).synQueue).toBe(0);
    await embryo(flow(env, 60000));
  });

  it('a retransmitted SYN|FIN, or an ACK of a SYN never sent, gets the same plain ACK', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    f.send({ flags: 'SF' });
    const a = await env.peer.expect({ flags: '.', ack: c + 2 });
    env.peer.send({ flags: 'SF', sport: f.sport, seq: c });
    await env.peer.expect({ flags: '.', seq: a.seq, ack: c + 2 });
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 2, ack: a.seq + 1 });
    await env.peer.expect({ flags: '.', seq: a.seq, ack: c + 2 });
    // an ACK of ISS itself is acceptable: nothing, and the embryo never reaches accept()
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 2, ack: a.seq });
    await env.peer.expectNothing(1000);
    expect(tryAccept(env)).toBe('EAGAIN');
    expect(listener(env).synQueue).toBe(1);
  });

  it('closing the listener resets it: RST|ACK <SEQ=ISS><ACK=c+2>', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    f.send({ flags: 'SF' });
    const a = await env.peer.expect({ flags: '.', ack: c + 2 });
    env.stack.bsd.close(env.fd);
    await env.peer.expect({ flags: 'R.', seq: a.seq, ack: c + 2 });
  });
});

// ------------------------------------------------------------------------------------------------
// §4.4: SYN_RECEIVED
// ------------------------------------------------------------------------------------------------

describe('duplicate SYN: a bare ACK <SEQ=ISS+1><ACK=IRS+1>, never a SYN-ACK (S33)', () => {
  it('every duplicate gets the bare ACK, window 4096, no options, no rate limit', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    await env.peer.wait(50);
    for (let i = 0; i < 3; i++) {
      env.peer.send({ flags: 'S', sport: f.sport, seq: c });
      const a = await env.peer.expect({ flags: '.', seq: sa.seq + 1, ack: c + 1, win: 4096 });
      expect(a.options).toEqual({});
    }
    expect(listener(env).synQueue).toBe(1);
  });

  it('a duplicate SYN carrying data gets nothing at all (trimmed, no ACK bit: dropped)', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    await embryo(f);
    env.peer.send({ flags: 'S', sport: f.sport, seq: c, payload: 'data' });
    await env.peer.expectNothing(1000);
    expect(listener(env).synQueue).toBe(1);
  });

  it('the duplicate does not restart the SYN-ACK schedule', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const t0 = env.clock.now();
    const sa = await embryo(f);
    await env.peer.wait(4000);
    env.peer.send({ flags: 'S', sport: f.sport, seq: c });
    await env.peer.expect({ flags: '.', seq: sa.seq + 1 });
    near(await env.peer.expect({ flags: 'S.', seq: sa.seq }, { within: 10000 }), t0 + 6000);
  });
});

describe('RST in SYN_RECEIVED: any in-window RST drops the embryo and draws a RST|ACK (S37, S39, S40)', () => {
  async function rstCase(rseq: (c: number) => number, flags = 'R'): Promise<{ env: Env; sa: ReceivedSegment; c: number; f: TcpFlow }> {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    env.peer.send({ flags, sport: f.sport, seq: rseq(c), ack: flags.includes('.') ? sa.seq + 1 : 0 });
    return { env, sa, c, f };
  }

  async function gone(env: Env, f: TcpFlow, c: number, sa: ReceivedSegment): Promise<void> {
    expect(listener(env).synQueue).toBe(0);
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.expect({ flags: 'R', seq: sa.seq + 1 });     // the listener answers: no embryo
  }

  it('RST exactly at RCV.NXT: <SEQ=ISS><ACK=IRS+1><RST,ACK> window 4096 with the MSS option, embryo gone (S37)', async () => {
    const { env, sa, c, f } = await rstCase((c) => c + 1);
    const r = await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1, win: 4096 });
    expect(r.options).toEqual({ mss: 1024 });
    await gone(env, f, c, sa);
  });

  it('RST inside the window but not at RCV.NXT: the same (no RFC 5961 challenge ACK)', async () => {
    const { env, sa, c, f } = await rstCase((c) => c + 100);
    await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1 });
    await gone(env, f, c, sa);
  });

  it('RST exactly at IRS+1+W is in the window (§9 item 2)', async () => {
    const { env, sa, c, f } = await rstCase((c) => c + 1 + 4096);
    await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1 });
    await gone(env, f, c, sa);
  });

  it('RST|ACK at RCV.NXT: processed the same (S40)', async () => {
    const { env, sa, c, f } = await rstCase((c) => c + 1, 'R.');
    await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1 });
    await gone(env, f, c, sa);
  });

  it('RST at IRS (left of the window): ignored, embryo kept (S39)', async () => {
    const { env, sa, c, f } = await rstCase((c) => c);
    await env.peer.expectNothing(1000);
    expect(listener(env).synQueue).toBe(1);
    f.send({ flags: '.', seq: c + 1 });
    await env.peer.settle();
    expect(typeof tryAccept(env)).toBe('number');
    void sa;
  });

  it('RST at IRS+2+W (right of the window): ignored, embryo kept (S39)', async () => {
    const { env, c } = await rstCase((c) => c + 2 + 4096);
    await env.peer.expectNothing(1000);
    expect(listener(env).synQueue).toBe(1);
    void c;
  });

  it('counts TcpExtEmbryonicRsts and TcpAttemptFails', async () => {
    const { env } = await rstCase((c) => c + 1);
    await env.peer.expect({ flags: 'R.' });
    const k = env.stack.counters();
    expect(k.TcpExtEmbryonicRsts).toBe(1);
    expect(k.TcpAttemptFails).toBe(1);
    expect(k.TcpOutRsts).toBe(1);
  });
});

describe('SYN in the window of an embryo: tcp_drop, then dropwithreset — two RSTs (S38)', () => {
  it('<SEQ=ISS><ACK=IRS+1><RST,ACK> then <SEQ=0><ACK=SEG.SEQ+1><RST,ACK> window 0; the embryo is gone', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    env.peer.send({ flags: 'S', sport: f.sport, seq: c + 500 });
    await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1, win: 4096 });
    const second = await env.peer.expect({ flags: 'R.', seq: 0, ack: c + 501, win: 0 });
    expect(second.options).toEqual({});
    expect(listener(env).synQueue).toBe(0);
    await env.peer.expectNothing(10000);            // no SYN-ACK retransmission either
  });

  it('a SYN right of the window is only acknowledged, the embryo kept', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    env.peer.send({ flags: 'S', sport: f.sport, seq: c + 1 + 5000 });
    await env.peer.expect({ flags: '.', seq: sa.seq + 1, ack: c + 1 });
    expect(listener(env).synQueue).toBe(1);
  });
});

describe('SYN_RECEIVED without ACK: dropped, embryo kept', () => {
  it('data without ACK gets nothing and is not kept', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    env.peer.send({ flags: 'P', sport: f.sport, seq: c + 1, payload: 'lost' });
    await env.peer.expectNothing(1000);
    expect(listener(env).synQueue).toBe(1);
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    expect(tryRecv(env, r.fd)).toBe('EAGAIN');
  });
});

describe('unacceptable ACK in SYN_RECEIVED: RST <SEQ=SEG.ACK>, the embryo is kept (S35)', () => {
  it('ACK s+5 gets [R] seq=s+5; the right ACK then completes the handshake', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 5 });
    const r = await env.peer.expect({ flags: 'R', seq: sa.seq + 5, ack: 0, win: 4096 });
    expect(r.options).toEqual({});
    expect(listener(env).synQueue).toBe(1);
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.expectNothing(500);
    expect(tryAccept(env)).toBe(f.sport);
  });

  it('ACK below ISS is unacceptable too', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    const sa = await embryo(f);
    env.peer.send({ flags: '.', sport: f.sport, seq: 1001, ack: sa.seq - 1 });
    await env.peer.expect({ flags: 'R', seq: (sa.seq - 1) >>> 0 });
    expect(listener(env).synQueue).toBe(1);
  });

  it('ACK = ISS passes 4.3BSD\'s test (SND.UNA <= SEG.ACK <= SND.MAX) and completes the handshake', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    const sa = await embryo(f);
    env.peer.send({ flags: '.', sport: f.sport, seq: 1001, ack: sa.seq });
    await env.peer.expectNothing(500);
    expect(tryAccept(env)).toBe(f.sport);
  });
});

describe('third ACK carrying data (S42)', () => {
  it('establishes, accept() returns it, read gives the data, the data is acknowledged', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const sa = await embryo(f);
    env.peer.send({ flags: 'P.', sport: f.sport, seq: c + 1, ack: sa.seq + 1, payload: 'x'.repeat(100) });
    await env.peer.expect({ flags: '.', ack: c + 101 });
    const r = env.stack.bsd.accept(env.fd);
    expect(tryRecv(env, r.fd)).toBe('x'.repeat(100));
    expect(env.stack.counters().TcpPassiveOpens).toBe(1);
  });
});

// ------------------------------------------------------------------------------------------------
// §4.5: timers
// ------------------------------------------------------------------------------------------------

describe('timers: SYN-ACK at 0, 6, 12, 24 s, then the keep timer\'s RST|ACK at 45 s (S43)', () => {
  it('nobody ACKs: the schedule, the RST, and a late ACK finds no embryo', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const t0 = env.clock.now();
    const sa = await embryo(f);
    near(sa, t0);
    for (const t of [6000, 12000, 24000]) {
      const s = await env.peer.expect({ flags: 'S.', seq: sa.seq, ack: c + 1, win: 4096 }, { within: 20000 });
      expect(s.options).toEqual({ mss: 1024 });
      near(s, t0 + t);
    }
    const r = await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1 }, { within: 30000 });
    near(r, t0 + 45000);
    expect(listener(env).synQueue).toBe(0);
    await env.peer.wait(70000 - env.clock.now());
    env.peer.send({ flags: '.', sport: f.sport, seq: c + 1, ack: sa.seq + 1 });
    await env.peer.expect({ flags: 'R', seq: sa.seq + 1 });
    const k = env.stack.counters();
    expect(k.TcpRetransSegs).toBe(3);
    expect(k.TcpExtTCPTimeouts).toBe(4);
    expect(k.TcpAttemptFails).toBe(1);
  });

  it('timers run on 500-ms ticks: a SYN at 400 ms is first retransmitted at the 12th tick, 6.0 s', async () => {
    const env = await setup();
    await env.peer.wait(400 - env.clock.now());
    const f = flow(env);
    const sa = await embryo(f);
    const s = await env.peer.expect({ flags: 'S.', seq: sa.seq }, { within: 10000 });
    expect(s.time).toBe(6000);
  });

  it('every segment for the embryo restarts the keep timer; the SYN-ACK schedule runs on', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const t0 = env.clock.now();
    const sa = await embryo(f);
    await env.peer.wait(t0 + 30000 - env.clock.now());
    const got: ReceivedSegment[] = await env.peer.drain();
    expect(got.map((s) => s.flags)).toEqual(['S.', 'S.', 'S.']);
    env.peer.send({ flags: 'S', sport: f.sport, seq: c });      // duplicate at 30 s
    await env.peer.expect({ flags: '.', seq: sa.seq + 1 });
    near(await env.peer.expect({ flags: 'S.' }, { within: 30000 }), t0 + 48000);
    const r = await env.peer.expect({ flags: 'R.', seq: sa.seq, ack: c + 1 }, { within: 40000 });
    near(r, t0 + 75000);
  });

  it('kept alive by the peer, the embryo gives up after 12 backoffs (TCP_MAXRXTSHIFT): RST|ACK at 318 s', async () => {
    const env = await setup();
    const c = 1000;
    const f = flow(env, c);
    const t0 = env.clock.now();
    const sa = await embryo(f);
    const seen: ReceivedSegment[] = [];
    for (let t = 40000; t <= 280000; t += 40000) {
      await env.peer.wait(t0 + t - env.clock.now());
      env.peer.send({ flags: 'S', sport: f.sport, seq: c });
    }
    await env.peer.wait(t0 + 330000 - env.clock.now());
    seen.push(...(await env.peer.drain()));
    const synAcks = seen.filter((s) => s.flags === 'S.').map((s) => s.time - t0);
    const expected = [6, 12, 24, 48, 78, 108, 138, 168, 198, 228, 258, 288].map((s) => s * 1000);
    expect(synAcks.length).toBe(expected.length);
    synAcks.forEach((t, i) => expect(Math.abs(t - (expected[i] as number))).toBeLessThanOrEqual(TOL));
    const rsts = seen.filter((s) => s.flags === 'R.');
    expect(rsts.length).toBe(1);
    expect(Math.abs((rsts[0] as ReceivedSegment).time - t0 - 318000)).toBeLessThanOrEqual(TOL);
    expect(seen.filter((s) => s.flags === '.').length).toBe(7);
    void sa;
  });

  it('a host that polls late still gets the whole schedule: re-armed timers count from the tick that fired', async () => {
    // the stack's timer callbacks run only at multiples of 60 s, long after the deadlines
    const env = await setup({ clockFor: (v) => new LateClock(v, 60000) });
    const c = 1000;
    const f = flow(env, c);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', ack: c + 1 });
    await env.peer.wait(61000 - env.clock.now());
    const got = await env.peer.drain();
    expect(got.map((s) => s.flags)).toEqual(['S.', 'S.', 'S.', 'R.']);
    expect(got.every((s) => s.time === 60000)).toBe(true);
    expect((got[3] as ReceivedSegment).seq).toBe(sa.seq);
  });
});

// ------------------------------------------------------------------------------------------------
// §4.7: closing the listener, dead queued connections, accept order
// ------------------------------------------------------------------------------------------------

describe('closing the listener aborts every socket on q0 and q (soclose, §4.7)', () => {
  it('RST|ACK to each embryo <SEQ=ISS><ACK=IRS+1> and each completed connection <SEQ=ISS+1>, newest first', async () => {
    const env = await setup();
    const A = flow(env, 100000), B = flow(env, 200000), C = flow(env, 300000), D = flow(env, 400000);
    const sA = (await handshake(A)).seq;
    const sB = (await handshake(B)).seq;
    const sC = (await embryo(C)).seq;
    const sD = (await embryo(D)).seq;
    await env.peer.settle();
    expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 2 });
    env.stack.bsd.close(env.fd);
    const r = [
      await env.peer.expect({ flags: 'R.', dport: D.sport, seq: sD, ack: 400001 }),
      await env.peer.expect({ flags: 'R.', dport: C.sport, seq: sC, ack: 300001 }),
      await env.peer.expect({ flags: 'R.', dport: B.sport, seq: sB + 1, ack: 200001 }),
      await env.peer.expect({ flags: 'R.', dport: A.sport, seq: sA + 1, ack: 100001 }),
    ];
    for (const s of r) {
      expect(s.win).toBe(4096);
      expect(s.options).toEqual({ mss: 1024 });
    }
    await env.peer.expectNothing(60000);
    expect(env.stack.listeners()).toEqual([]);
    // nothing is left: C's ACK finds no socket
    env.peer.send({ flags: '.', sport: C.sport, seq: 300001, ack: sC + 1 });
    await env.peer.expect({ flags: 'R', seq: sC + 1, win: 0 });
    const k = env.stack.counters();
    expect(k.TcpAttemptFails).toBe(2);
    expect(k.TcpEstabResets).toBe(2);
    expect(k.TcpCurrEstab).toBe(0);
  });

  it('accepted connections are not touched', async () => {
    const env = await setup();
    const A = flow(env, 100000);
    await handshake(A);
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    env.stack.bsd.close(env.fd);
    await env.peer.expectNothing(1000);
    A.send({ flags: 'P.', payload: 'still here' });
    await env.peer.expect({ flags: '.', ack: 100001 + 10 });
    expect(tryRecv(env, r.fd)).toBe('still here');
  });

  it('the port can be listened on again at once, with an empty queue', async () => {
    const env = await setup({ backlog: 0 });
    await embryo(flow(env, 1000));
    env.stack.bsd.close(env.fd);
    await env.peer.expect({ flags: 'R.' });
    const fd = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    env.stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
    env.stack.bsd.listen(fd, 0);
    expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 0 });
    await embryo(flow(env, 5000));
  });
});

describe('a queued connection that is reset never reaches accept() (§4.7)', () => {
  it('RST: tcp_drop answers with a RST|ACK, sofree unlinks it, accept() returns the other one', async () => {
    const env = await setup();
    const A = flow(env, 100000), B = flow(env, 200000);
    const sA = (await handshake(A)).seq;
    await handshake(B);
    await env.peer.settle();
    A.send({ flags: 'R' });
    const r = await env.peer.expect({ flags: 'R.', dport: A.sport, seq: sA + 1, ack: 100001 });
    expect(r.options).toEqual({ mss: 1024 });
    expect(listener(env).acceptQueue).toBe(1);
    expect(tryAccept(env)).toBe(B.sport);
    expect(tryAccept(env)).toBe('EAGAIN');
    expect(env.stack.counters().TcpEstabResets).toBe(1);
  });

  it('the freed place is usable: backlog 0, reset, then a new connection', async () => {
    const env = await setup({ backlog: 0 });
    const A = flow(env, 100000);
    await handshake(A);
    await env.peer.settle();
    A.send({ flags: 'R' });
    await env.peer.expect({ flags: 'R.' });
    await handshake(flow(env, 300000));
    await env.peer.settle();
    expect(listener(env).acceptQueue).toBe(1);
  });

  it('an in-window SYN: two RSTs, and it is gone too', async () => {
    const env = await setup();
    const A = flow(env, 100000);
    const sA = (await handshake(A)).seq;
    await env.peer.settle();
    env.peer.send({ flags: 'S', sport: A.sport, seq: 100000 + 50 });
    await env.peer.expect({ flags: 'R.', seq: sA + 1, ack: 100001 });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 100051, win: 0 });
    expect(tryAccept(env)).toBe('EAGAIN');
  });
});

describe('tcp_drop of an accepted connection whose FIN is in flight sends nothing (tcp_output, len < 0)', () => {
  it('closed by the application (FIN_WAIT_1), reset by the peer: no RST|ACK while the peer\'s window is open', async () => {
    const env = await setup();
    const A = flow(env, 100000);
    const sa = await handshake(A);
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    env.stack.bsd.close(r.fd);
    await env.peer.expect({ flags: 'F.', seq: sa.seq + 1 });
    A.send({ flags: 'R' });
    await env.peer.expectNothing(5000);            // no RST, and no FIN retransmission: it is gone
    expect(env.stack.counters().TcpOutRsts).toBe(0);
  });

  it('... but into a zero send window it does send, from SND.UNA (SND.NXT pulled back over the FIN)', async () => {
    const env = await setup();
    const A = flow(env, 100000);
    A.send({ flags: 'S' });
    const sa = await A.expect({ flags: 'S.' });
    A.send({ flags: '.', win: 0 });
    await env.peer.settle();
    const r = env.stack.bsd.accept(env.fd);
    env.stack.bsd.close(r.fd);
    await env.peer.expect({ flags: 'F.', seq: sa.seq + 1 });
    A.send({ flags: 'R' });
    await env.peer.expect({ flags: 'R.', seq: sa.seq + 1, ack: 100001 });
  });

  it('... while a connection with nothing in flight answers the RST (ESTABLISHED: <SEQ=SND.NXT>)', async () => {
    const env = await setup();
    const A = flow(env, 100000);
    const sa = await handshake(A);
    await env.peer.settle();
    env.stack.bsd.accept(env.fd);
    A.send({ flags: 'R' });
    await env.peer.expect({ flags: 'R.', seq: sa.seq + 1, ack: 100001 });
  });
});

describe('no socket at all: dropwithreset with no PCB, window 0, a FIN not counted', () => {
  it('a FIN to a port nobody listens on gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>', async () => {
    const env = await setup();
    env.peer.send({ flags: 'F', sport: 4200, dport: PORT + 1, seq: 5000, payload: 'abc' });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 5003, win: 0 });
    env.peer.send({ flags: 'S', sport: 4201, dport: PORT + 1, seq: 6000 });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 6001, win: 0 });
  });
});

describe('accept() returns the newest completed connection first (soqinsque inserts at the head of so_q)', () => {
  it('three connections come back in reverse order', async () => {
    const env = await setup();
    const A = flow(env, 100000), B = flow(env, 200000), C = flow(env, 300000);
    await handshake(A);
    await handshake(B);
    await handshake(C);
    await env.peer.settle();
    expect([tryAccept(env), tryAccept(env), tryAccept(env), tryAccept(env)]).toEqual([C.sport, B.sport, A.sport, 'EAGAIN']);
  });
});

describe('counters: 4.3BSD had none of these names; the mapping is documented in bsd43.ts', () => {
  it('passive opens, overflows, drops and RSTs as the layers count them', async () => {
    const env = await setup({ backlog: 0 });
    await handshake(flow(env, 1000));
    await env.peer.settle();
    flow(env, 200000).send({ flags: 'S' });
    env.peer.send({ flags: '.', sport: 4999, seq: 1, ack: 2 });
    await env.peer.expectNothing(1000);
    const k = env.stack.counters();
    expect(k.TcpPassiveOpens).toBe(1);
    expect(k.TcpCurrEstab).toBe(1);
    expect(k.TcpExtListenOverflows).toBe(2);
    expect(k.TcpExtListenDrops).toBe(2);
    expect(k.TcpOutRsts).toBe(0);
    expect(listener(env)).toMatchObject({ overflows: 2, drops: 2 });
  });
});

describe('no input makes the core abort, and q0 + q never exceeds 8', () => {
  it('5000 random segments, clock jumps, accepts, relistens and closes (seeded)', async () => {
    const env = await setup({ backlog: 3 });
    let x = 0x2545f491;
    const rnd = (n: number): number => {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      return x % n;
    };
    const flagSets = ['S', 'S', 'S', 'SF', '.', 'P.', 'R', 'R.', 'S.', 'F.', 'F', '', 'SR', 'SFRP.'];
    let fd = env.fd;
    const iss = new Map<number, number>();         // sport -> the stack's last ISS seen
    const isn = new Map<number, number>();         // sport -> our last SYN's sequence number
    for (let i = 0; i < 5000; i++) {
      const k = rnd(100);
      if (k < 85) {
        const sport = 5000 + rnd(12);
        const flags = flagSets[rnd(flagSets.length)] as string;
        const known = iss.get(sport);
        const coherent = known !== undefined && rnd(2) === 0;
        let seq = rnd(3) === 0 ? rnd(0x100000000) : 1000 + rnd(6000);
        if (coherent) seq = ((isn.get(sport) ?? 0) + 1 + rnd(3)) >>> 0;
        if (flags.includes('S') && !coherent) isn.set(sport, seq);
        const ack = coherent ? ((known as number) + rnd(3)) >>> 0 : rnd(0x100000000);
        env.peer.send({
          flags, sport, seq, ack,
          win: rnd(65536), payload: 'z'.repeat(rnd(4) === 0 ? rnd(1400) : 0),
          ...(rnd(4) === 0 ? { options: { mss: rnd(65536), wscale: rnd(15), sackOk: true } } : {}),
        });
      } else if (k < 92) {
        await env.peer.wait(rnd(20000));
      } else if (k < 96) {
        try {
          const r = env.stack.bsd.accept(fd);
          if (rnd(2) === 0) env.stack.bsd.recv(r.fd, 100);
          if (rnd(2) === 0) env.stack.bsd.close(r.fd);
        } catch { /* EAGAIN */ }
      } else if (k < 98) {
        env.stack.bsd.listen(fd, rnd(8) - 1);
      } else {
        env.stack.bsd.close(fd);
        fd = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
        env.stack.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);   // accepted connections hold the port
        env.stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
        env.stack.bsd.listen(fd, rnd(6));
      }
      if (i % 50 === 0) await env.peer.settle();
      const l = env.stack.listeners()[0];
      if (l) expect(l.synQueue + l.acceptQueue).toBeLessThanOrEqual(8);
      for (const seg of env.peer.received.splice(0)) if (seg.flags === 'S.') iss.set(seg.dport, (seg.seq + 1) >>> 0);
    }
    await env.peer.wait(400000);
    expect(env.stack.closed).toBe(false);
    const c = env.stack.counters();
    expect(c.TcpPassiveOpens).toBeGreaterThan(3);    // the fuzz did reach the end of handshakes
    expect(c.TcpExtEmbryonicRsts).toBeGreaterThan(10);
    expect(c.TcpExtListenOverflows).toBeGreaterThan(10);
    expect(listener(env).synQueue + listener(env).acceptQueue).toBeLessThanOrEqual(8);
  });
});
