// The Internet checksum (RFC 1071) over memory, and the IPv4 pseudo-header sum (RFC 9293 §3.1).
// Called by net/ip.ts, net/icmp.ts and tcp/output.ts, tcp/input.ts.
//
// Sums are kept as u64 accumulators of 32-bit big-endian-agnostic words and folded at the end:
// one's-complement addition is byte-order independent as long as the final 16-bit value is read
// in the same order as it was summed (we sum little-endian loads and byte-swap the folded result).

/** 64-byte blocks summed in 32-bit lanes before the lanes are added to the u64 accumulator:
 * each block adds at most 2 * 0xFFFF to a lane, so 4096 blocks (256 KiB) cannot overflow one. */
@inline const SIMD_BLOCKS_MAX: i32 = 4096;

/**
 * Add `len` bytes at `p` to `acc` (unfolded). Any alignment, any length; reads exactly the bytes
 * [p, p + len). 64 bytes at a time in four SIMD accumulators (pairwise u16 sums into u32 lanes),
 * then 16, 4, 2 and 1 byte steps.
 */
export function sumBytes(p: usize, len: i32, acc: u64): u64 {
  let s = acc;
  while (len >= 64) {
    let n = len >> 6;
    if (n > SIMD_BLOCKS_MAX) n = SIMD_BLOCKS_MAX;
    len -= n << 6;
    let a0 = i32x4.splat(0); let a1 = i32x4.splat(0); let a2 = i32x4.splat(0); let a3 = i32x4.splat(0);
    do {
      a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_u(v128.load(p)));
      a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 16)));
      a2 = i32x4.add(a2, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 32)));
      a3 = i32x4.add(a3, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 48)));
      p += 64;
    } while (--n);
    // widen to u64 lanes before adding the four together (each lane may be close to 2^31)
    let w = i64x2.add(i64x2.extend_low_i32x4_u(a0), i64x2.extend_high_i32x4_u(a0));
    w = i64x2.add(w, i64x2.add(i64x2.extend_low_i32x4_u(a1), i64x2.extend_high_i32x4_u(a1)));
    w = i64x2.add(w, i64x2.add(i64x2.extend_low_i32x4_u(a2), i64x2.extend_high_i32x4_u(a2)));
    w = i64x2.add(w, i64x2.add(i64x2.extend_low_i32x4_u(a3), i64x2.extend_high_i32x4_u(a3)));
    s += <u64>i64x2.extract_lane(w, 0) + <u64>i64x2.extract_lane(w, 1);
  }
  // 16 bytes at a time with two 64-bit loads
  while (len >= 16) {
    const a = load<u64>(p);
    const b = load<u64>(p, 8);
    s += (a & 0xFFFFFFFF) + (a >> 32) + (b & 0xFFFFFFFF) + (b >> 32);
    p += 16; len -= 16;
  }
  while (len >= 4) { s += <u64>load<u32>(p); p += 4; len -= 4; }
  if (len >= 2) { s += <u64>load<u16>(p); p += 2; len -= 2; }
  // an odd last byte is the high half of a big-endian word: in memory order, the low half
  if (len > 0) s += <u64>load<u8>(p);
  return s;
}

/** Fold an accumulator to 16 bits (still little-endian summed). */
@inline export function fold(s: u64): u32 {
  s = (s & 0xFFFFFFFF) + (s >> 32);
  s = (s & 0xFFFFFFFF) + (s >> 32);
  let x = <u32>s;
  x = (x & 0xFFFF) + (x >> 16);
  x = (x & 0xFFFF) + (x >> 16);
  return x;
}

/** The checksum field value to store with store<u16> (already in memory order). */
@inline export function finish(s: u64): u16 {
  return <u16>(~fold(s) & 0xFFFF);
}

/** True when a region that includes its own checksum field sums to 0xFFFF (valid). */
@inline export function verifies(s: u64): bool {
  return fold(s) == 0xFFFF;
}

/**
 * Pseudo-header sum for TCP/UDP over IPv4: addresses are host-order u32, converted to memory
 * order so that they add the same way as the loaded header words.
 */
@inline export function pseudoSum(src: u32, dst: u32, proto: u32, len: u32): u64 {
  return <u64>bswap<u32>(src) + <u64>bswap<u32>(dst) + <u64>bswap<u16>(<u16>proto) + <u64>bswap<u16>(<u16>len);
}
