// FaultLink (src/links/fault.ts): each fault's statistics over many frames for a seed, determinism,
// composition, timing on a VirtualClock, and option validation.
import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../src/clock.js';
import { FaultLink, Sfc32, type FaultEvent, type FaultLinkOptions } from '../../src/links/fault.js';
import type { Link } from '../../src/links/link.js';
import { MemoryLink } from '../../src/links/memory.js';

/** A link that records what is sent at once and lets the test inject received frames. */
class StubLink implements Link {
  readonly mtu = 1500;
  readonly sent: Uint8Array[] = [];
  readonly sentAt: number[] = [];
  handler: ((frame: Uint8Array) => void) | null = null;
  closed = false;
  constructor(private readonly clock?: VirtualClock) {}
  send(frame: Uint8Array): void {
    this.sent.push(frame.slice());
    this.sentAt.push(this.clock?.now() ?? 0);
  }
  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.handler = handler;
  }
  inject(frame: Uint8Array): void {
    this.handler?.(frame);
  }
  close(): void {
    this.closed = true;
  }
}

/** A frame of `len` bytes whose first four bytes (the destination MAC: never corrupted) are `id`. */
function frame(id: number, len = 100): Uint8Array {
  const f = new Uint8Array(len);
  new DataView(f.buffer).setUint32(0, id);
  for (let i = 14; i < len; i++) f[i] = (i * 7 + id) & 0xff;
  return f;
}
const idOf = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(0);

function run(opts: FaultLinkOptions, n: number, len = 100): { link: FaultLink; out: Uint8Array[]; ids: number[] } {
  const stub = new StubLink();
  const link = new FaultLink(stub, opts);
  // one reused buffer, as the stack sends views into WASM memory: the link must copy what it keeps
  const buf = new Uint8Array(len);
  for (let i = 0; i < n; i++) {
    buf.set(frame(i, len));
    link.send(buf);
  }
  return { link, out: stub.sent, ids: stub.sent.map(idOf) };
}

/** |x - mean| within k standard deviations of a binomial proportion */
function expectProportion(count: number, n: number, p: number, k = 5): void {
  const sd = Math.sqrt((p * (1 - p)) / n);
  expect(Math.abs(count / n - p)).toBeLessThan(k * sd);
}

describe('Sfc32', () => {
  it('is deterministic per (seed, stream) and looks uniform', () => {
    const a = new Sfc32(7, 0);
    const b = new Sfc32(7, 0);
    const c = new Sfc32(7, 1);
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xs);
    const r = new Sfc32(1);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) bins[r.below(10)]!++;
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });
});

describe('FaultLink: loss', () => {
  it('independent loss 10% over 20000 frames loses ~10%, counted, the rest in order', () => {
    const { link, ids } = run({ seed: 1, loss: 0.1 }, 20_000);
    const c = link.counters.tx;
    expect(c.frames).toBe(20_000);
    expect(c.lost + c.delivered).toBe(20_000);
    expect(ids.length).toBe(c.delivered);
    expectProportion(c.lost, 20_000, 0.1);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  });

  it('Gilbert-Elliott p=0.01 r=0.25: loss rate p/(p+r) in bursts of 1/r frames on average', () => {
    const n = 100_000;
    const { link, ids } = run({ seed: 2, loss: { p: 0.01, r: 0.25 } }, n);
    const lostRate = link.counters.tx.lost / n;
    expect(lostRate).toBeGreaterThan(0.033);
    expect(lostRate).toBeLessThan(0.044); // 0.01 / 0.26 = 0.0385
    // bursts: runs of consecutive missing ids
    const seen = new Uint8Array(n);
    for (const id of ids) seen[id] = 1;
    let bursts = 0;
    let lost = 0;
    for (let i = 0; i < n; i++) {
      if (seen[i] === 0) {
        lost++;
        if (i === 0 || seen[i - 1] === 1) bursts++;
      }
    }
    expect(lost).toBe(link.counters.tx.lost);
    const meanBurst = lost / bursts;
    expect(meanBurst).toBeGreaterThan(3.5);
    expect(meanBurst).toBeLessThan(4.5); // 1 / r = 4
    // the same loss rate without bursts would give bursts of ~1.04 frames
  });

  it('loss 0 and 1 are exact', () => {
    expect(run({ seed: 3, loss: 0 }, 1000).link.counters.tx.lost).toBe(0);
    expect(run({ seed: 3, loss: 1 }, 1000).out.length).toBe(0);
  });
});

describe('FaultLink: duplication', () => {
  it('duplicate 5%: each duplicate right behind its original, delivered = frames + duplicated', () => {
    const { link, ids } = run({ seed: 4, duplicate: 0.05 }, 20_000);
    const c = link.counters.tx;
    expectProportion(c.duplicated, 20_000, 0.05);
    expect(c.delivered).toBe(20_000 + c.duplicated);
    let pairs = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) pairs++;
    expect(pairs).toBe(c.duplicated);
  });
});

describe('FaultLink: corruption', () => {
  it('corrupt { probability 0.2, bits 3 }: 3 distinct bits flipped past the Ethernet header, the sender\'s buffer untouched', () => {
    const events: FaultEvent[] = [];
    const { link, out } = run({ seed: 5, corrupt: { probability: 0.2, bits: 3 }, onFault: (e) => events.push(e) }, 10_000);
    const c = link.counters.tx;
    expectProportion(c.corrupted, 10_000, 0.2);
    expect(c.bitsFlipped).toBe(3 * c.corrupted);
    expect(events.filter((e) => e.kind === 'corrupt').length).toBe(c.corrupted);
    let damaged = 0;
    for (const f of out) {
      const want = frame(idOf(f));
      let bits = 0;
      for (let i = 0; i < f.length; i++) {
        const x = (f[i] as number) ^ (want[i] as number);
        if (x !== 0) {
          expect(i).toBeGreaterThanOrEqual(14);
          bits += x.toString(2).replace(/0/g, '').length;
        }
      }
      if (bits > 0) {
        expect(bits).toBe(3);
        damaged++;
      }
    }
    expect(damaged).toBe(c.corrupted);
  });

  it('reports the flipped bit positions; offset moves the damage; a frame shorter than the offset passes whole', () => {
    const events: FaultEvent[] = [];
    const { out } = run({ seed: 6, corrupt: { probability: 1, offset: 34 }, onFault: (e) => events.push(e) }, 200);
    out.forEach((f, i) => {
      const bit = events[i]!.bits![0]!;
      expect(bit).toBeGreaterThanOrEqual(34 * 8);
      expect(((f[bit >>> 3] as number) ^ (frame(i)[bit >>> 3] as number))).toBe(0x80 >>> (bit & 7));
    });
    const short = run({ seed: 6, corrupt: 1 }, 10, 14);
    expect(short.link.counters.tx.corrupted).toBe(0);
    expect(short.out.every((f, i) => f.every((b, j) => b === frame(i, 14)[j]))).toBe(true);
  });
});

describe('FaultLink: reordering', () => {
  it('reorder { probability 0.1, gap 2 }: a held frame comes out right after the 2nd later frame; nothing lost', () => {
    const { link, out, ids } = run({ seed: 7, reorder: { probability: 0.1, gap: 2 } }, 20_000);
    const c = link.counters.tx;
    expectProportion(c.reordered, 20_000, 0.1);
    expect(ids.length + link.pending).toBe(20_000);
    // a frame that comes out after a higher id was held back
    let late = 0;
    let max = -1;
    for (const id of ids) {
      if (id < max) late++;
      max = Math.max(max, id);
    }
    expect(late).toBe(c.reordered - link.pending);
    const left = link.pending;
    expect(link.flush()).toBe(left);
    expect(link.pending).toBe(0);
    expect(out.length).toBe(20_000);
    expect(c.delivered).toBe(20_000);
  });

  it('gap 1 with no other faults swaps a held frame with the next one', () => {
    const stub = new StubLink();
    const events: number[] = [];
    const link = new FaultLink(stub, { seed: 8, reorder: 0.5, onFault: (e) => events.push(idOf(e.frame)) });
    for (let i = 0; i < 200; i++) link.send(frame(i));
    link.flush();
    const ids = stub.sent.map(idOf);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const held = new Set(events);
    expect(held.size).toBeGreaterThan(50);
    for (const h of events) {
      // released right after the first later frame that was not held itself (held ones in between)
      let next = h + 1;
      while (held.has(next)) next++;
      if (next >= 200) continue; // still held at the end: left by flush()
      let j = ids.indexOf(h) - 1;
      while (j >= 0 && held.has(ids[j]!)) j--;
      expect(ids[j]).toBe(next);
    }
  });

  it('reorder.timeout releases a held frame on the clock when no later frame comes', () => {
    const clock = new VirtualClock();
    const stub = new StubLink(clock);
    const link = new FaultLink(stub, { seed: 9, clock, reorder: { probability: 1, gap: 3, timeout: 50 } });
    link.send(frame(1));
    expect(stub.sent.length).toBe(0);
    clock.advance(49);
    expect(stub.sent.length).toBe(0);
    clock.advance(1);
    expect(stub.sent.map(idOf)).toEqual([1]);
    expect(stub.sentAt).toEqual([50]);
    expect(link.pending).toBe(0);
  });
});

describe('FaultLink: delay and rate on a VirtualClock', () => {
  it('delay { ms 20, jitter 10 } delivers each frame in [t+20, t+30); inOrder keeps the order', () => {
    for (const inOrder of [false, true]) {
      const clock = new VirtualClock();
      const stub = new StubLink(clock);
      const link = new FaultLink(stub, { seed: 10, clock, delay: { ms: 20, jitter: 10, inOrder } });
      const sentAt: number[] = [];
      for (let i = 0; i < 1000; i++) {
        sentAt.push(clock.now());
        link.send(frame(i));
        clock.advance(1);
      }
      expect(stub.sent.length).toBeLessThan(1000);
      clock.runUntilIdle();
      expect(stub.sent.length).toBe(1000);
      expect(link.counters.tx.delayed).toBe(1000);
      const ids = stub.sent.map(idOf);
      stub.sentAt.forEach((t, k) => {
        const d = t - sentAt[ids[k]!]!;
        expect(d).toBeGreaterThanOrEqual(20);
        if (!inOrder) expect(d).toBeLessThan(30);
      });
      const sorted = ids.every((id, k) => k === 0 || id > ids[k - 1]!);
      expect(sorted).toBe(inOrder); // 1 ms apart with 10 ms of jitter: some overtake unless inOrder
    }
  });

  it('rate 1000 B/s: 100-byte frames leave 100 ms apart; queueFrames 3 tail-drops the rest', () => {
    const clock = new VirtualClock();
    const stub = new StubLink(clock);
    const drops: number[] = [];
    const link = new FaultLink(stub, {
      seed: 11, clock, rate: { bytesPerSecond: 1000, queueFrames: 3 },
      onFault: (e) => { if (e.kind === 'queue-drop') drops.push(idOf(e.frame)); },
    });
    for (let i = 0; i < 5; i++) link.send(frame(i));
    expect(drops).toEqual([3, 4]);
    expect(link.counters.tx.queueDrops).toBe(2);
    clock.advance(99.9);
    expect(stub.sent.length).toBe(0);
    clock.runUntilIdle();
    expect(stub.sentAt).toEqual([100, 200, 300]);
    // the transmitter idles: the next frame takes 100 ms from when it is sent
    clock.advance(1000);
    link.send(frame(9));
    clock.runUntilIdle();
    expect(stub.sentAt.at(-1)).toBe(1400);
  });

  it('rate with overhead and delay: serialisation then propagation; queueBytes limits by bytes', () => {
    const clock = new VirtualClock();
    const stub = new StubLink(clock);
    const link = new FaultLink(stub, { seed: 12, clock, rate: { bytesPerSecond: 1_000_000, overhead: 24, queueBytes: 250 }, delay: 5 });
    link.send(frame(0, 100)); // 124 µs on the wire
    link.send(frame(1, 100));
    link.send(frame(2, 100)); // 300 bytes queued > 250: dropped
    clock.runUntilIdle();
    expect(stub.sentAt.map((t) => Math.round(t * 1000) / 1000)).toEqual([5.124, 5.248]);
    expect(link.counters.tx.queueDrops).toBe(1);
  });

  it('1 MB/s for 1 s of back-to-back 1000-byte frames delivers 1000 frames in 1 s', () => {
    const clock = new VirtualClock();
    const stub = new StubLink(clock);
    const link = new FaultLink(stub, { seed: 13, clock, rate: { bytesPerSecond: 1_000_000, queueFrames: 10_000 } });
    for (let i = 0; i < 2000; i++) link.send(frame(i, 1000));
    clock.advance(1000);
    expect(stub.sent.length).toBe(1000);
    expect(link.pending).toBe(1000);
  });
});

describe('FaultLink: determinism and composition', () => {
  const all: Omit<FaultLinkOptions, 'seed'> = {
    loss: { p: 0.02, r: 0.3 }, duplicate: 0.03, corrupt: { probability: 0.05, bits: 2 },
    reorder: { probability: 0.05, gap: 3 }, delay: { ms: 2, jitter: 3 },
  };
  function trace(seed: number): string[] {
    const clock = new VirtualClock();
    const stub = new StubLink(clock);
    const link = new FaultLink(stub, { seed, clock, ...all });
    for (let i = 0; i < 3000; i++) {
      link.send(frame(i));
      if (i % 3 === 0) clock.advance(1);
    }
    clock.runUntilIdle();
    link.flush();
    return stub.sent.map((f, k) => `${stub.sentAt[k]}:${Array.from(f).join(',')}`);
  }

  it('the same seed and input give the same output, byte for byte and time for time; another seed does not', () => {
    const a = trace(99);
    expect(trace(99)).toEqual(a);
    expect(trace(100)).not.toEqual(a);
  });

  it('stages draw from their own streams: adding duplication does not change which frames are lost', () => {
    const lostWith = (dup: number): number[] => {
      const lost: number[] = [];
      run({ seed: 14, loss: 0.1, duplicate: dup, onFault: (e) => { if (e.kind === 'loss') lost.push(idOf(e.frame)); } }, 2000);
      return lost;
    };
    expect(lostWith(0.3)).toEqual(lostWith(0));
  });

  it('FaultLink(FaultLink(link)) composes: 50% loss twice delivers ~25%', () => {
    const stub = new StubLink();
    const inner = new FaultLink(stub, { seed: 15, loss: 0.5 });
    const outer = new FaultLink(inner, { seed: 16, loss: 0.5 });
    for (let i = 0; i < 20_000; i++) outer.send(frame(i));
    expect(inner.counters.tx.frames).toBe(outer.counters.tx.delivered);
    expect(stub.sent.length).toBe(inner.counters.tx.delivered);
    expectProportion(stub.sent.length, 20_000, 0.25);
    expect(outer.mtu).toBe(1500);
  });

  it('wraps both directions of a MemoryLink pair; tx/rx override the common faults', async () => {
    const [a, b] = MemoryLink.pair();
    const fa = new FaultLink(a, { seed: 17, loss: 0.5, rx: { loss: 0 } });
    const atA: number[] = [];
    const atB: number[] = [];
    fa.onReceive((f) => atA.push(idOf(f)));
    b.onReceive((f) => atB.push(idOf(f)));
    for (let i = 0; i < 1000; i++) {
      fa.send(frame(i));
      b.send(frame(i));
    }
    await new Promise((r) => setImmediate(r));
    expect(atA.length).toBe(1000); // rx: no loss
    expect(atB.length).toBe(fa.counters.tx.delivered);
    expectProportion(atB.length, 1000, 0.5);
    expect(fa.counters.rx.frames).toBe(1000);
    await fa.close();
    expect(a.closed).toBe(true);
  });

  it('receive-side faults: corrupted copies reach the handler, the inner link\'s buffer is untouched', () => {
    const stub = new StubLink();
    const link = new FaultLink(stub, { seed: 18, rx: { corrupt: 1 } });
    const got: Uint8Array[] = [];
    link.onReceive((f) => got.push(f.slice()));
    const buf = frame(5);
    stub.inject(buf);
    expect(buf).toEqual(frame(5));
    expect(got[0]).not.toEqual(frame(5));
    expect(link.counters.rx.corrupted).toBe(1);
    expect(link.counters.tx.corrupted).toBe(0);
  });

  it('configure() changes the faults at run time; close() discards frames in flight', () => {
    const clock = new VirtualClock();
    const stub = new StubLink(clock);
    const link = new FaultLink(stub, { seed: 19, clock });
    link.send(frame(0));
    expect(stub.sent.length).toBe(1);
    link.configure({ delay: 10 });
    link.send(frame(1));
    link.send(frame(2));
    expect(link.pending).toBe(2);
    link.close();
    clock.runUntilIdle();
    expect(stub.sent.length).toBe(1);
    expect(link.counters.tx.discarded).toBe(2);
    expect(stub.closed).toBe(true);
  });
});

describe('FaultLink: option validation', () => {
  const stub = (): StubLink => new StubLink();
  const clock = new VirtualClock();
  const bad: [string, unknown, RegExp, typeof RangeError | typeof TypeError][] = [
    ['no seed', {}, /seed must be an integer/, RangeError],
    ['a negative seed', { seed: -1 }, /seed must be an integer/, RangeError],
    ['a fractional seed', { seed: 1.5 }, /seed/, RangeError],
    ['loss above 1', { seed: 1, loss: 1.5 }, /loss must be a probability from 0 to 1, got 1.5/, RangeError],
    ['loss NaN', { seed: 1, loss: Number.NaN }, /loss must be a probability/, RangeError],
    ['Gilbert-Elliott r = 0', { seed: 1, loss: { p: 0.1, r: 0 } }, /loss.r must be above 0/, RangeError],
    ['duplicate -0.1', { seed: 1, duplicate: -0.1 }, /duplicate must be a probability/, RangeError],
    ['corrupt bits 0', { seed: 1, corrupt: { probability: 0.1, bits: 0 } }, /corrupt.bits must be an integer >= 1/, RangeError],
    ['reorder gap 0', { seed: 1, reorder: { probability: 0.1, gap: 0 } }, /reorder.gap must be an integer >= 1/, RangeError],
    ['rate 0', { seed: 1, clock, rate: 0 }, /rate.bytesPerSecond must be a finite number > 0/, RangeError],
    ['queueFrames 0', { seed: 1, clock, rate: { bytesPerSecond: 10, queueFrames: 0 } }, /rate.queueFrames/, RangeError],
    ['delay -1', { seed: 1, clock, delay: -1 }, /delay must be a finite number >= 0/, RangeError],
    ['rx.loss 2', { seed: 1, rx: { loss: 2 } }, /rx.loss must be a probability/, RangeError],
    ['an unknown option', { seed: 1, los: 0.1 }, /unknown option los/, TypeError],
    ['an unknown sub-option', { seed: 1, delay: { ms: 1, jiter: 2 } }, /unknown option delay.jiter/, TypeError],
    ['delay without a clock', { seed: 1, delay: 5 }, /delay needs a clock/, TypeError],
    ['rate without a clock', { seed: 1, tx: { rate: 100 } }, /rate needs a clock/, TypeError],
  ];
  for (const [what, opts, message, type] of bad) {
    it(`refuses ${what}`, () => {
      expect(() => new FaultLink(stub(), opts as FaultLinkOptions)).toThrow(type);
      expect(() => new FaultLink(stub(), opts as FaultLinkOptions)).toThrow(message);
    });
  }

  it('configure() validates too, and keeps the old faults on error', () => {
    const s = stub();
    const link = new FaultLink(s, { seed: 1 });
    expect(() => link.configure({ loss: 3 })).toThrow(RangeError);
    link.send(frame(1));
    expect(s.sent.length).toBe(1);
  });
});

describe('FaultLink on a RealClock', () => {
  it('delays frames for real and keeps them in order (inOrder)', async () => {
    const { RealClock } = await import('../../src/clock.js');
    const clock = new RealClock();
    const stub = new StubLink();
    const link = new FaultLink(stub, { seed: 20, clock, delay: { ms: 5, jitter: 3, inOrder: true } });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) link.send(frame(i));
    expect(stub.sent.length).toBe(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(stub.sent.map(idOf)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(5);
    expect(link.pending).toBe(0);
  });
});
