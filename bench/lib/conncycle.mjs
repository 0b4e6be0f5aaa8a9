// Connect + accept + close, end to end between two in-process stacks (bench/lib/pair.mjs): A opens
// actively (connConnect: SYN with MSS, SACK-permitted, TS, WS), B listens; full handshake, accept on
// B, then A closes first (FIN-WAIT-1/2, TIME-WAIT) and B closes after the FIN reached it (CLOSE-WAIT,
// LAST-ACK, freed by A's ACK). Same order as bench/kernel/passive_open.c (client closes first, the
// client holds the TIME-WAIT).
//
// Pipelined in groups of G connections. One step: A connects group n, A closes group n-1 (accepted
// in the previous step), B closes group n-2 (whose FIN arrived in the previous step); then the frames
// go back and forth until both stacks are quiet (pump), and B accepts group n. 7 segments per
// connection cross the wire: SYN, SYN-ACK, ACK, FIN, ACK, FIN, ACK.
//
// The clock: each step advances the stacks' clock by `dtMs` (default 30 ms) rather than by wall time,
// so that TIME-WAIT (60 s, Linux's TCP_TIMEWAIT_LEN) holds a bounded population, 60000 / dtMs steps
// of G connections (128,000 at the defaults: this machine's net.ipv4.tcp_max_tw_buckets is 131,072).
// TIME-WAIT entries still expire through the timer wheel inside the timed loop. Nothing else waits
// on a timer: every segment is delivered within its step.
//
// Tuples: A's ports 1024..65535 (1,008 groups of 64) times `ports` listening ports on B.
import { A_IP, B_IP } from './pair.mjs';

export const LPORT_GROUPS = 1008;   // 64,512 client ports / 64

export class ConnCycle {
  constructor(pair, { G = 64, ports = [80, 81, 82, 83, 84, 85, 86, 87], dtMs = 30, now0 = 1000 } = {}) {
    if (G !== 64) throw new Error('G must be 64 (client port groups)');
    this.p = pair; this.G = G; this.ports = ports; this.dt = dtMs; this.now = now0;
    this.ring = LPORT_GROUPS * ports.length;
    this.g = 0;
    this.aPrev = new Int32Array(G); this.aCur = new Int32Array(G);     // A handles of groups n-1, n
    this.bPrev2 = new Int32Array(G); this.bPrev = new Int32Array(G); this.bCur = new Int32Array(G);
    this.hasPrev = false; this.hasPrev2 = false;
    this.cycles = 0;      // connections accepted by B and closed by both sides' applications
    this.steps = 0;
  }

  tuple(g) {
    const k = g % this.ring;
    return { port: this.ports[Math.floor(k / LPORT_GROUPS)], lport0: 1024 + (k % LPORT_GROUPS) * this.G };
  }

  run(iters) {
    const c0 = this.cycles;
    for (let i = 0; i < iters; i++) this.step();
    return this.cycles - c0;
  }

  step() {
    const A = this.p.a.w, B = this.p.b.w, G = this.G;
    this.now = (this.now + this.dt) >>> 0;
    const now = this.now;
    const { port, lport0 } = this.tuple(this.g);
    // A: connect group n
    const aCur = this.aCur;
    for (let i = 0; i < G; i++) {
      const c = A.connConnect(0, A_IP, lport0 + i, B_IP, port, 0);
      if (c < 0) throw new Error(`connConnect ${lport0 + i} -> ${port}: ${c} (step ${this.steps})`);
      aCur[i] = c;
    }
    // A: close group n-1 (client FIN first); B: close group n-2 (its FIN arrived last step)
    if (this.hasPrev) { const h = this.aPrev; for (let i = 0; i < G; i++) A.connClose(h[i]); }
    if (this.hasPrev2) { const h = this.bPrev2; for (let i = 0; i < G; i++) B.connClose(h[i]); this.cycles += G; }
    this.p.pump(now);
    // B: accept group n
    const l = this.p.listeners.get(port), bCur = this.bPrev2;   // reuse the closed group's array
    for (let i = 0; i < G; i++) {
      const c = B.listenerAccept(l);
      if (c < 0) throw new Error(`accept on ${port}: ${c} (step ${this.steps})`);
      bCur[i] = c;
    }
    // rotate
    this.bPrev2 = this.bPrev; this.bPrev = bCur; this.hasPrev2 = this.hasPrev;
    const t = this.aPrev; this.aPrev = aCur; this.aCur = t; this.hasPrev = true;
    this.g++; this.steps++;
  }
}

/**
 * Establish `n` idle connections from A to B on ports `ports` (A's ports 1024..65535 on each), in
 * batches, accepted on B; returns { aHandles, bHandles } (Int32Array) in the same order.
 */
export function establishIdle(pair, n, ports, now) {
  const A = pair.a.w, B = pair.b.w;
  const aH = new Int32Array(n), bH = new Int32Array(n);
  const per = 64512;
  if (n > per * ports.length) throw new Error(`${n} idle connections need ${Math.ceil(n / per)} ports`);
  const batch = 128;
  for (let i0 = 0; i0 < n; i0 += batch) {
    const k = Math.min(batch, n - i0);
    // a batch never straddles two ports (64,512 is a multiple of 128)
    const port = ports[Math.floor(i0 / per)];
    for (let j = 0; j < k; j++) {
      const i = i0 + j;
      const c = A.connConnect(0, A_IP, 1024 + (i % per), B_IP, port, 0);
      if (c < 0) throw new Error(`idle connConnect #${i}: ${c}`);
      aH[i] = c;
    }
    pair.pump(now);
    const l = pair.listeners.get(port);
    for (let j = 0; j < k; j++) {
      const c = B.listenerAccept(l);
      if (c < 0) throw new Error(`idle accept #${i0 + j}: ${c}`);
      bH[i0 + j] = c;
    }
  }
  return { aHandles: aH, bHandles: bH };
}
