// Linux personality, syncookies (spec 2.4.3, 2.5, 2.7, 2.9, S51, S55, and the 6.18 observation 4):
// what a cookie SYN-ACK carries, how the ACK restores the options, the 2-minute "recent overflow"
// gate, the 60-120 s lifetime, and the silent drop of a cookie ACK that meets a full accept queue.
//
// Not covered here: the child's sending MSS (S51 "the server's data segments are <= 536 bytes").
// The stack has no send path yet and does not expose a connection's MSS, so the rounding down to
// msstab is checked through the cookie itself (the MSS index is added into the ISS).
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, FACTS, setup, flow, syn, ackOf, tryAccept, listener, ctr, delta, until,
  linuxSynOptions, optionLayout, u32, type Env,
} from '../helpers/linux-conformance.js';
import type { TcpFlow, ReceivedSegment } from '../../src/testing/peer.js';
import type { TcpOptions } from '../../src/testing/frames.js';

const ALWAYS = { 'net.ipv4.tcp_syncookies': 2 } as const;

/** A cookie SYN-ACK for a new flow (the listener must be configured to send one). */
async function cookieSyn(env: Env, options: Parameters<typeof syn>[1] = { mss: 1460 }, isn = 1000): Promise<{ f: TcpFlow; sa: ReceivedSegment }> {
  const sent = ctr(env).TcpExtSyncookiesSent;
  const f = flow(env, isn);
  const sa = await syn(f, options);
  expect(ctr(env).TcpExtSyncookiesSent).toBe(sent + 1);
  return { f, sa };
}

/** The cookie ACK completes: a child is queued. */
async function cookieAccepted(env: Env, f: TcpFlow, extra: object = {}): Promise<void> {
  const before = ctr(env);
  ackOf(f, extra);
  await env.peer.expectNothing(10);
  expect(delta(env, before, ['TcpExtSyncookiesRecv', 'TcpPassiveOpens', 'TcpOutRsts']))
    .toEqual({ TcpExtSyncookiesRecv: 1, TcpPassiveOpens: 1, TcpOutRsts: 0 });
  expect(tryAccept(env)).toMatchObject({ port: f.sport });
}

// ================================================================================================
// §2.4.3: a cookie SYN-ACK for a SYN without timestamps carries MSS only
// ================================================================================================

describe('spec 2.4.3 / 2.9 / S51: a cookie SYN-ACK to a SYN without timestamps carries MSS only; WS and SACK are not negotiated', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: [S] <mss 1000,sackOK,nop,wscale 7> ⇒ [S.] <mss 1460> only; never retransmitted; the ACK makes a child that answers data with an unscaled window and no timestamps`, async () => {
      const env = await setup(preset, { sysctls: ALWAYS });
      const { f, sa } = await cookieSyn(env, { mss: 1000, sackOk: true, wscale: 7 });
      expect(optionLayout(sa)).toEqual([2, 4, 0x05, 0xb4]);
      expect(sa.options).toEqual({ mss: 1460 });
      expect(listener(env).synQueue).toBe(0);
      await env.peer.expectNothing(5000);          // no state, no retransmission
      f.send({ flags: 'P.', payload: 'x'.repeat(100) });
      const ack = await f.expect({ flags: '.', ack: u32(f.isn + 101) }, { within: 200 });
      expect(ack.options.ts).toBeUndefined();
      expect(ack.win).toBeGreaterThan(16_383);      // no window scaling: the field is the window itself
      expect(ctr(env).TcpExtSyncookiesRecv).toBe(1);
      const a = tryAccept(env) as { fd: number };
      expect(env.stack.bsd.recv(a.fd, 1000).length).toBe(100);
    });
  }
});

describe('spec 2.9: the MSS is rounded down to msstab {536, 1300, 1440, 1460} and its index rides in the cookie (ISS = ... + ((H1 + mssind) & 0xFFFFFF))', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: one 4-tuple and ISN, SYNs with MSS 1460, 1459, 1440, 1300, 1299, 1000, 536, 100 in one minute: the ISSs differ by exactly the table index`, async () => {
      const env = await setup(preset, { sysctls: ALWAYS });
      const f = env.peer.flow({ sport: 44444, dport: 8080, isn: 1000 });
      const iss = new Map<number, number>();
      for (const mss of [1460, 1459, 1440, 1300, 1299, 1000, 536, 100]) {
        f.send({ flags: 'S', seq: 1000, options: { mss } });
        iss.set(mss, (await f.expect({ flags: 'S.', ack: 1001 })).seq);
      }
      const idx = (mss: number) => ((iss.get(mss) as number) - (iss.get(536) as number)) & 0xffffff;
      expect([1460, 1459, 1440, 1300, 1299, 1000, 536, 100].map(idx)).toEqual([3, 2, 2, 1, 0, 0, 0, 0]);
      // and the cookie of the last SYN (MSS 100 ⇒ index 0, 536) is accepted
      f.send({ flags: '.', seq: 1001, ack: u32((iss.get(100) as number) + 1) });
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(1);
    });
  }
});

// ================================================================================================
// §2.9 + 6.18 observation 4: options in the TSval's low 6 bits
// ================================================================================================

describe('spec 2.9 / 6.18 observation 4: with timestamps the cookie SYN-ACK TSval carries wscale (bits 0-3, 0xF = none) and SACK (bit 4), rounded down to <= now', () => {
  for (const preset of LINUX_PRESETS) {
    const ws = FACTS[preset].wscale;
    const cases: [string, TcpOptions, number][] = [
      ['wscale 7 + SACK', linuxSynOptions(777), 0x17],
      ['wscale 2, no SACK', { mss: 1460, ts: [777, 0], wscale: 2 }, 0x02],
      ['SACK, no wscale', { mss: 1460, sackOk: true, ts: [777, 0] }, 0x1f],
      ['neither', { mss: 1460, ts: [777, 0] }, 0x0f],
    ];
    for (const [what, options, bits] of cases) {
      it(`${preset}: tcp_timestamps 2 (no offset), SYN with ${what} at 5 s ⇒ TSval & 0x3F = 0x${bits.toString(16)}, TSval <= now; TSecr = 777`, async () => {
        const env = await setup(preset, { sysctls: { ...ALWAYS, 'net.ipv4.tcp_timestamps': 2 } });
        await until(env, 5000);
        const { sa } = await cookieSyn(env, options);
        const [tsval, tsecr] = sa.options.ts as [number, number];
        expect(tsval & 0x3f).toBe(bits);
        expect(tsval).toBeLessThanOrEqual(5000);
        expect(5000 - tsval).toBeLessThan(64);
        expect(tsecr).toBe(777);
        expect(sa.options.wscale).toBe('wscale' in options ? ws : undefined);
        expect(sa.options.sackOk).toBe('sackOk' in options ? true : undefined);
      });
    }

    it(`${preset}: tcp_timestamps 2, tcp_sack 0: a SACK-permitting SYN's cookie TSval has bit 4 clear (0x07)`, async () => {
      const env = await setup(preset, { sysctls: { ...ALWAYS, 'net.ipv4.tcp_timestamps': 2, 'net.ipv4.tcp_sack': 0 } });
      await until(env, 5000);
      const { sa } = await cookieSyn(env, linuxSynOptions(777));
      expect((sa.options.ts as [number, number])[0] & 0x3f).toBe(0x07);
      expect(sa.options.sackOk).toBeUndefined();
    });

    for (const tsMode of [2, 1]) {
      it(`${preset}: tcp_timestamps ${tsMode}: the ACK echoing the cookie TSval restores window scaling and timestamps (the child's data ACK has TS and a window scaled by ${ws})`, async () => {
        const env = await setup(preset, { sysctls: { ...ALWAYS, 'net.ipv4.tcp_timestamps': tsMode } });
        await until(env, 5000);
        const { f, sa } = await cookieSyn(env, linuxSynOptions(777));
        const tsval = (sa.options.ts as [number, number])[0];
        f.send({ flags: 'P.', payload: 'y'.repeat(100), options: { ts: [778, tsval] } });
        const ack = await f.expect({ flags: '.', ack: u32(f.isn + 101) }, { within: 200 });
        expect(ack.options.ts?.[1]).toBe(778);
        expect(ack.win).toBeLessThan(65536 >> ws);    // the field is scaled
        expect(ack.win).toBeGreaterThan(0);
        expect(ctr(env).TcpExtSyncookiesRecv).toBe(1);
      });
    }
  }
});

// ================================================================================================
// §2.5: cookie ACKs are examined only if this listener sent a cookie in the last 2 minutes
// ================================================================================================

describe('spec 2.5: an ACK at a listener is checked as a cookie only with tcp_syncookies != 0 and a cookie sent by this listener in the last 2 minutes; otherwise <SEQ=SEG.ACK><RST>', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: no cookie ever sent: a stray ACK ⇒ [R] seq=SEG.ACK and the cookie code is not even run (SyncookiesFailed 0)`, async () => {
      const env = await setup(preset);
      env.peer.send({ flags: '.', sport: 33000, seq: 5001, ack: 777 });
      await env.peer.expect({ flags: 'R', seq: 777 });
      expect(ctr(env).TcpExtSyncookiesFailed).toBe(0);
    });

    it(`${preset}: a cookie sent 10 s ago to another client: a stray ACK ⇒ [R] seq=SEG.ACK and SyncookiesFailed +1`, async () => {
      const env = await setup(preset, { sysctls: ALWAYS });
      await cookieSyn(env);
      await until(env, 10_000);
      env.peer.send({ flags: '.', sport: 33000, seq: 5001, ack: 777 });
      await env.peer.expect({ flags: 'R', seq: 777 });
      expect(ctr(env).TcpExtSyncookiesFailed).toBe(1);
      expect(ctr(env).TcpExtSyncookiesRecv).toBe(0);
    });

    it(`${preset}: tcp_syncookies set to 0 after the cookie was sent: its valid ACK ⇒ [R] seq=s+1; set back to 2, the same ACK completes`, async () => {
      const env = await setup(preset, { sysctls: ALWAYS });
      const { f, sa } = await cookieSyn(env);
      env.stack.sysctl.set('net.ipv4.tcp_syncookies', 0);
      ackOf(f);
      await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
      expect(ctr(env).TcpExtSyncookiesFailed).toBe(0);
      env.stack.sysctl.set('net.ipv4.tcp_syncookies', 2);
      await cookieAccepted(env, f);
    });

    it(`${preset}: a cookie sent by ANOTHER listener does not open the gate of this one`, async () => {
      const env = await setup(preset, { backlog: 5 });
      const other = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
      env.stack.bsd.bind(other, { address: '0.0.0.0', port: 9090 });
      env.stack.bsd.listen(other, 0);
      env.stack.sysctl.set('net.ipv4.tcp_syncookies', 2);
      const g = env.peer.flow({ sport: 45000, dport: 9090, isn: 1 });
      g.send({ flags: 'S', options: { mss: 1460 } });
      await g.expect({ flags: 'S.' });
      env.stack.sysctl.set('net.ipv4.tcp_syncookies', 1);
      env.peer.send({ flags: '.', sport: 33000, seq: 5001, ack: 777 });
      await env.peer.expect({ flags: 'R', seq: 777 });
      expect(ctr(env).TcpExtSyncookiesFailed).toBe(0);
    });
  }
});

// ================================================================================================
// §2.9 / S55: cookie lifetime 60-120 s
// ================================================================================================

describe('spec 2.9 / S55: a cookie is valid while (count_now - count_cookie) < 2 minutes: always accepted for d < 60 s, always refused for d >= 120 s', () => {
  for (const preset of LINUX_PRESETS) {
    for (const [sentAt, d] of [[1000, 59_900], [30_000, 59_000], [59_500, 59_500]] as const) {
      it(`${preset}: cookie sent at ${sentAt / 1000} s, ACK after ${d / 1000} s ⇒ accepted`, async () => {
        const env = await setup(preset, { sysctls: ALWAYS });
        await until(env, sentAt);
        const { f } = await cookieSyn(env);
        await until(env, sentAt + d);
        await cookieAccepted(env, f);
      });
    }

    for (const [sentAt, d] of [[1000, 120_000], [59_500, 120_000], [30_000, 150_000]] as const) {
      it(`${preset}: cookie sent at ${sentAt / 1000} s, ACK after ${d / 1000} s, another cookie sent 20 s before the ACK ⇒ [R] seq=SEG.ACK, SyncookiesFailed +1, no child`, async () => {
        const env = await setup(preset, { sysctls: ALWAYS });
        await until(env, sentAt);
        const { f, sa } = await cookieSyn(env);
        await until(env, sentAt + d - 20_000);
        await cookieSyn(env, { mss: 1460 }, 2000);   // keeps "a cookie in the last 2 minutes" true
        await until(env, sentAt + d);
        const before = ctr(env);
        ackOf(f);
        await f.expect({ flags: 'R', seq: u32(sa.seq + 1), win: 0 });
        expect(delta(env, before, ['TcpExtSyncookiesFailed', 'TcpExtSyncookiesRecv', 'TcpPassiveOpens']))
          .toEqual({ TcpExtSyncookiesFailed: 1, TcpExtSyncookiesRecv: 0, TcpPassiveOpens: 0 });
        expect(listener(env).acceptQueue).toBe(0);
      });
    }

    it(`${preset}: cookie sent at 0 s, nothing since, ACK at 121 s ⇒ [R] seq=SEG.ACK without a cookie check (no recent overflow: SyncookiesFailed 0)`, async () => {
      const env = await setup(preset, { sysctls: ALWAYS });
      const { f, sa } = await cookieSyn(env);
      await until(env, 121_000);
      ackOf(f);
      await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
      expect(ctr(env).TcpExtSyncookiesFailed).toBe(0);
    });
  }
});

// ================================================================================================
// §2.7: a cookie ACK that meets a full accept queue
// ================================================================================================

describe('spec 2.7: a cookie ACK with a full accept queue is dropped silently, whatever tcp_abort_on_overflow says (no request exists to retry)', () => {
  for (const preset of LINUX_PRESETS) {
    for (const abort of [0, 1]) {
      it(`${preset}: tcp_abort_on_overflow ${abort}: X's cookie SYN-ACK, then two clients fill backlog 1, X's ACK ⇒ ∅ (ListenOverflows +1); after accept() X's next segment completes from the same cookie`, async () => {
        const env = await setup(preset, { backlog: 1, sysctls: { ...ALWAYS, 'net.ipv4.tcp_abort_on_overflow': abort } });
        const { f: x } = await cookieSyn(env, { mss: 1460 }, 9000);
        for (let i = 0; i < 2; i++) {
          const { f } = await cookieSyn(env);
          ackOf(f);
        }
        await env.peer.expectNothing(10);
        expect(listener(env).acceptQueue).toBe(2);
        const before = ctr(env);
        ackOf(x);
        await env.peer.expectNothing(3000);
        expect(delta(env, before, ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpOutRsts', 'TcpPassiveOpens']))
          .toEqual({ TcpExtListenOverflows: 1, TcpExtListenDrops: 1, TcpOutRsts: 0, TcpPassiveOpens: 0 });
        expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 0 });
        tryAccept(env);
        x.send({ flags: 'P.', payload: 'late' });
        await x.expect({ flags: '.', ack: 9001 + 4 });
        expect(listener(env).acceptQueue).toBe(2);
      });
    }
  }
});

// ================================================================================================
// cookie_timestamp_decode policy (net/ipv4/syncookies.c) — read from the kernel, not in the spec's text
// ================================================================================================

/** A TS-bearing cookie ACK after `knob` was switched off; returns the counter deltas. */
async function refusedAfter(env: Env, knob: string): Promise<Record<string, number>> {
  await until(env, 5000);
  const { f, sa } = await cookieSyn(env, linuxSynOptions(777));
  env.stack.sysctl.set(knob, 0);
  const before = ctr(env);
  ackOf(f, { options: { ts: [778, (sa.options.ts as [number, number])[0]] } });
  await f.expect({ flags: 'R', seq: u32(sa.seq + 1) });
  expect(listener(env).acceptQueue).toBe(0);
  return delta(env, before, ['TcpExtSyncookiesRecv', 'TcpExtSyncookiesFailed']);
}

describe('cookie_timestamp_decode: a TS-bearing cookie ACK is refused when the sysctls no longer allow what its TSecr encodes; the listener then answers RST <SEQ=SEG.ACK>', () => {
  for (const preset of LINUX_PRESETS) {
    for (const knob of ['net.ipv4.tcp_timestamps', 'net.ipv4.tcp_window_scaling', 'net.ipv4.tcp_sack']) {
      it(`${preset}: ${knob} set to 0 between the cookie SYN-ACK and its ACK ⇒ [R] seq=SEG.ACK, no child`, async () => {
        const env = await setup(preset, { sysctls: ALWAYS });
        await refusedAfter(env, knob);
      });
    }

    it(`${preset}: such a refusal counts SyncookiesRecv +1 and SyncookiesFailed +0 (the hash was good: cookie_v4_check counts RECV before decoding the options)`, async () => {
      const env = await setup(preset, { sysctls: ALWAYS });
      expect(await refusedAfter(env, 'net.ipv4.tcp_window_scaling')).toEqual({ TcpExtSyncookiesRecv: 1, TcpExtSyncookiesFailed: 0 });
    });
  }
});
