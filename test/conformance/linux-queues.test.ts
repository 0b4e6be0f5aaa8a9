// Linux personality, the two queues: the accept queue (Q = b + 1, sk_acceptq_is_full is `>`), the
// SYN queue (request socks bounded by the backlog, `>=` before 6.13, `>` after), what a SYN meets
// when either is full (spec 2.3, 2.4, 2.13, S10-S14, S17, S49, S52, S53), the third ACK that meets a
// full accept queue (spec 2.7, S47) and the listen(2) sentences about queue lengths.
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, FACTS, setup, flow, syn, handshake, ackOf, tryAccept, drainAccept, listener, ctr,
  delta, until, u32, type Env,
} from '../helpers/linux-conformance.js';
import type { TcpFlow } from '../../src/testing/peer.js';

/**
 * tcp_syn_flood_action's line, once per listener: "Possible SYN flooding on port 8080. Sending
 * cookies.  Check SNMP counters." before 6.2, "... on port 0.0.0.0:8080. Sending cookies." since
 * ("tcp: Add listening address to SYN flood message", 6.2).
 */
function floodLog(preset: string, cookies: boolean): string {
  const action = cookies ? 'Sending cookies' : 'Dropping request';
  return preset.startsWith('linux-6.')
    ? `TCP: request_sock_TCP: Possible SYN flooding on port 0.0.0.0:8080. ${action}.`
    : `TCP: request_sock_TCP: Possible SYN flooding on port 8080. ${action}.  Check SNMP counters.`;
}

/** Send a SYN and expect no answer for `ms`. */
async function synIgnored(env: Env, f: TcpFlow, ms = 500): Promise<void> {
  f.send({ flags: 'S', seq: f.isn, options: { mss: 1460 } });
  await env.peer.expectNothing(ms);
}

// ================================================================================================
// §2.3: Q = b + 1
// ================================================================================================

describe('listen(2): "The backlog argument defines the maximum length to which the queue of pending connections for sockfd may grow" — Linux holds b + 1 (sk_acceptq_is_full: ack_backlog > b, spec 2.3, S10-S13)', () => {
  for (const preset of LINUX_PRESETS) {
    for (const b of [1, 2, 3, 5]) {
      it(`${preset}: backlog ${b}: ${b + 1} sequential handshakes complete without accept(); the next SYN is ignored (ListenOverflows +1)`, async () => {
        const env = await setup(preset, { backlog: b });
        for (let i = 0; i < b + 1; i++) await handshake(flow(env));
        await env.peer.expectNothing(10);
        expect(listener(env).acceptQueue).toBe(b + 1);
        await synIgnored(env, flow(env));
        const c = ctr(env);
        expect(c.TcpExtListenOverflows).toBe(1);
        expect(c.TcpExtListenDrops).toBe(1);
        expect(c.TcpPassiveOpens).toBe(b + 1);
        expect(c.TcpExtSyncookiesSent).toBe(0);
        expect(drainAccept(env)).toBe(b + 1);
      });
    }

    const viaCookie = !FACTS[preset].synqGt;
    it(`${preset}: backlog 0, tcp_syncookies 1: exactly one connection, ${viaCookie ? 'completed WITH A SYNCOOKIE (qlen 0 >= 0: the SYN queue is "full") and the "Sending cookies" log' : 'completed normally (qlen 0 > 0 is false: the 2025 fix)'} (S10, spec 2.13)`, async () => {
      const env = await setup(preset, { backlog: 0 });
      const f = flow(env);
      const sa = await handshake(f);
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(1);
      const c = ctr(env);
      expect(c.TcpExtSyncookiesSent).toBe(viaCookie ? 1 : 0);
      expect(c.TcpExtSyncookiesRecv).toBe(viaCookie ? 1 : 0);
      expect(c.TcpExtTCPReqQFullDoCookies).toBe(viaCookie ? 1 : 0);
      expect(env.logs).toEqual(viaCookie ? [floodLog(preset, true)] : []);
      expect(env.floods).toEqual(viaCookie ? [{ port: 8080, action: 'cookies', message: floodLog(preset, true) }] : []);
      expect(sa.options.mss).toBe(1460);
      await synIgnored(env, flow(env));
      expect(ctr(env).TcpExtListenOverflows).toBe(1);
      expect(drainAccept(env)).toBe(1);
    });

    it(`${preset}: backlog 0, tcp_syncookies 0: ${viaCookie ? 'NO connection ever: every SYN (and its retransmissions) dropped, TCPReqQFullDrop, "Dropping request" once' : 'one connection (qlen 0 > 0 is false)'} (S10)`, async () => {
      const env = await setup(preset, { backlog: 0, sysctls: { 'net.ipv4.tcp_syncookies': 0 } });
      const f = flow(env);
      if (viaCookie) {
        await synIgnored(env, f, 1000);
        await synIgnored(env, f, 2000);    // the client's retransmission at 1 s
        await synIgnored(env, flow(env), 10);
        const c = ctr(env);
        expect(c.TcpExtTCPReqQFullDrop).toBe(3);
        expect(c.TcpExtListenDrops).toBe(3);
        expect(c.TcpExtListenOverflows).toBe(0);
        expect(env.logs).toEqual([floodLog(preset, false)]);
        expect(listener(env)).toMatchObject({ acceptQueue: 0, synQueue: 0 });
      } else {
        await handshake(f);
        await env.peer.expectNothing(10);
        expect(listener(env).acceptQueue).toBe(1);
        expect(ctr(env).TcpExtTCPReqQFullDrop).toBe(0);
        expect(env.logs).toEqual([]);
      }
    });
  }
});

describe('listen(2): "Now it specifies the queue length for completely established sockets waiting to be accepted, instead of the number of incomplete connection requests"', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 3 with two half-open requests: four handshakes still complete; the two requests' ACKs then meet a full queue`, async () => {
      const env = await setup(preset, { backlog: 3 });
      const h1 = flow(env, 100);
      const h2 = flow(env, 200);
      await syn(h1);
      await syn(h2);
      for (let i = 0; i < 4; i++) await handshake(flow(env));
      await env.peer.expectNothing(10);
      expect(listener(env)).toMatchObject({ acceptQueue: 4, synQueue: 2 });
      expect(ctr(env).TcpExtSyncookiesSent).toBe(0);
      ackOf(h1);
      ackOf(h2);
      await env.peer.expectNothing(10);
      expect(listener(env)).toMatchObject({ acceptQueue: 4, synQueue: 2 });
      expect(ctr(env).TcpExtListenOverflows).toBe(2);
    });
  }
});

// ================================================================================================
// §2.4.2: SYN while the accept queue is full
// ================================================================================================

describe('listen(2): "If a connection request arrives when the queue is full ... the request may be ignored so that a later reattempt at connection succeeds" (spec 2.4.2, S17, S49)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 1, two queued: a SYN and its retransmissions at 1 s and 3 s get nothing (no RST, so no ECONNREFUSED); ListenOverflows and ListenDrops +1 per SYN; after accept() the next retransmission completes`, async () => {
      const env = await setup(preset, { backlog: 1 });
      await handshake(flow(env));
      await handshake(flow(env));
      await env.peer.expectNothing(10);
      const before = ctr(env);
      const f = flow(env, 3000);
      f.send({ flags: 'S', options: { mss: 1460 } });
      await env.peer.expectNothing(1000);
      f.send({ flags: 'S', seq: 3000, options: { mss: 1460 } });
      await env.peer.expectNothing(2000);
      f.send({ flags: 'S', seq: 3000, options: { mss: 1460 } });
      await env.peer.expectNothing(10);
      expect(delta(env, before, ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpOutRsts', 'TcpExtSyncookiesSent']))
        .toEqual({ TcpExtListenOverflows: 3, TcpExtListenDrops: 3, TcpOutRsts: 0, TcpExtSyncookiesSent: 0 });
      expect(listener(env)).toMatchObject({ overflows: 3, drops: 3, synQueue: 0 });
      // "a later reattempt at connection succeeds"
      tryAccept(env);
      f.send({ flags: 'S', seq: 3000, options: { mss: 1460 } });
      await f.expect({ flags: 'S.', ack: 3001 });
      ackOf(f);
      await env.peer.expectNothing(10);
      expect(drainAccept(env)).toBe(2);
    });

    it(`${preset}: a full accept queue drops even a SYN that would get a cookie (tcp_syncookies 2): no SYN-ACK`, async () => {
      const env = await setup(preset, { backlog: 1, sysctls: { 'net.ipv4.tcp_syncookies': 2 } });
      await handshake(flow(env));
      await handshake(flow(env));
      await env.peer.expectNothing(10);
      const sent = ctr(env).TcpExtSyncookiesSent;
      await synIgnored(env, flow(env));
      expect(ctr(env).TcpExtSyncookiesSent).toBe(sent);
      expect(ctr(env).TcpExtListenOverflows).toBe(1);
    });
  }
});

// ================================================================================================
// §2.3 / §2.4.1: the SYN queue is bounded by the backlog; `>=` (4.4-6.12) vs `>` (6.13+)
// ================================================================================================

describe('spec 2.3: the SYN queue is full at qlen >= backlog (4.14, 5.4) or qlen > backlog (6.13+) (S52, spec 7.2)', () => {
  for (const preset of LINUX_PRESETS) {
    const held = FACTS[preset].synqGt ? 3 : 2;
    it(`${preset}: tcp_syncookies 0, backlog 2: ${held} requests are held; further SYNs are dropped (TCPReqQFullDrop, ListenDrops +1 each) and "Dropping request" is logged once`, async () => {
      const env = await setup(preset, { backlog: 2, sysctls: { 'net.ipv4.tcp_syncookies': 0 } });
      for (let i = 0; i < held; i++) await syn(flow(env));
      expect(listener(env).synQueue).toBe(held);
      await synIgnored(env, flow(env), 10);
      await synIgnored(env, flow(env), 10);
      const c = ctr(env);
      expect(c.TcpExtTCPReqQFullDrop).toBe(2);
      expect(c.TcpExtTCPReqQFullDoCookies).toBe(0);
      expect(c.TcpExtListenDrops).toBe(2);
      expect(c.TcpExtListenOverflows).toBe(0);
      expect(env.logs).toEqual([floodLog(preset, false)]);
      expect(listener(env).synQueue).toBe(held);
    });

    it(`${preset}: tcp_syncookies 1, backlog 2: after ${held} requests the next SYNs get cookie SYN-ACKs (no state kept, never retransmitted); "Sending cookies" logged once`, async () => {
      const env = await setup(preset, { backlog: 2 });
      const held1 = [] as TcpFlow[];
      for (let i = 0; i < held; i++) {
        const f = flow(env);
        await syn(f);
        held1.push(f);
      }
      const k1 = flow(env, 50_000);
      const k2 = flow(env, 60_000);
      await syn(k1);
      await syn(k2);
      const c = ctr(env);
      expect(c.TcpExtSyncookiesSent).toBe(2);
      expect(c.TcpExtTCPReqQFullDoCookies).toBe(2);
      expect(c.TcpExtTCPReqQFullDrop).toBe(0);
      expect(c.TcpExtListenDrops).toBe(0);
      expect(env.logs).toEqual([floodLog(preset, true)]);
      expect(listener(env).synQueue).toBe(held);
      // at 1 s only the held requests' SYN-ACKs are retransmitted
      await until(env, 1100);
      const segs = await env.peer.drain();
      expect(segs.map((s) => s.dport).sort()).toEqual(held1.map((f) => f.sport).sort());
      // the cookie flows still complete
      ackOf(k1);
      ackOf(k2);
      await env.peer.expectNothing(10);
      expect(listener(env).acceptQueue).toBe(2);
      expect(ctr(env).TcpExtSyncookiesRecv).toBe(2);
    });

    it(`${preset}: tcp_syncookies 2: every SYN gets a cookie SYN-ACK, no request is kept and nothing is logged`, async () => {
      const env = await setup(preset, { backlog: 5, sysctls: { 'net.ipv4.tcp_syncookies': 2 } });
      for (let i = 0; i < 4; i++) await syn(flow(env));
      expect(listener(env).synQueue).toBe(0);
      const c = ctr(env);
      expect(c.TcpExtSyncookiesSent).toBe(4);
      expect(c.TcpExtTCPReqQFullDoCookies).toBe(4);
      expect(env.logs).toEqual([]);
      await env.peer.expectNothing(5000);
    });
  }
});

// ================================================================================================
// §2.3 / §7.1: tcp_max_syn_backlog
// ================================================================================================

describe('listen(2): "The maximum length of the queue for incomplete sockets can be set using /proc/sys/net/ipv4/tcp_max_syn_backlog" — since 4.4 only the "last quarter" rule with syncookies off (spec 2.3, 7.1)', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: tcp_syncookies 0, tcp_max_syn_backlog 128, listen(fd, 1000), 200 SYNs: exactly 97 SYN-ACKs (128 - qlen < 32 refuses from qlen 97) (S53)`, async () => {
      const env = await setup(preset, {
        backlog: 1000, sysctls: { 'net.ipv4.tcp_syncookies': 0, 'net.ipv4.tcp_max_syn_backlog': 128 },
      });
      let answered = 0;
      for (let i = 0; i < 200; i++) {
        const f = flow(env, 10_000 + i);
        f.send({ flags: 'S', options: { mss: 1460 } });
        const got = await env.peer.drain();
        for (const s of got) {
          expect(s.flags).toBe('S.');
          expect(s.dport).toBe(f.sport);
        }
        answered += got.length;
      }
      expect(answered).toBe(97);
      expect(listener(env).synQueue).toBe(97);
      const c = ctr(env);
      expect(c.TcpExtListenDrops).toBe(103);
      expect(c.TcpExtTCPReqQFullDrop).toBe(0);   // not the SYN-queue-full path
      expect(env.logs).toEqual([]);
    });

    const limit = FACTS[preset].synqGt ? 65 : 64;
    it(`${preset}: tcp_syncookies 1: tcp_max_syn_backlog 16 does not bound the queue: backlog 64 holds ${limit} requests`, async () => {
      const env = await setup(preset, { backlog: 64, sysctls: { 'net.ipv4.tcp_max_syn_backlog': 16 } });
      for (let i = 0; i < limit + 3; i++) await syn(flow(env, 10_000 + i));
      expect(listener(env).synQueue).toBe(limit);
      expect(ctr(env).TcpExtSyncookiesSent).toBe(3);
    });
  }
});

describe('listen(2): "When syncookies are enabled there is no logical maximum length and this setting is ignored"', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: backlog 8, tcp_max_syn_backlog 16: 40 SYNs all get SYN-ACKs (${FACTS[preset].synqGt ? 9 : 8} as requests, the rest as cookies)`, async () => {
      const env = await setup(preset, { backlog: 8, sysctls: { 'net.ipv4.tcp_max_syn_backlog': 16 } });
      for (let i = 0; i < 40; i++) await syn(flow(env, 10_000 + i));
      const held = FACTS[preset].synqGt ? 9 : 8;
      expect(listener(env).synQueue).toBe(held);
      expect(ctr(env).TcpExtSyncookiesSent).toBe(40 - held);
      expect(ctr(env).TcpExtListenDrops).toBe(0);
    });
  }
});

// ================================================================================================
// §2.7: the third ACK meets a full accept queue
// ================================================================================================

/**
 * The S47 "race": backlog 1; A's SYN gets a SYN-ACK but A does not ACK yet; C1 and C2 complete (on
 * 4.14/5.4 with cookies, because A fills the one-entry SYN queue); the accept queue now holds 2 > 1.
 */
async function race(env: Env): Promise<{ a: TcpFlow; saA: number }> {
  const a = flow(env, 5000);
  const sa = await syn(a);
  await handshake(flow(env));
  await handshake(flow(env));
  await env.peer.expectNothing(10);
  expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 1 });
  return { a, saA: sa.seq };
}

describe('spec 2.7: the third ACK when the accept queue is full', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: tcp_abort_on_overflow 0: the ACK is dropped, the request kept; SYN-ACKs keep coming at 1 s and 3 s; the ACK to a retransmitted SYN-ACK completes once accept() made room`, async () => {
      const env = await setup(preset, { backlog: 1 });
      const { a, saA } = await race(env);
      const before = ctr(env);
      ackOf(a);
      await env.peer.expectNothing(10);
      expect(delta(env, before, ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpOutRsts', 'TcpExtEmbryonicRsts']))
        .toEqual({ TcpExtListenOverflows: 1, TcpExtListenDrops: 1, TcpOutRsts: 0, TcpExtEmbryonicRsts: 0 });
      expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 1 });
      await a.expect({ flags: 'S.', seq: saA, ack: 5001, time: 1000 }, { within: 1000 });
      ackOf(a);                                   // still full: dropped again
      await env.peer.expectNothing(10);
      expect(ctr(env).TcpExtListenOverflows - before.TcpExtListenOverflows).toBe(2);
      expect(tryAccept(env)).toMatchObject({ port: expect.any(Number) });
      await a.expect({ flags: 'S.', seq: saA, ack: 5001, time: 3000 }, { within: 2100 });
      ackOf(a);
      await env.peer.expectNothing(10);
      expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 0 });
      expect(drainAccept(env)).toBe(2);
    });

    it(`${preset}: tcp_abort_on_overflow 0: the client's data after the dropped ACK completes the connection once there is room (the request was kept)`, async () => {
      const env = await setup(preset, { backlog: 1 });
      const { a } = await race(env);
      ackOf(a);
      await env.peer.expectNothing(10);
      tryAccept(env);
      a.send({ flags: 'P.', payload: 'hello' });
      await a.expect({ flags: '.', ack: 5001 + 5 });
      expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 0 });
      tryAccept(env);
      const conn = tryAccept(env) as { fd: number };
      expect(new TextDecoder().decode(env.stack.bsd.recv(conn.fd, 100))).toBe('hello');
    });

    it(`${preset}: tcp_abort_on_overflow 1: RST <SEQ=SEG.ACK> (no ACK flag) and the request is dropped (S47)`, async () => {
      const env = await setup(preset, { backlog: 1, sysctls: { 'net.ipv4.tcp_abort_on_overflow': 1 } });
      const { a, saA } = await race(env);
      const before = ctr(env);
      ackOf(a);
      await a.expect({ flags: 'R', seq: u32(saA + 1), win: 0 });
      expect(listener(env)).toMatchObject({ acceptQueue: 2, synQueue: 0 });
      expect(delta(env, before, ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpExtEmbryonicRsts', 'TcpOutRsts']))
        .toEqual({ TcpExtListenOverflows: 1, TcpExtListenDrops: 1, TcpExtEmbryonicRsts: 1, TcpOutRsts: 1 });
      // no retransmission follows: the request is gone
      await env.peer.expectNothing(5000);
    });
  }
});

// ================================================================================================
// §2.4.4.1: "isn != 0 (SYN that hit a TIME-WAIT socket and was accepted) bypasses this test"
// ================================================================================================

describe('spec 2.4.4.1: a SYN accepted by a TIME-WAIT connection (tcp_timewait_state_process TCP_TW_SYN, isn = tw_snd_nxt + 65535 + 2) bypasses the SYN-queue-full test', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: tcp_syncookies 0, backlog 1, SYN queue full: a new SYN (higher seq) on the 4-tuple in TIME-WAIT still gets [S.] seq=s+2+65537`, async () => {
      const env = await setup(preset, { backlog: 1, sysctls: { 'net.ipv4.tcp_syncookies': 0 } });
      const x = env.stack.bsd;
      const f = env.peer.flow({ sport: 47000, dport: 8080, isn: 1000 });
      const sa = await handshake(f);
      await env.peer.expectNothing(10);
      const a = tryAccept(env) as { fd: number };
      x.close(a.fd);                               // active close by the stack: it ends in TIME-WAIT
      const fin = await f.expect({ flags: 'F.', seq: u32(sa.seq + 1) });
      f.send({ flags: '.', ack: u32(fin.seq + 1) });
      f.send({ flags: 'F.', ack: u32(fin.seq + 1) });
      await f.expect({ flags: '.', ack: 1002 });
      const held = FACTS[preset].synqGt ? 2 : 1;
      for (let i = 0; i < held; i++) await syn(flow(env));
      await synIgnored(env, flow(env), 10);        // the SYN queue is full: a fresh SYN is dropped
      expect(ctr(env).TcpExtTCPReqQFullDrop).toBe(1);
      f.send({ flags: 'S', seq: 1000 + 100_000, options: { mss: 1460 } });
      await f.expect({ flags: 'S.', seq: u32(sa.seq + 2 + 65535 + 2), ack: 1000 + 100_001 });
      expect(ctr(env).TcpExtTCPReqQFullDrop).toBe(1);
    });
  }
});
