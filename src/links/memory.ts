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
 * Frames sent while the other end has no receiver are dropped and counted (`dropped`), as a cable
 * with nobody at the other end would lose them.
 */

import type { Link } from './link.js';
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

/** One end of an in-memory cable. */
export class MemoryLink implements Link {
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
  /** frames waiting to be delivered TO this end */
  #queue: Uint8Array[] = [];
  #scheduled = false;
  #closed = false;
  #tap: ((frame: Uint8Array, direction: 'out' | 'in') => void) | undefined;

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
    return this.#queue.length;
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    const peer = this.#peer;
    this.sent++;
    const copy = frame.slice();
    this.#tap?.(copy, 'out');
    if (!peer || peer.#closed) return;
    peer.#enqueue(copy);
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.#handler = handler;
    if (handler && this.#queue.length > 0) this.#schedule();
  }

  /** Watch every frame this end sends ('out') and receives ('in'), e.g. for a pcap writer. */
  onTap(fn: ((frame: Uint8Array, direction: 'out' | 'in') => void) | undefined): void {
    this.#tap = fn;
  }

  /** Deliver everything queued for this end now (any delivery mode). Returns frames delivered. */
  flush(): number {
    this.#scheduled = false;
    let n = 0;
    // frames queued while delivering (by our own handler's answers travelling back) wait for the
    // next round: bounded work per flush, no unbounded recursion
    const batch = this.#queue;
    this.#queue = [];
    for (let i = 0; i < batch.length; i++) {
      const frame = batch[i] as Uint8Array;
      const h = this.#handler;
      if (this.#closed || !h) {
        this.dropped += batch.length - i;
        break;
      }
      this.received++;
      this.#tap?.(frame, 'in');
      try {
        h(frame);
      } catch (e) {
        // keep the cable working for the remaining frames; report the handler's error asynchronously
        queueMicrotask(() => {
          throw e;
        });
      }
      n++;
    }
    if (this.#queue.length > 0) this.#schedule();
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dropped += this.#queue.length;
    this.#queue = [];
    this.#handler = null;
  }

  #enqueue(frame: Uint8Array): void {
    this.#queue.push(frame);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.delivery === 'manual') return;
    this.#scheduled = true;
    if (this.delivery === 'microtask') queueMicrotask(() => this.flush());
    else scheduleMacrotask(() => this.flush());
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
    own.onReceive((frame) => this.#forward(own, frame));
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
