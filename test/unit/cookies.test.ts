// SYN-cookie codecs (Linux §2.9, FreeBSD §3.8 of listen-behaviour.md), the keyed SipHash under them,
// and RFC 6528 ISNs / timestamp offsets. One core instance for the file; every describe seeds the
// module it tests with fixed keys, and random cases come from a seeded generator, so a run is
// repeatable: a false accept, if the codec ever allowed one, would fail on every run.

import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instantiate, type CoreExports } from '../helpers/wasm.js';

let core: CoreExports;

beforeAll(async () => {
  core = await instantiate();
});

/** mulberry32: a small seeded generator of u32 values. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const u32 = (x: number): number => x >>> 0;
const lo32 = (h: bigint): number => Number(h & 0xffffffffn);

/** Writes four u32 key words at the test scratch area (key bytes = LE words) and returns its address. */
function scratchKey(words: readonly number[], offset = 0): number {
  const p = core.test_scratch() + offset;
  const dv = new DataView(core.memory.buffer);
  words.forEach((w, i) => dv.setUint32(p + 4 * i, w, true));
  return p;
}

/** Serialises u32 words little-endian at scratch + offset; returns the address. */
function scratchWords(words: readonly number[], offset: number): number {
  return scratchKey(words, offset);
}

const LINUX_KEY0 = [0x01234567, 0x89abcdef, 0xfedcba98, 0x76543210];
const LINUX_KEY1 = [0x0badc0de, 0xdeadbeef, 0x13579bdf, 0x2468ace0];
const FBSD_KEY0 = [0x11111111, 0x22222222, 0x33333333, 0x44444444];
const FBSD_KEY1 = [0x55555555, 0x66666666, 0x77777777, 0x88888888];
const ISN_KEY = [0xa5a5a5a5, 0x5a5a5a5a, 0xc3c3c3c3, 0x3c3c3c3c];
const TS_KEY = [0x0f0f0f0f, 0xf0f0f0f0, 0x12121212, 0x34343434];

describe('SipHash-2-4', () => {
  // The first 17 entries of the reference implementation's vectors.h: key 00..0f, message 00..(n-1).
  const REFERENCE = [
    0x726fdb47dd0e0e31n, 0x74f839c593dc67fdn, 0x0d6c8009d9a94f5an, 0x85676696d7fb7e2dn,
    0xcf2794e0277187b7n, 0x18765564cd99a68dn, 0xcbc9466e58fee3cen, 0xab0200f58b01d137n,
    0x93f5f5799a932462n, 0x9e0082df0ba9e4b0n, 0x7a5dbbc594ddb9f3n, 0xf4b32f46226bada7n,
    0x751e8fbc860ee5fbn, 0x14ea5627c0843d90n, 0xf723ca908e7af2een, 0xa129ca6149be45e5n,
    0x3f2acc7f57c29bdbn,
  ];

  function writeReference(): { key: number; msg: number } {
    const key = core.test_scratch();
    const msg = key + 16;
    const bytes = new Uint8Array(core.memory.buffer);
    for (let i = 0; i < 16; i++) bytes[key + i] = i;
    for (let i = 0; i < 64; i++) bytes[msg + i] = i;
    return { key, msg };
  }

  it('matches the paper\'s vector: key 00..0f, 15-byte message 00..0e => a129ca6149be45e5', () => {
    const { key, msg } = writeReference();
    expect(core.test_sipHashBytes(key, msg, 15)).toBe(0xa129ca6149be45e5n);
  });

  it('matches the reference vectors for every tail length 0..7 and one or two blocks', () => {
    const { key, msg } = writeReference();
    REFERENCE.forEach((want, len) => {
      expect(core.test_sipHashBytes(key, msg, len), `length ${len}`).toBe(want);
    });
  });

  it('word variants equal the byte form over the little-endian words (Linux siphash_Nu32 layout)', () => {
    const next = rng(1);
    const key = scratchKey([next(), next(), next(), next()]);
    for (let n = 0; n < 500; n++) {
      const w = [next(), next(), next(), next(), next(), next()];
      const msg = scratchWords(w, 32);
      expect(core.sipHash2(key, w[0], w[1])).toBe(core.test_sipHashBytes(key, msg, 8));
      expect(core.sipHash3(key, w[0], w[1], w[2])).toBe(core.test_sipHashBytes(key, msg, 12));
      expect(core.sipHash4(key, w[0], w[1], w[2], w[3])).toBe(core.test_sipHashBytes(key, msg, 16));
      expect(core.sipHash6(key, w[0], w[1], w[2], w[3], w[4], w[5])).toBe(core.test_sipHashBytes(key, msg, 24));
    }
  });

  it('sipKeyStore lays the key out as the byte form expects, and every key bit matters', () => {
    const words = [0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c];
    const key = core.test_scratch();
    core.sipKeyStore(key, words[0], words[1], words[2], words[3]);
    const msg = key + 16;
    const bytes = new Uint8Array(core.memory.buffer);
    for (let i = 0; i < 15; i++) bytes[msg + i] = i;
    expect(core.test_sipHashBytes(key, msg, 15)).toBe(0xa129ca6149be45e5n);

    const base = core.sipHash4(key, 1, 2, 3, 4);
    for (let bit = 0; bit < 128; bit++) {
      const w = [...words];
      w[bit >> 5] = u32(w[bit >> 5] ^ (1 << (bit & 31)));
      core.sipKeyStore(key, w[0], w[1], w[2], w[3]);
      expect(core.sipHash4(key, 1, 2, 3, 4), `key bit ${bit}`).not.toBe(base);
    }
  });
});

describe('Linux syncookies (net/ipv4/syncookies.c)', () => {
  const MSSTAB = [536, 1300, 1440, 1460];
  const MASK = 0xffffff;

  beforeEach(() => {
    core.linuxCookieSeed(...(LINUX_KEY0 as [number, number, number, number]), ...(LINUX_KEY1 as [number, number, number, number]));
  });

  describe('MSS table', () => {
    it('maps each table value to its own index and back', () => {
      MSSTAB.forEach((mss, i) => {
        expect(core.linuxMssIndex(mss)).toBe(i);
        expect(core.linuxMssFromIndex(i)).toBe(mss);
      });
    });

    it('rounds values in between down, and anything below 536 to index 0', () => {
      const cases: [number, number][] = [
        [0, 0], [100, 0], [535, 0], [1000, 0], [1299, 0], [1300, 1], [1439, 1],
        [1440, 2], [1452, 2], [1459, 2], [1460, 3], [1500, 3], [9000, 3], [65535, 3],
      ];
      for (const [mss, idx] of cases) expect(core.linuxMssIndex(mss), `mss ${mss}`).toBe(idx);
    });

    it('has no entry past index 3 (the check\'s "mss == 0" failure)', () => {
      expect(core.linuxMssFromIndex(4)).toBe(0);
      expect(core.linuxMssFromIndex(0xffffffff)).toBe(0);
    });
  });

  describe('sequence cookie', () => {
    it('is H0(4-tuple) + clientIsn + (count << 24) + ((H1(4-tuple, count) + mssIdx) & 0xFFFFFF)', () => {
      const k0 = scratchKey(LINUX_KEY0, 0);
      const k1 = scratchKey(LINUX_KEY1, 16);
      const next = rng(2);
      for (let n = 0; n < 200; n++) {
        const [s, d, sp, dp, isn, count] = [next(), next(), next() & 0xffff, next() & 0xffff, next(), next()];
        const idx = n & 3;
        const ports = u32((sp << 16) | dp);
        const h0 = lo32(core.sipHash4(k0, s, d, ports, 0));
        const h1 = lo32(core.sipHash4(k1, s, d, ports, count));
        const want = u32(h0 + isn + u32(count << 24) + ((h1 + idx) & MASK));
        expect(core.linuxCookieMake(s, d, sp, dp, isn, idx, count)).toBe(want);
      }
    });

    it('round-trips every MSS index, including MSS values rounded on the way in', () => {
      const next = rng(3);
      for (const mss of [...MSSTAB, 536, 1000, 1299, 1301, 1459, 1461, 9000, 200]) {
        const idx = core.linuxMssIndex(mss);
        const [s, d, sp, dp, isn, count] = [next(), next(), next() & 0xffff, next() & 0xffff, next(), next()];
        const cookie = core.linuxCookieMake(s, d, sp, dp, isn, idx, count);
        const got = core.linuxCookieCheck(s, d, sp, dp, isn, cookie, count);
        expect(got, `mss ${mss}`).toBe(idx);
        expect(core.linuxMssFromIndex(got)).toBe(MSSTAB[idx]);
      }
      expect(core.linuxMssFromIndex(core.linuxMssIndex(1000))).toBe(536);
      expect(core.linuxMssFromIndex(core.linuxMssIndex(1459))).toBe(1440);
    });

    it('accepts ages 0 and 1 minute, refuses 2 and 3 (MAX_SYNCOOKIE_AGE) and cookies from the future', () => {
      const next = rng(4);
      for (let n = 0; n < 500; n++) {
        const [s, d, sp, dp, isn] = [next(), next(), next() & 0xffff, next() & 0xffff, next()];
        const count = next() % 100000;
        const idx = n & 3;
        const c = core.linuxCookieMake(s, d, sp, dp, isn, idx, count);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, count)).toBe(idx);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, count + 1)).toBe(idx);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, count + 2)).toBe(-1);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, count + 3)).toBe(-1);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, u32(count - 1))).toBe(-1);
      }
    });

    it('handles the count wrapping at 2^8 (and at 2^32) as Linux masks the age', () => {
      const next = rng(5);
      for (let n = 0; n < 500; n++) {
        const [s, d, sp, dp, isn] = [next(), next(), next() & 0xffff, next() & 0xffff, next()];
        const idx = n & 3;
        // Minute 255 -> 256: the cookie's 8-bit count wrapped to 0, the age is still 1.
        const c255 = core.linuxCookieMake(s, d, sp, dp, isn, idx, 255);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c255, 256)).toBe(idx);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c255, 257)).toBe(-1);
        // Minute 2^32 - 1 -> 0: the u32 count itself wraps.
        const cTop = core.linuxCookieMake(s, d, sp, dp, isn, idx, 0xffffffff);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, cTop, 0)).toBe(idx);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, cTop, 1)).toBe(-1);
        // 256 and 257 minutes later the 8-bit age reads 0 and 1, but H1 is keyed by the full
        // count, so the cookie is refused all the same.
        const count = next();
        const c = core.linuxCookieMake(s, d, sp, dp, isn, idx, count);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, u32(count + 256))).toBe(-1);
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, u32(count + 257))).toBe(-1);
      }
    });

    it('refuses a different 4-tuple, a different client ISN, or a one-bit change in bits 2..31 (20,000 tuples, zero false accepts)', () => {
      const next = rng(6);
      let checks = 0;
      for (let n = 0; n < 20000; n++) {
        const [s, d, sp, dp, isn] = [next(), next(), next() & 0xffff, next() & 0xffff, next()];
        const idx = n & 3;
        const count = next();
        const c = core.linuxCookieMake(s, d, sp, dp, isn, idx, count);
        const now = u32(count + (n & 1));
        expect(core.linuxCookieCheck(s, d, sp, dp, isn, c, now)).toBe(idx);
        const wrong = [
          core.linuxCookieCheck(u32(s ^ (1 << (n % 32))), d, sp, dp, isn, c, now),
          core.linuxCookieCheck(s, u32(d ^ (1 << (n % 32))), sp, dp, isn, c, now),
          core.linuxCookieCheck(s, d, sp ^ (1 << (n % 16)), dp, isn, c, now),
          core.linuxCookieCheck(s, d, sp, dp ^ (1 << (n % 16)), isn, c, now),
          core.linuxCookieCheck(next(), d, sp, dp, isn, c, now),
          core.linuxCookieCheck(s, d, next() & 0xffff, next() & 0xffff, isn, c, now),
          core.linuxCookieCheck(s, d, sp, dp, next(), c, now),
        ];
        for (let bit = 2; bit < 32; bit++) {
          wrong.push(core.linuxCookieCheck(s, d, sp, dp, isn, u32(c ^ (1 << bit)), now));
        }
        checks += wrong.length;
        const accepted = wrong.filter((r) => r !== -1).length;
        if (accepted !== 0) expect(accepted, `tuple ${n}: false accepts`).toBe(0);
      }
      expect(checks).toBe(20000 * 37);
    });

    it('leaves the MSS index in the low bits unauthenticated, as Linux does: +-1/+-2 can only move to a neighbour', () => {
      // The index is added to the hash sum, not mixed into it, so a change of the cookie (or of the
      // client ISN) by a few units shifts the recovered index by that much (syncookies.c
      // check_tcp_syn_cookie). Everything else still has to match.
      const next = rng(7);
      let moved = 0;
      for (let n = 0; n < 2000; n++) {
        const [s, d, sp, dp, isn, count] = [next(), next(), next() & 0xffff, next() & 0xffff, next(), next()];
        const idx = n & 3;
        const c = core.linuxCookieMake(s, d, sp, dp, isn, idx, count);
        for (const bit of [0, 1]) {
          const r = core.linuxCookieCheck(s, d, sp, dp, isn, u32(c ^ (1 << bit)), count);
          if (r !== -1) {
            expect(Math.abs(r - idx)).toBe(1 << bit);
            moved++;
          }
        }
        const r = core.linuxCookieCheck(s, d, sp, dp, u32(isn + 1), c, count);
        expect(r).toBe(idx === 0 ? -1 : idx - 1);
      }
      expect(moved).toBeGreaterThan(0);
    });
  });

  describe('timestamp cookie (cookie_init_timestamp / cookie_timestamp_decode)', () => {
    it('puts wscale 7 + SACK in the low 6 bits as 0x17 (listen-behaviour.md §8 item 4)', () => {
      const ts = core.linuxCookieTsEncode(0x12345678, 7, true, false);
      expect(ts & 0x3f).toBe(0x17);
      expect(ts).toBe(0x12345657);
      // Replacing the low bits of ...40 with 0x17 would overshoot: one 64-tick step back.
      expect(core.linuxCookieTsEncode(0x12345640, 7, true, false)).toBe(0x12345617);
      expect(core.linuxCookieTsEncode(0x12345640, -1, false, false)).toBe(0x1234560f);
      expect(core.linuxCookieTsEncode(0x12345640, 0, false, true)).toBe(0x12345620);
    });

    it('never exceeds tsNow, stays within 64 ticks of it, and carries the options exactly', () => {
      const next = rng(8);
      for (let n = 0; n < 300; n++) {
        const now = n < 100 ? next() : n < 200 ? u32(next() | 0x3f) : u32(next() & ~0x3f);
        for (let ws = -1; ws <= 14; ws++) {
          for (const sack of [false, true]) {
            for (const ecn of [false, true]) {
              const opts = (ws < 0 ? 0xf : ws) | (sack ? 0x10 : 0) | (ecn ? 0x20 : 0);
              const ts = core.linuxCookieTsEncode(now, ws, sack, ecn);
              expect(ts & 0x3f).toBe(opts);
              if (now >= 64) expect(ts).toBeLessThanOrEqual(now);
              expect(u32(now - ts)).toBeLessThan(64);
            }
          }
        }
      }
    });

    it('steps back through zero when tsNow < 64, staying at most 63 ticks behind in timestamp space', () => {
      const ts = core.linuxCookieTsEncode(5, 7, true, false);
      expect(ts).toBe(0xffffffd7);
      expect(u32(5 - ts)).toBe(46);
      expect(core.linuxCookieTsEncode(0x3f, 7, true, false)).toBe(0x17);
    });

    it('clamps window scales above 14 to 14, as tcp_parse_options does, so 0xF only ever means none', () => {
      expect(core.linuxCookieTsEncode(0x1000, 15, false, false) & 0xf).toBe(14);
      expect(core.linuxCookieTsEncode(0x1000, 200, false, false) & 0xf).toBe(14);
    });

    it('decodes what it encoded, "none" included, and with a per-pair offset removed first', () => {
      core.isnSeed(...(ISN_KEY as [number, number, number, number]), ...(TS_KEY as [number, number, number, number]));
      const off = core.tsOffset(0x0a000001, 0xc6120063);
      const next = rng(9);
      for (let ws = -1; ws <= 14; ws++) {
        for (const sack of [false, true]) {
          for (const ecn of [false, true]) {
            const now = next();
            for (const offset of [0, off]) {
              const onWire = u32(core.linuxCookieTsEncode(now, ws, sack, ecn) + offset);
              const p = core.linuxCookieTsDecode(u32(onWire - offset));
              expect(p).toBeGreaterThanOrEqual(0);
              expect(core.linuxTsWscale(p)).toBe(ws);
              expect(core.linuxTsSack(p)).toBe(sack);
              expect(core.linuxTsEcn(p)).toBe(ecn);
            }
          }
        }
      }
      expect(core.linuxTsWscale(core.linuxCookieTsDecode(0xabcdef0f))).toBe(-1);
      expect(core.linuxTsWscale(core.linuxCookieTsDecode(0xabcdef0e))).toBe(14);
    });

    it('decodes every 6-bit pattern to a valid option set (no pattern is out of range)', () => {
      for (let bits = 0; bits < 64; bits++) {
        const p = core.linuxCookieTsDecode(u32(0x5a5a5a00 | bits));
        expect(p).toBeGreaterThanOrEqual(0);
        const ws = core.linuxTsWscale(p);
        expect(ws).toBe((bits & 0xf) === 0xf ? -1 : bits & 0xf);
        expect(core.linuxTsSack(p)).toBe((bits & 0x10) !== 0);
        expect(core.linuxTsEcn(p)).toBe((bits & 0x20) !== 0);
      }
    });
  });
});

describe('FreeBSD syncookies (sys/netinet/tcp_syncache.c)', () => {
  const MSSTAB = [216, 536, 1200, 1360, 1400, 1440, 1452, 1460];
  const WSTAB = [0, 0, 1, 2, 4, 6, 7, 8];
  const LIFETIME = 15000;
  const A = { f: 0xc6120063, l: 0x0a000001, fp: 40000, lp: 80, irs: 0x01020304, bucket: 17 };

  function seed(t0 = 0): void {
    core.fbsdCookieSeed(...(FBSD_KEY0 as [number, number, number, number]), ...(FBSD_KEY1 as [number, number, number, number]));
    core.fbsdCookieRotate(t0); // anchors the 15-s schedule
  }

  function make(mss: number, ws: number, sack: boolean, t = A): number {
    return core.fbsdCookieMake(t.f, t.l, t.fp, t.lp, t.irs, mss, ws, sack, t.bucket);
  }

  function check(iss: number, t = A): number {
    return core.fbsdCookieCheck(t.f, t.l, t.fp, t.lp, t.irs, iss, t.bucket);
  }

  beforeEach(() => seed());

  it('lays out |MAC24|WWW|MMM|S|P| with iss = (hash & ~0xff) | (flags ^ (hash >> 24))', () => {
    const key0 = scratchKey(FBSD_KEY0);
    for (let w = 0; w < 8; w++) {
      for (let m = 0; m < 8; m++) {
        for (const s of [0, 1]) {
          const flags = (w << 5) | (m << 2) | (s << 1) | 0; // P = 0: no reseed yet
          const hash64 = core.sipHash6(key0, A.f, A.l, u32((A.fp << 16) | A.lp), A.irs, flags, A.bucket);
          const hash = u32(lo32(hash64) ^ Number(hash64 >> 32n));
          const want = u32((hash & ~0xff) | (flags ^ (hash >>> 24)));
          expect(make(MSSTAB[m], w === 0 ? -1 : WSTAB[w], s === 1)).toBe(want);
        }
      }
    }
  });

  it('round-trips every W/M/S combination with either secret', () => {
    for (const phase of ['even secret', 'odd secret']) {
      if (phase === 'odd secret') core.fbsdCookieRotate(LIFETIME);
      for (let w = 0; w < 8; w++) {
        for (let m = 0; m < 8; m++) {
          for (const sack of [false, true]) {
            const ws = w === 0 ? -1 : WSTAB[w];
            const p = check(make(MSSTAB[m], ws, sack));
            const what = `${phase} W${w} M${m} S${sack}`;
            expect(p, what).toBeGreaterThanOrEqual(0);
            expect(core.fbsdCookieMss(p), what).toBe(MSSTAB[m]);
            expect(core.fbsdCookieWscale(p), what).toBe(ws);
            expect(core.fbsdCookieSack(p), what).toBe(sack);
          }
        }
      }
    }
  });

  it('rounds the MSS down to tcp_sc_msstab (and anything below 216 up to 216)', () => {
    const cases: [number, number][] = [
      [0, 216], [215, 216], [216, 216], [535, 216], [1000, 536], [1199, 536], [1300, 1200],
      [1399, 1360], [1401, 1400], [1451, 1440], [1459, 1452], [1460, 1460], [9000, 1460], [65535, 1460],
    ];
    for (const [mss, want] of cases) {
      expect(core.fbsdCookieMss(check(make(mss, -1, false))), `mss ${mss}`).toBe(want);
    }
  });

  it('rounds the window scale down to tcp_sc_wstab; 0 stays a real scale, -1 stays none', () => {
    const cases: [number, number][] = [
      [-1, -1], [0, 0], [1, 1], [2, 2], [3, 2], [4, 4], [5, 4], [6, 6], [7, 7], [8, 8], [9, 8], [14, 8],
    ];
    for (const [ws, want] of cases) {
      expect(core.fbsdCookieWscale(check(make(1460, ws, true))), `wscale ${ws}`).toBe(want);
    }
  });

  it('keeps a cookie valid across one reseed (15 s) and refuses it after two (30 s)', () => {
    const iss = make(1460, 7, true);
    core.fbsdCookieRotate(LIFETIME - 1);
    expect(make(1460, 7, true)).toBe(iss); // no reseed yet: same secret, same cookie
    core.fbsdCookieRotate(LIFETIME);
    expect(make(1460, 7, true)).not.toBe(iss); // the other secret is in use now
    expect(check(iss)).toBeGreaterThanOrEqual(0);
    core.fbsdCookieRotate(2 * LIFETIME - 1);
    expect(check(iss)).toBeGreaterThanOrEqual(0);
    core.fbsdCookieRotate(2 * LIFETIME);
    expect(check(iss)).toBe(-1);
  });

  it('gives a cookie made just after a reseed its full 30 s', () => {
    core.fbsdCookieRotate(LIFETIME);
    const iss = make(1460, -1, false);
    core.fbsdCookieRotate(2 * LIFETIME);
    expect(check(iss)).toBeGreaterThanOrEqual(0);
    core.fbsdCookieRotate(3 * LIFETIME - 1);
    expect(check(iss)).toBeGreaterThanOrEqual(0);
    core.fbsdCookieRotate(3 * LIFETIME);
    expect(check(iss)).toBe(-1);
  });

  it('refuses everything outstanding after a long gap, and keeps the 15-s phase across a clock wrap', () => {
    const iss = make(1460, 7, true);
    core.fbsdCookieRotate(10 * 60 * 1000);
    expect(check(iss)).toBe(-1);

    seed(0xffffffff - 5000); // schedule anchored 5 s before the u32 millisecond clock wraps
    const iss2 = make(1460, 7, true);
    core.fbsdCookieRotate(9998); // 14.999 s later, after the wrap
    expect(make(1460, 7, true)).toBe(iss2);
    core.fbsdCookieRotate(9999); // 15 s
    expect(make(1460, 7, true)).not.toBe(iss2);
    expect(check(iss2)).toBeGreaterThanOrEqual(0);
    core.fbsdCookieRotate(9999 + LIFETIME);
    expect(check(iss2)).toBe(-1);
  });

  it('derives the same secrets from the same seed, and different ones from another seed', () => {
    core.fbsdCookieRotate(LIFETIME);
    core.fbsdCookieRotate(2 * LIFETIME);
    const fresh = make(1460, 7, true);
    seed();
    core.fbsdCookieRotate(LIFETIME);
    core.fbsdCookieRotate(2 * LIFETIME);
    expect(make(1460, 7, true)).toBe(fresh);

    core.fbsdCookieSeed(1, 2, 3, 4, 5, 6, 7, 8);
    core.fbsdCookieRotate(0);
    const other = make(1460, 7, true);
    seed();
    expect(check(other)).toBe(-1);
  });

  it('refuses any one-bit change of the ISS and any other 4-tuple, IRS or bucket (20,000 tuples, zero false accepts)', () => {
    const next = rng(10);
    let checks = 0;
    for (let n = 0; n < 20000; n++) {
      if (n === 10000) core.fbsdCookieRotate(LIFETIME); // half the cases on the odd secret
      const t = { f: next(), l: next(), fp: next() & 0xffff, lp: next() & 0xffff, irs: next(), bucket: next() & 511 };
      const mss = MSSTAB[n & 7];
      const ws = WSTAB[(n >> 3) & 7];
      const sack = (n & 64) !== 0;
      const iss = make(mss, ws, sack, t);
      expect(core.fbsdCookieMss(check(iss, t))).toBe(mss);
      const wrong = [
        check(iss, { ...t, f: u32(t.f ^ (1 << (n % 32))) }),
        check(iss, { ...t, l: u32(t.l ^ (1 << (n % 32))) }),
        check(iss, { ...t, fp: t.fp ^ (1 << (n % 16)) }),
        check(iss, { ...t, lp: t.lp ^ (1 << (n % 16)) }),
        check(iss, { ...t, irs: u32(t.irs + 1) }),
        check(iss, { ...t, irs: next() }),
        check(iss, { ...t, bucket: t.bucket ^ 1 }),
      ];
      for (let bit = 0; bit < 32; bit++) wrong.push(check(u32(iss ^ (1 << bit)), t));
      checks += wrong.length;
      const accepted = wrong.filter((r) => r !== -1).length;
      if (accepted !== 0) expect(accepted, `tuple ${n}: false accepts`).toBe(0);
    }
    expect(checks).toBe(20000 * 39);
  });
});

describe('RFC 6528 ISNs and timestamp offsets', () => {
  const LOCAL = 0x0a000001;
  const REMOTE = 0xc6120063;

  beforeEach(() => {
    core.isnSeed(...(ISN_KEY as [number, number, number, number]), ...(TS_KEY as [number, number, number, number]));
  });

  it('is F(4-tuple, secret) + M with F = SipHash-2-4(saddr, daddr, sport << 16 | dport), M = nowUs >> 2', () => {
    const key = scratchKey(ISN_KEY);
    const now = 123456789;
    const f = lo32(core.sipHash3(key, LOCAL, REMOTE, u32((80 << 16) | 40000)));
    expect(core.isnGenerate(LOCAL, REMOTE, 80, 40000, now)).toBe(u32(f + (now >>> 2)));
  });

  it('gives different 4-tuples different ISNs at the same instant', () => {
    const next = rng(11);
    const seen = new Set<number>();
    for (let n = 0; n < 2000; n++) {
      seen.add(core.isnGenerate(next(), next(), next() & 0xffff, next() & 0xffff, 1000));
    }
    seen.add(core.isnGenerate(LOCAL, REMOTE, 80, 40000, 1000));
    seen.add(core.isnGenerate(REMOTE, LOCAL, 40000, 80, 1000)); // the reverse direction differs too
    expect(seen.size).toBe(2002);
  });

  it('advances one per 4 microseconds for the same 4-tuple', () => {
    const t0 = 5_000_000;
    const i0 = core.isnGenerate(LOCAL, REMOTE, 80, 40000, t0);
    expect(core.isnGenerate(LOCAL, REMOTE, 80, 40000, t0 + 3)).toBe(i0);
    expect(core.isnGenerate(LOCAL, REMOTE, 80, 40000, t0 + 4)).toBe(u32(i0 + 1));
    expect(core.isnGenerate(LOCAL, REMOTE, 80, 40000, t0 + 4000)).toBe(u32(i0 + 1000));
    expect(core.isnGenerate(LOCAL, REMOTE, 80, 40000, t0 + 4_000_000)).toBe(u32(i0 + 1_000_000));
  });

  it('keeps M a 32-bit 4-us clock when the microsecond clock wraps (no step back of 2^30)', () => {
    const before = core.isnGenerate(LOCAL, REMOTE, 80, 40000, 0xffffff00);
    const after = core.isnGenerate(LOCAL, REMOTE, 80, 40000, 0x100);
    expect(u32(after - before)).toBe(0x200 / 4);
  });

  it('makes consecutive connections unpredictable from each other (differences are not constant)', () => {
    // A client opening connections from ports 50000, 50001, ... every millisecond: with a global
    // counter (4.3BSD) or any F linear in the port, the differences would repeat.
    const isns: number[] = [];
    for (let i = 0; i < 200; i++) isns.push(core.isnGenerate(LOCAL, REMOTE, 50000 + i, 80, 1000 * i));
    const diffs = new Set<number>();
    for (let i = 1; i < isns.length; i++) diffs.add(u32(isns[i] - isns[i - 1]));
    expect(diffs.size).toBe(199);
    // Nor is the difference the elapsed time (250 ticks): F dominates.
    expect([...diffs].filter((d) => d === 250).length).toBe(0);
    // And the secret decides F: another key gives other ISNs for the same tuple and time.
    const mine = core.isnGenerate(LOCAL, REMOTE, 80, 40000, 7);
    core.isnSeed(1, 2, 3, 4, ...(TS_KEY as [number, number, number, number]));
    expect(core.isnGenerate(LOCAL, REMOTE, 80, 40000, 7)).not.toBe(mine);
  });

  it('gives each address pair its own stable timestamp offset, keyed by the second secret only', () => {
    const key = scratchKey(TS_KEY);
    const off = core.tsOffset(LOCAL, REMOTE);
    expect(off).toBe(lo32(core.sipHash2(key, LOCAL, REMOTE)));
    expect(core.tsOffset(LOCAL, REMOTE)).toBe(off);
    expect(core.tsOffset(REMOTE, LOCAL)).not.toBe(off);
    expect(core.tsOffset(LOCAL, REMOTE + 1)).not.toBe(off);
    core.isnSeed(1, 2, 3, 4, ...(TS_KEY as [number, number, number, number]));
    expect(core.tsOffset(LOCAL, REMOTE)).toBe(off);
    core.isnSeed(...(ISN_KEY as [number, number, number, number]), 5, 6, 7, 8);
    expect(core.tsOffset(LOCAL, REMOTE)).not.toBe(off);
  });
});
