// Congestion control, checked against the RFC formulas with a scripted receiver that acknowledges
// segment by segment on a virtual clock: NewReno (RFC 5681 slow start, congestion avoidance, fast
// retransmit and recovery; RFC 6582 partial and full ACKs; the RTO loss window) and CUBIC
// (RFC 9438: beta_cubic, K, W_cubic(t) in the concave and convex regions, the Reno-friendly
// region, fast convergence, the RTO). Then TCP_CONGESTION and the default-algorithm sysctls per
// personality. No SACK here (the peer does not offer it): sack.test.ts covers RFC 6675.
import { describe, it, expect } from 'vitest';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { VirtualClock } from '../../src/clock.js';
import { SocketError } from '../../src/bsd.js';
import { SysctlError } from '../../src/sysctl.js';
import { CcInfo, ConnField } from '../../src/core.js';
import { sender, offsets, AckDriver, MSS, type Sender } from '../helpers/sender.js';

const C = 0.4;
const BETA = 0.7;
const segsOf = (s: Sender, f: CcInfo) => s.info(f) / MSS;

describe('NewReno (RFC 5681, RFC 6582)', () => {
  it('slow start: IW = 10 segments; cwnd += min(acked, SMSS) per ACK (eq. 2), so a stretch ACK counts once', async () => {
    const s = await sender({ cc: 'reno', sack: false, bytes: 200_000 });
    const d = new AckDriver(s);
    const iw = await d.collect();
    expect(iw.map((g) => g.payload.length)).toEqual(Array(10).fill(MSS));
    expect(s.info(CcInfo.Cwnd)).toBe(10 * MSS);
    expect(s.info(CcInfo.Ssthresh)).toBe(0x7fffffff);
    await d.ackTo(MSS);                                  // one segment: +1 SMSS, two new segments
    expect(s.info(CcInfo.Cwnd)).toBe(11 * MSS);
    expect(offsets(s, await d.collect())).toEqual([10 * MSS, 11 * MSS]);
    await d.ackTo(3 * MSS);                              // two segments at once: still +1 SMSS
    expect(s.info(CcInfo.Cwnd)).toBe(12 * MSS);
    await d.ackTo(3 * MSS + 100);                        // a partial segment: + the 100 bytes
    expect(s.info(CcInfo.Cwnd)).toBe(12 * MSS + 100);
  });

  it('fast retransmit on the third duplicate ACK: ssthresh = max(FlightSize/2, 2 SMSS), cwnd = ssthresh + 3 SMSS; inflation, partial ACK, full ACK', async () => {
    const s = await sender({ cc: 'reno', sack: false, bytes: 400_000 });
    const d = new AckDriver(s);
    await d.round(100);                                  // 10 -> 20 segments in flight
    await d.collect();
    const flight = 20 * MSS;
    expect(d.pending.length).toBe(20);
    await d.dup(2);
    expect(await d.collect()).toEqual([]);               // two duplicates: nothing yet
    expect(s.info(CcInfo.InRecovery)).toBe(0);
    await d.dup(1);
    const rtx = await s.take();
    expect(offsets(s, rtx)).toEqual([d.una]);            // the segment at SND.UNA, once
    const ssthresh = Math.max(flight / 2, 2 * MSS);
    expect(s.info(CcInfo.Ssthresh)).toBe(ssthresh);
    expect(s.info(CcInfo.Cwnd)).toBe(ssthresh + 3 * MSS);
    expect(s.info(CcInfo.InRecovery)).toBe(1);
    expect(s.stack.core.counter('TcpRetransSegs')).toBe(1);
    expect(s.stack.core.counter('TcpExtTCPRenoRecovery')).toBe(1);
    // each further duplicate inflates cwnd by one SMSS (RFC 6582 §3.2 step 4); once cwnd exceeds
    // FlightSize, new segments go out
    for (let i = 0; i < 12; i++) await d.dup(1);
    expect(s.info(CcInfo.Cwnd)).toBe(ssthresh + 15 * MSS);
    const fresh = await d.collect();
    expect(fresh.length).toBe(ssthresh / MSS + 15 - 20);
    expect(Math.min(...offsets(s, fresh))).toBe(d.una + 20 * MSS);
    // partial ACK (RFC 6582 §3.2 step 5): the next hole is retransmitted, cwnd deflates by the
    // amount acknowledged and grows by one SMSS
    const cw = s.info(CcInfo.Cwnd);
    const partial = d.una + 5 * MSS;
    await d.ackTo(partial);
    expect(s.info(CcInfo.Cwnd)).toBe(cw - 5 * MSS + MSS);
    const after = await d.collect();
    expect(offsets(s, after)).toContain(partial);
    expect(s.info(CcInfo.InRecovery)).toBe(1);
    // full ACK (everything sent before the loss was detected, and beyond): cwnd = ssthresh
    await d.ackTo(Math.max(...d.pending));
    expect(s.info(CcInfo.InRecovery)).toBe(0);
    expect(s.info(CcInfo.Cwnd)).toBe(ssthresh);
  });

  it('congestion avoidance: cwnd += SMSS*SMSS/cwnd per ACK (eq. 3), about one SMSS per round trip', async () => {
    const s = await sender({ cc: 'reno', sack: false, bytes: 1 << 21 });
    const d = new AckDriver(s);
    await d.round(100); await d.round(100);              // 40 segments
    await d.collect();
    await d.dup(3);                                      // loss: ssthresh = 20 segments
    await d.collect();
    await d.ackTo(Math.max(...d.pending));               // full ACK: cwnd = ssthresh, congestion avoidance
    const ssthresh = s.info(CcInfo.Ssthresh);
    expect(s.info(CcInfo.Cwnd)).toBe(ssthresh);
    d.refill();
    let prev = s.info(CcInfo.Cwnd);
    for (let r = 0; r < 5; r++) {
      await d.round(100);
      const cw = s.info(CcInfo.Cwnd);
      // one window of ACKs, each adding floor(SMSS^2 / cwnd): a little less than one SMSS
      let expected = prev;
      for (let i = 0; i < Math.floor(prev / MSS); i++) expected += Math.max(1, Math.floor((MSS * MSS) / expected));
      expect(Math.abs(cw - expected)).toBeLessThanOrEqual(MSS);
      expect(cw - prev).toBeGreaterThan(0.8 * MSS);
      expect(cw - prev).toBeLessThan(1.2 * MSS);
      prev = cw;
    }
  });

  it('retransmission timeout: cwnd = 1 SMSS (the loss window), ssthresh = max(FlightSize/2, 2 SMSS), one segment resent', async () => {
    const s = await sender({ cc: 'reno', sack: false, bytes: 200_000 });
    const d = new AckDriver(s);
    await d.round(100);
    await d.collect();
    const flight = d.pending.length * MSS;
    const rto = s.stack.core.x.connGet(s.conn, ConnField.Rto);
    await s.peer.wait(rto + 1);
    const rtx = await s.take();
    expect(offsets(s, rtx)).toEqual([d.una]);
    expect(s.info(CcInfo.Cwnd)).toBe(MSS);
    expect(s.info(CcInfo.Ssthresh)).toBe(Math.max(flight / 2, 2 * MSS));
    expect(s.stack.core.counter('TcpExtTCPTimeouts')).toBe(1);
    // the ACK of it: slow start again from one segment (two segments next)
    await d.ackTo(d.una + MSS);
    expect(s.info(CcInfo.Cwnd)).toBe(2 * MSS);
    expect((await s.take()).length).toBe(2);
    expect(s.stack.core.counter('TcpExtTCPSlowStartRetrans')).toBeGreaterThanOrEqual(1);
  });
});

/** Slow start to `target` segments in flight, then a loss by three duplicate ACKs and its full ACK. */
async function cubicAfterLoss(opts: { rtt: number; target: number; cc?: string }) {
  const s = await sender({ cc: opts.cc ?? 'cubic', sack: false, bytes: 1 << 21, rtt: opts.rtt });
  const d = new AckDriver(s);
  while (s.info(CcInfo.Cwnd) * 2 <= opts.target * MSS) await d.round(opts.rtt);
  await d.round(opts.rtt, opts.target - s.info(CcInfo.Cwnd) / MSS);   // cwnd = target exactly
  await d.collect();
  const cwndPrior = s.info(CcInfo.Cwnd);
  const flight = d.pending.length * MSS;
  await d.dup(3);
  await d.collect();
  const lossInfo = { ssthresh: s.info(CcInfo.Ssthresh), wmax: s.info(CcInfo.CubicWmax) };
  await s.peer.wait(opts.rtt);
  await d.ackTo(Math.max(...d.pending));
  d.refill();
  return { s, d, cwndPrior, flight, lossInfo };
}

describe('CUBIC (RFC 9438)', () => {
  it('a loss: ssthresh = beta_cubic x FlightSize (0.7), W_max = cwnd before it, cwnd = ssthresh when recovery ends', async () => {
    const { s, cwndPrior, flight, lossInfo } = await cubicAfterLoss({ rtt: 200, target: 100 });
    expect(cwndPrior).toBe(100 * MSS);
    expect(flight).toBe(100 * MSS);
    expect(lossInfo.ssthresh).toBe(Math.floor(BETA * flight));
    expect(lossInfo.wmax).toBe(cwndPrior);
    expect(s.info(CcInfo.Cwnd)).toBe(lossInfo.ssthresh);
    expect(s.info(CcInfo.InRecovery)).toBe(0);
  });

  it('W(t) follows C(t-K)^3 + W_max through the concave and convex regions (within 5 %)', async () => {
    const rtt = 200;
    const { s, d, lossInfo } = await cubicAfterLoss({ rtt, target: 100 });
    const wmax = lossInfo.wmax / MSS;
    // the epoch starts with the first ACK in congestion avoidance (§4.2)
    await d.round(rtt);
    const epoch = s.clock.now();
    const K = Math.cbrt((wmax * (1 - BETA)) / C);            // cwnd_epoch = beta x W_max
    expect(s.info(CcInfo.CubicK) / 1000).toBeCloseTo(K, 2);  // 4.217 s
    const seen: { t: number; w: number; model: number }[] = [];
    for (let r = 0; r < 40; r++) {
      await d.round(rtt);
      const t = (s.clock.now() - epoch) / 1000;
      seen.push({ t, w: segsOf(s, CcInfo.Cwnd), model: C * (t - K) ** 3 + wmax });
    }
    for (const p of seen.filter((x) => x.t >= 2 * rtt / 1000)) {
      expect(Math.abs(p.w - p.model) / p.model, `t=${p.t}s cwnd ${p.w.toFixed(2)} vs ${p.model.toFixed(2)}`).toBeLessThan(0.05);
    }
    // concave below W_max before K, plateau around K, convex above W_max after it
    const at = (t: number) => seen.reduce((a, b) => (Math.abs(b.t - t) < Math.abs(a.t - t) ? b : a));
    expect(at(1).w).toBeLessThan(wmax);
    expect(at(2).w - at(1).w).toBeGreaterThan(at(4).w - at(3).w);     // concave: growth slows
    expect(Math.abs(at(K).w - wmax)).toBeLessThan(1.5);
    expect(at(8).w).toBeGreaterThan(wmax + 10);
    expect(at(8).w - at(7).w).toBeGreaterThan(at(6).w - at(5).w);     // convex: growth speeds up
  });

  it('Reno-friendly region: with a short RTT cwnd follows W_est (alpha_cubic, then 1 SMSS per RTT), above W_cubic(t)', async () => {
    const rtt = 10;
    const { s, d, lossInfo } = await cubicAfterLoss({ rtt, target: 20 });
    const wmax = lossInfo.wmax / MSS;
    await d.round(rtt);
    const epoch = s.clock.now();
    const K = Math.cbrt((wmax * (1 - BETA)) / C);
    const ws: number[] = [];
    for (let r = 0; r < 60; r++) { await d.round(rtt); ws.push(segsOf(s, CcInfo.Cwnd)); }
    const t = (s.clock.now() - epoch) / 1000;
    const wcubic = C * (t - K) ** 3 + wmax;
    expect(ws.at(-1)!).toBeGreaterThan(wcubic + 20);
    // once W_est passed cwnd_prior (20 segments), one segment per round trip, as Reno
    const late = ws.slice(40).map((w, i, a) => (i === 0 ? 1 : w - (a[i - 1] as number)));
    for (const g of late) { expect(g).toBeGreaterThan(0.8); expect(g).toBeLessThan(1.2); }
    // before: alpha_cubic = 3(1 - beta)/(1 + beta) ~ 0.53 segments per round trip
    const early = ws[5]! - ws[4]!;
    expect(early).toBeGreaterThan(0.4);
    expect(early).toBeLessThan(0.7);
  });

  it('fast convergence: a loss below the previous W_max sets W_max = cwnd (1 + beta) / 2', async () => {
    const rtt = 200;
    const { s, d, lossInfo } = await cubicAfterLoss({ rtt, target: 100 });
    expect(lossInfo.wmax).toBe(100 * MSS);
    await d.round(rtt); await d.round(rtt);                 // cwnd grows towards W_max, still below it
    await d.collect();
    const cw = s.info(CcInfo.Cwnd);
    expect(cw).toBeLessThan(100 * MSS);
    await d.dup(3);
    expect(s.info(CcInfo.CubicWmax)).toBe(Math.floor((cw * (1 + BETA)) / 2));
  });

  it('far into the convex region the target is capped at 1.5 cwnd: at most 50 % more per round trip (§4.4, §4.5)', async () => {
    const rtt = 100;
    const s = await sender({ cc: 'cubic', sack: false, bytes: 150_000, rtt });
    const d = new AckDriver(s);
    await d.round(rtt);                                   // 20 segments
    await d.collect();
    await d.dup(3);                                       // loss: W_max 20
    await d.collect();
    await d.ackTo(Math.max(...d.pending));
    // drain what is queued (congestion avoidance, the epoch starts), then stay idle for 60 s: t keeps
    // running (wtcp does not leave application-limited time out of t, see RFC 9438 §5.8)
    for (let r = 0; r < 100 && s.stack.core.x.connGet(s.conn, ConnField.SendQueued) > 0; r++) {
      const segs = await d.collect();
      await s.peer.wait(rtt);
      for (const end of d.pending.splice(0)) { d.una = Math.max(d.una, end); s.ack(d.una); }
      await s.peer.settle();
      if (segs.length === 0 && d.pending.length === 0) break;
    }
    expect(s.stack.core.x.connGet(s.conn, ConnField.SendQueued)).toBe(0);
    await s.peer.wait(60_000);
    d.refill();
    const ws: number[] = [s.info(CcInfo.Cwnd)];
    for (let r = 0; r < 5; r++) { await d.round(rtt); ws.push(s.info(CcInfo.Cwnd)); }
    for (let r = 1; r < ws.length; r++) {
      const ratio = (ws[r] as number) / (ws[r - 1] as number);
      expect(ratio, `round ${r}`).toBeGreaterThan(1.4);
      expect(ratio, `round ${r}`).toBeLessThanOrEqual(1.5 + 1 / 20);
    }
  });

  it('retransmission timeout: cwnd = 1 SMSS, ssthresh by beta_cubic; the next epoch has K = 0 and W_max = cwnd_epoch (§4.8)', async () => {
    const s = await sender({ cc: 'cubic', sack: false, bytes: 1 << 21, rtt: 100 });
    const d = new AckDriver(s);
    await d.round(100); await d.round(100);
    await d.collect();
    const flight = d.pending.length * MSS;
    await s.peer.wait(1500);
    await d.collect();
    expect(s.info(CcInfo.Cwnd)).toBe(MSS);
    expect(s.info(CcInfo.Ssthresh)).toBe(Math.floor(BETA * flight));
    // slow start back to ssthresh, then congestion avoidance starts an epoch at that window
    d.pending = [];
    for (let r = 0; r < 12 && s.info(CcInfo.Cwnd) < s.info(CcInfo.Ssthresh) + 2 * MSS; r++) {
      if (r === 0) await d.ackTo(d.una + MSS); else await d.round(100);
    }
    await d.round(100);
    expect(s.info(CcInfo.CubicK)).toBe(0);
    expect(s.info(CcInfo.CubicWmax)).toBeGreaterThanOrEqual(s.info(CcInfo.Ssthresh));
    expect(s.info(CcInfo.CubicWmax)).toBeLessThanOrEqual(s.info(CcInfo.Cwnd));
  });
});

// ---- socket options and sysctls ----------------------------------------------------------------

function stackOf(personality: 'linux-5.4' | 'freebsd-12.1' | '4.3bsd', sysctls: Record<string, number | string> = {}) {
  const [a] = MemoryLink.pair();
  return new Stack({ personality, clock: new VirtualClock(), link: a, interfaces: [{ ip: '198.18.0.2/24' }], sysctls });
}
function code(fn: () => unknown): string {
  try { fn(); return 'OK'; } catch (e) { if (e instanceof SocketError || e instanceof SysctlError) return e.code; throw e; }
}

describe('TCP_CONGESTION and the default algorithm', () => {
  it('linux: default cubic; reno and cubic accepted; an unknown name is ENOENT; the value is per socket', () => {
    const st = stackOf('linux-5.4');
    const a = st.bsd.socket('AF_INET', 'SOCK_STREAM');
    const b = st.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(st.bsd.getsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('cubic');
    st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 'reno');
    expect(st.bsd.getsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('reno');
    expect(st.bsd.getsockopt(b, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('cubic');
    expect(code(() => st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 'newreno'))).toBe('ENOENT');
    expect(code(() => st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 'bbr'))).toBe('ENOENT');
    expect(code(() => st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 1))).toBe('EINVAL');
    expect(st.bsd.getsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('reno');
    expect(st.sysctl.get('net.ipv4.tcp_available_congestion_control')).toBe('reno cubic');
    expect(code(() => st.sysctl.set('net.ipv4.tcp_available_congestion_control', 'reno'))).toBe('EPERM');
  });

  it('freebsd 12.1: default newreno; newreno and cubic accepted; an unknown name is EINVAL (sysctl: ESRCH)', () => {
    const st = stackOf('freebsd-12.1');
    const a = st.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(st.bsd.getsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('newreno');
    st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 'cubic');
    expect(st.bsd.getsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('cubic');
    expect(code(() => st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 'reno'))).toBe('EINVAL');
    expect(st.sysctl.get('net.inet.tcp.cc.available')).toBe('newreno, cubic');
    expect(code(() => st.sysctl.set('net.inet.tcp.cc.algorithm', 'vegas'))).toBe('ESRCH');
    expect(code(() => st.sysctl.set('net.inet.tcp.cc.algorithm', 'reno'))).toBe('ESRCH');
    expect(code(() => st.sysctl.set('net.ipv4.tcp_congestion_control', 'cubic'))).toBe('ENOENT');
  });

  it('4.3bsd: no congestion control and no TCP_CONGESTION (tcp_ctloutput: EINVAL, spec S61), no such sysctl', () => {
    const st = stackOf('4.3bsd');
    const a = st.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(code(() => st.bsd.setsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION', 'cubic'))).toBe('EINVAL');
    expect(code(() => st.bsd.getsockopt(a, 'IPPROTO_TCP', 'TCP_CONGESTION'))).toBe('EINVAL');
    expect(code(() => st.sysctl.get('net.ipv4.tcp_congestion_control'))).toBe('ENOENT');
  });

  it('the sysctl validates names (Linux ENOENT) and changes the algorithm of later connections only', async () => {
    expect(code(() => stackOf('linux-5.4', { 'net.ipv4.tcp_congestion_control': 'vegas' }))).toBe('ENOENT');
    expect(code(() => stackOf('linux-5.4', { 'net.ipv4.tcp_congestion_control': 3 }))).toBe('EINVAL');
    const s1 = await sender({ sysctls: { 'net.ipv4.tcp_congestion_control': 'reno' }, sack: false });
    expect(s1.stack.bsd.getsockopt(s1.fd, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('reno');
    s1.stack.sysctl.set('net.ipv4.tcp_congestion_control', ' cubic\n');
    expect(s1.stack.sysctl.get('net.ipv4.tcp_congestion_control')).toBe('cubic');
    expect(s1.stack.bsd.getsockopt(s1.fd, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('reno');   // the live one keeps its own
    const fresh = s1.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
    expect(s1.stack.bsd.getsockopt(fresh, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('cubic');
  });

  it('the default algorithm is the one that runs: a loss under the default reduces by beta_cubic on Linux, by half on FreeBSD', async () => {
    for (const [personality, factor] of [['linux-5.4', BETA], ['freebsd-12.1', 0.5]] as const) {
      const s = await sender({ personality, sack: false, bytes: 400_000 });
      const d = new AckDriver(s);
      await d.round(100);
      await d.collect();
      const flight = d.pending.length * MSS;
      await d.dup(3);
      expect(s.info(CcInfo.Ssthresh), personality).toBe(Math.floor(factor * flight));
    }
  });

  it('an accepted connection inherits the listener\'s TCP_CONGESTION', async () => {
    const clock = new VirtualClock();
    const [la, lb] = MemoryLink.pair();
    const srv = new Stack({ personality: 'linux-5.4', clock, link: la, interfaces: [{ ip: '198.18.0.2/24' }] });
    const cli = new Stack({ personality: 'linux-5.4', clock, link: lb, interfaces: [{ ip: '198.18.0.1/24' }] });
    const l = srv.bsd.socket('AF_INET', 'SOCK_STREAM');
    srv.bsd.setsockopt(l, 'IPPROTO_TCP', 'TCP_CONGESTION', 'reno');
    srv.bsd.bind(l, { address: '0.0.0.0', port: 80 });
    srv.bsd.listen(l, 4);
    const c = cli.bsd.socket('AF_INET', 'SOCK_STREAM');
    const done = cli.bsd.connectAsync(c, { address: '198.18.0.2', port: 80 });
    const acc = srv.bsd.acceptAsync(l);
    await clock.advanceAsync(10, () => new Promise<void>((r) => setImmediate(r)));
    await done;
    const { fd } = await acc;
    expect(srv.bsd.getsockopt(fd, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('reno');
    expect(cli.bsd.getsockopt(c, 'IPPROTO_TCP', 'TCP_CONGESTION')).toBe('cubic');
  });
});
