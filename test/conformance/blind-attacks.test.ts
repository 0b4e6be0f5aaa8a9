// Blind (off-path) attacks on an established connection, per personality, as a matrix, and RFC 6528
// initial sequence numbers seen from outside. What already lives elsewhere and is not repeated here:
// RST at / inside / outside the window in every synchronized state (state-transitions.test.ts), the
// ACK-acceptability checks and challenge-ACK rate limits (rfc5961.test.ts), SYN-RECEIVED RSTs
// (linux-synrecv.test.ts, freebsd.test.ts).
//
// The attacker knows the 4-tuple but not the sequence numbers. The connection has carried data both
// ways first, so SND.UNA, RCV.NXT and the windows are not the handshake's. Per segment kind, what
// each OS does (../shared/listen-behaviour.md; RFC 5961 §3 RST, §4 SYN, §5 ACK; RFC 9293
// §3.10.7.4):
//   - SYN inside the window: Linux tcp_validate_incoming step 4 → challenge ACK (TCPSYNChallenge);
//     FreeBSD 12.1 tcp_input "RFC 5961 Section 4.2" → challenge ACK (net.inet.tcp.insecure_syn 0);
//     4.3BSD tcp_input 561-564 → tcp_drop(ECONNRESET): the connection dies (RST|ACK then RST).
//   - SYN outside the window: Linux → challenge ACK as well (the SYN check runs before the window
//     check's answer); FreeBSD 12.1 → challenge ACK; 4.3BSD → trimmed to nothing, dropafterack: an
//     ACK, the connection lives.
//   - data outside the window (both sides of it): an ACK <SEQ=SND.NXT><ACK=RCV.NXT>, nothing
//     delivered, everywhere.
//   - a flood of RSTs with sequence numbers spread over all 2^32 (a blind reset attack): the
//     connection survives everywhere (only RCV.NXT resets on Linux and FreeBSD; the 4.3BSD window
//     is 1/2^20 of the space) and still carries data afterwards; challenge ACKs stay under each
//     OS's limit.
import { describe, it, expect } from 'vitest';
import { peerEnv, acceptedFromPeer, listenOn } from '../helpers/peer-env.js';
import { SocketError } from '../../src/bsd.js';
import { ConnField, ConnState } from '../../src/core.js';

type P = 'linux-4.14' | 'linux-5.4' | 'linux-6.13' | 'linux-6.18' | 'freebsd-12.1' | '4.3bsd';
const ALL: P[] = ['linux-4.14', 'linux-5.4', 'linux-6.13', 'linux-6.18', 'freebsd-12.1', '4.3bsd'];
const u32 = (n: number) => n >>> 0;

function make(personality: P, sysctls?: Record<string, number>) {
  return peerEnv(personality, { seed: 23, ...(sysctls ? { sysctls } : {}) });
}
type Env = ReturnType<typeof make>;
const ctr = (env: Env, name: string) => (env.stack.counters() as Record<string, number>)[name] ?? 0;

function readAll(env: Env, fd: number): string {
  try { return new TextDecoder().decode(env.bsd.recv(fd, 1000)); } catch (e) { return (e as SocketError).code; }
}

function stateOf(env: Env, rport: number): number {
  for (let c = 0; c < 64; c++) {
    const st = env.stack.core.x.connGet(c, ConnField.State);
    if (st >= 0 && env.stack.core.x.connGet(c, ConnField.RemotePort) === rport) return st;
  }
  return -1;
}

/** An accepted connection that has carried 'hello' each way: RCV.NXT = 1006, SND.NXT = s + 6. */
async function established(env: Env) {
  const { fd, f, s } = await acceptedFromPeer(env);
  f.send({ flags: 'P.', seq: 1001, ack: u32(s + 1), payload: 'hello' });
  await env.peer.wait(500);   // past a delayed ACK
  expect(readAll(env, fd)).toBe('hello');
  await env.peer.drain();
  env.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_NODELAY', 1);
  env.bsd.send(fd, new TextEncoder().encode('hello'));
  await f.expect({ flags: 'P.', seq: u32(s + 1), len: 5 }, { within: 1000 });
  f.send({ flags: '.', seq: 1006, ack: u32(s + 6) });
  await env.peer.drain();   // any delayed ACK of the peer's data
  await env.peer.wait(1000); // past every per-connection challenge-ACK interval
  await env.peer.drain();
  return { fd, f, s, rcvNxt: 1006, sndNxt: u32(s + 6) };
}

/** The connection still works: the real next segment is taken and acknowledged. */
async function stillWorks(env: Env, e: Awaited<ReturnType<typeof established>>) {
  expect(stateOf(env, 40000), 'still ESTABLISHED').toBe(ConnState.Established);
  e.f.send({ flags: 'P.', seq: e.rcvNxt, ack: e.sndNxt, payload: 'real' });
  await env.peer.settle();
  expect(readAll(env, e.fd)).toBe('real');
}

describe('a blind SYN inside the receive window of an established connection', () => {
  for (const p of ALL) {
    const dies = p === '4.3bsd';
    it(`${p}: ${dies ? 'tcp_drop(ECONNRESET): RST|ACK, the connection is gone (no RFC 5961 in 1986)' : 'challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>; the connection lives'}`, async () => {
      const env = make(p);
      const e = await established(env);
      e.f.send({ flags: 'S', seq: e.rcvNxt + 100, ack: 0 });
      if (dies) {
        await e.f.expect({ flags: 'R.', seq: e.sndNxt, ack: e.rcvNxt });
        await env.peer.drain();
        expect([ConnState.Closed, -1]).toContain(stateOf(env, 40000));
        expect(readAll(env, e.fd)).toBe('ECONNRESET');
        return;
      }
      await e.f.expect({ flags: '.', seq: e.sndNxt, ack: e.rcvNxt });
      await env.peer.expectNothing(100);
      if (p.startsWith('linux')) {
        expect(ctr(env, 'TcpExtTCPSYNChallenge')).toBe(1);
        expect(ctr(env, 'TcpExtTCPChallengeACK')).toBe(1);
      }
      await stillWorks(env, e);
    });
  }
});

describe('a blind SYN outside the receive window', () => {
  for (const p of ALL) {
    it(`${p}: ${p === '4.3bsd' ? 'trimmed to nothing, dropafterack: an ACK' : 'challenge ACK'} <SEQ=SND.NXT><ACK=RCV.NXT>; the connection lives`, async () => {
      const env = make(p);
      const e = await established(env);
      e.f.send({ flags: 'S', seq: u32(e.rcvNxt + 50_000_000), ack: 0 });
      await e.f.expect({ flags: '.', seq: e.sndNxt, ack: e.rcvNxt });
      await env.peer.expectNothing(100);
      await stillWorks(env, e);
    });
  }
});

describe('blind data outside the receive window (ahead of it and behind RCV.NXT)', () => {
  for (const p of ALL) {
    it(`${p}: an ACK <SEQ=SND.NXT><ACK=RCV.NXT> for each, nothing delivered`, async () => {
      const env = make(p);
      const e = await established(env);
      for (const seq of [u32(e.rcvNxt + 20_000_000), u32(e.rcvNxt - 20_000_000)]) {
        e.f.send({ flags: 'P.', seq, ack: e.sndNxt, payload: 'evil' });
        await e.f.expect({ flags: '.', seq: e.sndNxt, ack: e.rcvNxt });
        expect(readAll(env, e.fd)).toBe('EAGAIN');
        await env.peer.wait(1000);  // Linux limits these duplicate ACKs (TCPACKSkippedSeq) to one per 500 ms
      }
      await stillWorks(env, e);
    });
  }
});

describe('a blind reset attack: 20,000 RSTs with sequence numbers spread over the whole space', () => {
  for (const p of ALL) {
    it(`${p}: the connection survives and still carries data; challenge ACKs within the OS's limit`, async () => {
      const env = make(p);
      const e = await established(env);
      // a fixed LCG: sequence numbers step by ~2^32/20000 from a random-looking start, never RCV.NXT
      let seq = 0x1234567;
      let inWindow = 0;
      const step = Math.floor(2 ** 32 / 20_000) + 7;
      for (let i = 0; i < 20_000; i++) {
        seq = u32(seq + step);
        if (seq === e.rcvNxt) continue;
        if (u32(seq - e.rcvNxt) < 65535) inWindow++;
        e.f.send({ flags: 'R', seq, ack: 0 });
        if (i % 1000 === 999) await env.peer.wait(10);   // 20,000 RSTs over 200 ms
      }
      const answers = await env.peer.drain();
      expect(answers.every((a) => a.flags === '.'), 'only (challenge) ACKs come back').toBe(true);
      // the space 2^32 / step ≈ 20,000 positions: about one RST per 214,748 numbers lands in a 64 KB window
      expect(inWindow).toBeLessThanOrEqual(1);
      if (p.startsWith('linux')) expect(answers.length).toBeLessThanOrEqual(inWindow + 1);
      await stillWorks(env, e);
    });
  }
});

// ------------------------------------------------------------------------------------------------
// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4-us clock.

/** The ISN of the SYN-ACK the stack answers a SYN from `sport` with (the entry is reset afterwards). */
async function isnFor(env: Env, sport: number): Promise<number> {
  const f = env.peer.flow({ sport, dport: 80, isn: 1000 });
  f.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
  const sa = await f.expect({ flags: 'S.' });
  f.send({ flags: 'R', seq: 1001, ack: 0 });   // drop the half-open entry: the 4-tuple can be used again
  await env.peer.drain();                       // (4.3BSD's tcp_drop answers it with RST|ACK)
  return sa.seq;
}

function listen(env: Env) {
  const lfd = listenOn(env, 80, 128);
}

describe('RFC 6528 initial sequence numbers, as an outsider sees them in SYN-ACKs', () => {
  for (const p of ['linux-5.4', 'linux-6.18', 'freebsd-12.1', '4.3bsd'] as P[]) {
    it(`${p}: 4,000 connections 1 ms apart, successive source ports: no linear relation, uniform over 32 bits`, async () => {
      const env = make(p);
      listen(env);
      const isns: number[] = [];
      for (let i = 0; i < 4000; i++) {
        isns.push(await isnFor(env, 20000 + i));
        await env.peer.wait(1);
      }
      const n = isns.length;
      // no linear recurrence: the successive differences are not constant (counter + fixed step),
      // and a second difference of 0 (x[i+1] - x[i] == x[i] - x[i-1]) happens no more often than
      // chance (expected 4000 / 2^32)
      const d = isns.slice(1).map((x, i) => u32(x - isns[i]!));
      let sameStep = 0;
      for (let i = 1; i < d.length; i++) if (d[i] === d[i - 1]) sameStep++;
      expect(sameStep).toBe(0);
      expect(new Set(isns).size, 'no repeats').toBe(n);
      // nor a linear relation modulo 2^32 with a small multiplier: x[i+1] = a*x[i] + c for a in 1..16
      for (let a = 1; a <= 16; a++) {
        const cs = new Set<number>();
        for (let i = 0; i + 1 < n; i++) cs.add(u32(isns[i + 1]! - Math.imul(a, isns[i]!)));
        expect(cs.size, `x[i+1] - ${a}·x[i] takes many values`).toBeGreaterThan(n * 0.99);
      }
      // uniform: each bit is 1 about half the time (|ones - n/2| < 5 sigma, sigma = sqrt(n)/2 ≈ 31.6)
      for (let bit = 0; bit < 32; bit++) {
        const ones = isns.filter((x) => (x >>> bit) & 1).length;
        expect(Math.abs(ones - n / 2), `bit ${bit}: ${ones} ones of ${n}`).toBeLessThan(5 * Math.sqrt(n) / 2);
      }
      // and the top 6 bits spread evenly over 64 buckets: chi-square with 63 degrees of freedom
      // below 110 (p ≈ 2e-4 for a uniform source)
      const buckets = new Array<number>(64).fill(0);
      for (const x of isns) buckets[x >>> 26]!++;
      const e = n / 64;
      const chi2 = buckets.reduce((acc, o) => acc + (o - e) ** 2 / e, 0);
      expect(chi2, `chi-square ${chi2.toFixed(1)}`).toBeLessThan(110);
      // the differences are as spread as the values: a counter would put them all in one bucket
      const dBuckets = new Set(d.map((x) => x >>> 26));
      expect(dBuckets.size).toBeGreaterThan(60);
    }, 60_000);
  }

  // Not freebsd-12.1: its SYN-ACK ISS is the syncookie (below) or, with cookies off, arc4random()
  // (syncache_add), neither with a clock component. The stack uses M + F there too (freebsd.ts,
  // cookies off): just as unpredictable, but not FreeBSD's formula, so it is not asserted here.
  for (const p of ['linux-5.4', 'linux-6.18', '4.3bsd'] as P[]) {
    it(`${p}: for one 4-tuple the ISN advances with the 4-us clock M: exactly elapsed µs / 4 between two SYNs`, async () => {
      const env = make(p);
      listen(env);
      const a = await isnFor(env, 33333);
      const t0 = env.clock.now();
      for (const gapMs of [1, 250, 4000, 65_000]) {
        const before = await isnFor(env, 33333);
        const t1 = env.clock.now();
        await env.peer.wait(gapMs);
        const after = await isnFor(env, 33333);
        const t2 = env.clock.now();
        expect(u32(after - before), `gap ${gapMs} ms`).toBe(u32(Math.round(((t2 - t1) * 1000) / 4)));
      }
      // a different 4-tuple at the same moment is unrelated (F differs): not a + elapsed / 4
      const other = await isnFor(env, 33334);
      const elapsed = u32(Math.round(((env.clock.now() - t0) * 1000) / 4));
      expect(u32(other - a)).not.toBe(elapsed);
      expect(Math.abs((u32(other - a - elapsed) | 0))).toBeGreaterThan(1_000_000);
    }, 30_000);
  }

  it('freebsd-12.1 with syncookies on (the default): every SYN-ACK\'s ISS is the cookie: the same SYN gets the same ISS within a 15-s secret period, another after two', async () => {
    const env = make('freebsd-12.1');
    listen(env);
    const a = await isnFor(env, 44444);
    await env.peer.wait(5000);
    expect(await isnFor(env, 44444)).toBe(a);
    await env.peer.wait(31_000);
    expect(await isnFor(env, 44444)).not.toBe(a);
  });

  it('4.3bsd with predictable_isn=1 (the historical tcp_iss counter) fails the same checks: the test can tell', async () => {
    const env = make('4.3bsd', { 'wtcp.bsd43.predictable_isn': 1 });
    listen(env);
    const isns: number[] = [];
    for (let i = 0; i < 50; i++) isns.push(await isnFor(env, 20000 + i));
    const d = new Set(isns.slice(1).map((x, i) => u32(x - isns[i]!)));
    expect([...d]).toEqual([64000]);
  });
});
