// Linux personality, time: SYN-ACK retransmission and request expiry (reqsk_timer_handler +
// syn_ack_recalc, spec 2.8, S43, S44), TCP_SYNCNT, the pruning of old requests when the SYN queue
// is more than half full, and TCP_DEFER_ACCEPT (spec 2.11, S61). Virtual time: exact milliseconds.
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, setup, flow, syn, ackOf, tryAccept, listener, ctr, until, nothingUntil, u32, type Env,
} from '../helpers/linux-conformance.js';
import type { TcpFlow, ReceivedSegment } from '../../src/testing/peer.js';

/** Expect the flow's SYN-ACK retransmissions at exactly these times (ms), then nothing until `goneAt`, when the request is dropped silently. */
async function schedule(env: Env, f: TcpFlow, s: number, times: number[], goneAt: number): Promise<void> {
  for (const t of times) await f.expect({ flags: 'S.', seq: s, ack: u32(f.isn + 1), time: t }, { within: t - env.clock.now() });
  await nothingUntil(env, goneAt - 1);
  expect(listener(env).synQueue).toBe(1);
  await until(env, goneAt);
  expect(listener(env).synQueue).toBe(0);
  // silently: no RST, no SYN-ACK
  await env.peer.expectNothing(5000);
  // a late third ACK finds no request: <SEQ=SEG.ACK><RST>
  f.send({ flags: '.', seq: u32(f.isn + 1), ack: u32(s + 1) });
  await f.expect({ flags: 'R', seq: u32(s + 1) });
  expect(tryAccept(env)).toBe('EAGAIN');
}

/** Every segment received between now and `t`, grouped by the peer port it went to. */
async function collectUntil(env: Env, t: number): Promise<Map<number, ReceivedSegment[]>> {
  await until(env, t);
  const by = new Map<number, ReceivedSegment[]>();
  for (const s of await env.peer.drain()) {
    const list = by.get(s.dport) ?? [];
    list.push(s);
    by.set(s.dport, list);
  }
  return by;
}

// ================================================================================================
// §2.8: the schedule
// ================================================================================================

describe('spec 2.8 / S43: tcp_synack_retries 5, RTO 1 s doubling: SYN-ACKs at 0, 1, 3, 7, 15, 31 s; the request expires silently at 63 s', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: the schedule, the expiry, and a late ACK at 70 s ⇒ [R] seq=s+1; TCPTimeouts 6, RetransSegs 5`, async () => {
      const env = await setup(preset);
      const f = flow(env, 1000);
      const sa = await syn(f);
      expect(sa.time).toBe(0);
      await schedule(env, f, sa.seq, [1000, 3000, 7000, 15_000, 31_000], 63_000);
      const c = ctr(env);
      expect(c.TcpExtTCPTimeouts).toBe(6);
      expect(c.TcpRetransSegs).toBe(5);
      expect(c.TcpExtEmbryonicRsts).toBe(0);
    });

    it(`${preset}: the client's ACK to the last retransmission (31 s) still completes the handshake`, async () => {
      const env = await setup(preset);
      const f = flow(env, 1000);
      const sa = await syn(f);
      await until(env, 31_000);
      expect((await env.peer.drain()).length).toBe(5);
      ackOf(f);
      await env.peer.expectNothing(10);
      expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 1 });
      expect(sa.seq).toBeTypeOf('number');
    });
  }
});

describe('spec 2.8 / S44: net.ipv4.tcp_synack_retries sets max_retries', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: tcp_synack_retries 2 ⇒ SYN-ACKs at 0, 1, 3 s; request gone at 7 s`, async () => {
      const env = await setup(preset, { sysctls: { 'net.ipv4.tcp_synack_retries': 2 } });
      const f = flow(env, 1000);
      const sa = await syn(f);
      await schedule(env, f, sa.seq, [1000, 3000], 7000);
    });

    it(`${preset}: tcp_synack_retries 0 ⇒ one SYN-ACK; request gone at 1 s`, async () => {
      const env = await setup(preset, { sysctls: { 'net.ipv4.tcp_synack_retries': 0 } });
      const f = flow(env, 1000);
      const sa = await syn(f);
      await schedule(env, f, sa.seq, [], 1000);
    });

    it(`${preset}: the sysctl is read when the timer fires: lowered to 1 at 2 s, the request (num_timeout 1) expires at 3 s`, async () => {
      const env = await setup(preset);
      const f = flow(env, 1000);
      const sa = await syn(f);
      await f.expect({ flags: 'S.', time: 1000 }, { within: 1000 });
      await until(env, 2000);
      env.stack.sysctl.set('net.ipv4.tcp_synack_retries', 1);
      await schedule(env, f, sa.seq, [], 3000);
    });
  }
});

describe('spec 2.8: "max_retries = TCP_SYNCNT sockopt ?: net.ipv4.tcp_synack_retries" — per listener', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: TCP_SYNCNT 2 set before listen() ⇒ 0, 1, 3 s, gone at 7 s (sysctl still 5); getsockopt reads 2`, async () => {
      const env = await setup(preset, { before: (s, fd) => s.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_SYNCNT', 2) });
      expect(env.stack.bsd.getsockopt(env.fd, 'IPPROTO_TCP', 'TCP_SYNCNT')).toBe(2);
      const f = flow(env, 1000);
      const sa = await syn(f);
      await schedule(env, f, sa.seq, [1000, 3000], 7000);
    });

    it(`${preset}: TCP_SYNCNT 7 set on the listening socket ⇒ SYN-ACKs up to 127 s, gone at 247 s (the timeout is capped at TCP_RTO_MAX 120 s)`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_SYNCNT', 7);
      const f = flow(env, 1000);
      const sa = await syn(f);
      await schedule(env, f, sa.seq, [1000, 3000, 7000, 15_000, 31_000, 63_000, 127_000], 247_000);
    });

    it(`${preset}: TCP_SYNCNT outside 1..127 ⇒ EINVAL`, async () => {
      const env = await setup(preset);
      for (const v of [0, 128, -1]) {
        expect(() => env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_SYNCNT', v)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      }
    });
  }
});

// ================================================================================================
// §2.8: pruning when the SYN queue is more than half full
// ================================================================================================

describe('spec 2.8: when 2*qlen > max(8, backlog), max_retries drops (down to 2) while qlen >= 2*young (young = requests never timed out)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 16, 8 requests (2*8 = 16, not > 16): full schedule, still a SYN-ACK at 7 s and 31 s`, async () => {
      const env = await setup(preset, { backlog: 16 });
      const flows: TcpFlow[] = [];
      for (let i = 0; i < 8; i++) {
        const f = flow(env, 1000 + i);
        await syn(f);
        flows.push(f);
      }
      const by = await collectUntil(env, 31_000);
      for (const f of flows) expect((by.get(f.sport) ?? []).map((s) => s.time)).toEqual([1000, 3000, 7000, 15_000, 31_000]);
      expect(listener(env).synQueue).toBe(8);
    });

    it(`${preset}: backlog 16, 10 requests all old after 1 s: SYN-ACKs at 1 and 3 s; at 7 s the first two to time out expire (max_retries 2) until qlen 8 no longer exceeds max(8, 16)/2, the other eight get their SYN-ACK`, async () => {
      const env = await setup(preset, { backlog: 16 });
      const flows: TcpFlow[] = [];
      const iss = new Map<TcpFlow, number>();
      for (let i = 0; i < 10; i++) {
        const f = flow(env, 1000 + i);
        iss.set(f, (await syn(f)).seq);
        flows.push(f);
      }
      let by = await collectUntil(env, 6999);
      for (const f of flows) expect((by.get(f.sport) ?? []).map((s) => s.time)).toEqual([1000, 3000]);
      expect(listener(env).synQueue).toBe(10);
      by = await collectUntil(env, 7000);
      const resent = flows.filter((f) => (by.get(f.sport) ?? []).length > 0);
      const expired = flows.filter((f) => (by.get(f.sport) ?? []).length === 0);
      expect([resent.length, expired.length]).toEqual([8, 2]);
      expect(listener(env).synQueue).toBe(8);
      for (const f of expired) {
        const s1 = u32((iss.get(f) as number) + 1);
        f.send({ flags: '.', seq: u32(f.isn + 1), ack: s1 });
        await f.expect({ flags: 'R', seq: s1 });
      }
      for (const f of resent) {
        f.send({ flags: '.', seq: u32(f.isn + 1), ack: u32((iss.get(f) as number) + 1) });
      }
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(8);
    });

    it(`${preset}: backlog 16, 5 old requests and 5 young ones made at 6.5 s: at 7 s the old ones still get a SYN-ACK (qlen 10 < 2*2*young keeps max_retries at 4), unlike the all-old case`, async () => {
      const env = await setup(preset, { backlog: 16 });
      const old: TcpFlow[] = [];
      for (let i = 0; i < 5; i++) {
        const f = flow(env, 1000 + i);
        await syn(f);
        old.push(f);
      }
      await until(env, 6500);
      await env.peer.drain();
      for (let i = 0; i < 5; i++) await syn(flow(env, 2000 + i));
      const by = await collectUntil(env, 7001);
      for (const f of old) expect((by.get(f.sport) ?? []).map((s) => s.time)).toEqual([7000]);
      expect(listener(env).synQueue).toBe(10);
    });
  }
});

// ================================================================================================
// §2.11: TCP_DEFER_ACCEPT
// ================================================================================================

describe('spec 2.11 / S61: TCP_DEFER_ACCEPT — the bare third ACK marks the request, data or the ACK to the SYN-ACK at the end of the period completes it', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: setsockopt 5 ⇒ getsockopt 7 (secs_to_retrans rounds up to whole periods 1+2+4); 1 ⇒ 1, 3 ⇒ 3, 0 ⇒ 0`, async () => {
      const env = await setup(preset);
      const get = () => env.stack.bsd.getsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT');
      for (const [set, want] of [[5, 7], [1, 1], [3, 3], [8, 15], [0, 0]] as const) {
        env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', set);
        expect(get()).toBe(want);
      }
    });

    it(`${preset}: 5 s, client sends no data: no SYN-ACK at 1 s and 3 s, one at 7 s; the client's ACK to it makes accept() ready at 7 s`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
      const f = flow(env, 1000);
      const sa = await syn(f);
      ackOf(f);
      await env.peer.expectNothing(10);
      expect(listener(env)).toMatchObject({ synQueue: 1, acceptQueue: 0 });
      expect(ctr(env).TcpExtTCPDeferAcceptDrop).toBe(1);
      expect(tryAccept(env)).toBe('EAGAIN');
      let acceptedAt = -1;
      void env.stack.bsd.acceptAsync(env.fd).then(() => { acceptedAt = env.clock.now(); });
      await nothingUntil(env, 6999);
      const re = await f.expect({ flags: 'S.', seq: sa.seq, ack: 1001, time: 7000 }, { within: 10 });
      expect(re.time).toBe(7000);
      ackOf(f);
      await env.peer.settle();
      expect(acceptedAt).toBe(7000);
      expect(listener(env)).toMatchObject({ synQueue: 0 });
    });

    it(`${preset}: 5 s, the client sends data at once: accept() is ready at once and recv() gives the data`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
      const f = flow(env, 1000);
      await syn(f);
      f.send({ flags: 'P.', payload: 'GET / HTTP/1.0\r\n\r\n' });
      await f.expect({ flags: '.', ack: 1001 + 18 }, { within: 200 });
      const a = tryAccept(env) as { fd: number };
      expect(env.stack.bsd.recv(a.fd, 100).length).toBe(18);
    });

    it(`${preset}: 5 s, bare ACK first, data at 2 s: accept() ready at 2 s`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
      const f = flow(env, 1000);
      await syn(f);
      ackOf(f);
      await nothingUntil(env, 2000);
      f.send({ flags: 'P.', payload: 'hi' });
      await f.expect({ flags: '.', ack: 1003 });
      expect(tryAccept(env)).toMatchObject({ port: f.sport });
    });

    it(`${preset}: 5 s, bare ACK, and the client never answers the 7 s SYN-ACK: SYN-ACKs at 7, 15, 31 s, the request expires at 63 s`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
      const f = flow(env, 1000);
      const sa = await syn(f);
      ackOf(f);
      await nothingUntil(env, 6999);
      await schedule(env, f, sa.seq, [7000, 15_000, 31_000], 63_000);
    });

    it(`${preset}: 40 s (6 periods, getsockopt 63) with a bare ACK: the only SYN-ACK comes at 63 s (num_timeout 5 = defer - 1) and the request lives until 127 s, beyond tcp_synack_retries`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 40);
      expect(env.stack.bsd.getsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT')).toBe(63);
      const f = flow(env, 1000);
      const sa = await syn(f);
      ackOf(f);
      await nothingUntil(env, 62_999);
      await schedule(env, f, sa.seq, [63_000], 127_000);
    });

    it(`${preset}: 5 s, the client never ACKs: the request is not "acked", so the SYN-ACKs come at 1 s and 3 s as usual`, async () => {
      const env = await setup(preset);
      env.stack.bsd.setsockopt(env.fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5);
      const f = flow(env, 1000);
      await syn(f);
      await f.expect({ flags: 'S.', time: 1000 }, { within: 1000 });
      await f.expect({ flags: 'S.', time: 3000 }, { within: 2000 });
    });
  }
});
