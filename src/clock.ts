/**
 * Time for the host: a Clock gives the current time in milliseconds and schedules callbacks.
 *
 * The core never reads a clock: the host passes `now` into every call and asks `nextTimer()` when
 * to call again (STYLE.md "time and I/O are injected"). src/stack.ts keeps exactly one scheduled
 * callback per stack on its Clock.
 *
 * RealClock uses performance.now() and the runtime's setTimeout. VirtualClock never moves by itself:
 * tests call advance()/advanceTo()/runUntilIdle(), callbacks run in time order (ties in scheduling
 * order), deterministically, and nobody sleeps.
 */

declare const timerBrand: unique symbol;
/** Opaque handle of a scheduled callback. */
export type TimerHandle = { readonly [timerBrand]: true };

export interface Clock {
  /** Milliseconds since an arbitrary epoch; never decreases. May be fractional. */
  now(): number;
  /** Run `callback` once, `ms` (>= 0) milliseconds from now. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancel a callback that has not run yet; unknown or already-run handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** Wall-clock time: performance.now() and the runtime's timers. */
export class RealClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return globalThis.setTimeout(callback, Math.max(0, ms)) as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    globalThis.clearTimeout(handle as unknown as ReturnType<typeof globalThis.setTimeout>);
  }
}

interface VirtualTimer {
  due: number;
  seq: number;
  callback: (() => void) | null;
}

/** Yields to the runtime's own event loop once, so that queued microtasks (and one macrotask) run. */
export function macrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  return new Promise((resolve) => {
    if (typeof g.setImmediate === 'function') g.setImmediate(resolve);
    else globalThis.setTimeout(resolve, 0);
  });
}

/**
 * A clock that only moves when told to. Callbacks due at or before the new time run in order of due
 * time (then of scheduling); a callback that schedules another one due before the target time sees
 * it run within the same advance. `now()` inside a callback is that callback's due time.
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  /** pending timers, sorted by (due, seq) */
  #timers: VirtualTimer[] = [];

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`VirtualClock start must be a finite number, got ${start}`);
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    if (typeof callback !== 'function') throw new TypeError('VirtualClock.setTimeout: callback must be a function');
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const t: VirtualTimer = { due: this.#now + delay, seq: this.#seq++, callback };
    // binary search for the insertion point after every timer with (due, seq) <= t
    let lo = 0;
    let hi = this.#timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#timers[mid] as VirtualTimer).due <= t.due) lo = mid + 1;
      else hi = mid;
    }
    this.#timers.splice(lo, 0, t);
    return t as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const t = handle as unknown as VirtualTimer;
    const i = this.#timers.indexOf(t);
    if (i >= 0) this.#timers.splice(i, 1);
    if (t && typeof t === 'object') t.callback = null;
  }

  /** Number of callbacks waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Due time of the earliest waiting callback, or undefined. */
  nextDue(): number | undefined {
    return this.#timers[0]?.due;
  }

  /** Move time forward by `ms`, running every callback that falls due on the way. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`VirtualClock.advance: ms must be a finite number >= 0, got ${ms}`);
    this.advanceTo(this.#now + ms);
  }

  /** Move time to `t` (>= now), running every callback due at or before `t` in order. */
  advanceTo(t: number): void {
    if (!Number.isFinite(t) || t < this.#now) {
      throw new RangeError(`VirtualClock.advanceTo: time ${t} is before now (${this.#now})`);
    }
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.due > t) break;
      this.#runFirst();
    }
    this.#now = t;
  }

  /** Run the earliest callback if it is due at or before `t`; returns false if none was. */
  step(t = Number.POSITIVE_INFINITY): boolean {
    const next = this.#timers[0];
    if (next === undefined || next.due > t) return false;
    this.#runFirst();
    return true;
  }

  /**
   * Run callbacks in order, moving time to each one's due time, until none is left. Throws after
   * `limit` callbacks (a timer that keeps re-arming itself would otherwise loop forever).
   */
  runUntilIdle(limit = 10_000): number {
    let n = 0;
    while (this.#timers.length > 0) {
      if (n >= limit) throw new Error(`VirtualClock.runUntilIdle: still busy after ${limit} callbacks (a timer keeps re-arming?)`);
      this.#runFirst();
      n++;
    }
    return n;
  }

  /**
   * advance(ms), but yielding to the event loop (`settle`, by default one macrotask turn) after each
   * callback, so that asynchronous work it starts (link deliveries on microtasks, promise handlers)
   * happens at that callback's time, before the clock moves on.
   */
  async advanceAsync(ms: number, settle: () => Promise<void> = macrotask): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`VirtualClock.advanceAsync: ms must be a finite number >= 0, got ${ms}`);
    const target = this.#now + ms;
    await settle();
    while (this.step(target)) await settle();
    this.#now = target;
    await settle();
  }

  #runFirst(): void {
    const t = this.#timers.shift() as VirtualTimer;
    if (t.due > this.#now) this.#now = t.due;
    const cb = t.callback;
    t.callback = null;
    cb?.();
  }
}
