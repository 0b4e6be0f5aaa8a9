// The Internet checksum of the core (assembly/wire/checksum.ts: sumBytes, fold, finish, verifies,
// pseudoSum) against a plain JavaScript RFC 1071 reference: random buffers of every length 0..2000
// at every alignment mod 16, with random bytes around them (a read past either end would change
// the sum), seeded accumulators, the TCP pseudo header, fold() over random 64-bit accumulators, and
// verification with single-bit corruption. Through the test exports (assembly/test-exports.ts).
//
// WTCP_TEST_CORE=/path/x.wasm runs the suite against another build of the core.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { Core, getCoreModule } from '../../src/core.js';

const CORE = process.env.WTCP_TEST_CORE ? { module: readFileSync(process.env.WTCP_TEST_CORE) } : { debug: true };
const SEED = Number(process.env.WTCP_TEST_SEED ?? 0x5eed);

interface ChecksumExports {
  test_checksumStore(p: number, len: number, acc: number, out: number): void;
  test_sumFold(p: number, len: number): number;
  test_fold(hi: number, lo: number): number;
  test_verifies(p: number, len: number): number;
  test_tcpChecksumStore(src: number, dst: number, p: number, len: number, out: number): void;
}

/** xorshift32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

// --- the reference: RFC 1071 §4.1, 16-bit big-endian words, odd byte padded with zero ------------

function refSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  let i = 0;
  for (; i + 1 < data.length; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (i < data.length) sum += (data[i] as number) << 8;
  return sum;
}

function refFold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

function refChecksum(data: Uint8Array, initial = 0): number {
  return ~refFold(refSum(data, initial)) & 0xffff;
}

function refFold64(v: bigint): number {
  let s = v;
  while (s > 0xffffn) s = (s & 0xffffn) + (s >> 16n);
  return Number(s);
}

describe('Internet checksum (RFC 1071)', () => {
  let core: Core;
  let x: ChecksumExports;
  let base = 0;
  let cap = 0;
  const mem = () => new Uint8Array(core.x.memory.buffer);

  beforeAll(() => {
    core = Core.instantiate(getCoreModule(CORE));
    core.init({ listeners: 1, synEntries: 1, connections: 1, synBuckets: 0, rxChunks: 1, arpEntries: 4 }, [1, 2, 3, 4]);
    x = core.x as unknown as ChecksumExports;
    // the input area (256 KiB, unused here: input() is never called) holds the buffers; it is
    // 16-aligned, so base + align covers every alignment mod 16
    base = core.x.inputPtr();
    cap = core.x.inputCap();
    expect(base % 16).toBe(0);
    expect(cap).toBeGreaterThanOrEqual(70_000);
  });

  /** Put `data` at base + 64 + align with random bytes on both sides; returns its address. */
  function place(data: Uint8Array, align: number, next: () => number): number {
    const m = mem();
    for (let i = 0; i < 64 + align; i++) m[base + i] = next() & 255;
    const at = base + 64 + align;
    m.set(data, at);
    for (let i = 0; i < 64; i++) m[at + data.length + i] = next() & 255;
    return at;
  }

  /** The checksum the core stores at `out` (store<u16>, as a header field), read in network order. */
  function stored(out: number): number {
    const m = mem();
    return ((m[out] as number) << 8) | (m[out + 1] as number);
  }

  it('matches the reference for every length 0..2000 at every alignment mod 16', () => {
    const next = rng(SEED);
    const out = base + cap - 16;
    const buf = new Uint8Array(2000);
    let failures = 0;
    const first: string[] = [];
    for (let len = 0; len <= 2000; len++) {
      for (let align = 0; align < 16; align++) {
        const data = buf.subarray(0, len);
        for (let i = 0; i < len; i++) data[i] = next() & 255;
        const at = place(data, align, next);
        x.test_checksumStore(at, len, 0, out);
        const got = stored(out);
        const want = refChecksum(data);
        if (got !== want) {
          failures++;
          if (first.length < 5) first.push(`len ${len} align ${align}: got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
        }
      }
    }
    expect(first, `seed ${SEED}`).toEqual([]);
    expect(failures).toBe(0);
  });

  it('matches the reference on buffers of extreme values (all 0x00, all 0xff, alternating)', () => {
    const out = base + cap - 16;
    const next = rng(SEED + 1);
    for (const fill of [0x00, 0xff, 0x80, 0x01]) {
      for (const len of [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1500, 1501, 9000, 65535]) {
        for (const align of [0, 1, 3, 8]) {
          const data = new Uint8Array(len).fill(fill);
          const at = place(data, align, next);
          x.test_checksumStore(at, len, 0, out);
          expect(stored(out), `fill 0x${fill.toString(16)} len ${len} align ${align}`).toBe(refChecksum(data));
          expect(x.test_sumFold(at, len) === 0 ? 0 : 1, 'fold is zero only for an all-zero buffer').toBe(
            refSum(data) === 0 ? 0 : 1,
          );
        }
      }
    }
  });

  it('matches the reference on random buffers up to the largest IPv4 packet', () => {
    const next = rng(SEED + 2);
    const out = base + cap - 16;
    for (let k = 0; k < 40; k++) {
      const len = next() % 65536;
      const align = next() % 16;
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = next() & 255;
      const at = place(data, align, next);
      x.test_checksumStore(at, len, 0, out);
      expect(stored(out), `seed ${SEED + 2} len ${len} align ${align}`).toBe(refChecksum(data));
    }
  });

  it('sums regions beyond the SIMD lane-overflow block limit (256 KiB of 0xff, the worst case)', () => {
    // the output area (unused here) is followed by the event ring: that bounds the room we have
    const at = core.x.outputPtr();
    const room = core.x.eventsPtr() - at;
    expect(room).toBeGreaterThan(300_000 + 64);
    const out = base + cap - 16;
    const next = rng(SEED + 7);
    for (const [len, fill] of [[262_144, 0xff], [262_145, 0xff], [262_144 + 63, 0xff], [262_144 + 64, 0xff], [300_000, -1]] as const) {
      const data = new Uint8Array(len);
      if (fill < 0) for (let i = 0; i < len; i++) data[i] = next() & 255;
      else data.fill(fill);
      mem().set(data, at + 1);
      x.test_checksumStore(at + 1, len, 0, out);
      expect(stored(out), `len ${len}`).toBe(refChecksum(data));
    }
  });

  it('adds a seeded accumulator as if it were a 4-byte prefix (memory order)', () => {
    const next = rng(SEED + 3);
    const out = base + cap - 16;
    for (let k = 0; k < 2000; k++) {
      const len = next() % 300;
      const acc = next();
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = next() & 255;
      const at = place(data, next() % 16, next);
      x.test_checksumStore(at, len, acc, out);
      // acc as stored little-endian in memory, then the data
      const prefixed = new Uint8Array(4 + len);
      prefixed.set([acc & 255, (acc >>> 8) & 255, (acc >>> 16) & 255, acc >>> 24], 0);
      prefixed.set(data, 4);
      expect(stored(out), `seed ${SEED + 3} case ${k}`).toBe(refChecksum(prefixed));
    }
  });

  it('the TCP checksum includes the IPv4 pseudo header (RFC 9293 §3.1)', () => {
    const next = rng(SEED + 4);
    const out = base + cap - 16;
    for (let k = 0; k < 2000; k++) {
      const len = next() % 1600;
      const src = next();
      const dst = next();
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = next() & 255;
      const at = place(data, next() % 16, next);
      x.test_tcpChecksumStore(src, dst, at, len, out);
      const pseudo = Uint8Array.of(
        src >>> 24, (src >>> 16) & 255, (src >>> 8) & 255, src & 255,
        dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255,
        0, 6, (len >>> 8) & 255, len & 255,
      );
      expect(stored(out), `seed ${SEED + 4} case ${k} len ${len}`).toBe(refChecksum(data, refSum(pseudo)));
    }
  });

  it('fold() reduces any 64-bit accumulator with end-around carry', () => {
    const next = rng(SEED + 5);
    const cases: [number, number][] = [
      [0, 0], [0, 1], [0, 0xffff], [0, 0x10000], [0, 0xffffffff], [0xffffffff, 0xffffffff],
      [1, 0], [0xffff, 0xffff], [0x8000_0000, 0], [0, 0x1fffe],
    ];
    for (let k = 0; k < 5000; k++) cases.push([next(), next()]);
    for (let k = 0; k < 500; k++) cases.push([next() & 0xff, next()]); // realistic magnitudes
    for (const [hi, lo] of cases) {
      const want = refFold64((BigInt(hi) << 32n) | BigInt(lo));
      expect(x.test_fold(hi, lo) >>> 0, `0x${hi.toString(16)}_${lo.toString(16).padStart(8, '0')}`).toBe(want);
    }
  });

  it('a region holding its own checksum verifies; any single flipped bit makes it fail', () => {
    const next = rng(SEED + 6);
    for (let k = 0; k < 300; k++) {
      const len = 2 + (next() % 200);
      const field = (next() % Math.floor(len / 2)) * 2; // checksum fields sit at even offsets
      const data = new Uint8Array(len);
      for (let i = 0; i < len; i++) data[i] = next() & 255;
      data[field] = 0;
      data[field + 1] = 0;
      const c = refChecksum(data);
      data[field] = c >>> 8;
      data[field + 1] = c & 255;
      const at = place(data, next() % 16, next);
      expect(x.test_verifies(at, len), `seed ${SEED + 6} case ${k}`).toBe(1);
      const bit = next() % (len * 8);
      mem()[at + (bit >>> 3)] ^= 1 << (bit & 7);
      expect(x.test_verifies(at, len), `seed ${SEED + 6} case ${k} bit ${bit}`).toBe(0);
    }
  });

  it('the RFC 1071 §3 example sums to 0xddf2', () => {
    const data = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    const at = place(data, 0, rng(1));
    // the core sums in memory order: the folded value is the byte-swapped network-order sum
    const folded = x.test_sumFold(at, data.length);
    expect(((folded & 0xff) << 8) | (folded >>> 8)).toBe(0xddf2);
    const out = base + cap - 16;
    x.test_checksumStore(at, data.length, 0, out);
    expect(stored(out)).toBe(0x220d);
  });
});
