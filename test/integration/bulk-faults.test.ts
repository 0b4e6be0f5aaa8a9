// 100 MB each way, at the same time, between two stacks joined in memory through a seeded fault
// layer (FaultLink: loss, duplication, corruption, reordering, delay with jitter, a rate limit) on a
// VirtualClock. Each run checks what arrived (sha256 and byte counts of both streams), that the
// losses were repaired by retransmissions and that TcpRetransSegs counts exactly the retransmitted
// segments seen on the wire, that every corrupted frame was dropped and counted (IpInHdrErrors or
// TcpInCsumErrors), and that the connection ends cleanly: FIN both ways, no RST, TIME-WAIT on one
// side at least, both records freed after it.
//
// Speed (CI must run the whole suite well within 15 minutes on 2 cores): the clock is driven by
// stepping straight to the next due callback (no fixed 1-ms ticks); after each step one macrotask
// turn lets the in-memory links deliver (microtasks) before the applications write and read again;
// the data comes from AES-256-CTR (OpenSSL, GB/s) in 256 KiB pieces and is hashed as it goes. Each
// run prints its wall time, virtual time, clock steps and frames.
import { describe, it, expect } from 'vitest';
import { createHash, createCipheriv, type Cipher, type Hash } from 'node:crypto';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { FaultLink, type FaultSpec, type FaultEvent } from '../../src/links/fault.js';
import type { Link } from '../../src/links/link.js';
import { VirtualClock } from '../../src/clock.js';
import { ConnField, ConnState } from '../../src/core.js';

const MB = 1024 * 1024;
/** The issue asks for 100 MB each way. (BULK_MB=... only for local experiments.) */
const TOTAL = Number(process.env.BULK_MB ?? 100) * MB;
const A_IP = '198.18.0.1';
const B_IP = '198.18.0.2';
const PORT = 5001;
const PIECE = 256 * 1024;

/** A deterministic byte stream: AES-256-CTR keystream under a per-direction key, hashed as it is produced. */
class Source {
  readonly #cipher: Cipher;
  readonly #zeros = Buffer.alloc(PIECE);
  readonly hash: Hash = createHash('sha256');
  produced = 0;
  constructor(readonly total: number, key: number) {
    this.#cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, key), Buffer.alloc(16, 0));
  }
  /** the next piece (at most PIECE bytes), or null at the end */
  next(): Uint8Array | null {
    const n = Math.min(PIECE, this.total - this.produced);
    if (n <= 0) return null;
    const b = this.#cipher.update(n === PIECE ? this.#zeros : this.#zeros.subarray(0, n));
    this.produced += n;
    this.hash.update(b);
    return b;
  }
}

/** TCP facts of one Ethernet/IPv4/TCP frame, read in place (no allocation). */
function tcpOf(f: Uint8Array): { seq: number; len: number; flags: number } | undefined {
  if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return undefined;
  const ihl = ((f[14] as number) & 15) * 4;
  const total = ((f[16] as number) << 8) | (f[17] as number);
  const t = 14 + ihl;
  const doff = ((f[t + 12] as number) >> 4) * 4;
  const seq = (((f[t + 4] as number) << 24) | ((f[t + 5] as number) << 16) | ((f[t + 6] as number) << 8) | (f[t + 7] as number)) >>> 0;
  return { seq, len: total - ihl - doff, flags: f[t + 13] as number };
}
const SYN = 0x02;
const FIN = 0x01;
const RST = 0x04;

/**
 * Watches what one stack sends, before any fault: counts segments that carry sequence space (data,
 * SYN or FIN) starting below the highest sequence already sent (retransmissions, as a capture shows
 * them), RSTs, and the FIN.
 */
class Wire implements Link {
  retransmissions = 0;
  /** RSTs sent while the sender's connection was not yet closed (CLOSED, TIME-WAIT or freed) */
  rstsEarly = 0;
  /** says whether the sender's connection is over (set once it exists) */
  closed: (() => boolean) | undefined;
  /** segments without data, SYN or FIN whose sequence number is below the highest one sent */
  ackBelowMax = 0;
  frames = 0;
  rsts = 0;
  fins = 0;
  #high: number | undefined;
  constructor(readonly inner: Link) {}
  get mtu(): number { return this.inner.mtu; }
  send(frame: Uint8Array): void {
    this.frames++;
    const t = tcpOf(frame);
    if (t) {
      if (t.flags & RST) {
        this.rsts++;
        if (!this.closed?.()) this.rstsEarly++;
      }
      const space = t.len + (t.flags & SYN ? 1 : 0) + (t.flags & FIN ? 1 : 0);
      if (space > 0) {
        const end = (t.seq + space) >>> 0;
        const again = this.#high !== undefined && ((t.seq - this.#high) | 0) < 0;
        if (again) this.retransmissions++;
        else if (t.flags & FIN) this.fins++;
        if (this.#high === undefined || ((end - this.#high) | 0) > 0) this.#high = end;
      } else if (!(t.flags & RST) && this.#high !== undefined && ((t.seq - this.#high) | 0) < 0) {
        // a bare ACK carries SND.MAX, also after a timeout rewound SND.NXT (only a zero-window
        // probe, SND.UNA - 1, is below it)
        if (((t.seq + 1 - this.#high) | 0) !== 0 || t.len !== 0) this.ackBelowMax++;
      }
    }
    this.inner.send(frame);
  }
  onReceive(h: ((frame: Uint8Array) => void) | null): void { this.inner.onReceive(h); }
  close(): void | Promise<void> { return this.inner.close(); }
}

interface RunStats {
  wallMs: number;
  virtualMs: number;
  steps: number;
  frames: number;
  /** retransmission timeouts of A and B */
  timeouts: [number, number];
}

/** Counts each fault by kind, and losses of frames carrying TCP data (those must be retransmitted). */
function faultTally() {
  const t = { lostData: 0, corruptedIp: 0, corruptedOther: 0, ipHeader: 0, tcpChecksum: 0, tcpOffset: 0 };
  const onFault = (e: FaultEvent): void => {
    const f = e.frame;
    if (e.kind === 'loss') {
      const s = tcpOf(f);
      if (s && s.len > 0) t.lostData++;
    } else if (e.kind === 'corrupt') {
      if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) {
        t.corruptedOther++;
        return;
      }
      t.corruptedIp++;
      // where the (single) flipped bit is: bit i is bit 7 - i % 8 of byte i / 8
      const bit = (e.bits as readonly number[])[0] as number;
      const byte = bit >>> 3;
      const ihl = ((f[14] as number) & 15) * 4;
      const tcp = 14 + ihl;
      if (byte < tcp) t.ipHeader++;
      else if (byte === tcp + 12 && (bit & 7) < 4) {
        const doff = (((f[byte] as number) ^ (0x80 >>> (bit & 7))) >> 4) * 4;
        const tcpLen = (((f[16] as number) << 8) | (f[17] as number)) - ihl;
        if (doff < 20 || doff > tcpLen) t.tcpOffset++;
        else t.tcpChecksum++;
      } else t.tcpChecksum++;
    }
  };
  return { t, onFault };
}

/**
 * Wait until every microtask queued so far has run, and every microtask those queue in turn: the
 * in-memory links deliver on microtasks and the stacks hand frames to the core on microtasks, and
 * the applications' async calls continue on microtasks. process.nextTick callbacks run only once
 * the microtask queue is empty (Node's processTicksAndRejections), so this settles everything that
 * a clock step started without a trip through the event loop (which would cost an epoll_wait per
 * step: a third of the time with setImmediate).
 */
const settle = () => new Promise<void>((r) => process.nextTick(r));
/** One full event-loop turn, now and then, so that vitest's own timers and I/O are not starved. */
const macrotask = () => new Promise<void>((r) => setImmediate(r));

interface RunOptions {
  /** bytes each way [TOTAL] */
  bytes?: number;
  /** every frame lost, both ways, from `at` ms after the handshake for `ms` ms */
  outage?: { at: number; ms: number };
}

async function bulkRun(name: string, seed: number, spec: FaultSpec, opts: RunOptions = {}): Promise<RunStats> {
  const bytes = opts.bytes ?? TOTAL;
  const t0 = performance.now();
  const clock = new VirtualClock();
  const [ma, mb] = MemoryLink.pair();
  // one fault lane per direction: A's frames go through fa's tx lane only, B's through fb's
  const ta = faultTally();
  const tb = faultTally();
  const fa = new FaultLink(ma, { seed, clock, tx: spec, onFault: ta.onFault });
  const fb = new FaultLink(mb, { seed: seed + 1, clock, tx: spec, onFault: tb.onFault });
  const wa = new Wire(fa);
  const wb = new Wire(fb);
  const limits = { rxBufferBytes: 16 * MB };
  const a = new Stack({ clock, link: wa, interfaces: [{ ip: `${A_IP}/24` }], seed: seed * 2 + 1, limits });
  const b = new Stack({ clock, link: wb, interfaces: [{ ip: `${B_IP}/24` }], seed: seed * 2 + 2, limits });
  let steps = 0;

  /** Step the clock (to the next due callback) until `done()`; fail if virtual time passes `limitMs`. */
  async function until(done: () => boolean, limitMs: number, what: string): Promise<void> {
    const end = clock.now() + limitMs;
    await settle();
    while (!done()) {
      if (!clock.step(end)) throw new Error(`${name}: ${what}: nothing left to run at ${clock.now()} ms (virtual)`);
      steps++;
      await settle();
      if ((steps & 1023) === 0) await macrotask();
    }
  }

  try {
    const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
    b.bsd.bind(l, { address: '0.0.0.0', port: PORT });
    b.bsd.listen(l, 8);
    const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    let connected = false;
    let accepted: number | undefined;
    void b.bsd.acceptAsync(l).then((r) => { accepted = r.fd; });
    const conn = a.bsd.connectAsync(c, { address: B_IP, port: PORT }).then(() => { connected = true; });
    await until(() => connected && accepted !== undefined, 120_000, 'handshake');
    await conn;
    const s = accepted as number;
    // the largest buffers Linux lets a socket ask for (wmem_max/rmem_max 212992, doubled): windows
    // of 208 KiB, beyond 64 KiB only with window scaling, against an RTT of 2 x delay and more
    for (const [st, fd] of [[a, c], [b, s]] as const) {
      st.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_SNDBUF', 212992);
      st.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_RCVBUF', 212992);
    }
    if (opts.outage) {
      const { at, ms } = opts.outage;
      const black = { ...spec, loss: 1 };
      clock.setTimeout(() => { fa.configure({ tx: black }); fb.configure({ tx: black }); }, at);
      clock.setTimeout(() => { fa.configure({ tx: spec }); fb.configure({ tx: spec }); }, at + ms);
    }
    for (const [w, st, fd] of [[wa, a, c], [wb, b, s]] as const) {
      const conn = st.bsd.connIndex(fd);
      w.closed = () => {
        const state = st.core.x.connGet(conn, ConnField.State);
        return state === ConnState.Closed || state === ConnState.TimeWait || state === -1;
      };
    }
    const ends = [a, b].map((st, i) => ({
      st,
      fd: i === 0 ? c : s,
      src: new Source(bytes, 0xa1 + i),
      rx: createHash('sha256'),
      got: 0,
      shut: false,
      eof: false,
    }));
    // the applications: a writer (sendAsync: waits while the send buffer is full, then shutdown
    // SHUT_WR) and a reader (recvAsync until end of stream) on each side
    let failure: unknown;
    for (const e of ends) {
      void (async () => {
        for (let piece = e.src.next(); piece; piece = e.src.next()) await e.st.bsd.sendAsync(e.fd, piece);
        e.st.bsd.shutdown(e.fd, 'SHUT_WR');
        e.shut = true;
      })().catch((err: unknown) => { failure ??= err; });
      void (async () => {
        for (;;) {
          const d = await e.st.bsd.recvAsync(e.fd, 1 << 20);
          if (d.length === 0) break;
          e.rx.update(d);
          e.got += d.length;
        }
        e.eof = true;
      })().catch((err: unknown) => { failure ??= err; });
    }
    const transferred = (): boolean => {
      if (failure) throw failure;
      return ends.every((e) => e.eof && e.shut);
    };
    // the data phase: 100 MB each way, then both FINs (virtual-time limit: 2 hours)
    await until(transferred, 7_200_000, 'transfer');
    const virtualMs = clock.now();

    // --- the data arrived intact, both ways
    const [ea, eb] = ends as [(typeof ends)[0], (typeof ends)[0]];
    expect(eb.got, 'A -> B bytes').toBe(bytes);
    expect(ea.got, 'B -> A bytes').toBe(bytes);
    expect(eb.rx.digest('hex'), 'A -> B sha256').toBe(ea.src.hash.digest('hex'));
    expect(ea.rx.digest('hex'), 'B -> A sha256').toBe(eb.src.hash.digest('hex'));

    // --- the close: both FINs sent and acknowledged; one side waits in TIME-WAIT (or both, after a
    // simultaneous close), the other is done (CLOSED: the descriptors are still open)
    const conns = ends.map(({ st, fd }) => ({ st, conn: st.bsd.connIndex(fd) }));
    await until(() => conns.every(({ st, conn }) => {
      const state = st.core.x.connGet(conn, ConnField.State);
      return state === ConnState.TimeWait || state === ConnState.Closed;
    }), 600_000, 'FIN exchange');
    const states = conns.map(({ st, conn }) => st.core.x.connGet(conn, ConnField.State));
    // A duplicated or late segment (the final ACK again, an older ACK overtaken by it) that reaches
    // the side already CLOSED finds no connection and is answered with a RST, as Linux does; a RST
    // that reaches TIME-WAIT ends it (RFC 1337's hazard, Linux's default). Those are the only RSTs
    // allowed: sent once the sender's connection was over (Wire.rstsEarly).
    expect(states.includes(ConnState.TimeWait) || wa.rsts + wb.rsts > 0, `states ${states}`).toBe(true);
    expect(wa.fins, 'A sent its FIN').toBe(1);
    expect(wb.fins, 'B sent its FIN').toBe(1);
    for (const { st, conn } of conns) {
      expect(st.core.x.connGet(conn, ConnField.SendQueued)).toBe(0);
      expect(st.core.x.connGet(conn, ConnField.InFlight)).toBe(0);
    }
    a.bsd.close(c);
    b.bsd.close(s);
    b.bsd.close(l);
    // TIME-WAIT ends (60 s) and both records are freed
    await until(() => conns.every(({ st, conn }) => st.core.x.connGet(conn, ConnField.State) === -1), 120_000, 'TIME-WAIT');

    // --- counters (every frame still held by a fault stage delivered first)
    fa.flush();
    fb.flush();
    await settle();
    expect(fa.pending + fb.pending).toBe(0);
    const ca = a.counters();
    const cb = b.counters();
    for (const [who, k, w] of [['A', ca, wa], ['B', cb, wb]] as const) {
      expect(k.TcpEstabResets, `${who} TcpEstabResets`).toBe(0);
      expect(k.TcpOutRsts, `${who} TcpOutRsts = RSTs on the wire`).toBe(w.rsts);
      expect(w.rstsEarly, `${who} RSTs sent while its connection was open`).toBe(0);
      expect(w.ackBelowMax, `${who} ACKs with a sequence number below SND.MAX`).toBe(0);
      // the counter counts the segments a capture shows as retransmissions, plus any that never
      // reached the wire: a segment waiting for an ARP reply that was lost is dropped when the
      // resolution gives up (WtcpArpUnresolved, WtcpArpQueueDrops), as a kernel's neighbour queue
      // drops it, after TCP counted it (a SYN sent again while the first ARP request is lost)
      const arpDropped = k.WtcpArpUnresolved + k.WtcpArpQueueDrops;
      expect(k.TcpRetransSegs - w.retransmissions, `${who} TcpRetransSegs ${k.TcpRetransSegs} vs retransmissions on the wire ${w.retransmissions} (${arpDropped} frames dropped unresolved)`)
        .toBeGreaterThanOrEqual(0);
      expect(k.TcpRetransSegs - w.retransmissions).toBeLessThanOrEqual(arpDropped);
      expect(k.TcpCurrEstab, `${who} TcpCurrEstab`).toBe(0);
    }
    expect(a.rxDropped + b.rxDropped, 'frames lost in the host').toBe(0);
    // every lost data frame had to be sent again; corrupted frames were all dropped and counted
    const sides = [
      { who: 'A', lane: fa.counters.tx, tally: ta.t, k: ca, peer: cb },
      { who: 'B', lane: fb.counters.tx, tally: tb.t, k: cb, peer: ca },
    ];
    for (const { who, lane, tally, k, peer } of sides) {
      expect(k.TcpRetransSegs, `${who} retransmitted at least each lost data segment (${tally.lostData})`).toBeGreaterThanOrEqual(tally.lostData);
      if (lane.lost > 0) expect(k.TcpRetransSegs, `${who} TcpRetransSegs under loss`).toBeGreaterThan(0);
      // each corrupted frame was dropped and counted where the damage is seen first: IpInHdrErrors
      // for the IP header (its checksum), TcpInCsumErrors (and TcpInErrs) for the TCP header or
      // data, TcpInErrs alone for a data offset made impossible (checked before the checksum, as in
      // Linux's tcp_v4_rcv)
      expect(peer.IpInHdrErrors, `${who}'s frames with a damaged IP header`).toBe(tally.ipHeader);
      expect(peer.TcpInCsumErrors, `${who}'s frames with damaged TCP bytes`).toBe(tally.tcpChecksum);
      expect(peer.TcpInErrs, `${who}'s frames in TcpInErrs`).toBe(tally.tcpChecksum + tally.tcpOffset);
      expect(tally.ipHeader + tally.tcpChecksum + tally.tcpOffset).toBe(tally.corruptedIp);
      expect(lane.corrupted).toBe(tally.corruptedIp + tally.corruptedOther);
    }

    const stats: RunStats = {
      wallMs: Math.round(performance.now() - t0),
      virtualMs: Math.round(virtualMs),
      steps,
      frames: wa.frames + wb.frames,
      timeouts: [ca.TcpExtTCPTimeouts, cb.TcpExtTCPTimeouts],
    };
    const faults = (x: typeof fa.counters.tx) => `lost ${x.lost}, duplicated ${x.duplicated}, corrupted ${x.corrupted}, reordered ${x.reordered}, queue drops ${x.queueDrops}`;
    console.log(
      `${name}: ${bytes / MB} MB each way in ${stats.wallMs} ms wall, ${stats.virtualMs} ms virtual, ${steps} clock steps, ${stats.frames} frames\n` +
      `  A->B faults: ${faults(fa.counters.tx)}; A TcpRetransSegs ${ca.TcpRetransSegs}, TCPTimeouts ${ca.TcpExtTCPTimeouts}; B IpInHdrErrors ${cb.IpInHdrErrors}, TcpInCsumErrors ${cb.TcpInCsumErrors}\n` +
      `  B->A faults: ${faults(fb.counters.tx)}; B TcpRetransSegs ${cb.TcpRetransSegs}, TCPTimeouts ${cb.TcpExtTCPTimeouts}; A IpInHdrErrors ${ca.IpInHdrErrors}, TcpInCsumErrors ${ca.TcpInCsumErrors}`,
    );
    return stats;
  } finally {
    a.close();
    b.close();
    fa.close();
    fb.close();
  }
}

const TIMEOUT = 300_000;

// Not part of the suite: BULK_SWEEP=from,to,loss [SWEEP_KB=256] runs the same checks over many seeds
// with small transfers and harsher faults (duplication 2 %, corruption 1 %, reordering 5 %), the way
// the assertions above were shaken out (seeds 1-150 at 20 % loss and 200-300 at 5 % with 4 MiB pass).
if (process.env.BULK_SWEEP) {
  const [from, to, loss] = process.env.BULK_SWEEP.split(',').map(Number) as [number, number, number];
  describe('sweep', () => {
    for (let seed = from; seed <= to; seed++) {
      it(`seed ${seed}`, async () => {
        await bulkRun(`sweep ${seed}`, seed, { loss, duplicate: 0.02, corrupt: 0.01, reorder: { probability: 0.05, gap: 3, timeout: 30 }, delay: { ms: 5, jitter: 10 } }, { bytes: Number(process.env.SWEEP_KB ?? 256) * 1024 });
      }, TIMEOUT);
    }
  });
}

describe(`${TOTAL / MB} MB each way at once over a seeded FaultLink (VirtualClock)`, () => {
  it('no loss: 10 ms delay each way, 100 Mbit/s', async () => {
    await bulkRun('0 % loss', 1, { delay: 10, rate: { bytesPerSecond: 12_500_000, queueFrames: 1000 } });
  }, TIMEOUT);

  it('1 % loss with reordering, 5-10 ms delay with jitter', async () => {
    await bulkRun('1 % loss', 2, { loss: 0.01, reorder: { probability: 0.02, gap: 3, timeout: 30 }, delay: { ms: 5, jitter: 5 } });
  }, TIMEOUT);

  it('both ends time out at once (3 s outage both ways while data is in flight) and recover', async () => {
    // Frames already past the loss stage still arrive, their ACKs are lost: each end times out and
    // rewinds SND.NXT below what the other has received. Bare ACKs that carried the rewound SND.NXT
    // were below the peer's window, dropped unread and answered by ACKs from the same state: the two
    // ends exchanged ACKs for ever and the transfer never finished (conn.ts connSendAck, fixed).
    const stats = await bulkRun('outage', 4, { delay: 10, rate: { bytesPerSecond: 12_500_000 } }, { bytes: 8 * MB, outage: { at: 300, ms: 3000 } });
    // both ends really timed out (and rewound SND.NXT), and the transfer still ended in seconds
    expect(stats.timeouts[0]).toBeGreaterThan(0);
    expect(stats.timeouts[1]).toBeGreaterThan(0);
    expect(stats.virtualMs).toBeLessThan(60_000);
  }, TIMEOUT);

  it('5 % loss with reordering, duplication and corruption, 10-20 ms delay with jitter', async () => {
    await bulkRun('5 % loss', 3, {
      loss: 0.05,
      duplicate: 0.01,
      corrupt: 0.005,
      reorder: { probability: 0.02, gap: 3, timeout: 30 },
      delay: { ms: 10, jitter: 10 },
    });
  }, TIMEOUT);
});
