// Linux personality, segments that reach the LISTEN socket itself (spec 2.4, 2.5, 5.1 linux
// column, S23-S31): the RST rules of tcp_v4_send_reset, what is silently discarded, the SYN-ACK
// and its option layout (tcp_options_write), and the SNMP counters a handshake moves.
import { describe, it, expect } from 'vitest';
import {
  LINUX_PRESETS, FACTS, BCAST_IP, setup, flow, syn, handshake, ackOf, tryAccept, listener, ctr,
  delta, linuxSynOptions, optionLayout, u32, type Env,
} from '../helpers/linux-conformance.js';

const MSS_1460 = [2, 4, 0x05, 0xb4];
const SACK_PERM = [4, 2];
const TS_BLANK = [8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
const NOP = 1;
const ws = (n: number) => [NOP, 3, 3, n];

// ================================================================================================
// §2.5: ACK-bearing segments without a request or a valid cookie ⇒ <SEQ=SEG.ACK><CTL=RST>
// ================================================================================================

describe('spec 2.5 / RFC 9293 §3.10.7.2: an ACK-bearing segment to a listener gets <SEQ=SEG.ACK><CTL=RST> — no ACK flag, window 0, not rate limited (S26, S27, S29)', () => {
  for (const preset of LINUX_PRESETS) {
    for (const [what, fields] of [
      ['a bare ACK', { flags: '.' }],
      ['an ACK with 10 bytes of data', { flags: 'P.', payload: '0123456789' }],
      ['a FIN|ACK', { flags: 'F.' }],
      ['a SYN|ACK (no simultaneous open for a listener)', { flags: 'S.' }],
    ] as const) {
      it(`${preset}: ${what} seq=x ack=y ⇒ [R] seq=y ack=0 win=0`, async () => {
        const env = await setup(preset);
        const before = ctr(env);
        env.peer.send({ sport: 33000, seq: 777, ack: 424242, ...fields });
        await env.peer.expect({ flags: 'R', seq: 424242, ack: 0, win: 0, dport: 33000, len: 0 });
        await env.peer.expectNothing(10);
        expect(delta(env, before, ['TcpOutRsts', 'TcpOutSegs', 'TcpInSegs'])).toEqual({ TcpOutRsts: 1, TcpOutSegs: 1, TcpInSegs: 1 });
        expect(listener(env)).toMatchObject({ synQueue: 0, acceptQueue: 0 });
      });
    }

    it(`${preset}: 20 stray ACKs in one millisecond get 20 RSTs (tcp_v4_send_reset is not rate limited)`, async () => {
      const env = await setup(preset);
      for (let i = 0; i < 20; i++) env.peer.send({ flags: '.', sport: 33000 + i, seq: 1, ack: 5000 + i });
      for (let i = 0; i < 20; i++) await env.peer.expect({ flags: 'R', seq: 5000 + i });
      expect(ctr(env).TcpOutRsts).toBe(20);
    });
  }
});

// ================================================================================================
// §2.4.2-3, §2.5: discarded silently
// ================================================================================================

describe('spec 2.4 / 2.5: segments a listener discards without a reply (S25, S28, S30, S31)', () => {
  for (const preset of LINUX_PRESETS) {
    for (const [what, fields] of [
      ['a RST', { flags: 'R' }],
      ['a RST|ACK', { flags: 'R.', ack: 99 }],
      ['a FIN only', { flags: 'F' }],
      ['a segment with no flags', { flags: '' }],
      ['a PSH with data and no ACK', { flags: 'P', payload: 'abc' }],
      ['a SYN|FIN ("if th->fin also set ⇒ discard", tcp_rcv_state_process)', { flags: 'SF' }],
      ['a SYN|RST', { flags: 'SR' }],
    ] as const) {
      it(`${preset}: ${what} ⇒ nothing; no request is created; a normal SYN afterwards is answered`, async () => {
        const env = await setup(preset);
        env.peer.send({ sport: 33000, seq: 777, ...fields });
        await env.peer.expectNothing(3000);
        expect(listener(env).synQueue).toBe(0);
        expect(ctr(env).TcpOutSegs).toBe(0);
        await syn(flow(env));
      });
    }

    it(`${preset}: a SYN to the subnet broadcast ${BCAST_IP} or to 255.255.255.255 ⇒ nothing (RFC 1122 §4.2.3.10, S31)`, async () => {
      const env = await setup(preset);
      for (const dst of [BCAST_IP, '255.255.255.255']) {
        env.peer.send({ flags: 'S', sport: 33000, seq: 777, options: { mss: 1460 }, ip: { dst }, dstMac: 'ff:ff:ff:ff:ff:ff' });
        await env.peer.expectNothing(3000);
      }
      expect(listener(env).synQueue).toBe(0);
      expect(ctr(env).TcpOutSegs).toBe(0);
    });
  }
});

// ================================================================================================
// §2.4.5: data on a SYN is not queued
// ================================================================================================

describe('spec 2.4.5 / 5.1 "LISTEN, SYN with data": the text is discarded, the SYN-ACK acknowledges the SYN only', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: [S] seq=c with 20 bytes ⇒ [S.] ack=c+1; after the handshake nothing is readable`, async () => {
      const env = await setup(preset);
      const f = flow(env, 1000);
      f.send({ flags: 'S', options: { mss: 1460 }, payload: 'twenty bytes of data' });
      await f.expect({ flags: 'S.', ack: 1001 });
      f.send({ flags: '.', seq: 1001 });
      await env.peer.expectNothing(10);
      const a = tryAccept(env) as { fd: number };
      expect(() => env.stack.bsd.recv(a.fd, 100)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    });
  }
});

// ================================================================================================
// §2.4.6 / S23: the SYN-ACK
// ================================================================================================

describe('S23: the SYN-ACK to a SYN with all options: <SEQ=ISS><ACK=c+1>, MSS 1460, SACK-perm + TS (ecr = TSval), NOP + WS, window 65160 (tcp_options_write order)', () => {
  for (const preset of LINUX_PRESETS) {
    const w = FACTS[preset].wscale;
    it(`${preset}: options {mss 1460, sackOK, TS val V ecr 1234, wscale ${w}}, raw layout MSS | SACK-perm TS | NOP WS`, async () => {
      const env = await setup(preset);
      const f = flow(env, 1000);
      const sa = await syn(f, linuxSynOptions(1234));
      expect(sa.options).toEqual({ mss: 1460, sackOk: true, ts: [expect.any(Number), 1234], wscale: w });
      expect(optionLayout(sa)).toEqual([...MSS_1460, ...SACK_PERM, ...TS_BLANK, ...ws(w)]);
      expect(sa.payload.length).toBe(0);
      if (preset !== 'linux-4.14') expect(sa.win).toBe(65160);   // 45 * 1448: tcp_rmem[1] / 2 in whole segments
    });

    it(`${preset}: a SYN without timestamps (mss, sackOK, wscale) ⇒ MSS | NOP NOP SACK-perm | NOP WS${preset === 'linux-4.14' ? '' : ', window 64240'}`, async () => {
      const env = await setup(preset);
      const sa = await syn(flow(env), { mss: 1460, sackOk: true, wscale: 7 });
      expect(optionLayout(sa)).toEqual([...MSS_1460, NOP, NOP, ...SACK_PERM, ...ws(w)]);
      if (preset !== 'linux-4.14') expect(sa.win).toBe(64240);    // 44 * 1460
    });

    it(`${preset}: a SYN with MSS only ⇒ MSS only (RFC 7323: no WS or TS unless the SYN had them)`, async () => {
      const env = await setup(preset);
      const sa = await syn(flow(env), { mss: 536 });
      expect(optionLayout(sa)).toEqual(MSS_1460);
      expect(sa.options).toEqual({ mss: 1460 });
    });

    it(`${preset}: a SYN without any option still gets MSS 1460`, async () => {
      const env = await setup(preset);
      const sa = await syn(flow(env), {});
      expect(sa.options).toEqual({ mss: 1460 });
    });

    it(`${preset}: net.ipv4.tcp_sack=0 ⇒ no SACK-perm: MSS | NOP NOP TS | NOP WS`, async () => {
      const env = await setup(preset, { sysctls: { 'net.ipv4.tcp_sack': 0 } });
      const sa = await syn(flow(env), linuxSynOptions());
      expect(optionLayout(sa)).toEqual([...MSS_1460, NOP, NOP, ...TS_BLANK, ...ws(w)]);
    });

    it(`${preset}: net.ipv4.tcp_timestamps=0 ⇒ no TS: MSS | NOP NOP SACK-perm | NOP WS${preset === 'linux-4.14' ? '' : ', window 64240'}`, async () => {
      const env = await setup(preset, { sysctls: { 'net.ipv4.tcp_timestamps': 0 } });
      const sa = await syn(flow(env), linuxSynOptions());
      expect(optionLayout(sa)).toEqual([...MSS_1460, NOP, NOP, ...SACK_PERM, ...ws(w)]);
      if (preset !== 'linux-4.14') expect(sa.win).toBe(64240);
    });

    it(`${preset}: net.ipv4.tcp_window_scaling=0 ⇒ no WS: MSS | SACK-perm TS`, async () => {
      const env = await setup(preset, { sysctls: { 'net.ipv4.tcp_window_scaling': 0 } });
      const sa = await syn(flow(env), linuxSynOptions());
      expect(optionLayout(sa)).toEqual([...MSS_1460, ...SACK_PERM, ...TS_BLANK]);
    });

    it(`${preset}: the sysctls are read per SYN: tcp_sack switched off at run time affects the next SYN-ACK`, async () => {
      const env = await setup(preset);
      const a = await syn(flow(env), linuxSynOptions());
      expect(a.options.sackOk).toBe(true);
      env.stack.sysctl.set('net.ipv4.tcp_sack', 0);
      const b = await syn(flow(env), linuxSynOptions());
      expect(b.options.sackOk).toBeUndefined();
    });
  }

  // Not in the spec: Linux before 4.20 capped the SYN-ACK window at 20 segments
  // (tcp_select_initial_window: rcv_wnd = min(space, tcp_default_init_rwnd(mss) * mss), init_rwnd = 20);
  // commit a337531b942b "tcp: up initial rmem to 128KB and SYN rwin to around 64KB" (4.20): "the
  // initial receive window is ~29KB (20 MSS)". A 4.14 SYN-ACK therefore offers 20 * 1448 = 28960
  // with timestamps and 20 * 1460 = 29200 without.
  it('linux-4.14: the SYN-ACK window is 20 segments (28960 with timestamps, 29200 without), as before 4.20', async () => {
    const env = await setup('linux-4.14');
    const withTs = await syn(flow(env), linuxSynOptions());
    const noTs = await syn(flow(env), { mss: 1460, sackOk: true, wscale: 7 });
    expect([withTs.win, noTs.win]).toEqual([28960, 29200]);
  });
});

describe('RFC 6528: the ISS of every request is unpredictable and per 4-tuple', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: ten SYNs from ten ports get ten different ISSs`, async () => {
      const env = await setup(preset);
      const isss = new Set<number>();
      for (let i = 0; i < 10; i++) isss.add((await syn(flow(env))).seq);
      expect(isss.size).toBe(10);
    });
  }
});

// ================================================================================================
// SNMP counters of a handshake (TcpPassiveOpens, TcpInSegs, TcpOutSegs, TcpCurrEstab)
// ================================================================================================

describe('counters: a passive open moves PassiveOpens, InSegs, OutSegs and CurrEstab like nstat shows them', () => {
  for (const preset of LINUX_PRESETS) {
    it(`${preset}: SYN, SYN-ACK, ACK ⇒ InSegs 2, OutSegs 1, PassiveOpens 1, CurrEstab 1; a stray ACK ⇒ InSegs +1, OutSegs +1, OutRsts +1`, async () => {
      const env: Env = await setup(preset);
      const f = flow(env);
      await handshake(f);
      await env.peer.expectNothing(10);
      let c = ctr(env);
      expect({ in: c.TcpInSegs, out: c.TcpOutSegs, po: c.TcpPassiveOpens, est: c.TcpCurrEstab, rst: c.TcpOutRsts, ao: c.TcpActiveOpens })
        .toEqual({ in: 2, out: 1, po: 1, est: 1, rst: 0, ao: 0 });
      env.peer.send({ flags: '.', sport: 33000, seq: 1, ack: 2 });
      await env.peer.expect({ flags: 'R', seq: 2 });
      c = ctr(env);
      expect({ in: c.TcpInSegs, out: c.TcpOutSegs, rst: c.TcpOutRsts }).toEqual({ in: 3, out: 2, rst: 1 });
      expect(env.stack.formatNstat()).toMatch(/^TcpPassiveOpens\s+1\s+0\.0$/m);
      ackOf(f);   // a duplicate ACK to the established child: nothing
      await env.peer.expectNothing(10);
      expect(u32(ctr(env).TcpInSegs)).toBe(4);
    });
  }
});
