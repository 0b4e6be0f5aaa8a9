// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012) over a few u32 words,
// keyed by a 128-bit key held in this instance's memory. Owns nothing but the four state lanes.
// Called by isn.ts (RFC 6528 F(), timestamp offsets), cookie-linux.ts and cookie-freebsd.ts (MACs).
//
// Key: `k` points to 16 bytes; the key is the two little-endian u64 at k and k+8, exactly as the
// reference implementation reads its key bytes (SipHash paper §2, "k0, k1"). The owners of secrets keep
// them in `memory.data` regions and store seed words with store<u32>, so key byte i is byte i%4 of
// seed word i/4, little-endian.
//
// Message: sipHashN(k, w0 .. wN-1) is SipHash-2-4 of the 4*N bytes LE(w0) || LE(w1) || ... This is
// what Linux's siphash_2u32 / siphash_3u32 / siphash_4u32 (lib/siphash.c) compute on a little-endian
// CPU, so the test can check every word-oriented variant against the byte-oriented one.
//
// No allocation, no u64 on the boundary except the test-only exports (see test-exports.ts).

// The four lanes live in globals: AssemblyScript has no multiple return values, and a global
// is as cheap as a local once binaryen has run.
let v0: u64 = 0;
let v1: u64 = 0;
let v2: u64 = 0;
let v3: u64 = 0;

// "somepseudorandomlygeneratedbytes", the initialisation constants of the SipHash paper §2.
@inline const SIP_C0: u64 = 0x736f6d6570736575;
@inline const SIP_C1: u64 = 0x646f72616e646f6d;
@inline const SIP_C2: u64 = 0x6c7967656e657261;
@inline const SIP_C3: u64 = 0x7465646279746573;

@inline function sipRound(): void {
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32);
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32);
}

@inline function sipInit(k: usize): void {
  const k0 = load<u64>(k);
  const k1 = load<u64>(k, 8);
  v0 = k0 ^ SIP_C0;
  v1 = k1 ^ SIP_C1;
  v2 = k0 ^ SIP_C2;
  v3 = k1 ^ SIP_C3;
}

/** One 8-byte message block, two compression rounds (the "2" of SipHash-2-4). */
@inline function sipBlock(m: u64): void {
  v3 ^= m;
  sipRound();
  sipRound();
  v0 ^= m;
}

/** Four finalisation rounds (the "4"); returns the 64-bit tag. */
@inline function sipFinish(): u64 {
  v2 ^= 0xff;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  return v0 ^ v1 ^ v2 ^ v3;
}

/** Two u32 as one LE u64 block: a in the low half. */
@inline function pairOf(a: u32, b: u32): u64 {
  return (<u64>b << 32) | <u64>a;
}

/** SipHash-2-4 of the 8 bytes LE(a)||LE(b) (Linux siphash_2u32). */
export function sipHash2(k: usize, a: u32, b: u32): u64 {
  sipInit(k);
  sipBlock(pairOf(a, b));
  sipBlock(<u64>8 << 56);
  return sipFinish();
}

/** SipHash-2-4 of the 12 bytes LE(a)||LE(b)||LE(c) (Linux siphash_3u32). */
export function sipHash3(k: usize, a: u32, b: u32, c: u32): u64 {
  sipInit(k);
  sipBlock(pairOf(a, b));
  // Last block: the 4 leftover bytes, then the message length (12) in the top byte.
  sipBlock((<u64>12 << 56) | <u64>c);
  return sipFinish();
}

/** SipHash-2-4 of the 16 bytes LE(a)||LE(b)||LE(c)||LE(d) (Linux siphash_4u32). */
export function sipHash4(k: usize, a: u32, b: u32, c: u32, d: u32): u64 {
  sipInit(k);
  sipBlock(pairOf(a, b));
  sipBlock(pairOf(c, d));
  sipBlock(<u64>16 << 56);
  return sipFinish();
}

/** SipHash-2-4 of the 24 bytes LE(a)||...||LE(f). */
export function sipHash6(k: usize, a: u32, b: u32, c: u32, d: u32, e: u32, f: u32): u64 {
  sipInit(k);
  sipBlock(pairOf(a, b));
  sipBlock(pairOf(c, d));
  sipBlock(pairOf(e, f));
  sipBlock(<u64>24 << 56);
  return sipFinish();
}

/**
 * SipHash-2-4 of `len` bytes at `p`, the textbook byte-oriented form. Used only by the tests to
 * check the word variants above against the paper's reference vectors; not on any hot path.
 */
export function sipHashBytes(k: usize, p: usize, len: u32): u64 {
  sipInit(k);
  const end = p + (<usize>len & ~<usize>7);
  let q = p;
  while (q < end) {
    sipBlock(load<u64>(q));
    q += 8;
  }
  let last: u64 = <u64>(len & 0xff) << 56;
  const rest = len & 7;
  for (let i: u32 = 0; i < rest; i++) {
    last |= <u64>load<u8>(q + <usize>i) << (<u64>i * 8);
  }
  sipBlock(last);
  return sipFinish();
}

/** Stores a 128-bit key given as four u32 words at `k` (word 0 = key bytes 0..3, little-endian). */
export function sipKeyStore(k: usize, w0: u32, w1: u32, w2: u32, w3: u32): void {
  store<u32>(k, w0, 0);
  store<u32>(k, w1, 4);
  store<u32>(k, w2, 8);
  store<u32>(k, w3, 12);
}

/** Folds a 64-bit tag to 32 bits the way FreeBSD's syncookie_mac does (siphash[0] ^ siphash[1]). */
@inline export function sipFold32(h: u64): u32 {
  return <u32>h ^ <u32>(h >> 32);
}
