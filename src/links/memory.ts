/**
 * In-memory links: two connected ends (MemoryLink.pair) and a learning switch (MemoryHub) for
 * joining more than two stacks or test peers without any real network.
 *
 * Delivery is ASYNCHRONOUS and in order. `send()` copies the frame at once (the caller may reuse its
 * buffer, e.g. a view into WASM memory) and queues it; the queue is delivered on a microtask by
 * default, all frames queued in the same tick in one go. Two stacks answering each other therefore
 * never recurse: each answer is delivered on a later microtask, after the sender's call has returned.
 * `delivery: 'macrotask'` waits for the next event-loop turn instead (lets timers and I/O in between
 * when two endpoints could ping-pong forever); `delivery: 'manual'` delivers only when `flush()` is
 * called (for tests that want to hold frames back).
 *
 * The queue is one reused byte area per receiving end (two, swapped at each delivery, so that frames
 * sent while a batch is delivered wait for the next one), holding the frames as records in the
 * core's layout (src/links/link.ts RecordLink). A Stack on each end moves a whole output area with
 * one copy (`sendRecords`) and takes each delivered batch straight into its input area
 * (`onReceiveRecords`): nothing is allocated per frame. While nothing is queued for it, a Stack
 * even takes the records straight into its input area during `sendRecords` (its `take`), and
 * processes them on its own microtask as it would after a delivery: one copy from core to core.
 * Only with the default 'microtask' delivery and no tap. A plain `onReceive` handler and a tap get
 * a fresh copy of each frame, as before, so they may keep it.
 *
 * Frames sent while the other end has no receiver are dropped and counted (`dropped`), as a cable
 * with nobody at the other end would lose them.
 */

import { countRecords, recordSize, type FrameRecordHandler, type FrameRecordTaker, type RecordLink } from './link.js';
import { LearningSwitch } from './switch.js';

export type MemoryDelivery = 'microtask' | 'macrotask' | 'manual';

export interface MemoryLinkOptions {
  /** default 1500 */
  mtu?: number;
  /** default 'microtask' */
  delivery?: MemoryDelivery;
}

function scheduleMacrotask(fn: () => void): void {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  if (typeof g.setImmediate === 'function') g.setImmediate(fn);
  else globalThis.setTimeout(fn, 0);
}

/** first size of a queue area; it doubles as needed and is kept for reuse */
const QUEUE_INITIAL = 64 * 1024;
/** a record that stands for a frame too long for a record's 16-bit length (kept aside, in #big) */
const BIG_MARK = 1;

/** One end of an in-memory cable. */
export class MemoryLink implements RecordLink {
  readonly mtu: number;
  readonly delivery: MemoryDelivery;
  /** frames this end sent */
  sent = 0;
  /** frames delivered to this end's receiver */
  received = 0;
  /** frames addressed to this end that were lost (closed, or no receiver installed) */
  dropped = 0;

  #peer: MemoryLink | undefined;
  #handler: ((frame: Uint8Array) => void) | null = null;
  #recordHandler: FrameRecordHandler | null = null;
  #take: FrameRecordTaker | undefined;
  /** records waiting to be delivered TO this end: #q[0, #qEnd), #qCount of them */
  #q: Uint8Array = new Uint8Array(0);
  #qEnd = 0;
  #qCount = 0;
  /** frames longer than 65535 bytes, in order, each standing behind a BIG_MARK record */
  #big: Uint8Array[] = [];
  /** the other queue area, reused (null while it is being delivered from) */
  #spare: Uint8Array | null = null;
  #scheduled = false;
  #closed = false;
  #tap: ((frame: Uint8Array, direction: 'out' | 'in') => void) | undefined;
  readonly #flushFn = (): void => {
    this.flush();
  };

  private constructor(mtu: number, delivery: MemoryDelivery) {
    this.mtu = mtu;
    this.delivery = delivery;
  }

  /** Two connected ends: what one sends, the other receives. */
  static pair(opts: MemoryLinkOptions = {}): [MemoryLink, MemoryLink] {
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`MemoryLink mtu must be an integer 68..65535, got ${mtu}`);
    const delivery = opts.delivery ?? 'microtask';
    if (delivery !== 'microtask' && delivery !== 'macrotask' && delivery !== 'manual') {
      throw new TypeError(`MemoryLink delivery must be 'microtask', 'macrotask' or 'manual', got ${String(delivery)}`);
    }
    const a = new MemoryLink(mtu, delivery);
    const b = new MemoryLink(mtu, delivery);
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Frames queued for this end and not yet delivered. */
  get pending(): number {
    return this.#qCount;
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    const peer = this.#peer;
    this.sent++;
    this.#tap?.(frame.slice(), 'out');
    if (!peer || peer.#closed) return;
    peer.#append(frame);
  }

  /**
   * Send `count` frames given as records (src/links/link.ts RecordLink) in `data[start, end)`: one
   * copy for the whole batch. The caller may reuse `data` once this returns.
   */
  sendRecords(data: Uint8Array, start: number, end: number, count: number): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('MemoryLink.sendRecords: data must be a Uint8Array');
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > data.length || start > end || (end - start) % 4 !== 0) {
      throw new RangeError(`MemoryLink.sendRecords: [${start}, ${end}) must be a range of whole records within data (length ${data.length})`);
    }
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`MemoryLink.sendRecords: count must be an integer >= 0, got ${count}`);
    if (this.#closed || count === 0) return;
    const peer = this.#peer;
    this.sent += count;
    const tap = this.#tap;
    if (tap) forEachRecord(data, start, end, count, (p, len) => tap(data.slice(p + 4, p + 4 + len), 'out'));
    if (!peer || peer.#closed) return;
    // a receiver that copies records in at once (a Stack: into its input area, processed on a later
    // microtask) saves the copy into the queue, as long as nothing queued must arrive before them
    const take = peer.#take;
    if (take && peer.#qCount === 0 && peer.delivery === 'microtask' && !peer.#tap && peer.#recordHandler) {
      const q = take(data, start, end, count);
      if (q >= end) {
        peer.received += count;
        return;
      }
      if (q > start) {
        const rest = countRecords(data, q, end);
        peer.received += count - rest;
        start = q;
        count = rest;
      }
    }
    const n = end - start;
    peer.#reserve(n);
    peer.#q.set(data.subarray(start, end), peer.#qEnd);
    peer.#qEnd += n;
    peer.#qCount += count;
    peer.#schedule();
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.#handler = handler;
    if (handler && this.#qCount > 0) this.#schedule();
  }

  /**
   * Take delivered frames as whole batches of records (valid during the call). While set, the
   * `onReceive` handler gets only the frames longer than 65,535 bytes, which no record can carry
   * (without one, those are dropped and counted).
   */
  onReceiveRecords(handler: FrameRecordHandler | null, take?: FrameRecordTaker): void {
    if (take !== undefined && typeof take !== 'function') throw new TypeError('MemoryLink.onReceiveRecords: take must be a function');
    this.#recordHandler = handler;
    this.#take = handler ? take : undefined;
    if (handler && this.#qCount > 0) this.#schedule();
  }

  /** Watch every frame this end sends ('out') and receives ('in'), e.g. for a pcap writer. */
  onTap(fn: ((frame: Uint8Array, direction: 'out' | 'in') => void) | undefined): void {
    this.#tap = fn;
  }

  /** Deliver everything queued for this end now (any delivery mode). Returns frames delivered. */
  flush(): number {
    this.#scheduled = false;
    const count = this.#qCount;
    if (count === 0) return 0;
    // frames queued while delivering (by our own handler's answers travelling back) go to the other
    // area and wait for the next round: bounded work per flush, no unbounded recursion
    const buf = this.#q;
    const end = this.#qEnd;
    const big = this.#big;
    this.#q = this.#spare ?? new Uint8Array(buf.length);
    this.#spare = null;
    this.#qEnd = 0;
    this.#qCount = 0;
    if (big.length > 0) this.#big = [];
    let n = 0;
    try {
      n = this.#deliver(buf, end, count, big);
    } finally {
      if (this.#spare === null && !this.#closed) this.#spare = buf;
    }
    if (this.#qCount > 0) this.#schedule();
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dropped += this.#qCount;
    this.#q = new Uint8Array(0);
    this.#spare = null;
    this.#qEnd = 0;
    this.#qCount = 0;
    this.#big = [];
    this.#handler = null;
    this.#recordHandler = null;
    this.#take = undefined;
  }

  #deliver(buf: Uint8Array, end: number, count: number, big: Uint8Array[]): number {
    const rh = this.#recordHandler;
    if (rh && !this.#tap && big.length === 0) {
      // the fast path: the whole batch at once
      if (this.#closed) {
        this.dropped += count;
        return 0;
      }
      this.received += count;
      callSafely(() => rh(buf, 0, end, count));
      return count;
    }
    // frame by frame: taps and plain handlers get a copy of each frame; a records handler gets the
    // runs of records between the frames that no record can carry
    let n = 0;
    let bi = 0;
    let p = 0;
    let runStart = 0;
    let runCount = 0;
    const flushRun = (): void => {
      const h = this.#recordHandler;
      if (runCount === 0) return;
      if (h && !this.#closed) {
        const s = runStart;
        const c = runCount;
        this.received += c;
        n += c;
        callSafely(() => h(buf, s, p, c));
      } else {
        this.dropped += runCount;
      }
      runCount = 0;
    };
    for (let i = 0; i < count && p + 4 <= end; i++) {
      const len = (buf[p] as number) | ((buf[p + 1] as number) << 8);
      const isBig = len === 0 && buf[p + 2] === BIG_MARK;
      const rec = recordSize(len);
      const h = this.#handler;
      const rh2 = this.#recordHandler;
      if (this.#closed || (!h && !rh2)) {
        flushRun();
        this.dropped += count - i;
        return n;
      }
      if (rh2 && !isBig) {
        if (runCount === 0) runStart = p;
        this.#tap?.(buf.slice(p + 4, p + 4 + len), 'in');
        runCount++;
        p += rec;
        continue;
      }
      flushRun();
      const frame = isBig ? (big[bi++] as Uint8Array) : buf.slice(p + 4, p + 4 + len);
      p += rec;
      runStart = p;
      const handler = this.#handler;
      if (this.#closed || !handler) {
        this.dropped++;
        continue;
      }
      this.received++;
      this.#tap?.(frame, 'in');
      callSafely(() => handler(frame));
      n++;
    }
    flushRun();
    return n;
  }

  #append(frame: Uint8Array): void {
    const len = frame.length;
    if (len > 0xffff) {
      // no record can carry it: keep it aside, behind a marker record
      this.#reserve(4);
      const q = this.#q;
      const p = this.#qEnd;
      q[p] = 0;
      q[p + 1] = 0;
      q[p + 2] = BIG_MARK;
      q[p + 3] = 0;
      this.#qEnd = p + 4;
      this.#big.push(frame.slice());
    } else {
      const rec = recordSize(len);
      this.#reserve(rec);
      const q = this.#q;
      const p = this.#qEnd;
      q[p] = len & 0xff;
      q[p + 1] = len >>> 8;
      q[p + 2] = 0;
      q[p + 3] = 0;
      q.set(frame, p + 4);
      this.#qEnd = p + rec;
    }
    this.#qCount++;
    this.#schedule();
  }

  /** Room for `n` more bytes in the queue area (grown by doubling, the queued records kept). */
  #reserve(n: number): void {
    const need = this.#qEnd + n;
    if (need <= this.#q.length) return;
    let cap = Math.max(this.#q.length, QUEUE_INITIAL);
    while (cap < need) cap *= 2;
    const q = new Uint8Array(cap);
    q.set(this.#q.subarray(0, this.#qEnd));
    this.#q = q;
  }

  #schedule(): void {
    if (this.#scheduled || this.delivery === 'manual') return;
    this.#scheduled = true;
    if (this.delivery === 'microtask') queueMicrotask(this.#flushFn);
    else scheduleMacrotask(this.#flushFn);
  }
}

/** Call `fn`; an exception is reported asynchronously (as an uncaught one) and the caller goes on. */
function callSafely(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

/** Walk `count` records of data[start, end): fn(record offset, frame length). */
function forEachRecord(data: Uint8Array, start: number, end: number, count: number, fn: (p: number, len: number) => void): void {
  let p = start;
  for (let i = 0; i < count && p + 4 <= end; i++) {
    const len = (data[p] as number) | ((data[p + 1] as number) << 8);
    if (p + 4 + len > end) break;
    fn(p, len);
    p += recordSize(len);
  }
}

/**
 * A learning Ethernet switch over memory links: `hub.attach()` returns a Link for one port. Frames
 * go to the port that last sent from the destination MAC, or to every other port (broadcast,
 * multicast, unknown destination). The switching is src/links/switch.ts's, with time counted in
 * frames (no clock here): a learned address never ages out while the hub lives.
 */
export class MemoryHub {
  readonly #opts: MemoryLinkOptions;
  readonly #ports: { own: MemoryLink; user: MemoryLink }[] = [];
  readonly #switch = new LearningSwitch<MemoryLink>({ ageingMs: Number.MAX_SAFE_INTEGER });

  constructor(opts: MemoryLinkOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('MemoryHub options must be an object { mtu, delivery }');
    MemoryLink.pair(opts); // check mtu and delivery now, not at the first attach()
    this.#opts = opts;
  }

  /** A new port; give the returned Link to a stack or peer. */
  attach(): MemoryLink {
    const [own, user] = MemoryLink.pair(this.#opts);
    this.#ports.push({ own, user });
    this.#switch.addPort(own);
    // batches of records: each frame is looked at and copied on to its ports, never copied out first
    own.onReceiveRecords((data, start, end, count) => {
      forEachRecord(data, start, end, count, (p, len) => this.#forward(own, data.subarray(p + 4, p + 4 + len)));
    });
    own.onReceive((frame) => this.#forward(own, frame)); // frames too long for a record
    return user;
  }

  #forward(from: MemoryLink, frame: Uint8Array): void {
    for (const out of this.#switch.forward(from, frame, 0)) {
      if (out.closed) this.#switch.removePort(out);
      else out.send(frame);
    }
  }

  close(): void {
    for (const p of this.#ports) {
      p.own.close();
      p.user.close();
      this.#switch.removePort(p.own);
    }
    this.#ports.length = 0;
  }
}
