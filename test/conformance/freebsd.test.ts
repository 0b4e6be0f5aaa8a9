// FreeBSD 12.1 personality: the listen/accept/syncache rules of listen-behaviour.md §3 and the
// freebsd column of its scenarios (§6), driven segment by segment on a virtual clock. One describe
// per rule or scenario, named after the behaviour; `c` is the peer's ISN, `s` the stack's ISS.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Stack } from '../../src/stack.js';
import { VirtualClock } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import { Peer, type TcpFlow, type ReceivedSegment } from '../../src/testing/peer.js';
import type { SysctlOverrides } from '../../src/sysctl.js';

// WTCP_TEST_CORE=/path/x.wasm runs the suite against another build of the core (mutation checks)
const CORE = process.env.WTCP_TEST_CORE ? { module: readFileSync(process.env.WTCP_TEST_CORE) } : { debug: true };

const STACK_IP = '198.18.0.2';
const PEER_IP = '198.18.0.99';
const PORT = 8080;

interface Env {
  clock: VirtualClock;
  stack: Stack;
  peer: Peer;
  fd: number;
}

async function setup(opts: { sysctls?: SysctlOverrides; backlog?: number; listen?: boolean; synEntries?: number } = {}): Promise<Env> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({
    personality: 'freebsd-12.1',
    sysctls: opts.sysctls ?? {},
    clock,
    link: a,
    interfaces: [{ ip: `${STACK_IP}/24` }],
    seed: 7,
    core: CORE,
    ...(opts.synEntries !== undefined ? { limits: { synEntries: opts.synEntries } } : {}),
  });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });
  const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
  if (opts.listen !== false) stack.bsd.listen(fd, opts.backlog ?? 5);
  // let the peer learn the stack's MAC and the stack the peer's
  await peer.resolve({ within: 10 });
  return { clock, stack, peer, fd };
}

let nextPort = 20000;
function flow(env: Env, isn = 1000): TcpFlow {
  return env.peer.flow({ sport: nextPort++, dport: PORT, isn });
}

/** SYN, SYN-ACK, ACK. */
async function handshake(env: Env, f: TcpFlow): Promise<ReceivedSegment> {
  f.send({ flags: 'S', options: { mss: 1460 } });
  const sa = await f.expect({ flags: 'S.', ack: f.isn + 1 });
  f.send({ flags: '.' });
  return sa;
}

/** Non-blocking accept(), returning the errno name instead of throwing. */
function tryAccept(env: Env): { fd: number } | string {
  try {
    return env.stack.bsd.accept(env.fd);
  } catch (e) {
    return (e as { code: string }).code;
  }
}

function drainAccept(env: Env): number {
  let n = 0;
  for (;;) {
    const r = tryAccept(env);
    if (typeof r === 'string') {
      expect(r).toBe('EAGAIN');
      return n;
    }
    n++;
  }
}

function listener(env: Env) {
  const l = env.stack.listeners().find((x) => x.fd === env.fd);
  if (!l) throw new Error('no listener');
  return l;
}

const ctr = (env: Env) => env.stack.counters();

/** Let virtual time run to `t` ms (absolute), collecting what arrives. */
async function until(env: Env, t: number): Promise<void> {
  const now = env.clock.now();
  if (t > now) await env.peer.wait(t - now);
}

/** A flow's ACK after the SYN-ACK: <SEQ=c+1><ACK=s+1>. */
function ackOf(f: TcpFlow, extra: Partial<Parameters<TcpFlow['send']>[0]> = {}) {
  return f.send({ flags: '.', ...extra });
}

const u32 = (x: number) => x >>> 0;

// ================================================================================================
// §3.3, §6.2: the accept queue holds ⌊3b/2⌋+1 completed connections (sonewconn)
// ================================================================================================

describe('listen(2) "1.5 times": the accept queue takes floor(3b/2)+1 completed connections (S10-S14)', () => {
  for (const b of [0, 1, 2, 3, 4, 5, 64]) {
    const q = Math.floor((3 * b) / 2) + 1;
    it(`backlog ${b}: ${q} handshakes complete, the next third ACK gets <SEQ=SEG.ACK><RST>`, async () => {
      const env = await setup({ backlog: b });
      for (let i = 0; i < q; i++) await handshake(env, flow(env));
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(q);
      const f = flow(env);
      const sa = await handshake(env, f);
      await f.expect({ flags: 'R', seq: u32(sa.seq + 1), win: 0 });
      expect(listener(env).acceptQueue).toBe(q);
      expect(drainAccept(env)).toBe(q);
      const c = ctr(env);
      expect(c.TcpScCompleted).toBe(q);
      expect(c.TcpScAborted).toBe(1);
      expect(c.TcpExtListenOverflows).toBe(1);
      expect(c.TcpPassiveOpens).toBe(q);
      expect(listener(env).overflows).toBe(1);
    });
  }

  it('the test is evaluated before insertion on completed sockets only: embryos do not count (b = 1)', async () => {
    const env = await setup({ backlog: 1 });
    // ten embryos, none ACKed, then two completions still fit
    for (let i = 0; i < 10; i++) {
      const f = flow(env);
      f.send({ flags: 'S' });
      await f.expect({ flags: 'S.' });
    }
    expect(listener(env).synQueue).toBe(10);
    await handshake(env, flow(env));
    await handshake(env, flow(env));
    await env.peer.expectNothing(10);
    expect(listener(env).acceptQueue).toBe(2);
  });

  it('kern.ipc.soacceptqueue caps the backlog: listen(fd, 1000) with soacceptqueue 10 holds 16', async () => {
    const env = await setup({ backlog: 1000, sysctls: { 'kern.ipc.soacceptqueue': 10 } });
    expect(listener(env).backlog).toBe(10);
    for (let i = 0; i < 16; i++) await handshake(env, flow(env));
    const f = flow(env);
    const sa = await handshake(env, f);
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
    expect(drainAccept(env)).toBe(16);
  });

  it('listen(2): a negative backlog "is silently forced to kern.ipc.soacceptqueue" (128)', async () => {
    const env = await setup({ backlog: -1 });
    expect(listener(env).backlog).toBe(128);
  });
});

describe('listen(2): "A subsequent listen() system call on the listening socket allows the caller to change the maximum queue length"', () => {
  it('listen(fd, 1) holds 2; listen(fd, 4) again raises it to 7 and keeps the queued ones', async () => {
    const env = await setup({ backlog: 1 });
    await handshake(env, flow(env));
    await handshake(env, flow(env));
    const f3 = flow(env);
    const sa3 = await handshake(env, f3);
    await f3.expect({ flags: 'R', seq: u32(sa3.seq + 1) });
    await env.peer.expectNothing(10);
    env.stack.bsd.listen(env.fd, 4);
    expect(listener(env).backlog).toBe(4);
    expect(listener(env).acceptQueue).toBe(2);
    for (let i = 0; i < 5; i++) await handshake(env, flow(env));
    await env.peer.expectNothing(10);
    const f8 = flow(env);
    const sa8 = await handshake(env, f8);
    await f8.expect({ flags: 'R', seq: u32(sa8.seq + 1) });
    expect(drainAccept(env)).toBe(7);
  });

  it('lowering the backlog below the queue length refuses the next completion', async () => {
    const env = await setup({ backlog: 5 });
    for (let i = 0; i < 3; i++) await handshake(env, flow(env));
    await env.peer.expectNothing(10);
    env.stack.bsd.listen(env.fd, 1);   // 3 > 3*1/2
    const f = flow(env);
    const sa = await handshake(env, f);
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
    expect(drainAccept(env)).toBe(3);
  });
});

// ================================================================================================
// §3.4, S17, S49: no accept-queue check on SYN arrival; the syncache "is unaffected by queue lengths"
// ================================================================================================

describe('S17/S49: a SYN to a listener whose accept queue is full still gets a SYN-ACK; its ACK gets RST', () => {
  it('backlog 1, two queued: the third client sees [S.] then [R] seq=s+1 at its ACK', async () => {
    const env = await setup({ backlog: 1 });
    await handshake(env, flow(env));
    await handshake(env, flow(env));
    const f = flow(env, 777);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', ack: 778 });
    ackOf(f);
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1), ack: 0, win: 0 });
    // the entry is gone: no SYN-ACK retransmission follows
    await env.peer.expectNothing(30_000);
    const c = ctr(env);
    expect(c.TcpScAdded).toBe(3);
    expect(c.TcpScCompleted).toBe(2);
    expect(c.TcpScAborted).toBe(1);
    expect(c.TcpExtListenOverflows).toBe(1);
    expect(listener(env).overflows).toBe(1);
    expect(listener(env).drops).toBe(1);
    expect(listener(env).synQueue).toBe(0);
  });

  it('listen(2): the syncache "is unaffected by queue lengths": 20 SYNs to a full backlog-0 listener, 20 SYN-ACKs', async () => {
    const env = await setup({ backlog: 0 });
    await handshake(env, flow(env));
    for (let i = 0; i < 20; i++) {
      const f = flow(env);
      f.send({ flags: 'S' });
      await f.expect({ flags: 'S.', ack: f.isn + 1 });
    }
    expect(listener(env).synQueue).toBe(20);
    expect(listener(env).acceptQueue).toBe(1);
    expect(ctr(env).TcpExtListenOverflows).toBe(0);
  });
});

describe('S46 race: the third ACK of an embryo meets a full accept queue', () => {
  it('default rst_on_sock_fail=1: RST <SEQ=sA+1>, not rate limited', async () => {
    const env = await setup({ backlog: 1, sysctls: { 'net.inet.icmp.icmplim': 1 } });
    const a = flow(env, 5000);
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.' });
    await handshake(env, flow(env));
    await handshake(env, flow(env));
    // use up this second's RST budget first
    env.peer.send({ flags: '.', sport: 9, seq: 1, ack: 4242 });
    await env.peer.expect({ flags: 'R', seq: 4242 });
    ackOf(a);
    await a.expect({ flags: 'R', seq: u32(saA.seq + 1) });
    expect(ctr(env).WtcpRstRateLimited).toBe(0);
  });

  it('S48 rst_on_sock_fail=0: silence, the entry is gone (no retransmission), the first data segment gets RST', async () => {
    const env = await setup({ backlog: 1, sysctls: { 'net.inet.tcp.syncache.rst_on_sock_fail': 0 } });
    const a = flow(env, 5000);
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.' });
    await handshake(env, flow(env));
    await handshake(env, flow(env));
    ackOf(a);
    await env.peer.expectNothing(30_000);
    expect(listener(env).synQueue).toBe(0);
    expect(ctr(env).TcpScAborted).toBe(1);
    a.send({ flags: 'P.', payload: 'hello' });
    await a.expect({ flags: 'R', seq: u32(saA.seq + 1) });
    expect(drainAccept(env)).toBe(2);
  });
});

// ================================================================================================
// §3.4 syncache_add: duplicate SYN
// ================================================================================================

describe('S33: a duplicate SYN is answered with the stored IRS and ISS and restarts the retransmission schedule', () => {
  it('identical and different-ISN SYNs: SYN-ACK seq=s ack=c+1 each time; next retransmissions 3 s and 9 s after the last one', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', ack: 1001, time: 0 });
    await until(env, 50);
    f.send({ flags: 'S', seq: 1000 });
    await f.expect({ flags: 'S.', seq: sa.seq, ack: 1001, time: 50 });
    await until(env, 1000);
    // "We do not check the sequence number": a new ISN is answered for the old one
    f.send({ flags: 'S', seq: 90_000 });
    await f.expect({ flags: 'S.', seq: sa.seq, ack: 1001, time: 1000 });
    expect(ctr(env).TcpScDupSyn).toBe(2);
    await f.expect({ flags: 'S.', seq: sa.seq, ack: 1001, time: 4000 }, { within: 5000 });
    await f.expect({ flags: 'S.', seq: sa.seq, ack: 1001, time: 10_000 }, { within: 7000 });
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await env.peer.expectNothing(10);
    expect(typeof tryAccept(env)).toBe('object');
    expect(ctr(env).TcpScAdded).toBe(1);
  });

  it('the duplicate updates the reflected timestamp, or turns timestamps off when it has none', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S', options: { mss: 1460, ts: [111, 0] } });
    const sa = await f.expect({ flags: 'S.' });
    expect(sa.options.ts?.[1]).toBe(111);
    f.send({ flags: 'S', seq: 1000, options: { mss: 1460, ts: [222, 0] } });
    const d1 = await f.expect({ flags: 'S.' });
    expect(d1.options.ts?.[1]).toBe(222);
    f.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    const d2 = await f.expect({ flags: 'S.' });
    expect(d2.options.ts).toBeUndefined();
  });
});

// ================================================================================================
// §3.6 syncache_expand: validation destroys the entry
// ================================================================================================

describe('S35: a bad third ACK destroys the entry (FreeBSD unlinks it before validating)', () => {
  it('ACK s+5 gets [R] seq=s+5; the correct ACK afterwards gets [R] seq=s+1; no retransmission', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.' });
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 5) });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 5) });
    expect(listener(env).synQueue).toBe(0);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
    await env.peer.expectNothing(30_000);
    expect(tryAccept(env)).toBe('EAGAIN');
  });

  it('SEQ must satisfy IRS < SEQ <= IRS + sc_wnd (65535): c+65535 completes, c+65536 and c are refused', async () => {
    const env = await setup();
    const ok = flow(env, 1000);
    ok.send({ flags: 'S' });
    const saOk = await ok.expect({ flags: 'S.' });
    ok.send({ flags: '.', seq: 1000 + 65535, ack: u32(saOk.seq + 1) });
    const hi = flow(env, 1000);
    hi.send({ flags: 'S' });
    const saHi = await hi.expect({ flags: 'S.' });
    hi.send({ flags: '.', seq: 1000 + 65536, ack: u32(saHi.seq + 1) });
    await hi.expect({ flags: 'R', seq: u32(saHi.seq + 1) });
    const lo = flow(env, 1000);
    lo.send({ flags: 'S' });
    const saLo = await lo.expect({ flags: 'S.' });
    lo.send({ flags: '.', seq: 1000, ack: u32(saLo.seq + 1) });
    await lo.expect({ flags: 'R', seq: u32(saLo.seq + 1) });
    await env.peer.expectNothing(10);
    expect(drainAccept(env)).toBe(1);
    expect(listener(env).synQueue).toBe(0);
  });

  it('a timestamp in the ACK that was not negotiated: RST, entry gone', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S', options: { mss: 1460 } });
    const sa = await f.expect({ flags: 'S.' });
    expect(sa.options.ts).toBeUndefined();
    f.send({ flags: '.', options: { ts: [5, 0] } });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
    expect(listener(env).synQueue).toBe(0);
  });

  it('negotiated timestamps missing from the ACK are only noted: the handshake completes', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S', options: { mss: 1460, ts: [5, 0] } });
    await f.expect({ flags: 'S.' });
    f.send({ flags: '.' });
    await env.peer.expectNothing(10);
    expect(typeof tryAccept(env)).toBe('object');
  });

  it('the third ACK with data: the connection is queued with its data; the new socket ACKs it', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.' });
    f.send({ flags: 'P.', payload: 'x'.repeat(100) });
    await f.expect({ flags: '.', seq: u32(sa.seq + 1), ack: 1101 });
    const a = tryAccept(env) as { fd: number };
    expect(env.stack.bsd.recv(a.fd, 1000).length).toBe(100);
  });
});

// ================================================================================================
// §3.7 syncache_chkrst
// ================================================================================================

describe('S37-S40: RST for an embryo (syncache_chkrst, 12.x)', () => {
  async function embryo(sysctls: SysctlOverrides = {}, options?: { mss?: number; ts?: [number, number] }) {
    const env = await setup({ sysctls });
    const f = flow(env, 1000);
    f.send({ flags: 'S', ...(options ? { options } : {}) });
    const sa = await f.expect({ flags: 'S.' });
    return { env, f, sa };
  }

  it('S37: RST at exactly IRS+1 removes the entry silently; the ACK then gets RST', async () => {
    const { env, f, sa } = await embryo();
    f.send({ flags: 'R', seq: 1001 });
    await env.peer.expectNothing(100);
    expect(listener(env).synQueue).toBe(0);
    expect(ctr(env).TcpScReset).toBe(1);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
  });

  it('S38: in-window, not exact: challenge ACK <SEQ=ISS+1><ACK=IRS+1>, entry kept', async () => {
    const { env, f, sa } = await embryo();
    f.send({ flags: 'R', seq: 1001 + 100 });
    await f.expect({ flags: '.', seq: u32(sa.seq + 1), ack: 1001, win: 65535, options: { mss: undefined } });
    expect(listener(env).synQueue).toBe(1);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await env.peer.expectNothing(10);
    expect(typeof tryAccept(env)).toBe('object');
  });

  it('the challenge ACK carries timestamps (NOP, NOP, TS) when they were negotiated', async () => {
    const { f, sa } = await embryo({}, { mss: 1460, ts: [77, 0] });
    f.send({ flags: 'R', seq: 1001 + 1 });
    const ch = await f.expect({ flags: '.', seq: u32(sa.seq + 1), ack: 1001 });
    expect(Array.from(ch.rawOptions.slice(0, 4))).toEqual([1, 1, 8, 10]);
    expect(ch.rawOptions.length).toBe(12);
    expect(ch.options.ts?.[1]).toBe(77);
  });

  it('net.inet.tcp.insecure_rst=1: any in-window RST removes the entry', async () => {
    const { env, f } = await embryo({ 'net.inet.tcp.insecure_rst': 1 });
    f.send({ flags: 'R', seq: 1001 + 100 });
    await env.peer.expectNothing(100);
    expect(listener(env).synQueue).toBe(0);
  });

  it('S39: outside irs+1 <= seq < irs+1+wnd (seq=c, seq=c+1+65535) ignored, entry kept', async () => {
    const { env, f, sa } = await embryo();
    f.send({ flags: 'R', seq: 1000 });
    f.send({ flags: 'R', seq: 1001 + 65535 });
    await env.peer.expectNothing(100);
    expect(listener(env).synQueue).toBe(1);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await env.peer.expectNothing(10);
    expect(typeof tryAccept(env)).toBe('object');
  });

  it('S40: RST|ACK (and RST|SYN, RST|FIN) at IRS+1 is ignored in 12.x: "Spurious RST with ACK, SYN or FIN"', async () => {
    const { env, f, sa } = await embryo();
    f.send({ flags: 'R.', seq: 1001, ack: u32(sa.seq + 1) });
    f.send({ flags: 'SR', seq: 1001 });
    f.send({ flags: 'FR', seq: 1001 });
    await env.peer.expectNothing(100);
    expect(listener(env).synQueue).toBe(1);
    expect(ctr(env).TcpScReset).toBe(0);
  });

  it('S28: a RST or RST|ACK with no entry draws nothing; a later SYN is answered normally', async () => {
    const env = await setup();
    env.peer.send({ flags: 'R', sport: 30000, seq: 5 });
    env.peer.send({ flags: 'R.', sport: 30000, seq: 5, ack: 9 });
    await env.peer.expectNothing(100);
    const f = flow(env);
    f.send({ flags: 'S' });
    await f.expect({ flags: 'S.', ack: f.isn + 1 });
  });
});

// ================================================================================================
// §3.4 steps 3-6: segments other than a plain SYN
// ================================================================================================

describe('S25: SYN|FIN to a listener', () => {
  it('drop_synfin=0 (default): treated as a SYN, the FIN ignored: [S.] ack=c+1, and the handshake completes', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'SF', seq: 1000 });
    const sa = await f.expect({ flags: 'S.', ack: 1001 });
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await env.peer.expectNothing(10);
    const a = tryAccept(env) as { fd: number };
    expect(() => env.stack.bsd.recv(a.fd, 10)).toThrow(/EAGAIN/);   // no EOF: the FIN was never taken
  });

  it('drop_synfin=1: dropped silently, no entry', async () => {
    const env = await setup({ sysctls: { 'net.inet.tcp.drop_synfin': 1 } });
    const f = flow(env, 1000);
    f.send({ flags: 'SF', seq: 1000 });
    await env.peer.expectNothing(5000);
    expect(listener(env).synQueue).toBe(0);
    expect(ctr(env).TcpRcvBadSyn).toBe(1);
  });
});

describe('S29: SYN|ACK to a listener: [R] seq=SEG.ACK, and syncache_badack drops the entry of that 4-tuple', () => {
  it('no entry: RST only', async () => {
    const env = await setup();
    env.peer.send({ flags: 'S.', sport: 30001, seq: 10, ack: 5555 });
    await env.peer.expect({ flags: 'R', seq: 5555, win: 0 });
  });

  it('with an entry: RST, entry gone, the real ACK then gets RST', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.' });
    f.send({ flags: 'S.', seq: 1000, ack: 31337 });
    await f.expect({ flags: 'R', seq: 31337 });
    expect(listener(env).synQueue).toBe(0);
    expect(ctr(env).TcpScBadAck).toBe(1);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
  });
});

describe('S26/S27/S30/S31: other segments reaching the listener', () => {
  it('S26: bare ACK, no entry: [R] seq=SEG.ACK, no ACK flag, window 0, no options', async () => {
    const env = await setup();
    env.peer.send({ flags: '.', sport: 30002, seq: 100, ack: 200 });
    const r = await env.peer.expect({ flags: 'R', seq: 200, ack: 0, win: 0 });
    expect(r.rawOptions.length).toBe(0);
  });

  it('S27: ACK with data, no entry: [R] seq=SEG.ACK', async () => {
    const env = await setup();
    env.peer.send({ flags: 'P.', sport: 30003, seq: 100, ack: 200, payload: '0123456789' });
    await env.peer.expect({ flags: 'R', seq: 200 });
  });

  it('FIN|ACK is an ACK: it goes to syncache_expand (RST without an entry)', async () => {
    const env = await setup();
    env.peer.send({ flags: 'F.', sport: 30004, seq: 100, ack: 201 });
    await env.peer.expect({ flags: 'R', seq: 201 });
  });

  it('S30: FIN only and no flags: "SYN is missing", dropped', async () => {
    const env = await setup();
    env.peer.send({ flags: 'F', sport: 30005, seq: 100 });
    env.peer.send({ flags: '', sport: 30005, seq: 100 });
    env.peer.send({ flags: 'P', sport: 30005, seq: 100, payload: 'abc' });
    await env.peer.expectNothing(3000);
    expect(ctr(env).TcpRcvBadSyn).toBe(3);
  });

  it('S31: a SYN to the subnet broadcast address is dropped (RFC 1122 §4.2.3.10)', async () => {
    const env = await setup();
    env.peer.send({ flags: 'S', sport: 30006, seq: 100, ip: { dst: '198.18.0.255' }, dstMac: 'ff:ff:ff:ff:ff:ff' });
    await env.peer.expectNothing(3000);
    expect(listener(env).synQueue).toBe(0);
  });

  it('a SYN from our own address and port to itself is forged: dropped', async () => {
    const env = await setup();
    env.peer.send({ flags: 'S', sport: PORT, seq: 100, ip: { src: STACK_IP } });
    await env.peer.expectNothing(3000);
    expect(listener(env).synQueue).toBe(0);
  });
});

// ================================================================================================
// S23: the SYN-ACK (syncache_respond, tcp_addoptions)
// ================================================================================================

describe('S23: SYN-ACK options in FreeBSD order MSS, WS, SACK-perm, TS, padded by tcp_addoptions; window min(recvspace, 65535)', () => {
  async function synAck(options: object | undefined, sysctls: SysctlOverrides = {}, payload?: string) {
    const env = await setup({ sysctls });
    const f = flow(env, 1000);
    f.send({ flags: 'S', ...(options ? { options } : {}), ...(payload ? { payload } : {}) });
    const sa = await f.expect({ flags: 'S.', ack: 1001 });
    return { env, f, sa };
  }
  const tsBytes = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

  it('all options: MSS 1460, NOP, WS 6 (2 MiB maxsockbuf), SACK-perm, TS(ecr=V); 20 bytes; window 65535', async () => {
    const { sa } = await synAck({ mss: 1460, sackOk: true, ts: [0xABCDEF01, 0], wscale: 7 });
    const tsval = sa.options.ts?.[0] as number;
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180, 1, 3, 3, 6, 4, 2, 8, 10, ...tsBytes(tsval), 0xAB, 0xCD, 0xEF, 0x01]);
    expect(sa.win).toBe(65535);
  });

  it('MSS and TS: MSS, NOP, NOP, TS', async () => {
    const { sa } = await synAck({ mss: 1460, ts: [9, 0] });
    expect(Array.from(sa.rawOptions.slice(0, 6))).toEqual([2, 4, 5, 180, 1, 1]);
    expect(sa.rawOptions.length).toBe(16);
  });

  it('MSS and SACK-perm: MSS, SACK-perm, EOL, 0', async () => {
    const { sa } = await synAck({ mss: 1460, sackOk: true });
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180, 4, 2, 0, 0]);
  });

  it('MSS, WS, SACK-perm without TS: MSS, NOP, WS, SACK-perm, EOL, 0', async () => {
    const { sa } = await synAck({ mss: 1460, sackOk: true, wscale: 2 });
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180, 1, 3, 3, 6, 4, 2, 0, 0]);
  });

  it('MSS, WS and TS: MSS, NOP, WS, NOP, NOP, TS', async () => {
    const { sa } = await synAck({ mss: 1460, wscale: 2, ts: [9, 0] });
    expect(Array.from(sa.rawOptions.slice(0, 10))).toEqual([2, 4, 5, 180, 1, 3, 3, 6, 1, 1]);
    expect(sa.rawOptions.length).toBe(20);
  });

  it('a SYN with no options gets MSS only', async () => {
    const { sa } = await synAck(undefined);
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180]);
  });

  it('net.inet.tcp.rfc1323=0: no WS, no TS', async () => {
    const { sa } = await synAck({ mss: 1460, sackOk: true, ts: [9, 0], wscale: 7 }, { 'net.inet.tcp.rfc1323': 0 });
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180, 4, 2, 0, 0]);
  });

  it('net.inet.tcp.sack.enable=0: no SACK-perm', async () => {
    const { sa } = await synAck({ mss: 1460, sackOk: true, wscale: 7 }, { 'net.inet.tcp.sack.enable': 0 });
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180, 1, 3, 3, 6]);
  });

  it('kern.ipc.maxsockbuf 256 KiB: window scale 3; recvspace 16384: window 16384', async () => {
    const { sa } = await synAck({ mss: 1460, wscale: 7 }, { 'kern.ipc.maxsockbuf': 262144, 'net.inet.tcp.recvspace': 16384 });
    expect(sa.options.wscale).toBe(3);
    expect(sa.win).toBe(16384);
  });

  it('data on the SYN is neither ACKed nor kept: S 17:20(3) gets S. ack 18', async () => {
    const env = await setup();
    const f = env.peer.flow({ sport: 30010, dport: PORT, isn: 17 });
    f.send({ flags: 'S', payload: 'abc' });
    const sa = await f.expect({ flags: 'S.', ack: 18 });
    f.send({ flags: '.', seq: 18, ack: u32(sa.seq + 1) });
    await env.peer.expectNothing(10);
    const a = tryAccept(env) as { fd: number };
    expect(() => env.stack.bsd.recv(a.fd, 10)).toThrow(/EAGAIN/);
  });
});

// ================================================================================================
// §3.5, S43, S45: SYN-ACK retransmission and expiry
// ================================================================================================

describe('S43: SYN-ACK retransmission at 0, 3, 9, 21 s; the entry is removed silently at 45 s', () => {
  it('rexmtlimit 3, base 3 s', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', time: 0 });
    for (const t of [3000, 9000, 21_000]) {
      await f.expect({ flags: 'S.', seq: sa.seq, ack: 1001, time: t }, { within: 30_000 });
    }
    await until(env, 44_999);
    expect(listener(env).synQueue).toBe(1);
    await until(env, 45_000);
    expect(listener(env).synQueue).toBe(0);
    await env.peer.expectNothing(30_000);
    expect(ctr(env).TcpScRetransmitted).toBe(3);
    expect(ctr(env).TcpScStale).toBe(1);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
  });

  it('net.inet.tcp.rexmit_initial=1000: 0, 1, 3, 7 s, gone at 15 s', async () => {
    const env = await setup({ sysctls: { 'net.inet.tcp.rexmit_initial': 1000 } });
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    await f.expect({ flags: 'S.', time: 0 });
    for (const t of [1000, 3000, 7000]) await f.expect({ flags: 'S.', time: t }, { within: 10_000 });
    await until(env, 14_999);
    expect(listener(env).synQueue).toBe(1);
    await until(env, 15_000);
    expect(listener(env).synQueue).toBe(0);
    await env.peer.expectNothing(20_000);
  });

  it('S45: rexmtlimit=0: one SYN-ACK only, the entry gone after the first timeout (3 s)', async () => {
    const env = await setup({ sysctls: { 'net.inet.tcp.syncache.rexmtlimit': 0 } });
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    await f.expect({ flags: 'S.', time: 0 });
    await until(env, 2999);
    expect(listener(env).synQueue).toBe(1);
    await until(env, 3000);
    expect(listener(env).synQueue).toBe(0);
    await env.peer.expectNothing(60_000);
    expect(ctr(env).TcpScRetransmitted).toBe(0);
    expect(ctr(env).TcpScStale).toBe(1);
  });

  it('rexmtlimit=1: SYN-ACKs at 0 and 3 s, gone at 9 s', async () => {
    const env = await setup({ sysctls: { 'net.inet.tcp.syncache.rexmtlimit': 1 } });
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    await f.expect({ flags: 'S.', time: 0 });
    await f.expect({ flags: 'S.', time: 3000 }, { within: 5000 });
    await until(env, 8999);
    expect(listener(env).synQueue).toBe(1);
    await until(env, 9000);
    expect(listener(env).synQueue).toBe(0);
    await env.peer.expectNothing(30_000);
  });
});

// ================================================================================================
// §3.5, §3.8: bucket overflow, zone limits and syncookies
// ================================================================================================

describe('§3.5: a full syncache bucket evicts its oldest entry', () => {
  it('hashsize 1, bucketlimit 3: the fourth SYN evicts the first; only B, C, D retransmit; A\'s ACK gets RST (syncookies 0)', async () => {
    const env = await setup({ sysctls: { 'net.inet.tcp.syncache.hashsize': 1, 'net.inet.tcp.syncache.bucketlimit': 3, 'net.inet.tcp.syncache.cachelimit': 100, 'net.inet.tcp.syncookies': 0 } });
    const fs: TcpFlow[] = [];
    const sas: ReceivedSegment[] = [];
    for (let i = 0; i < 4; i++) {
      await until(env, i * 100);
      const f = flow(env, 1000 + i);
      f.send({ flags: 'S' });
      sas.push(await f.expect({ flags: 'S.' }));
      fs.push(f);
    }
    expect(listener(env).synQueue).toBe(3);
    expect(ctr(env).TcpScBucketOverflow).toBe(1);
    for (let i = 1; i < 4; i++) await fs[i]!.expect({ flags: 'S.', time: 3000 + i * 100 }, { within: 4000 });
    const a = fs[0]!;
    a.send({ flags: '.', seq: a.isn + 1, ack: u32(sas[0]!.seq + 1) });
    await a.expect({ flags: 'R', seq: u32(sas[0]!.seq + 1) });
    const d = fs[3]!;
    d.send({ flags: '.', seq: d.isn + 1, ack: u32(sas[3]!.seq + 1) });
    await env.peer.expectNothing(10);
    expect(drainAccept(env)).toBe(1);
  });
});

describe('§3.5: an exhausted zone (cachelimit, or the entry pool) costs the bucket its oldest entry', () => {
  for (const [name, opts] of [
    ['cachelimit 2', { sysctls: { 'net.inet.tcp.syncache.hashsize': 1, 'net.inet.tcp.syncache.cachelimit': 2 } }],
    ['a pool of 2 entries', { sysctls: { 'net.inet.tcp.syncache.hashsize': 1 }, synEntries: 2 }],
  ] as const) {
    it(`${name}: the third SYN evicts the first (TcpScZoneFail), whose ACK is then accepted as a cookie`, async () => {
      const env = await setup(opts);
      const fs: TcpFlow[] = [];
      const sas: ReceivedSegment[] = [];
      for (let i = 0; i < 3; i++) {
        const f = flow(env, 1000 + i);
        f.send({ flags: 'S' });
        sas.push(await f.expect({ flags: 'S.' }));
        fs.push(f);
      }
      expect(listener(env).synQueue).toBe(2);
      expect(ctr(env).TcpScZoneFail).toBe(1);
      expect(ctr(env).TcpScBucketOverflow).toBe(0);
      const a = fs[0]!;
      a.send({ flags: '.', seq: a.isn + 1, ack: u32(sas[0]!.seq + 1) });
      await env.peer.expectNothing(10);
      expect(drainAccept(env)).toBe(1);
      expect(ctr(env).TcpScRecvCookie).toBe(1);
    });
  }
});

describe('§3.5: zone exhausted and the SYN\'s own bucket empty: nothing to evict', () => {
  // two buckets, room for one entry: find (for this seed) a source port whose 4-tuple hashes to the
  // other bucket than port 21000's
  const sysctls = { 'net.inet.tcp.syncache.hashsize': 2, 'net.inet.tcp.syncache.cachelimit': 1 };
  async function otherBucketPort(): Promise<number> {
    const env = await setup({ sysctls: { ...sysctls, 'net.inet.tcp.syncookies': 0 } });
    const a = env.peer.flow({ sport: 21000, dport: PORT, isn: 1 });
    a.send({ flags: 'S' });
    await a.expect({ flags: 'S.' });
    for (let p = 21001; p < 21100; p++) {
      env.peer.send({ flags: 'S', sport: p, seq: 1 });
      const got = await env.peer.drain();
      if (got.length === 0) {
        // syncookies=0: dropped, and the held entry is untouched
        expect(ctr(env).TcpScZoneFail).toBe(p - 21000);
        expect(listener(env).synQueue).toBe(1);
        return p;
      }
      // same bucket: its oldest entry made room
    }
    throw new Error('no port found in the other bucket');
  }

  it('syncookies=0: the SYN is dropped; syncookies=1: a stateless cookie SYN-ACK, never retransmitted, whose ACK gets RST (that bucket never overflowed)', async () => {
    const p = await otherBucketPort();
    const env = await setup({ sysctls });
    const a = env.peer.flow({ sport: 21000, dport: PORT, isn: 1 });
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.', time: 0 });
    const b = env.peer.flow({ sport: p, dport: PORT, isn: 5000 });
    b.send({ flags: 'S' });
    const saB = await b.expect({ flags: 'S.', ack: 5001 });
    expect(listener(env).synQueue).toBe(1);
    const c = ctr(env);
    expect(c.TcpScZoneFail).toBe(1);
    expect(c.TcpScAdded).toBe(1);
    expect(c.TcpScSendCookie).toBe(2);
    await a.expect({ flags: 'S.', seq: saA.seq, time: 3000 }, { within: 4000 });
    b.send({ flags: '.', seq: 5001, ack: u32(saB.seq + 1) });
    await b.expect({ flags: 'R', seq: u32(saB.seq + 1) });
  });
});

describe('§3.8: syncookies (net.inet.tcp.syncookies=1): every SYN-ACK carries one, an ACK may use one only after an overflow', () => {
  // one bucket of one entry; cachelimit would default to 1 x 1 (the zone would fail first)
  const small = { 'net.inet.tcp.syncache.hashsize': 1, 'net.inet.tcp.syncache.bucketlimit': 1, 'net.inet.tcp.syncache.cachelimit': 100 };

  it('every new SYN-ACK is a cookie (TcpScSendCookie); none with syncookies=0', async () => {
    const on = await setup();
    for (let i = 0; i < 3; i++) await handshake(on, flow(on));
    expect(ctr(on).TcpScSendCookie).toBe(3);
    const off = await setup({ sysctls: { 'net.inet.tcp.syncookies': 0 } });
    for (let i = 0; i < 3; i++) await handshake(off, flow(off));
    expect(ctr(off).TcpScSendCookie).toBe(0);
  });

  it('an evicted entry\'s ACK completes through its cookie while the bucket overflowed in the last 15 s', async () => {
    const env = await setup({ sysctls: small });
    const a = flow(env, 1000);
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.' });
    const b = flow(env, 2000);
    b.send({ flags: 'S' });
    const saB = await b.expect({ flags: 'S.' });
    expect(ctr(env).TcpScBucketOverflow).toBe(1);
    expect(listener(env).synQueue).toBe(1);
    a.send({ flags: '.', seq: 1001, ack: u32(saA.seq + 1) });
    b.send({ flags: '.', seq: 2001, ack: u32(saB.seq + 1) });
    await env.peer.expectNothing(10);
    expect(drainAccept(env)).toBe(2);
    expect(ctr(env).TcpScRecvCookie).toBe(1);
    expect(ctr(env).TcpScCompleted).toBe(2);
  });

  it('the same with syncookies=0: the evicted entry\'s ACK gets RST', async () => {
    const env = await setup({ sysctls: { ...small, 'net.inet.tcp.syncookies': 0 } });
    const a = flow(env, 1000);
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.' });
    const b = flow(env, 2000);
    b.send({ flags: 'S' });
    await b.expect({ flags: 'S.' });
    a.send({ flags: '.', seq: 1001, ack: u32(saA.seq + 1) });
    await a.expect({ flags: 'R', seq: u32(saA.seq + 1) });
  });

  it('no overflow: a cookie ACK without an entry gets RST (entry removed by an exact RST)', async () => {
    const env = await setup();
    const a = flow(env, 1000);
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.' });
    a.send({ flags: 'R', seq: 1001 });
    a.send({ flags: '.', seq: 1001, ack: u32(saA.seq + 1) });
    await a.expect({ flags: 'R', seq: u32(saA.seq + 1) });
    expect(ctr(env).TcpScRecvCookie).toBe(0);
  });

  for (const [at, accepted] of [[14_000, true], [17_000, false]] as const) {
    it(`overflow at 0 s, cookie ACK at ${at / 1000} s: ${accepted ? 'accepted' : 'RST (the overflow is older than 15 s, the cookie itself still valid)'}`, async () => {
      const env = await setup({ sysctls: { ...small, 'net.inet.tcp.syncache.rexmtlimit': 0 } });
      const a = flow(env, 1000);
      a.send({ flags: 'S' });
      const saA = await a.expect({ flags: 'S.' });
      const b = flow(env, 2000);
      b.send({ flags: 'S' });
      await b.expect({ flags: 'S.' });
      await until(env, at);
      a.send({ flags: '.', seq: 1001, ack: u32(saA.seq + 1) });
      if (accepted) {
        await env.peer.expectNothing(10);
        expect(drainAccept(env)).toBe(1);
      } else {
        await a.expect({ flags: 'R', seq: u32(saA.seq + 1) });
        expect(drainAccept(env)).toBe(0);
      }
    });
  }

  it('a forged cookie (wrong ISS) after an overflow gets RST', async () => {
    const env = await setup({ sysctls: small });
    const a = flow(env, 1000);
    a.send({ flags: 'S' });
    const saA = await a.expect({ flags: 'S.' });
    const b = flow(env, 2000);
    b.send({ flags: 'S' });
    await b.expect({ flags: 'S.' });
    a.send({ flags: '.', seq: 1001, ack: u32(saA.seq + 0x100 + 1) });
    await a.expect({ flags: 'R', seq: u32(saA.seq + 0x100 + 1) });
    expect(ctr(env).TcpScRecvCookie).toBe(0);
  });
});

describe('§3.8, S51, S55: syncookies_only=1 keeps no state', () => {
  const only = { 'net.inet.tcp.syncookies_only': 1 };

  it('no entry, no retransmission; the ACK 10 s later completes from the cookie', async () => {
    const env = await setup({ sysctls: only });
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', ack: 1001 });
    expect(listener(env).synQueue).toBe(0);
    await env.peer.expectNothing(10_000);
    f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
    await env.peer.expectNothing(10);
    expect(drainAccept(env)).toBe(1);
    const c = ctr(env);
    expect(c.TcpScAdded).toBe(0);
    expect(c.TcpScSendCookie).toBe(1);
    expect(c.TcpScRecvCookie).toBe(1);
  });

  it('syncookies_only has no effect while syncookies=0 (an entry is kept)', async () => {
    const env = await setup({ sysctls: { ...only, 'net.inet.tcp.syncookies': 0 } });
    const f = flow(env, 1000);
    f.send({ flags: 'S' });
    await f.expect({ flags: 'S.' });
    expect(listener(env).synQueue).toBe(1);
  });

  it('S51: SYN <mss 1000, sackOK, wscale 7>, no TS: SYN-ACK with MSS, WS and SACK-perm; window scaling restored at the ACK', async () => {
    const env = await setup({ sysctls: only });
    const f = flow(env, 1000);
    f.send({ flags: 'S', options: { mss: 1000, sackOk: true, wscale: 7 } });
    const sa = await f.expect({ flags: 'S.' });
    expect(Array.from(sa.rawOptions)).toEqual([2, 4, 5, 180, 1, 3, 3, 6, 4, 2, 0, 0]);
    f.send({ flags: 'P.', payload: 'hello' });
    // the new socket scales its window (65536 - 5) >> 6 and has no timestamps
    await f.expect({ flags: '.', ack: 1006, win: (65536 - 5) >> 6, options: { ts: undefined } });
  });

  it('a SYN without window scaling: the cookie connection does not scale; TS is on when the ACK carries it', async () => {
    const env = await setup({ sysctls: only });
    const f = flow(env, 1000);
    f.send({ flags: 'S', options: { mss: 1460, ts: [50, 0] } });
    const sa = await f.expect({ flags: 'S.' });
    f.send({ flags: 'P.', payload: 'hello', options: { ts: [60, sa.options.ts?.[0] ?? 0] } });
    const ack = await f.expect({ flags: '.', ack: 1006, win: 65536 - 5 });
    expect(ack.options.ts?.[1]).toBe(60);
  });

  it('S55: a cookie made at the start of a 15-s period is accepted 29 s later, refused at 30 s', async () => {
    for (const [d, ok] of [[29_000, true], [30_000, false]] as const) {
      const env = await setup({ sysctls: only });
      const f = flow(env, 1000);
      f.send({ flags: 'S' });
      const sa = await f.expect({ flags: 'S.' });
      await until(env, d);
      f.send({ flags: '.', seq: 1001, ack: u32(sa.seq + 1) });
      if (ok) {
        await env.peer.expectNothing(10);
        expect(drainAccept(env)).toBe(1);
      } else {
        await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
      }
    }
  });

  it('S55: a cookie made late in a period lives just over 15 s (valid 15-30 s)', async () => {
    const env = await setup({ sysctls: only });
    // the first SYN starts the 15-s reseed schedule at t = 0
    const first = flow(env, 1);
    first.send({ flags: 'S' });
    await first.expect({ flags: 'S.' });
    await until(env, 14_000);
    const early = flow(env, 1000);
    early.send({ flags: 'S' });
    const saE = await early.expect({ flags: 'S.' });
    const late = flow(env, 2000);
    late.send({ flags: 'S' });
    const saL = await late.expect({ flags: 'S.' });
    await until(env, 29_500);
    early.send({ flags: '.', seq: 1001, ack: u32(saE.seq + 1) });   // 15.5 s old: accepted
    await env.peer.expectNothing(10);
    expect(drainAccept(env)).toBe(1);
    await until(env, 30_000);
    late.send({ flags: '.', seq: 2001, ack: u32(saL.seq + 1) });    // 16 s old: refused
    await late.expect({ flags: 'R', seq: u32(saL.seq + 1) });
  });
});

// ================================================================================================
// §3.9: accept filters
// ================================================================================================

describe('S56/S57/§3.9: accept filters hold connections on the incomplete queue until their criterion', () => {
  async function filtered(name: string, backlog = 5) {
    const env = await setup({ backlog });
    env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name });
    return env;
  }

  it('S56 dataready: accept() is EAGAIN until the first byte; then it returns and read gives the byte', async () => {
    const env = await filtered('dataready');
    const f = flow(env, 1000);
    await handshake(env, f);
    await env.peer.expectNothing(5000);
    expect(tryAccept(env)).toBe('EAGAIN');
    expect(listener(env).incompleteQueue).toBe(1);
    expect(listener(env).acceptQueue).toBe(0);
    f.send({ flags: 'P.', payload: 'x' });
    await f.expect({ flags: '.', ack: 1002 });
    expect(listener(env).incompleteQueue).toBe(0);
    const a = tryAccept(env) as { fd: number };
    expect(Array.from(env.stack.bsd.recv(a.fd, 10))).toEqual([0x78]);
  });

  it('S57 dataready released by FIN: accept() returns, read gives end of stream', async () => {
    const env = await filtered('dataready');
    const f = flow(env, 1000);
    await handshake(env, f);
    expect(tryAccept(env)).toBe('EAGAIN');
    f.send({ flags: 'F.' });
    await f.expect({ flags: '.', ack: 1002 });
    const a = tryAccept(env) as { fd: number };
    expect(env.stack.bsd.recv(a.fd, 10).length).toBe(0);
  });

  it('httpready: an HTTP/1.1 request waits for the blank line; a non-GET/HEAD request is released at once', async () => {
    const env = await filtered('httpready');
    const f = flow(env, 1000);
    await handshake(env, f);
    f.send({ flags: 'P.', payload: 'GET / HTTP/1.1\r\nHost: a\r\n' });
    await f.expect({ flags: '.' });
    expect(tryAccept(env)).toBe('EAGAIN');
    f.send({ flags: 'P.', payload: '\r\n' });
    await f.expect({ flags: '.' });
    expect(typeof tryAccept(env)).toBe('object');
    const g = flow(env, 5000);
    await handshake(env, g);
    g.send({ flags: 'P.', payload: 'POST / HTTP/1.1\r\n' });
    await g.expect({ flags: '.' });
    expect(typeof tryAccept(env)).toBe('object');
  });

  it('listen(2): the second queue "is sized according to the backlog argument": b+1 wait; the next completion aborts the oldest with RST|ACK', async () => {
    for (const b of [0, 2]) {
      const env = await filtered('dataready', b);
      const fs: TcpFlow[] = [];
      const sas: ReceivedSegment[] = [];
      for (let i = 0; i <= b; i++) {
        const f = flow(env, 1000 * (i + 1));
        sas.push(await handshake(env, f));
        fs.push(f);
      }
      await env.peer.expectNothing(10);
      expect(listener(env).incompleteQueue).toBe(b + 1);
      const last = flow(env, 90_000);
      await handshake(env, last);
      // "the oldest socket which has not yet met its accept filter criteria will be terminated"
      await fs[0]!.expect({ flags: 'R.', seq: u32(sas[0]!.seq + 1), ack: fs[0]!.isn + 1 });
      await env.peer.expectNothing(10);
      expect(listener(env).incompleteQueue).toBe(b + 1);
      expect(ctr(env).TcpAccFiltDrops).toBe(1);
      // the others are still there: the second oldest is released by its data
      if (b > 0) {
        fs[1]!.send({ flags: 'P.', payload: 'y' });
        await fs[1]!.expect({ flags: '.' });
        expect(drainAccept(env)).toBe(1);
      }
    }
  });

  it('the 3/2 test is not repeated when a waiting socket is released: the accept queue may exceed floor(3b/2)+1', async () => {
    const env = await filtered('dataready', 1);
    const f1 = flow(env, 1000);
    const f2 = flow(env, 2000);
    const f3 = flow(env, 3000);
    await handshake(env, f1);
    await handshake(env, f2);
    f1.send({ flags: 'P.', payload: 'a' });
    await f1.expect({ flags: '.' });
    await handshake(env, f3);
    f2.send({ flags: 'P.', payload: 'b' });
    await f2.expect({ flags: '.' });
    f3.send({ flags: 'P.', payload: 'c' });
    await f3.expect({ flags: '.' });
    expect(listener(env).acceptQueue).toBe(3);   // > floor(3*1/2)+1 = 2
    expect(drainAccept(env)).toBe(3);
  });

  it('a waiting connection that is reset is released to the accept queue, and accept() gives ECONNABORTED', async () => {
    const env = await filtered('dataready');
    const f = flow(env, 1000);
    await handshake(env, f);
    f.send({ flags: 'R', seq: 1001 });
    await env.peer.expectNothing(10);
    expect(listener(env).incompleteQueue).toBe(0);
    expect(tryAccept(env)).toBe('ECONNABORTED');
    expect(tryAccept(env)).toBe('EAGAIN');
  });

  it('removing the filter moves the waiting connections to the accept queue', async () => {
    const env = await filtered('dataready');
    await handshake(env, flow(env));
    await handshake(env, flow(env));
    await env.peer.expectNothing(10);
    expect(listener(env).incompleteQueue).toBe(2);
    env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', null);
    expect(drainAccept(env)).toBe(2);
  });

  it('S60: SO_ACCEPTFILTER errors: before listen EINVAL, unknown name ENOENT, second filter EINVAL, getsockopt without one EINVAL', async () => {
    const env = await setup({ listen: false });
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    const set = (v: { name: string } | null) => () => env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', v);
    expect(code(set({ name: 'dataready' }))).toBe('EINVAL');
    env.stack.bsd.listen(env.fd, 5);
    expect(code(() => env.stack.bsd.getsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER'))).toBe('EINVAL');
    expect(code(set({ name: 'nosuchfilter' }))).toBe('ENOENT');
    expect(code(set({ name: 'dataready' }))).toBe('ok');
    expect(code(set({ name: 'httpready' }))).toBe('EINVAL');
  });
});

// ================================================================================================
// §3.11: closing a listener; accept() of a dead connection
// ================================================================================================

describe('§3.11: closing the listener aborts its queued sockets; syncache entries keep retransmitting', () => {
  it('RST|ACK to every queued connection (accept queue and accept-filter queue); the embryo retransmits at 3, 9 s and its ACK gets RST', async () => {
    const env = await setup();
    const q1 = flow(env, 1000);
    const sa1 = await handshake(env, q1);
    const q2 = flow(env, 2000);
    const sa2 = await handshake(env, q2);
    const e = flow(env, 3000);
    e.send({ flags: 'S' });
    const saE = await e.expect({ flags: 'S.', time: 0 });
    await until(env, 100);
    expect(listener(env).acceptQueue).toBe(2);
    env.stack.bsd.close(env.fd);
    await q1.expect({ flags: 'R.', seq: u32(sa1.seq + 1), ack: 1001 });
    await q2.expect({ flags: 'R.', seq: u32(sa2.seq + 1), ack: 2001 });
    expect(env.stack.listeners().length).toBe(0);
    await e.expect({ flags: 'S.', seq: saE.seq, time: 3000 }, { within: 5000 });
    await e.expect({ flags: 'S.', seq: saE.seq, time: 9000 }, { within: 7000 });
    e.send({ flags: '.', seq: 3001, ack: u32(saE.seq + 1) });
    await e.expect({ flags: 'R', seq: u32(saE.seq + 1) });
    // the entry itself lives on until it gives up
    await e.expect({ flags: 'S.', seq: saE.seq, time: 21_000 }, { within: 15_000 });
    await env.peer.expectNothing(40_000);
    expect(ctr(env).TcpScStale).toBe(1);
  });

  it('accept-filter-pending connections are aborted too', async () => {
    const env = await setup();
    env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'dataready' });
    const f = flow(env, 1000);
    const sa = await handshake(env, f);
    await env.peer.expectNothing(10);
    expect(listener(env).incompleteQueue).toBe(1);
    env.stack.bsd.close(env.fd);
    await f.expect({ flags: 'R.', seq: u32(sa.seq + 1), ack: 1001 });
  });

  it('the port can be listened on again at once, while the old entries live on', async () => {
    const env = await setup();
    const e = flow(env, 3000);
    e.send({ flags: 'S' });
    await e.expect({ flags: 'S.' });
    env.stack.bsd.close(env.fd);
    const fd2 = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    env.stack.bsd.bind(fd2, { address: '0.0.0.0', port: PORT });
    env.stack.bsd.listen(fd2, 5);
    const g = flow(env, 4000);
    await handshake(env, g);
    await env.peer.expectNothing(10);
    expect(env.stack.bsd.accept(fd2).port).toBe(g.sport);
  });
});

describe('§3.11: accept() of a connection that was reset while queued returns ECONNABORTED', () => {
  it('RST after the handshake: accept() = ECONNABORTED, then EAGAIN; a live one behind it is returned', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    await handshake(env, f);
    await handshake(env, flow(env, 2000));
    f.send({ flags: 'R', seq: 1001 });
    await env.peer.expectNothing(10);
    expect(listener(env).acceptQueue).toBe(2);
    expect(tryAccept(env)).toBe('ECONNABORTED');
    expect(typeof tryAccept(env)).toBe('object');
    expect(tryAccept(env)).toBe('EAGAIN');
  });
});

describe('a queued (completed, not accepted) connection follows the synchronized-state RST rules', () => {
  it('in-window non-exact RST: challenge ACK, the connection stays acceptable', async () => {
    const env = await setup();
    const f = flow(env, 1000);
    const sa = await handshake(env, f);
    f.send({ flags: 'R', seq: 1001 + 10 });
    await f.expect({ flags: '.', seq: u32(sa.seq + 1), ack: 1001 });
    expect(typeof tryAccept(env)).toBe('object');
  });

  it('net.inet.tcp.insecure_rst=1: the same RST resets it; accept() gives ECONNABORTED', async () => {
    const env = await setup({ sysctls: { 'net.inet.tcp.insecure_rst': 1 } });
    const f = flow(env, 1000);
    await handshake(env, f);
    f.send({ flags: 'R', seq: 1001 + 10 });
    await env.peer.expectNothing(10);
    expect(tryAccept(env)).toBe('ECONNABORTED');
  });
});

describe('S19: a second SO_REUSEADDR socket binding the same *:P fails at bind() with EADDRINUSE', () => {
  it('FreeBSD checks an exact (laddr, lport) match at bind time', async () => {
    const env = await setup({ listen: false });
    env.stack.bsd.setsockopt(env.fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    const fd2 = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    env.stack.bsd.setsockopt(fd2, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    let code = 'ok';
    try {
      env.stack.bsd.bind(fd2, { address: '0.0.0.0', port: PORT });
    } catch (e) {
      code = (e as { code: string }).code;
    }
    expect(code).toBe('EADDRINUSE');
  });
});

// ================================================================================================
// RST bandwidth limiting (BANDLIM_RST_OPENPORT, net.inet.icmp.icmplim)
// ================================================================================================

describe('RSTs from a listener are limited to net.inet.icmp.icmplim per second', () => {
  it('icmplim 3: 5 bare ACKs in one second draw 3 RSTs; a second later the budget is back', async () => {
    const env = await setup({ sysctls: { 'net.inet.icmp.icmplim': 3 } });
    for (let i = 0; i < 5; i++) env.peer.send({ flags: '.', sport: 31000 + i, seq: 1, ack: 100 + i });
    for (let i = 0; i < 3; i++) await env.peer.expect({ flags: 'R', seq: 100 + i });
    await env.peer.expectNothing(999);
    expect(ctr(env).WtcpRstRateLimited).toBe(2);
    // still the same one-second window at 999 ms
    env.peer.send({ flags: '.', sport: 31010, seq: 1, ack: 499 });
    await env.peer.expectNothing(1);
    expect(ctr(env).WtcpRstRateLimited).toBe(3);
    env.peer.send({ flags: '.', sport: 31011, seq: 1, ack: 500 });
    await env.peer.expect({ flags: 'R', seq: 500 });
  });

  it('SYN|ACK RSTs share the budget', async () => {
    const env = await setup({ sysctls: { 'net.inet.icmp.icmplim': 1 } });
    env.peer.send({ flags: 'S.', sport: 31020, seq: 1, ack: 7 });
    env.peer.send({ flags: 'S.', sport: 31021, seq: 1, ack: 8 });
    await env.peer.expect({ flags: 'R', seq: 7 });
    await env.peer.expectNothing(100);
    expect(ctr(env).WtcpRstRateLimited).toBe(1);
  });

  it('icmplim 0: no limit', async () => {
    const env = await setup({ sysctls: { 'net.inet.icmp.icmplim': 0 } });
    for (let i = 0; i < 300; i++) env.peer.send({ flags: '.', sport: 32000 + i, seq: 1, ack: i + 1 });
    const got = await env.peer.drain();
    expect(got.length).toBe(300);
  });

  it('the default 200: the 201st RST in a second is suppressed', async () => {
    const env = await setup();
    for (let i = 0; i < 201; i++) env.peer.send({ flags: '.', sport: 33000 + i, seq: 1, ack: i + 1 });
    const got = await env.peer.drain();
    expect(got.length).toBe(200);
    expect(ctr(env).WtcpRstRateLimited).toBe(1);
  });
});

// ================================================================================================
// Hostile input: counted and dropped, never an abort
// ================================================================================================

describe('hostile segments at a FreeBSD listener never abort the core', () => {
  it('4000 random segments (flags, numbers, option bytes, payload) against small pools, then a normal handshake', async () => {
    const clock = new VirtualClock();
    const [a, b] = MemoryLink.pair();
    const stack = new Stack({
      personality: 'freebsd-12.1', clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 3, core: CORE,
      sysctls: { 'net.inet.tcp.syncache.hashsize': 2, 'net.inet.tcp.syncache.bucketlimit': 3, 'net.inet.icmp.icmplim': 0 },
      limits: { synEntries: 5, connections: 6, listeners: 4 },
    });
    const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });
    const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
    stack.bsd.listen(fd, 1);
    stack.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'httpready' });
    await peer.resolve({ within: 10 });
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let i = 0; i < 4000; i++) {
      const optLen = rnd(11) * 4;
      const raw = new Uint8Array(optLen);
      for (let k = 0; k < optLen; k++) raw[k] = rnd(4) === 0 ? rnd(9) : rnd(256);
      const payload = new Uint8Array(rnd(4) === 0 ? rnd(300) : 0).map(() => rnd(256));
      const flagBits = rnd(256);
      const flags = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'W'].filter((_, k) => flagBits & (1 << k)).join('');
      peer.send({ flags, sport: 40000 + rnd(8), seq: rnd(4) === 0 ? 1000 + rnd(4) : rnd(0x7fffffff) * 2, ack: rnd(0x7fffffff) * 2 + rnd(2), rawOptions: raw, payload, win: rnd(65536) });
      if (i % 50 === 0) await peer.wait(rnd(5000));
      if (i % 97 === 0) {
        try {
          stack.bsd.accept(fd);
        } catch {
          /* EAGAIN / ECONNABORTED */
        }
      }
      if (i % 500 === 0) stack.bsd.listen(fd, rnd(4));
    }
    await peer.wait(60_000);
    expect(stack.core.aborted).toBeUndefined();
    await peer.drain();
    stack.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', null);
    for (;;) {
      try {
        stack.bsd.accept(fd);
      } catch {
        break;
      }
    }
    stack.bsd.listen(fd, 5);
    const f = peer.flow({ sport: 50000, dport: PORT, isn: 1 });
    f.send({ flags: 'S' });
    const sa = await f.expect({ flags: 'S.', ack: 2 });
    f.send({ flags: '.', seq: 2, ack: u32(sa.seq + 1) });
    await peer.expectNothing(10);
    expect(stack.bsd.accept(fd).port).toBe(50000);
  });
});
