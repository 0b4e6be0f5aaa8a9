// SACK-based loss recovery at the sender (RFC 6675 over RFC 2018 blocks), segment by segment
// against a scripted receiver on a virtual clock: only holes are retransmitted, the pipe estimate
// limits what is sent, recovery ends at RecoveryPoint, several holes are repaired in about one round
// trip (NewReno needs one round trip per hole), the RTO keeps the scoreboard (§5.1), reneging is
// noticed. Last, two stacks over a seeded lossy link: with SACK fewer bytes are retransmitted.
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { FaultLink } from '../../src/links/fault.js';
import type { Link } from '../../src/links/link.js';
import { VirtualClock } from '../../src/clock.js';
import { SocketError } from '../../src/bsd.js';
import { CcInfo, ConnField } from '../../src/core.js';
import { sender, offsets, MSS, u32, type Sender } from '../helpers/sender.js';

/**
 * A receiver that holds what arrived (segment indices, MSS-sized from base) and acknowledges as
 * RFC 2018 §4 says: the cumulative ACK, then up to four blocks, the one holding the segment that
 * triggered the ACK first, then the most recently reported others.
 */
class SackReceiver {
  got = new Set<number>();
  recent: number[] = [];
  constructor(readonly s: Sender, readonly sack = true) {}
  cumulative(): number { let i = 0; while (this.got.has(i)) i++; return i; }
  blocks(): [number, number][] {
    const ack = this.cumulative();
    const ranges: [number, number][] = [];
    for (const i of [...this.got].filter((x) => x > ack).sort((a, b) => a - b)) {
      const last = ranges[ranges.length - 1];
      if (last && last[1] === i) last[1] = i + 1; else ranges.push([i, i + 1]);
    }
    const order = (r: [number, number]) => {
      const k = this.recent.findIndex((x) => x >= r[0] && x < r[1]);
      return k < 0 ? Infinity : k;
    };
    return ranges.sort((a, b) => order(a) - order(b)).slice(0, 4);
  }
  /** segment `i` arrived: ACK it */
  arrive(i: number): void {
    this.got.add(i);
    this.recent = [i, ...this.recent.filter((x) => x !== i)];
    const ack = this.cumulative();
    this.s.ack(ack * MSS, this.sack ? this.blocks().map(([l, r]) => [l * MSS, r * MSS]) : undefined);
  }
}

const idx = (s: Sender, segs: Parameters<typeof offsets>[1]) => offsets(s, segs).map((o) => o / MSS);

describe('RFC 6675 at the sender', () => {
  for (const personality of ['linux-5.4', 'freebsd-12.1'] as const) it(`${personality}: only the hole is retransmitted; recovery starts on the third SACK-bearing duplicate ACK`, async () => {
    const s = await sender({ personality, cc: personality === 'linux-5.4' ? 'reno' : 'newreno', bytes: 100_000 });
    const r = new SackReceiver(s);
    expect(idx(s, await s.take())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const i of [0, 1, 2]) r.arrive(i);               // segment 3 is lost
    expect(idx(s, await s.take())).toEqual([10, 11, 12, 13, 14, 15]);   // slow start: two per ACK
    const trace: number[][] = [];
    for (const i of [4, 5, 6, 7, 8, 9]) {
      r.arrive(i);
      trace.push(idx(s, await s.take()));
    }
    const retransmitted = trace.flat().filter((i) => i < 10);
    expect(retransmitted).toEqual([3]);                   // nothing SACKed is sent again
    expect(s.stack.core.counter('TcpRetransSegs')).toBe(1);
    expect(s.stack.core.counter('TcpExtTCPSackRecovery')).toBe(1);
    expect(s.stack.core.counter('TcpExtTCPRenoRecovery')).toBe(0);
    // the third duplicate ACK (for segment 6) triggered it (IsLost(3) was already true at 6: 3 segments SACKed above)
    expect(trace[0]).toEqual([]);
    expect(trace[1]).toEqual([]);
    expect(trace[2]?.[0]).toBe(3);
    expect(s.info(CcInfo.SackRecovery)).toBe(1);
  });

  it('pipe limits sending: cwnd = ssthresh = FlightSize/2, a segment leaves only when cwnd - pipe >= 1 SMSS', async () => {
    const s = await sender({ cc: 'reno', bytes: 100_000 });
    const r = new SackReceiver(s);
    await s.take();                                       // 0..9 in flight; 0 and 3 are lost
    const sent: number[][] = [];
    const pipes: number[] = [];
    for (const i of [1, 2, 4, 5, 6, 7, 8, 9]) {
      r.arrive(i);
      sent.push(idx(s, await s.take()));
      pipes.push(s.info(CcInfo.Pipe));
    }
    expect(s.info(CcInfo.Ssthresh)).toBe(5 * MSS);        // FlightSize 10 segments / 2
    expect(s.info(CcInfo.Cwnd)).toBe(5 * MSS);
    // SetPipe by hand (RFC 6675 §4): after segment 4's ACK, 4380 bytes SACKed above 0 (> 2 SMSS):
    // 0 is lost and resent at once (step 4.3; it counts once), 3 is not yet lost (1 SMSS SACKed
    // above it), 5..9 are in flight: pipe = 1 + 1 + 5 = 7 segments > cwnd 5, nothing more may go
    expect(sent.slice(0, 3)).toEqual([[], [], [0]]);
    expect(pipes[2]).toBe(7 * MSS);
    // segment 5's ACK: pipe 6, still no room
    expect(sent[3]).toEqual([]);
    expect(pipes[3]).toBe(6 * MSS);
    // segment 6's ACK: 3 is lost now (3 SMSS SACKed above): it goes out, pipe stays 5
    expect(sent[4]).toEqual([3]);
    // each later ACK frees one segment of pipe: one new segment each (NextSeg rule 2)
    expect(sent.slice(5)).toEqual([[10], [11], [12]]);
    expect(pipes.slice(4)).toEqual([5, 5, 5, 5].map((k) => k * MSS));
  });

  it('recovery ends when the cumulative ACK reaches RecoveryPoint (HighData at its start), not before', async () => {
    const s = await sender({ cc: 'reno', bytes: 100_000 });
    const r = new SackReceiver(s);
    await s.take();
    for (const i of [1, 2, 4, 5, 6, 7, 8, 9]) { r.arrive(i); await s.take(); }
    expect(s.info(CcInfo.SackRecovery)).toBe(1);
    r.arrive(0);                                          // ACK 3: below RecoveryPoint (10)
    await s.take();
    expect(s.info(CcInfo.SackRecovery)).toBe(1);
    expect(s.info(CcInfo.InRecovery)).toBe(1);
    r.arrive(3);                                          // ACK 10 = RecoveryPoint
    await s.take();
    expect(s.info(CcInfo.SackRecovery)).toBe(0);
    expect(s.info(CcInfo.InRecovery)).toBe(0);
    expect(s.info(CcInfo.Cwnd)).toBe(s.info(CcInfo.Ssthresh));
    expect(s.info(CcInfo.SackRanges)).toBe(0);           // segments 10..12 not SACKed yet: scoreboard empty
    expect(s.info(CcInfo.SackSlot)).toBe(0);             // and its slot is back in the pool
  });

  it('a scoreboard slot is held only while something is SACKed: idle connections cost none', async () => {
    const s = await sender({ cc: 'reno', bytes: 30_000 });
    await s.take();
    expect(s.info(CcInfo.SackSlot)).toBe(0);
    s.ack(0, [[MSS, 2 * MSS]]);
    await s.peer.settle();
    expect(s.info(CcInfo.SackSlot)).toBe(1);
    s.ack(2 * MSS);
    await s.peer.settle();
    expect(s.info(CcInfo.SackSlot)).toBe(0);
  });

  it('random ACKs and SACK blocks (seeded) never abort the core nor break its accounting', async () => {
    const s = await sender({ cc: 'cubic', bytes: 400_000 });
    let x = 12345;
    const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32; };
    let una = 0;
    for (let k = 0; k < 1500; k++) {
      const segs = await s.take();
      const top = segs.length ? Math.max(...segs.map((g) => u32(g.seq - s.base) + g.payload.length)) : una;
      const blocks: [number, number][] = [];
      const nb = Math.floor(rnd() * 5);
      for (let b = 0; b < nb; b++) {
        const l = Math.floor((rnd() * 1.4 - 0.2) * (top + 10 * MSS));
        blocks.push([l, l + Math.floor((rnd() - 0.1) * 6 * MSS)]);
      }
      if (rnd() < 0.2 && top > una) una = Math.min(top, una + Math.floor(rnd() * 4 * MSS));
      s.ack(una, blocks);
      if (k % 50 === 0) await s.peer.wait(Math.floor(rnd() * 400));
    }
    await s.peer.settle();
    const st = s.stack.core.x.connGet(s.conn, ConnField.State);
    expect(st === 4 || st === 0).toBe(true);
    expect(s.info(CcInfo.Pipe)).toBeGreaterThanOrEqual(0);
    expect(s.info(CcInfo.SackRanges)).toBeLessThanOrEqual(4);
  });

  it('several holes in one window are repaired in about one round trip; NewReno takes one round trip per hole', async () => {
    const rtt = 100;
    const lost = new Set([2, 6, 10, 14]);
    const run = async (sack: boolean) => {
      const s = await sender({ cc: 'reno', sack, bytes: 400_000, rtt });
      const r = new SackReceiver(s, sack);
      // grow to 20 segments in flight without loss
      for (const g of await s.take()) r.arrive(u32(g.seq - s.base) / MSS);
      await s.peer.settle();
      const base = r.cumulative();
      let rounds = 0;
      let first = true;
      const end = base + 20;
      while (r.cumulative() < end && rounds < 12) {
        const segs = await s.take();
        await s.peer.wait(rtt);
        rounds++;
        for (const g of segs) {
          const i = u32(g.seq - s.base) / MSS;
          if (first && lost.has(i - base)) continue;
          r.arrive(i);
        }
        first = false;
        await s.peer.settle();
      }
      return { rounds, retrans: s.stack.core.counter('TcpRetransSegs'), s };
    };
    const withSack = await run(true);
    const without = await run(false);
    expect(withSack.retrans).toBe(4);                     // exactly the four holes
    expect(withSack.rounds).toBeLessThanOrEqual(2);       // the loss round, then one round trip of repairs
    expect(without.rounds).toBeGreaterThanOrEqual(4);     // RFC 6582: one hole per partial ACK
    expect(without.rounds).toBeGreaterThan(withSack.rounds + 1);
  });

  it('an RTO keeps the scoreboard (§5.1): after the timeout only the unSACKed segments are sent again, in slow start', async () => {
    const s = await sender({ cc: 'reno', bytes: 100_000 });
    const r = new SackReceiver(s);
    await s.take();                                       // 0..9 in flight
    for (const i of [1, 2, 5, 6]) r.arrive(i);            // 0, 3, 4, 7, 8, 9 missing
    await s.peer.settle();
    expect(idx(s, await s.take())).toEqual([0]);          // IsLost(0): 4 SMSS SACKed above it; recovery, 0 resent
    const rto = s.stack.core.x.connGet(s.conn, ConnField.Rto);
    await s.peer.wait(rto);                               // that retransmission is lost as well: the RTO
    expect(idx(s, await s.take())).toEqual([0]);          // cwnd = 1 SMSS: the first hole only
    expect(s.info(CcInfo.Cwnd)).toBe(MSS);
    expect(s.info(CcInfo.SackRanges)).toBe(2);            // the scoreboard is kept
    r.arrive(0);                                          // ACK 3, cwnd 2: the next hole, 3 and 4 (lost: after an RTO every unSACKed byte is)
    expect(idx(s, await s.take())).toEqual([3, 4]);
    r.arrive(3);                                          // ACK 4, cwnd 3, pipe 1 (4): 7 and 8, never 5 or 6
    expect(idx(s, await s.take())).toEqual([7, 8]);
    r.arrive(4);                                          // ACK 7, cwnd 4, pipe 2: 9, then new data
    expect(idx(s, await s.take())).toEqual([9, 10]);
    expect(s.stack.core.counter('TcpRetransSegs')).toBe(7);   // 0 twice, 3, 4, 7, 8, 9
    expect(s.stack.core.counter('TcpExtTCPSlowStartRetrans')).toBe(6);
    expect(s.stack.core.counter('TcpExtTCPTimeouts')).toBe(1);
    for (const i of [7, 8, 9]) r.arrive(i);               // ACK 11 > RecoveryPoint (10): the loss state ends
    await s.take();
    expect(s.info(CcInfo.SackRecovery)).toBe(0);
  });

  it('reneging: a cumulative ACK that stops where SACKed data begins clears the scoreboard (TCPSACKReneging)', async () => {
    const s = await sender({ cc: 'reno', bytes: 100_000 });
    await s.take();
    s.ack(0, [[2 * MSS, 4 * MSS]]);
    await s.peer.settle();
    expect(s.info(CcInfo.SackRanges)).toBe(1);
    s.ack(2 * MSS);                                       // the receiver dropped 2..3
    await s.peer.settle();
    expect(s.stack.core.counter('TcpExtTCPSACKReneging')).toBe(1);
    expect(s.info(CcInfo.SackRanges)).toBe(0);
  });

  it('SACK blocks outside (SND.UNA, SND.MAX] and malformed options are ignored, never trusted', async () => {
    const s = await sender({ cc: 'reno', bytes: 100_000 });
    await s.take();
    s.ack(0, [[20 * MSS, 30 * MSS]]);                      // beyond what was sent
    s.ack(0, [[5 * MSS, 3 * MSS]]);                        // left >= right
    s.f.send({ flags: '.', ack: s.base, win: 65535, rawOptions: new Uint8Array([1, 1, 5, 9, 0, 0, 0, 0, 0, 0, 0, 0]) });
    await s.peer.settle();
    expect(s.info(CcInfo.SackRanges)).toBe(0);
    expect(s.stack.core.counter('TcpRetransSegs')).toBe(0);
  });

  it('without SACK negotiated, SACK blocks are not used: NewReno (go-back-one) recovery', async () => {
    const s = await sender({ cc: 'reno', sack: false, bytes: 100_000 });
    await s.take();
    s.ack(0);                                             // the window update after the handshake: not a duplicate
    for (let k = 0; k < 3; k++) s.ack(0, [[(k + 1) * MSS, (k + 2) * MSS]]);
    await s.peer.settle();
    expect(s.info(CcInfo.SackRanges)).toBe(0);
    expect(s.stack.core.counter('TcpExtTCPRenoRecovery')).toBe(1);
    expect(s.stack.core.counter('TcpExtTCPSackRecovery')).toBe(0);
  });
});

// ---- two stacks over a lossy link ---------------------------------------------------------------

const settle = () => new Promise<void>((r) => setImmediate(r));
// bursts of about three frames (Gilbert-Elliott), about 3 % of frames in all
const LOSS = { p: 0.01, r: 0.3 };

async function lossyTransfer(sack: boolean, bytes: number, seed: number) {
  const clock = new VirtualClock();
  const [la, lb] = MemoryLink.pair();
  // 2 % loss and 10 ms each way on the sender's side (data and ACKs)
  const faulty = new FaultLink(la as unknown as Link, { seed, clock, loss: LOSS, delay: 10 });
  const sysctls = { 'net.ipv4.tcp_sack': sack ? 1 : 0 };
  const a = new Stack({ personality: 'linux-5.4', clock, link: faulty, interfaces: [{ ip: '198.18.0.1/24' }], seed: 1, sysctls });
  const b = new Stack({ personality: 'linux-5.4', clock, link: lb, interfaces: [{ ip: '198.18.0.2/24' }], seed: 2, sysctls });
  const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
  b.bsd.bind(l, { address: '0.0.0.0', port: 5001 });
  b.bsd.listen(l, 4);
  const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
  a.bsd.setsockopt(c, 'SOL_SOCKET', 'SO_SNDBUF', 1 << 20);
  const done = a.bsd.connectAsync(c, { address: '198.18.0.2', port: 5001 });
  const acc = b.bsd.acceptAsync(l);
  // the handshake may lose segments too: run the clock until both ends are there
  let up = false;
  let srv = -1;
  void done.then(() => { up = true; });
  void acc.then((r) => { srv = r.fd; });
  for (let i = 0; i < 4000 && (!up || srv < 0); i++) {
    if (up) { try { a.bsd.send(c, new Uint8Array(0)); } catch { /* nothing */ } }
    await clock.advanceAsync(5, settle);
  }
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + (i >> 11)) & 255;
  const got: Uint8Array[] = [];
  let off = 0, total = 0;
  const t0 = clock.now();
  while (total < bytes && clock.now() - t0 < 120_000) {
    if (off < bytes) { try { off += a.bsd.send(c, data.subarray(off)); } catch (e) { if (!(e instanceof SocketError && e.code === 'EAGAIN')) throw e; } }
    await clock.advanceAsync(2, settle);
    for (;;) {
      try { const d = b.bsd.recv(srv, 65536); if (d.length === 0) break; got.push(d); total += d.length; } catch { break; }
    }
  }
  const h = (parts: Uint8Array[]) => { const x = createHash('sha256'); for (const p of parts) x.update(p); return x.digest('hex'); };
  return {
    intact: total === bytes && h(got) === h([data]),
    retrans: a.core.counter('TcpRetransSegs'),
    sackRecoveries: a.core.counter('TcpExtTCPSackRecovery'),
    ms: clock.now() - t0,
  };
}

describe('two stacks over a lossy link', () => {
  it('with SACK the sender retransmits fewer segments and finishes sooner than without; the data arrives intact', async () => {
    // burst losses (several segments of one window) are where RFC 6675 differs from NewReno: one
    // hole per round trip and RTOs with go-back-N without SACK, only the holes with it. Single
    // losses cost both the same, and the rescue retransmission (rule 4) may add one with SACK.
    const bytes = 600_000;
    let retransSack = 0, retransNo = 0, msSack = 0, msNo = 0;
    for (const seed of [11, 12, 13, 14]) {
      const yes = await lossyTransfer(true, bytes, seed);
      const no = await lossyTransfer(false, bytes, seed);
      expect(yes.intact, `seed ${seed}`).toBe(true);
      expect(no.intact, `seed ${seed}`).toBe(true);
      expect(yes.sackRecoveries).toBeGreaterThan(0);
      expect(no.sackRecoveries).toBe(0);
      retransSack += yes.retrans; retransNo += no.retrans;
      msSack += yes.ms; msNo += no.ms;
    }
    expect(retransSack).toBeLessThan(retransNo);
    expect(msSack).toBeLessThan(msNo / 2);
  }, 60_000);
});
