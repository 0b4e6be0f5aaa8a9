// Linux personality, segments for a request sock in SYN-RECEIVED: tcp_check_req in its order
// (spec 2.6, 5.1 "SYN-RECEIVED" rows, S33-S42, and the 6.18 observations 1-3). Common setup:
// → [S] seq=c, ← [S.] seq=s ack=c+1, no ACK yet.
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, FACTS, setup, flow, syn, ackOf, tryAccept, listener, ctr, delta, until, nothingUntil,
  linuxSynOptions, u32, type Env,
} from '../helpers/linux-conformance.js';
import type { TcpFlow, ReceivedSegment } from '../../src/testing/peer.js';

const C = 1000;

async function embryo(env: Env, options = { mss: 1460 } as Parameters<typeof syn>[1]): Promise<{ f: TcpFlow; sa: ReceivedSegment; s: number }> {
  const f = flow(env, C);
  const sa = await syn(f, options);
  return { f, sa, s: sa.seq };
}

/** The request completes: the right third ACK, then accept() returns it. */
async function completes(env: Env, f: TcpFlow, s: number, extra: Parameters<TcpFlow['send']>[0] | object = {}): Promise<void> {
  f.send({ flags: '.', seq: C + 1, ack: u32(s + 1), ...extra });
  await env.peer.expectNothing(10);
  expect(listener(env).synQueue).toBe(0);
  expect(tryAccept(env)).toMatchObject({ port: f.sport });
}

/** The request is gone: the right third ACK now gets <SEQ=SEG.ACK><RST>. */
async function gone(env: Env, f: TcpFlow, s: number): Promise<void> {
  expect(listener(env).synQueue).toBe(0);
  f.send({ flags: '.', seq: C + 1, ack: u32(s + 1) });
  await f.expect({ flags: 'R', seq: u32(s + 1), win: 0 });
  expect(tryAccept(env)).toBe('EAGAIN');
}

// ================================================================================================
// 2.6.2: a retransmitted SYN
// ================================================================================================

describe('spec 2.6.2 / S33: a duplicate SYN re-sends the SYN-ACK with the same ISS, at most once per tcp_invalid_ratelimit (500 ms), pushes the timer out and keeps num_timeout', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: dup at 50 ms ⇒ [S.] seq=s; dup at 100 ms ⇒ ∅; timer SYN-ACKs at 1050, 3050; dup at 3100 ⇒ [S.] and the next at 7100 (4 s: num_timeout 2 kept); expiry at 63100 after 5 timer retransmissions`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      await until(env, 50);
      f.send({ flags: 'S', seq: C, options: { mss: 1460 } });
      await f.expect({ flags: 'S.', seq: s, ack: C + 1, time: 50 });
      await until(env, 100);
      f.send({ flags: 'S', seq: C, options: { mss: 1460 } });
      await nothingUntil(env, 1049);
      expect(ctr(env).TcpExtTCPACKSkippedSynRecv).toBe(1);
      await f.expect({ flags: 'S.', seq: s, ack: C + 1, time: 1050 }, { within: 10 });
      await f.expect({ flags: 'S.', seq: s, ack: C + 1, time: 3050 }, { within: 2100 });
      await until(env, 3100);
      f.send({ flags: 'S', seq: C, options: { mss: 1460 } });
      await f.expect({ flags: 'S.', seq: s, ack: C + 1, time: 3100 });
      await nothingUntil(env, 7099);
      await f.expect({ flags: 'S.', seq: s, time: 7100 }, { within: 10 });
      await f.expect({ flags: 'S.', seq: s, time: 15_100 }, { within: 8100 });
      await f.expect({ flags: 'S.', seq: s, time: 31_100 }, { within: 16_100 });
      await nothingUntil(env, 63_099);
      expect(listener(env).synQueue).toBe(1);
      await until(env, 63_100);
      expect(listener(env).synQueue).toBe(0);
      await env.peer.expectNothing(30_000);
      await gone(env, f, s);
    });

    it(`${preset}: the very first duplicate is never limited; one 450 ms after an answered one is, one 560 ms after is not; tcp_invalid_ratelimit 0 answers every duplicate`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      f.send({ flags: 'S', seq: C });
      await f.expect({ flags: 'S.', seq: s, time: 0 });
      await until(env, 450);
      f.send({ flags: 'S', seq: C });
      await env.peer.expectNothing(10);
      await until(env, 560);
      f.send({ flags: 'S', seq: C });
      await f.expect({ flags: 'S.', seq: s, time: 560 });
      env.stack.sysctl.set('net.ipv4.tcp_invalid_ratelimit', 0);
      for (let i = 0; i < 3; i++) {
        f.send({ flags: 'S', seq: C });
        await f.expect({ flags: 'S.', seq: s });
      }
      await completes(env, f, s);
    });
  }
});

// ================================================================================================
// 2.6.3: an ACK for something never sent
// ================================================================================================

describe('spec 2.6.3 / S35: an ACK with SEG.ACK != ISS+1 is answered by the listener with <SEQ=SEG.ACK><RST>; the request is kept', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: [.] ack=s+5 ⇒ [R] seq=s+5 (twice: not rate limited); then [.] ack=s+1 completes`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      for (const bad of [5, 0]) {
        f.send({ flags: '.', seq: C + 1, ack: u32(s + bad) });
        await f.expect({ flags: 'R', seq: u32(s + bad), ack: 0, win: 0 });
      }
      expect(listener(env).synQueue).toBe(1);
      expect(ctr(env).TcpExtEmbryonicRsts).toBe(0);
      await completes(env, f, s);
    });
  }
});

// ================================================================================================
// 2.6.4: the sequence check
// ================================================================================================

describe('spec 2.6.4: an out-of-window segment gets <SEQ=ISS+1><ACK=RCV.NXT><ACK> (rate limited 500 ms); an out-of-window RST gets nothing; the request is kept (S39)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: bare ACK at c+1+200000 ⇒ [.] seq=s+1 ack=c+1; again at 100 ms ⇒ ∅; again at 700 ms ⇒ [.]; data out of window is never rate limited; then the right ACK completes`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      const far = u32(C + 1 + 200_000);
      f.send({ flags: '.', seq: far, ack: u32(s + 1) });
      await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
      await until(env, 100);
      f.send({ flags: '.', seq: far, ack: u32(s + 1) });
      await env.peer.expectNothing(10);
      await until(env, 700);
      f.send({ flags: '.', seq: far, ack: u32(s + 1) });
      await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1, time: 700 });
      // "Data packets without SYNs are not likely part of an ACK loop" (tcp_oow_rate_limited)
      for (let i = 0; i < 2; i++) {
        f.send({ flags: 'P.', seq: far, ack: u32(s + 1), payload: 'late' });
        await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
      }
      // a segment left of the window: SEG.SEQ = c with no SYN bit
      await until(env, 800);
      expect(listener(env).synQueue).toBe(1);
      await completes(env, f, s);
    });

    it(`${preset}: the ACK for a segment left of the window (SEG.SEQ = c, no SYN) ⇒ [.] seq=s+1 ack=c+1; the request is kept`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      f.send({ flags: '.', seq: C, ack: u32(s + 1) });
      await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
      await completes(env, f, s);
    });

    it(`${preset}: RST at c (left of RCV.NXT) and at c+1+W+1 (right of the window) ⇒ ∅, request kept`, async () => {
      const env = await setup(preset);
      const { f, sa, s } = await embryo(env);
      const w = sa.win;   // rsk_rcv_wnd: the SYN-ACK's window, never scaled
      f.send({ flags: 'R', seq: C });
      f.send({ flags: 'R', seq: u32(C + 1 + w + 1) });
      f.send({ flags: 'R.', seq: u32(C + 1 + w + 5), ack: u32(s + 1) });
      await env.peer.expectNothing(10);
      expect(listener(env).synQueue).toBe(1);
      expect(ctr(env).TcpExtEmbryonicRsts).toBe(0);
      await completes(env, f, s);
    });
  }
});

// ================================================================================================
// 2.6.6-7: RST and SYN in the window
// ================================================================================================

describe('spec 2.6.7 / S37, S40: a RST exactly at RCV.NXT drops the request silently ("return this connection to LISTEN")', () => {
  for (const preset of LINUX_PRESETS) {
    for (const [what, flags] of [['[R] seq=c+1', 'R'], ['[R.] seq=c+1 ack=s+1', 'R.']] as const) {
      it(`${preset}: ${what} ⇒ ∅, request gone (EmbryonicRsts +1, AttemptFails +1); the third ACK then gets [R] seq=s+1`, async () => {
        const env = await setup(preset);
        const { f, s } = await embryo(env);
        const before = ctr(env);
        f.send({ flags, seq: C + 1, ...(flags === 'R.' ? { ack: u32(s + 1) } : {}) });
        await env.peer.expectNothing(3000);   // no SYN-ACK retransmission at 1 s either
        expect(delta(env, before, ['TcpExtEmbryonicRsts', 'TcpAttemptFails', 'TcpOutSegs']))
          .toEqual({ TcpExtEmbryonicRsts: 1, TcpAttemptFails: 1, TcpOutSegs: 0 });
        await gone(env, f, s);
      });
    }
  }
});

describe('spec 2.6.6 / 2.13 / 6.18 observations 1-2: an in-window RST not at RCV.NXT — request dropped (4.14 … 6.13) or challenge ACK and request kept (6.18)', () => {
  for (const preset of LINUX_PRESETS) {
    const challenge = FACTS[preset].rstChallenge;
    const outcome = challenge ? '[.] seq=s+1 ack=c+1 (challenge ACK), request kept' : '∅, request dropped';
    it(`${preset}: [R] seq=c+1+100 ⇒ ${outcome}`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      f.send({ flags: 'R', seq: C + 1 + 100 });
      if (challenge) {
        await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
        expect(ctr(env).TcpExtEmbryonicRsts).toBe(0);
        await completes(env, f, s);
      } else {
        await env.peer.expectNothing(10);
        expect(ctr(env).TcpExtEmbryonicRsts).toBe(1);
        await gone(env, f, s);
      }
    });

    it(`${preset}: a RST at exactly c+1+W (the right edge, W = the SYN-ACK's window) counts as in window ⇒ ${outcome}`, async () => {
      const env = await setup(preset);
      const { f, sa, s } = await embryo(env);
      f.send({ flags: 'R', seq: u32(C + 1 + sa.win) });
      if (challenge) {
        await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
        await completes(env, f, s);
      } else {
        await env.peer.expectNothing(10);
        await gone(env, f, s);
      }
    });
  }
});

describe('spec 2.6.7 / 5.1 "SYN-RECEIVED, SYN in window (new ISN)": <SEQ=0><ACK=SEG.SEQ+1><RST,ACK> and the request is dropped', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: [S] seq=c+1+500 ⇒ [R.] seq=0 ack=c+502; EmbryonicRsts +1, AttemptFails +1; the old third ACK then gets [R]`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      const before = ctr(env);
      f.send({ flags: 'S', seq: C + 1 + 500, options: { mss: 1460 } });
      await f.expect({ flags: 'R.', seq: 0, ack: C + 1 + 500 + 1, win: 0 });
      expect(delta(env, before, ['TcpExtEmbryonicRsts', 'TcpAttemptFails', 'TcpOutRsts']))
        .toEqual({ TcpExtEmbryonicRsts: 1, TcpAttemptFails: 1, TcpOutRsts: 1 });
      await gone(env, f, s);
    });
  }
});

describe('spec 2.6.8: an in-window segment without ACK (and without SYN/RST) is dropped silently; the request stays', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: [P] seq=c+1 with data and no ACK ⇒ ∅; then the ACK completes and the data was not kept`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      f.send({ flags: 'P', seq: C + 1, payload: 'early' });
      await env.peer.expectNothing(10);
      expect(listener(env).synQueue).toBe(1);
      f.send({ flags: '.', seq: C + 1, ack: u32(s + 1) });
      await env.peer.expectNothing(10);
      const a = tryAccept(env) as { fd: number };
      expect(() => env.stack.bsd.recv(a.fd, 100)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    });
  }
});

// ================================================================================================
// 6.18 observation 3: the third ACK's TSecr (6.15+)
// ================================================================================================

describe('6.18 observation 3 ("tcp: be less liberal in TSEcr received while in SYN_RECV state", 6.15+): a third ACK whose TSecr is not a SYN-ACK TSval', () => {
  for (const preset of LINUX_PRESETS) {
    const checks = FACTS[preset].tsecrCheck;
    it(`${preset}: TSecr = TSval + 100000 ⇒ ${checks ? 'challenge ACK [.] seq=s+1 ack=c+1, TSEcrRejected +1, request kept; then TSecr = TSval completes' : 'the handshake completes (no check before 6.15)'}`, async () => {
      const env = await setup(preset);
      const { f, sa, s } = await embryo(env, linuxSynOptions(5000));
      const tsval = (sa.options.ts as [number, number])[0];
      f.send({ flags: '.', seq: C + 1, ack: u32(s + 1), options: { ts: [5001, u32(tsval + 100_000)] } });
      if (checks) {
        const ack = await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
        expect(ack.options.ts?.[1]).toBe(5000);
        expect(ctr(env).TcpExtTSEcrRejected).toBe(1);
        await env.peer.expectNothing(10);
        expect(listener(env)).toMatchObject({ synQueue: 1, acceptQueue: 0 });
        await completes(env, f, s, { options: { ts: [5002, tsval] } });
      } else {
        await env.peer.expectNothing(10);
        expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 1 });
        expect(ctr(env).TcpExtTSEcrRejected).toBe(0);
      }
    });

    it(`${preset}: TSecr = TSval + 100 sent 200 ms later (between the SYN-ACK and now, but no SYN-ACK carried it) ⇒ ${checks ? 'rejected: challenge ACK, request kept' : 'completes'}`, async () => {
      const env = await setup(preset);
      const { f, sa, s } = await embryo(env, linuxSynOptions(5000));
      const tsval = (sa.options.ts as [number, number])[0];
      await until(env, 200);
      f.send({ flags: '.', seq: C + 1, ack: u32(s + 1), options: { ts: [5001, u32(tsval + 100)] } });
      if (checks) {
        await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 1 });
        expect(ctr(env).TcpExtTSEcrRejected).toBe(1);
        expect(listener(env)).toMatchObject({ synQueue: 1, acceptQueue: 0 });
      } else {
        await env.peer.expectNothing(10);
        expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 1 });
      }
    });

    it(`${preset}: TSecr echoing the retransmitted SYN-ACK's TSval (1 s) completes; so does TSecr 0 (no echo)`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env, linuxSynOptions(5000));
      const re = await f.expect({ flags: 'S.', seq: s, time: 1000 }, { within: 1000 });
      await completes(env, f, s, { options: { ts: [6001, (re.options.ts as [number, number])[0]] } });
      const g = flow(env, C);
      const sg = await syn(g, linuxSynOptions(7000));
      g.send({ flags: '.', seq: C + 1, ack: u32(sg.seq + 1), options: { ts: [7001, 0] } });
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(1);
    });
  }
});

// ================================================================================================
// 2.6.10 / S42: the third ACK completes; with data and FIN the child processes them
// ================================================================================================

describe('spec 2.6.10 / S42: the third ACK creates the child, and the child processes what the segment carries', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: [P.] seq=c+1 ack=s+1 with 100 bytes ⇒ [.] ack=c+101; accept() returns it, recv() gives the 100 bytes`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      const data = 'x'.repeat(60) + 'y'.repeat(40);
      f.send({ flags: 'P.', seq: C + 1, ack: u32(s + 1), payload: data });
      await f.expect({ flags: '.', seq: u32(s + 1), ack: C + 101 }, { within: 200 });
      expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 1 });
      const a = tryAccept(env) as { fd: number };
      expect(new TextDecoder('latin1').decode(env.stack.bsd.recv(a.fd, 1000))).toBe(data);
      expect(ctr(env).TcpPassiveOpens).toBe(1);
    });

    it(`${preset}: [F.] seq=c+1 ack=s+1 ⇒ [.] ack=c+2; accept() returns it and recv() gives end of stream`, async () => {
      const env = await setup(preset);
      const { f, s } = await embryo(env);
      f.send({ flags: 'F.', seq: C + 1, ack: u32(s + 1) });
      await f.expect({ flags: '.', ack: C + 2 }, { within: 200 });
      const a = tryAccept(env) as { fd: number };
      expect(env.stack.bsd.recv(a.fd, 100).length).toBe(0);
    });
  }
});
