// The server-side passive-open cycle, driven from pre-built client frames:
//   SYN in -> SYN-ACK out -> ACK in (ack = ISS+1, patched) -> listenerAccept() ->
//   client FIN|ACK in (patched) -> connClose() (server FIN, LAST_ACK) -> client ACK of that FIN in
//   (patched) -> the connection is freed. No TIME-WAIT on the server (it closes second).
// or, with close = 'abort': SYN, SYN-ACK, ACK, accept, connAbort() (RST out, freed at once).
//
// Pipelined in groups of B connections, one input() call per step carrying up to 4 stages:
//   [SYN of group n][ACK of group n-1][FIN of the group accepted after the previous step]
//   [last ACK of the group closed after the previous step]
// i.e. 4*B frames per input() call in the steady state (B = 64: 256 frames per call).
// After the call: the SYN-ACKs are read (ISS and TSval per tuple), B connections are accepted
// (oldest first: with `queued` connections kept in the accept queue, these are `queued` old), the
// previous step's accepted group is closed, and the output area and event ring are drained (the frames
// the core produced are dropped here: the benchmark has no wire).
//
// Client tuples come from a ring of R tuples whose four records each (SYN, ACK, FIN, last ACK) are
// pre-built; a group of B consecutive tuples is one contiguous copy per stage. Only ack/TSecr and
// the TCP checksum (RFC 1624) are patched in the timed loop.
import {
  writeTcpRecord, synOptions, ackOptions, tcpRecordSize, patchAckEcr, get16, get32, tcpRecordChecksumOk,
  tupleAddr, tuplePort, tupleIsn, CLIENT_TSVAL, TH_SYN, TH_ACK, TH_FIN, R_TCP, R_TCP_SEQ, ip4,
} from './frames.mjs';

export const SYN_REC = tcpRecordSize(20);   // 80
export const ACK_REC = tcpRecordSize(12);   // 72
const CLIENT_BASE = ip4('198.19.0.0');   // in-memory only, but kept inside 198.18.0.0/15 like every address the project uses

/** Pre-built records for ring tuples 0..R-1 (shared by every Cycle that uses the same ring). */
export function buildRing(R, { withClose = true } = {}) {
  const syn = new Uint8Array(R * SYN_REC);
  const ack = new Uint8Array(R * ACK_REC);
  const fin = withClose ? new Uint8Array(R * ACK_REC) : null;
  const last = withClose ? new Uint8Array(R * ACK_REC) : null;
  const sOpts = synOptions(CLIENT_TSVAL);
  const aOpts = ackOptions(CLIENT_TSVAL, 0);
  for (let t = 0; t < R; t++) {
    const src = tupleAddr(CLIENT_BASE, t), sport = tuplePort(t), isn = tupleIsn(t);
    writeTcpRecord(syn, t * SYN_REC, { src, sport, seq: isn, flags: TH_SYN, win: 64240, opts: sOpts });
    writeTcpRecord(ack, t * ACK_REC, { src, sport, seq: isn + 1, ack: 0, flags: TH_ACK, win: 502, opts: aOpts });
    if (withClose) {
      writeTcpRecord(fin, t * ACK_REC, { src, sport, seq: isn + 1, ack: 0, flags: TH_FIN | TH_ACK, win: 502, opts: aOpts });
      writeTcpRecord(last, t * ACK_REC, { src, sport, seq: isn + 2, ack: 0, flags: TH_ACK, win: 502, opts: aOpts });
    }
  }
  // self-test of the incremental checksum on a copy
  const probe = ack.slice(0, ACK_REC);
  patchAckEcr(probe, 0, 0xdeadbeef, 0x01020304);
  if (!tcpRecordChecksumOk(probe, 0)) throw new Error('patchAckEcr: bad checksum');
  return { R, syn, ack, fin, last, ports: Uint16Array.from({ length: R }, (_, t) => tuplePort(t)) };
}

/** Fill the SYN queue with `n` half-open connections from another address range (never completed). */
export function fillHalfOpen(stack, n, now, base = ip4('11.0.0.0')) {
  const w = stack.w;
  const B = 256;
  const opts = synOptions(CLIENT_TSVAL);
  for (let t0 = 0; t0 < n; t0 += B) {
    const m = stack.mem();
    let off = w.inputPtr();
    const k = Math.min(B, n - t0);
    for (let i = 0; i < k; i++) {
      const t = t0 + i;
      off += writeTcpRecord(m, off, { src: tupleAddr(base, t), sport: tuplePort(t), seq: tupleIsn(t), flags: TH_SYN, win: 64240, opts });
    }
    w.input(k, now);
    w.outputReset(); w.eventsReset();
  }
}

export class Cycle {
  /**
   * stack: from makeStack (listener open); ring: from buildRing.
   * opts: { B, queued (connections kept in the accept queue), close: 'fin' | 'abort', clock: 'real' | 'frozen', now0,
   *   hostTimers: also call nextTimer() twice per step, as src/stack.ts does after every batch }
   */
  constructor(stack, ring, opts = {}) {
    this.s = stack; this.w = stack.w; this.ring = ring;
    this.B = opts.B ?? 64;
    this.queued = opts.queued ?? 0;
    this.abort = (opts.close ?? 'fin') === 'abort';
    this.frozen = (opts.clock ?? 'real') === 'frozen';
    this.now0 = opts.now0 ?? 1000;
    this.hostTimers = opts.hostTimers ?? false;
    this.t0 = performance.now();
    if (ring.R % this.B) throw new Error('ring size must be a multiple of B');
    if (ring.R < this.queued + 8 * this.B) throw new Error('ring too small for the queue depth');
    if (!this.abort && !ring.fin) throw new Error('ring built without close frames');
    this.iss = new Uint32Array(ring.R);
    this.tsv = new Uint32Array(ring.R);
    this.cursor = 0;          // next tuple to SYN
    this.ackG = -1;           // group SYN'd in the previous step
    this.finG = -1;           // group accepted after the previous step (gets its FIN now)
    this.lastG = -1;          // group closed after the previous step (gets its last ACK now)
    this.acceptCursor = 0;
    this.queueLen = 0;        // completed, not yet accepted
    this.hFin = new Int32Array(this.B);
    this.hNew = new Int32Array(this.B);
    this.cycles = 0;          // connections accepted (and closed or aborted)
    this.inPtr = this.w.inputPtr();
    this.outPtr = this.w.outputPtr();
    this.listener = stack.listener;
  }

  now() { return this.frozen ? this.now0 : (this.now0 + (performance.now() - this.t0)) >>> 0; }

  /** Run until `queued` connections sit in the accept queue (no accept yet). */
  prefill() {
    while (this.queueLen < this.queued) this.step(true);
  }

  /** `iters` steps; returns the number of connections accepted in them. core = false: host work only. */
  run(iters, core = true) {
    const c0 = this.cycles;
    for (let i = 0; i < iters; i++) this.step(core);
    return core ? this.cycles - c0 : iters * this.B;
  }

  step(core) {
    const w = this.w, B = this.B, ring = this.ring, R = ring.R;
    const m = this.s.mem();
    const iss = this.iss, tsv = this.tsv;
    let off = this.inPtr, n = 0;
    // stage 1: SYNs of a new group
    const g = this.cursor;
    m.set(ring.syn.subarray(g * SYN_REC, (g + B) * SYN_REC), off);
    off += B * SYN_REC; n += B;
    // stage 2: the third ACK for the group SYN'd last step
    const a = this.ackG;
    if (a >= 0) {
      m.set(ring.ack.subarray(a * ACK_REC, (a + B) * ACK_REC), off);
      for (let i = 0; i < B; i++) patchAckEcr(m, off + i * ACK_REC, (iss[a + i] + 1) >>> 0, tsv[a + i]);
      off += B * ACK_REC; n += B;
    }
    // stage 3: the client's FIN for the group accepted last step
    const f = this.finG;
    if (f >= 0) {
      m.set(ring.fin.subarray(f * ACK_REC, (f + B) * ACK_REC), off);
      for (let i = 0; i < B; i++) patchAckEcr(m, off + i * ACK_REC, (iss[f + i] + 1) >>> 0, tsv[f + i]);
      off += B * ACK_REC; n += B;
    }
    // stage 4: the client's ACK of the server's FIN for the group closed last step
    const l = this.lastG;
    if (l >= 0) {
      m.set(ring.last.subarray(l * ACK_REC, (l + B) * ACK_REC), off);
      for (let i = 0; i < B; i++) patchAckEcr(m, off + i * ACK_REC, (iss[l + i] + 2) >>> 0, tsv[l + i]);
      off += B * ACK_REC; n += B;
    }
    if (!core) {
      // host-only baseline: the same copies and patches, no core; keep all four stages busy
      this.advance(g, a, f, a);
      return;
    }
    const now = this.now();
    w.input(n, now);
    // one SYN-ACK per SYN, in order; timers run first in input(), so a retransmission (after a
    // pause between samples longer than the 1 s SYN-ACK timeout) may come before them: skip others
    let p = this.outPtr;
    const ports = ring.ports;
    const nOut = w.outputCount();
    let i = 0;
    for (let k = 0; k < nOut && i < B; k++) {
      const len = m[p] | (m[p + 1] << 8);
      const t = g + i;
      if (m[p + R_TCP + 13] === 0x12 && get16(m, p + R_TCP + 2) === ports[t]) {
        iss[t] = get32(m, p + R_TCP_SEQ);
        // Linux option layout MSS, SACK-perm, TS: TSval at TCP offset 28
        tsv[t] = m[p + R_TCP + 26] === 8 ? get32(m, p + R_TCP + 28) : 0;
        i++;
      }
      p += (4 + len + 3) & ~3;
    }
    if (i !== B) throw new Error(`step: ${B - i} SYN-ACKs missing for tuples ${g}..${g + B - 1}`);
    w.outputReset();
    w.eventsReset();
    if (a >= 0) this.queueLen += B;
    // close the group whose FIN just arrived (CLOSE_WAIT -> LAST_ACK)
    if (f >= 0) { const h = this.hFin; for (let i = 0; i < B; i++) w.connClose(h[i]); }
    // accept the oldest B beyond the kept queue depth
    let acc = -1;
    if (this.queueLen >= this.queued + B) {
      const L = this.listener, h = this.hNew;
      for (let i = 0; i < B; i++) {
        const c = w.listenerAccept(L);
        if (c < 0) throw new Error(`accept: ${c}`);
        h[i] = c;
      }
      if (this.abort) for (let i = 0; i < B; i++) w.connAbort(h[i]);
      acc = this.acceptCursor;
      this.acceptCursor = (acc + B) % R;
      this.queueLen -= B;
      this.cycles += B;
    }
    w.outputReset();
    if (this.hostTimers) { w.nextTimer(now); w.nextTimer(now); }
    this.advance(g, a, f, acc);
  }

  advance(g, a, f, acc) {
    this.lastG = this.abort ? -1 : f;
    this.finG = this.abort ? -1 : acc;
    const t = this.hFin; this.hFin = this.hNew; this.hNew = t;
    this.ackG = g;
    this.cursor = (g + this.B) % this.ring.R;
  }
}
