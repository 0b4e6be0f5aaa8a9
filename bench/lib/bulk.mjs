// Bulk transfer between two in-process stacks (bench/lib/pair.mjs): one connection from A to B,
// A's application writes, B's application reads. Each step is one turn of an event loop:
//   A: send(): as many bytes as the send buffer takes (connWrite; the core segments them at the
//      MSS within min(SND.WND, cwnd), builds each frame with its checksums);
//   wire A -> B: the frames are copied into B's input area; B verifies the IPv4 and TCP checksums,
//      appends in-order data to the receive buffer, ACKs (Linux's quick/delayed-ACK rules);
//   B: recv(): the application copies everything buffered out (connRead);
//   wire B -> A: the ACKs are processed by A (frees acknowledged bytes, RTT, cwnd, window).
// The applications' buffers live in each instance's WebAssembly memory (pages the host added after
// init, beyond the core's heap), as a program's buffers live in its own memory. The sent stream is
// a fixed pattern with a prime period, so the receiver can check every byte (verify = true).
import { makePair } from './pair.mjs';
import { establishIdle } from './conncycle.mjs';

export const PERIOD = 65521;   // prime: stream byte i is pattern[i % PERIOD]
const MAX_TICK = 5;            // ms: the most the pair's clock moves in one turn of the loop

export async function makeBulk({ mtu = 1500, sndbuf = 1 << 20, rcvbuf = 1 << 20, rxChunks = 4096, now = 1000, held = 0 } = {}) {
  const knobs = mtu !== 1500 ? { link_mtu: mtu } : {};
  // `held` idle established connections between the same two instances (bench/cases/heldscale.mjs)
  const idlePorts = Array.from({ length: Math.ceil(held / 64512) }, (_, i) => 6000 + i);
  const pair = await makePair({ maxConn: 64 + held, maxSyn: held > 0 ? 4096 : 64, rxChunks, knobs, ports: [5001, ...idlePorts], maxListeners: 2 + idlePorts.length, now });
  if (held > 0) establishIdle(pair, held, idlePorts, now);
  const A = pair.a.w, B = pair.b.w;
  // application buffers: 4 pages (256 KiB) appended to each instance's memory
  const aBase = A.memory.grow(4) << 16, bBase = B.memory.grow(4) << 16;
  const am = pair.a.mem();
  for (let i = 0; i < 2 * PERIOD; i++) am[aBase + i] = (i % PERIOD) * 131 + ((i % PERIOD) >>> 7) & 255;
  const c = A.connConnect(0, 0xc6120001, 40000, 0xc6120002, 5001, 0);
  if (c < 0) throw new Error(`connConnect ${c}`);
  // Linux's autotuning would grow both buffers; set them as a tuned socket would have them
  if (A.connSetOpt(c, 6, sndbuf) !== 0) throw new Error('SO_SNDBUF');
  pair.pump(now);
  const s = B.listenerAccept(pair.listeners.get(5001));
  if (s < 0) throw new Error(`accept ${s}`);
  if (B.connSetOpt(s, 7, rcvbuf) !== 0) throw new Error('SO_RCVBUF');
  return new Bulk(pair, c, s, aBase, bBase);
}

export class Bulk {
  constructor(pair, c, s, aBase, bBase) {
    Object.assign(this, { pair, c, s, aBase, bBase });
    this.sent = 0; this.recvd = 0; this.errors = 0;
    // The pair's clock (ms) follows wall time while the pair runs, but moves at most MAX_TICK ms per
    // turn of the loop: the pauses while other pairs are sampled, and a scheduler stall of this
    // whole process on a loaded machine, must not look like a stalled network to the timers (both
    // ends live in this process: nothing is in flight while it does not run).
    this.clock = 1000; this.last = performance.now();
    this.rbuf = 196608;   // the receiver's read size
  }
  now() {
    const t = performance.now();
    let d = t - this.last;
    this.last = t;
    if (d > MAX_TICK) d = MAX_TICK;
    this.clock += d;
    return this.clock >>> 0;
  }

  /** `iters` event-loop turns; returns bytes the receiving application got. */
  run(iters, verify = false) {
    const A = this.pair.a.w, B = this.pair.b.w, p = this.pair;
    const r0 = this.recvd;
    this.last = performance.now();
    for (let i = 0; i < iters; i++) {
      const now = this.now();
      const off = this.sent % PERIOD;
      const n = A.connWrite(this.c, this.aBase + off, PERIOD);
      if (n < 0) throw new Error(`connWrite ${n}`);
      this.sent += n;
      p.move(p.a, p.b, now);
      this.readAll(B, verify);
      p.move(p.b, p.a, now);
    }
    // drain before returning: the benchmark samples several pairs in alternation, and a segment
    // left in flight while another pair runs would meet a (spurious) retransmission timeout
    for (let k = 0; k < 10000; k++) {
      const now = this.now();
      const x = p.move(p.a, p.b, now);
      this.readAll(B, verify);
      const y = p.move(p.b, p.a, now);
      if (!x && !y) break;
    }
    return this.recvd - r0;
  }

  readAll(B, verify) {
    for (;;) {
      const k = B.connRead(this.s, this.bBase, this.rbuf);
      if (k <= 0) { if (k !== -11 && k !== 0) throw new Error(`connRead ${k}`); break; }
      if (verify) this.check(k);
      this.recvd += k;
    }
  }

  check(k) {
    const bm = this.pair.b.mem(), am = this.pair.a.mem();
    let done = 0;
    while (done < k) {
      const off = (this.recvd + done) % PERIOD;
      const n = Math.min(k - done, PERIOD);   // the pattern copy in A's buffer is 2 periods long
      const a = am.subarray(this.aBase + off, this.aBase + off + n);
      const b = bm.subarray(this.bBase + done, this.bBase + done + n);
      if (Buffer.compare(a, b) !== 0) this.errors++;
      done += n;
    }
  }
}
