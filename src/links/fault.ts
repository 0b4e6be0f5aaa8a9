/**
 * FaultLink: fault injection around any Link (STYLE.md "Links compose"), in the spirit of Linux
 * netem, seeded and deterministic: the same seed and the same frames in the same order give the
 * same faults, on a VirtualClock the same times too.
 *
 *   const link = new FaultLink(inner, {
 *     seed: 42,                       // required: every decision comes from it
 *     clock,                          // required as soon as a fault takes time (delay, rate, reorder.timeout)
 *     loss: 0.01,                     // faults given here apply to both directions ...
 *     rx: { corrupt: 0.001 },         // ... and `tx` / `rx` add to or override them per direction
 *     tx: { delay: { ms: 20, jitter: 5 }, rate: { bytesPerSecond: 125_000, queueFrames: 50 } },
 *   });
 *   new Stack({ link, clock, ... });  // or new FaultLink(new FaultLink(memoryEnd, a), b): it composes
 *
 * Directions: `tx` is what the user of this link sends (towards `inner`), `rx` what `inner` delivers
 * (towards the handler given to `onReceive`).
 *
 * Each frame goes through the stages in this order (netem's order too):
 *   1. loss       `loss: p` drops each frame with probability p; `loss: { p, r, lossBad?, lossGood? }`
 *                 is Gilbert-Elliott burst loss: a two-state chain (good → bad with probability p per
 *                 frame, bad → good with probability r), losing a frame with probability lossBad
 *                 (default 1) in the bad state and lossGood (default 0) in the good one. The long-run
 *                 loss rate is (p·lossBad + r·lossGood) / (p + r); a burst lasts 1/r frames on average.
 *   2. duplicate  `duplicate: p`: an extra copy follows the frame; both go through the stages below.
 *   3. corrupt    `corrupt: p` or `{ probability, bits = 1, offset = 14 }`: flips `bits` distinct
 *                 random bits of a copy of the frame, at or after byte `offset` (by default past the
 *                 Ethernet header, so that the frame still reaches the stack and its IP/TCP checksums
 *                 catch the damage: IpInHdrErrors, TcpInCsumErrors).
 *   4. reorder    `reorder: p` or `{ probability, gap = 1, timeout? }`: holds a frame back and
 *                 releases it right after `gap` later frames have passed, or `timeout` ms after it was
 *                 held, whichever comes first (without a timeout a frame can wait for ever: `flush()`).
 *   5. rate       `rate: bytesPerSecond` or `{ bytesPerSecond, overhead = 0, queueFrames = 1000,
 *                 queueBytes = Infinity }`: a serialising transmitter; a frame occupies it for
 *                 (length + overhead) / bytesPerSecond and leaves when its last byte is out. Frames
 *                 admitted and not fully out (the one on the wire included) form the queue; a frame
 *                 that would exceed `queueFrames` or `queueBytes` is tail-dropped.
 *   6. delay      `delay: ms` or `{ ms, jitter = 0, inOrder = false }`: propagation delay plus a
 *                 uniform random [0, jitter) ms per frame. As in netem, jitter may reorder frames;
 *                 `inOrder: true` never lets a frame leave before the one sent ahead of it.
 * A frame that needs no waiting is passed on synchronously, inside the `send()` or receive call.
 *
 * Randomness: sfc32 (Chris Doty-Humphrey's Small Fast Counter, 32-bit), seeded through splitmix32,
 * one independent stream per direction and per stage: changing the duplication rate does not change
 * which frames are lost.
 *
 * Counters (`counters.tx`, `counters.rx`, live objects) say what was done; `onFault` sees every
 * decision as it is made (the frame as it entered, a view valid during the call only).
 * `configure()` replaces the faults at run time (e.g. loss only after the handshake).
 * `pending` counts frames held or waiting on the clock, `flush()` releases all of them now, and
 * `close()` discards them (counted in `discarded`) and closes the inner link.
 *
 * Options are validated: bad values throw RangeError, unknown option names and wrong types TypeError,
 * each naming the option.
 *
 * Browser-safe: nothing from Node.
 */

import type { Clock, TimerHandle } from '../clock.js';
import type { Link } from './link.js';

export type FaultDirection = 'tx' | 'rx';

/** Gilbert-Elliott two-state burst loss (per-frame transition probabilities). */
export interface GilbertElliottLoss {
  /** probability of moving from the good to the bad state, per frame */
  p: number;
  /** probability of moving from the bad to the good state, per frame */
  r: number;
  /** loss probability in the bad state (default 1) */
  lossBad?: number;
  /** loss probability in the good state (default 0) */
  lossGood?: number;
}

export interface CorruptOptions {
  probability: number;
  /** distinct bits flipped per corrupted frame (default 1) */
  bits?: number;
  /** first byte that may be flipped (default 14: past the Ethernet header) */
  offset?: number;
}

export interface ReorderOptions {
  probability: number;
  /** the held frame leaves after this many later frames (default 1) */
  gap?: number;
  /** ... or this many ms after it was held, whichever comes first (needs a clock) */
  timeout?: number;
}

export interface DelayOptions {
  ms: number;
  /** extra uniform random delay in [0, jitter) ms (default 0) */
  jitter?: number;
  /** never let a frame leave before an earlier one (default false: jitter may reorder) */
  inOrder?: boolean;
}

export interface RateOptions {
  bytesPerSecond: number;
  /** bytes added to each frame's length for the timing (preamble, FCS, gap: 24 on real Ethernet) */
  overhead?: number;
  /** most frames queued, the one being serialised included (default 1000) */
  queueFrames?: number;
  /** most bytes queued (default Infinity) */
  queueBytes?: number;
}

/** The faults of one direction. Every field is optional; absent means no such fault. */
export interface FaultSpec {
  loss?: number | GilbertElliottLoss;
  duplicate?: number;
  corrupt?: number | CorruptOptions;
  reorder?: number | ReorderOptions;
  rate?: number | RateOptions;
  delay?: number | DelayOptions;
}

/** Faults for both directions (top level) and per direction (`tx`, `rx` override field by field). */
export interface FaultConfig extends FaultSpec {
  tx?: FaultSpec;
  rx?: FaultSpec;
}

export interface FaultLinkOptions extends FaultConfig {
  /** the seed of every random decision: an integer 0 ... 2^32 - 1 */
  seed: number;
  /** needed by delay, rate and reorder.timeout (use the stack's clock: a VirtualClock in tests) */
  clock?: Clock;
  /** called for every fault as it is decided */
  onFault?: (event: FaultEvent) => void;
}

export type FaultKind = 'loss' | 'duplicate' | 'corrupt' | 'reorder' | 'queue-drop';

export interface FaultEvent {
  direction: FaultDirection;
  kind: FaultKind;
  /** the frame as it entered the stage (before corruption); valid during the call only */
  frame: Uint8Array;
  /** corrupt: the bit positions flipped (bit i is bit 7 - i % 8 of byte ⌊i / 8⌋, MSB first) */
  bits?: readonly number[];
}

/** What a FaultLink did in one direction. */
export interface FaultCounters {
  /** frames that entered */
  frames: number;
  bytes: number;
  /** frames passed on (duplicates included) */
  delivered: number;
  deliveredBytes: number;
  /** dropped by the loss model */
  lost: number;
  /** extra copies made */
  duplicated: number;
  /** frames with bits flipped */
  corrupted: number;
  bitsFlipped: number;
  /** frames held back by the reorder stage */
  reordered: number;
  /** frames that waited on the clock (rate, delay) */
  delayed: number;
  /** tail drops at the rate limiter's queue */
  queueDrops: number;
  /** frames in flight when the link closed, or released while nobody was receiving */
  discarded: number;
}

// --- randomness ------------------------------------------------------------------------------------

/**
 * sfc32 (PractRand's Small Fast Counter, 32-bit version): 128 bits of state, passes PractRand and
 * BigCrush, four adds/shifts per number. Seeded through splitmix32 so that nearby seeds and streams
 * give unrelated sequences.
 */
export class Sfc32 {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x7feb352d)) >>> 0;
    const splitmix32 = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitmix32();
    this.#b = splitmix32();
    this.#c = splitmix32();
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }
}

// --- options ------------------------------------------------------------------------------------

interface Normalized {
  loss: { kind: 'bernoulli'; p: number } | { kind: 'ge'; p: number; r: number; lossBad: number; lossGood: number } | undefined;
  duplicate: number;
  corrupt: { probability: number; bits: number; offset: number } | undefined;
  reorder: { probability: number; gap: number; timeout: number | undefined } | undefined;
  rate: { bytesPerSecond: number; overhead: number; queueFrames: number; queueBytes: number } | undefined;
  delay: { ms: number; jitter: number; inOrder: boolean } | undefined;
}

const SPEC_KEYS = ['loss', 'duplicate', 'corrupt', 'reorder', 'rate', 'delay'] as const;
const CONFIG_KEYS = [...SPEC_KEYS, 'tx', 'rx'];
const OPTION_KEYS = [...CONFIG_KEYS, 'seed', 'clock', 'onFault'];

function fail(name: string, want: string, got: unknown): never {
  throw new RangeError(`FaultLink: ${name} must be ${want}, got ${typeof got === 'string' ? JSON.stringify(got) : String(got)}`);
}

function probability(name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(name, 'a probability from 0 to 1', v);
  return v;
}

function nonNegative(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(name, 'a finite number >= 0', v);
  return v;
}

function integerAtLeast(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(name, `an integer >= ${min}`, v);
  return v;
}

function objectWith(name: string, v: unknown, keys: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new TypeError(`FaultLink: ${name} must be a number or an object, got ${String(v)}`);
  }
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) throw new TypeError(`FaultLink: unknown option ${name}.${k} (known: ${keys.join(', ')})`);
  }
  return v as Record<string, unknown>;
}

function normalize(spec: FaultSpec, where: string): Normalized {
  const n = (k: string): string => (where ? `${where}.${k}` : k);
  const out: Normalized = { loss: undefined, duplicate: 0, corrupt: undefined, reorder: undefined, rate: undefined, delay: undefined };

  if (spec.loss !== undefined) {
    if (typeof spec.loss === 'number') {
      out.loss = { kind: 'bernoulli', p: probability(n('loss'), spec.loss) };
    } else {
      const o = objectWith(n('loss'), spec.loss, ['p', 'r', 'lossBad', 'lossGood']);
      const p = probability(n('loss.p'), o.p);
      const r = probability(n('loss.r'), o.r);
      if (p > 0 && r === 0) fail(n('loss.r'), 'above 0 when loss.p is (the chain would stay in the bad state for ever)', r);
      out.loss = {
        kind: 'ge',
        p,
        r,
        lossBad: o.lossBad === undefined ? 1 : probability(n('loss.lossBad'), o.lossBad),
        lossGood: o.lossGood === undefined ? 0 : probability(n('loss.lossGood'), o.lossGood),
      };
    }
  }
  if (spec.duplicate !== undefined) out.duplicate = probability(n('duplicate'), spec.duplicate);
  if (spec.corrupt !== undefined) {
    if (typeof spec.corrupt === 'number') {
      out.corrupt = { probability: probability(n('corrupt'), spec.corrupt), bits: 1, offset: 14 };
    } else {
      const o = objectWith(n('corrupt'), spec.corrupt, ['probability', 'bits', 'offset']);
      out.corrupt = {
        probability: probability(n('corrupt.probability'), o.probability),
        bits: o.bits === undefined ? 1 : integerAtLeast(n('corrupt.bits'), o.bits, 1),
        offset: o.offset === undefined ? 14 : integerAtLeast(n('corrupt.offset'), o.offset, 0),
      };
    }
  }
  if (spec.reorder !== undefined) {
    if (typeof spec.reorder === 'number') {
      out.reorder = { probability: probability(n('reorder'), spec.reorder), gap: 1, timeout: undefined };
    } else {
      const o = objectWith(n('reorder'), spec.reorder, ['probability', 'gap', 'timeout']);
      out.reorder = {
        probability: probability(n('reorder.probability'), o.probability),
        gap: o.gap === undefined ? 1 : integerAtLeast(n('reorder.gap'), o.gap, 1),
        timeout: o.timeout === undefined ? undefined : nonNegative(n('reorder.timeout'), o.timeout),
      };
    }
  }
  if (spec.rate !== undefined) {
    const o: Record<string, unknown> =
      typeof spec.rate === 'number' ? { bytesPerSecond: spec.rate } : objectWith(n('rate'), spec.rate, ['bytesPerSecond', 'overhead', 'queueFrames', 'queueBytes']);
    const bps = o.bytesPerSecond;
    if (typeof bps !== 'number' || !Number.isFinite(bps) || bps <= 0) fail(n('rate.bytesPerSecond'), 'a finite number > 0', bps);
    const qb = o.queueBytes === undefined ? Number.POSITIVE_INFINITY : o.queueBytes;
    if (typeof qb !== 'number' || !(qb >= 1)) fail(n('rate.queueBytes'), 'a number >= 1 (or Infinity)', qb);
    out.rate = {
      bytesPerSecond: bps,
      overhead: o.overhead === undefined ? 0 : integerAtLeast(n('rate.overhead'), o.overhead, 0),
      queueFrames: o.queueFrames === undefined ? 1000 : integerAtLeast(n('rate.queueFrames'), o.queueFrames, 1),
      queueBytes: qb,
    };
  }
  if (spec.delay !== undefined) {
    if (typeof spec.delay === 'number') {
      out.delay = { ms: nonNegative(n('delay'), spec.delay), jitter: 0, inOrder: false };
    } else {
      const o = objectWith(n('delay'), spec.delay, ['ms', 'jitter', 'inOrder']);
      if (o.inOrder !== undefined && typeof o.inOrder !== 'boolean') {
        throw new TypeError(`FaultLink: ${n('delay.inOrder')} must be a boolean, got ${String(o.inOrder)}`);
      }
      out.delay = {
        ms: nonNegative(n('delay.ms'), o.ms),
        jitter: o.jitter === undefined ? 0 : nonNegative(n('delay.jitter'), o.jitter),
        inOrder: o.inOrder === true,
      };
    }
  }
  return out;
}

function checkKeys(v: object, keys: readonly string[], where: string): void {
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) throw new TypeError(`FaultLink: unknown option ${where}${k} (known: ${keys.join(', ')})`);
  }
}

function directionSpec(config: FaultConfig, dir: FaultDirection): FaultSpec {
  const own = config[dir];
  if (own !== undefined) {
    if (own === null || typeof own !== 'object') throw new TypeError(`FaultLink: ${dir} must be an object, got ${String(own)}`);
    checkKeys(own, SPEC_KEYS, `${dir}.`);
  }
  const merged: FaultSpec = {};
  for (const k of SPEC_KEYS) {
    const v = own && own[k] !== undefined ? own[k] : config[k];
    if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  }
  return merged;
}

function needsClock(n: Normalized): string | undefined {
  if (n.delay && (n.delay.ms > 0 || n.delay.jitter > 0)) return 'delay';
  if (n.rate) return 'rate';
  if (n.reorder?.timeout !== undefined) return 'reorder.timeout';
  return undefined;
}

function newCounters(): FaultCounters {
  return {
    frames: 0, bytes: 0, delivered: 0, deliveredBytes: 0, lost: 0, duplicated: 0, corrupted: 0,
    bitsFlipped: 0, reordered: 0, delayed: 0, queueDrops: 0, discarded: 0,
  };
}

// --- one direction --------------------------------------------------------------------------------

interface Held {
  frame: Uint8Array;
  remaining: number;
  timer: TimerHandle | undefined;
}

interface Scheduled {
  due: number;
  seq: number;
  frame: Uint8Array;
}

/** Stream numbers of the per-stage generators (direction 0 = tx, 1 = rx). */
const STAGE_LOSS = 0;
const STAGE_DUPLICATE = 1;
const STAGE_CORRUPT = 2;
const STAGE_REORDER = 3;
const STAGE_DELAY = 4;
const STAGES = 5;

/** The pipeline of one direction: loss → duplicate → corrupt → reorder → rate → delay → out. */
class Lane {
  readonly counters = newCounters();
  spec: Normalized;
  readonly #dir: FaultDirection;
  readonly #clock: Clock | undefined;
  readonly #out: (frame: Uint8Array) => boolean;
  readonly #onFault: ((e: FaultEvent) => void) | undefined;
  readonly #rng: Sfc32[];
  /** Gilbert-Elliott state */
  #bad = false;
  readonly #held: Held[] = [];
  /** frames waiting on the clock, sorted by (due, seq) */
  readonly #queue: Scheduled[] = [];
  #seq = 0;
  #timer: TimerHandle | undefined;
  #timerDue = Number.NaN;
  /** rate limiter: when the transmitter is free again */
  #busyUntil = Number.NEGATIVE_INFINITY;
  /** rate limiter: frames admitted and not yet serialised (finish times ascending) */
  readonly #wire: { finish: number; bytes: number }[] = [];
  #wireBytes = 0;
  /** delay.inOrder: release time of the previous frame */
  #lastRelease = Number.NEGATIVE_INFINITY;

  constructor(
    dir: FaultDirection,
    spec: Normalized,
    seed: number,
    clock: Clock | undefined,
    out: (frame: Uint8Array) => boolean,
    onFault: ((e: FaultEvent) => void) | undefined,
  ) {
    this.#dir = dir;
    this.spec = spec;
    this.#clock = clock;
    this.#out = out;
    this.#onFault = onFault;
    const base = dir === 'tx' ? 0 : STAGES;
    this.#rng = [];
    for (let s = 0; s < STAGES; s++) this.#rng.push(new Sfc32(seed, base + s));
  }

  get pending(): number {
    return this.#held.length + this.#queue.length;
  }

  input(frame: Uint8Array): void {
    const c = this.counters;
    c.frames++;
    c.bytes += frame.length;
    if (this.#lose()) {
      c.lost++;
      this.#event('loss', frame);
      return;
    }
    let copies = 1;
    if (this.spec.duplicate > 0 && this.#rng[STAGE_DUPLICATE]!.float() < this.spec.duplicate) {
      copies = 2;
      c.duplicated++;
      this.#event('duplicate', frame);
    }
    for (let i = 0; i < copies; i++) this.#reorderStage(this.#corruptStage(frame), frame);
  }

  #lose(): boolean {
    const l = this.spec.loss;
    if (!l) return false;
    const rng = this.#rng[STAGE_LOSS]!;
    if (l.kind === 'bernoulli') return l.p > 0 && rng.float() < l.p;
    // move first, then lose by the state reached: the first frame of a burst is already lost
    this.#bad = this.#bad ? !(rng.float() < l.r) : rng.float() < l.p;
    const q = this.#bad ? l.lossBad : l.lossGood;
    return q > 0 && rng.float() < q;
  }

  /** Returns the frame to pass on: the caller's view, or a corrupted copy (owned). */
  #corruptStage(frame: Uint8Array): Uint8Array {
    const cs = this.spec.corrupt;
    if (!cs || cs.probability === 0) return frame;
    const rng = this.#rng[STAGE_CORRUPT]!;
    if (!(rng.float() < cs.probability)) return frame;
    const first = cs.offset * 8;
    const span = frame.length * 8 - first;
    if (span <= 0) return frame; // nothing past the offset to damage
    const want = Math.min(cs.bits, span);
    const bits: number[] = [];
    while (bits.length < want) {
      const b = first + rng.below(span);
      if (!bits.includes(b)) bits.push(b); // a bit flipped twice would be no damage
    }
    const copy = frame.slice();
    for (const b of bits) copy[b >>> 3] = (copy[b >>> 3] as number) ^ (0x80 >>> (b & 7));
    this.counters.corrupted++;
    this.counters.bitsFlipped += bits.length;
    this.#event('corrupt', frame, bits);
    return copy;
  }

  #reorderStage(frame: Uint8Array, original: Uint8Array): void {
    const ro = this.spec.reorder;
    if (ro && ro.probability > 0 && this.#rng[STAGE_REORDER]!.float() < ro.probability) {
      const h: Held = { frame: own(frame, original), remaining: ro.gap, timer: undefined };
      if (ro.timeout !== undefined) {
        h.timer = (this.#clock as Clock).setTimeout(() => {
          h.timer = undefined;
          const i = this.#held.indexOf(h);
          if (i < 0) return;
          this.#held.splice(i, 1);
          this.#timedStage(h.frame, true);
        }, ro.timeout);
      }
      this.#held.push(h);
      this.counters.reordered++;
      this.#event('reorder', original);
      return;
    }
    this.#timedStage(frame, frame !== original);
    if (this.#held.length === 0) return;
    // held frames leave after the `gap`-th later frame, oldest first
    const due: Held[] = [];
    for (let i = 0; i < this.#held.length; ) {
      const h = this.#held[i]!;
      if (--h.remaining <= 0) {
        this.#held.splice(i, 1);
        if (h.timer !== undefined) this.#clock?.clearTimeout(h.timer);
        due.push(h);
      } else i++;
    }
    for (const h of due) this.#timedStage(h.frame, true);
  }

  /** rate, then delay, then out; `owned` says whether `frame` may be kept (else it is copied). */
  #timedStage(frame: Uint8Array, owned: boolean): void {
    const { rate, delay } = this.spec;
    if (!rate && (!delay || (delay.ms === 0 && delay.jitter === 0 && !delay.inOrder))) {
      if (this.#queue.length === 0) {
        this.#deliver(frame);
        return;
      }
    }
    const clock = this.#clock;
    const now = clock ? clock.now() : 0;
    let release = now;
    if (rate) {
      while (this.#wire.length > 0 && this.#wire[0]!.finish <= now) this.#wireBytes -= this.#wire.shift()!.bytes;
      if (this.#wire.length >= rate.queueFrames || this.#wireBytes + frame.length > rate.queueBytes) {
        this.counters.queueDrops++;
        this.#event('queue-drop', frame);
        return;
      }
      const start = Math.max(now, this.#busyUntil);
      const finish = start + ((frame.length + rate.overhead) * 1000) / rate.bytesPerSecond;
      this.#busyUntil = finish;
      this.#wire.push({ finish, bytes: frame.length });
      this.#wireBytes += frame.length;
      release = finish;
    }
    if (delay) {
      release += delay.ms;
      if (delay.jitter > 0) release += this.#rng[STAGE_DELAY]!.float() * delay.jitter;
      if (delay.inOrder) {
        if (release < this.#lastRelease) release = this.#lastRelease;
        this.#lastRelease = release;
      }
    }
    const head = this.#queue[0];
    if (release <= now && (head === undefined || head.due > release)) {
      this.#deliver(frame);
      return;
    }
    this.counters.delayed++;
    this.#schedule(release, owned ? frame : frame.slice());
  }

  #schedule(due: number, frame: Uint8Array): void {
    const e: Scheduled = { due, seq: this.#seq++, frame };
    let lo = 0;
    let hi = this.#queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#queue[mid]!.due <= due) lo = mid + 1;
      else hi = mid;
    }
    this.#queue.splice(lo, 0, e);
    this.#arm();
  }

  #arm(): void {
    const head = this.#queue[0];
    if (head === undefined) return;
    if (this.#timer !== undefined && this.#timerDue <= head.due) return;
    const clock = this.#clock as Clock;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timerDue = head.due;
    this.#timer = clock.setTimeout(() => this.#onTimer(), Math.max(0, head.due - clock.now()));
  }

  #onTimer(): void {
    const armed = this.#timerDue;
    this.#timer = undefined;
    this.#timerDue = Number.NaN;
    // a real clock's timer may fire a fraction of a millisecond early: what it was armed for is due
    const limit = Math.max((this.#clock as Clock).now(), armed);
    try {
      while (this.#queue.length > 0 && this.#queue[0]!.due <= limit) this.#deliver(this.#queue.shift()!.frame);
    } finally {
      this.#arm(); // a throwing receiver must not strand the frames behind it
    }
  }

  #deliver(frame: Uint8Array): void {
    if (this.#out(frame)) {
      this.counters.delivered++;
      this.counters.deliveredBytes += frame.length;
    } else {
      this.counters.discarded++;
    }
  }

  /** Everything held or waiting leaves now, in order: held frames first (they were sent first). */
  flush(): number {
    let n = 0;
    const held = this.#held.splice(0);
    for (const h of held) {
      if (h.timer !== undefined) this.#clock?.clearTimeout(h.timer);
      this.#queueNow(h.frame);
    }
    if (this.#timer !== undefined) {
      this.#clock?.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerDue = Number.NaN;
    }
    while (this.#queue.length > 0) {
      this.#deliver(this.#queue.shift()!.frame);
      n++;
    }
    this.#busyUntil = Number.NEGATIVE_INFINITY;
    this.#wire.length = 0;
    this.#wireBytes = 0;
    return n;
  }

  #queueNow(frame: Uint8Array): void {
    // ahead of everything scheduled: due -Infinity, FIFO among themselves
    let i = 0;
    while (i < this.#queue.length && this.#queue[i]!.due === Number.NEGATIVE_INFINITY) i++;
    this.#queue.splice(i, 0, { due: Number.NEGATIVE_INFINITY, seq: this.#seq++, frame });
  }

  /** Drop everything in flight (close). */
  discard(): void {
    for (const h of this.#held) if (h.timer !== undefined) this.#clock?.clearTimeout(h.timer);
    if (this.#timer !== undefined) this.#clock?.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = Number.NaN;
    this.counters.discarded += this.#held.length + this.#queue.length;
    this.#held.length = 0;
    this.#queue.length = 0;
  }

  #event(kind: FaultKind, frame: Uint8Array, bits?: number[]): void {
    const h = this.#onFault;
    if (!h) return;
    h(bits ? { direction: this.#dir, kind, frame, bits } : { direction: this.#dir, kind, frame });
  }
}

function own(frame: Uint8Array, original: Uint8Array): Uint8Array {
  return frame === original ? frame.slice() : frame;
}

// --- the link ---------------------------------------------------------------------------------------

export class FaultLink implements Link {
  readonly inner: Link;
  readonly #clock: Clock | undefined;
  readonly #tx: Lane;
  readonly #rx: Lane;
  #handler: ((frame: Uint8Array) => void) | null = null;
  #closed = false;

  constructor(inner: Link, opts: FaultLinkOptions) {
    if (inner === null || typeof inner !== 'object' || typeof inner.send !== 'function' || typeof inner.onReceive !== 'function') {
      throw new TypeError('FaultLink: inner must be a Link (send, onReceive, close, mtu)');
    }
    if (opts === null || typeof opts !== 'object') throw new TypeError('FaultLink: options must be an object with at least a seed');
    checkKeys(opts, OPTION_KEYS, '');
    const seed = opts.seed;
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      fail('seed', 'an integer from 0 to 4294967295 (every fault decision is drawn from it)', seed);
    }
    const clock = opts.clock;
    if (clock !== undefined && (clock === null || typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function')) {
      throw new TypeError('FaultLink: clock must be a Clock (RealClock or VirtualClock)');
    }
    if (opts.onFault !== undefined && typeof opts.onFault !== 'function') throw new TypeError('FaultLink: onFault must be a function');
    this.inner = inner;
    this.#clock = clock;
    const [tx, rx] = this.#normalizeConfig(opts);
    this.#tx = new Lane('tx', tx, seed, clock, (f) => this.#sendOut(f), opts.onFault);
    this.#rx = new Lane('rx', rx, seed, clock, (f) => this.#receiveIn(f), opts.onFault);
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live counters of each direction. */
  get counters(): { readonly tx: Readonly<FaultCounters>; readonly rx: Readonly<FaultCounters> } {
    return { tx: this.#tx.counters, rx: this.#rx.counters };
  }

  /** Frames held back (reorder) or waiting on the clock (rate, delay), both directions. */
  get pending(): number {
    return this.#tx.pending + this.#rx.pending;
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#tx.input(frame);
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.#handler = handler;
    // without a receiver of our own, let the inner link do what it does then (MemoryLink counts drops)
    this.inner.onReceive(handler ? (frame) => this.#rx.input(frame) : null);
  }

  /**
   * Replace the faults (same shape as the constructor's, without seed, clock and onFault). The random
   * streams go on where they were; frames already held or waiting keep their schedule.
   */
  configure(config: FaultConfig): void {
    if (config === null || typeof config !== 'object') throw new TypeError('FaultLink.configure: config must be an object');
    checkKeys(config, CONFIG_KEYS, '');
    const [tx, rx] = this.#normalizeConfig(config);
    this.#tx.spec = tx;
    this.#rx.spec = rx;
  }

  /** Release every held or waiting frame now, in order. Returns how many left. */
  flush(): number {
    return this.#tx.flush() + this.#rx.flush();
  }

  close(): void | Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#tx.discard();
    this.#rx.discard();
    this.#handler = null;
    this.inner.onReceive(null);
    return this.inner.close();
  }

  #normalizeConfig(config: FaultConfig): [Normalized, Normalized] {
    const tx = normalize(directionSpec(config, 'tx'), config.tx ? 'tx' : '');
    const rx = normalize(directionSpec(config, 'rx'), config.rx ? 'rx' : '');
    for (const n of [tx, rx]) {
      const what = needsClock(n);
      if (what && !this.#clock) {
        throw new TypeError(`FaultLink: ${what} needs a clock (options.clock: the stack's VirtualClock in tests, a RealClock otherwise)`);
      }
    }
    return [tx, rx];
  }

  #sendOut(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    this.inner.send(frame);
    return true;
  }

  #receiveIn(frame: Uint8Array): boolean {
    const h = this.#handler;
    if (this.#closed || !h) return false;
    h(frame);
    return true;
  }
}
