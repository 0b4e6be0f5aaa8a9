// Exports used only by unit tests of self-contained core modules (codecs, checksums).
// assembly/index.ts re-exports everything here. Test-only wrappers carry a `test_` prefix; the
// sipHash* functions return u64, which crosses as a BigInt: fine for tests, never on a hot path.

export { sipHash2, sipHash3, sipHash4, sipHash6, sipKeyStore } from './tcp/siphash';
export { sipHashBytes as test_sipHashBytes } from './tcp/siphash';
export { isnSeed, isnGenerate, tsOffset } from './tcp/isn';
export {
  linuxMssIndex, linuxMssFromIndex, linuxCookieSeed, linuxCookieMake, linuxCookieCheck,
  linuxCookieTsEncode, linuxCookieTsDecode, linuxTsWscale, linuxTsSack, linuxTsEcn,
} from './tcp/cookie-linux';
export {
  fbsdCookieSeed, fbsdCookieRotate, fbsdCookieMake, fbsdCookieCheck,
  fbsdCookieMss, fbsdCookieWscale, fbsdCookieSack,
} from './tcp/cookie-freebsd';

// 256 bytes the tests may write keys and messages into (memory.data: no allocation).
const TEST_SCRATCH: usize = memory.data(256);
@inline const TEST_SCRATCH_BYTES: u32 = 256;

/** Address of the test scratch area. */
export function test_scratch(): usize {
  return TEST_SCRATCH;
}

/** Size of the test scratch area in bytes. */
export function test_scratchBytes(): u32 {
  return TEST_SCRATCH_BYTES;
}

// ---- network layers (test/unit/checksum.test.ts, test/unit/net.test.ts) ----
import { sumBytes as _sumBytes, fold as _fold, finish as _finish, verifies as _verifies, pseudoSum as _pseudoSum } from './wire/checksum';
import {
  segSet as _segSet, optMss as _optMss, optWs as _optWs, optSackOk as _optSackOk, optTs as _optTs,
  optTsVal as _optTsVal, optTsEcr as _optTsEcr,
} from './tcp/segment';

/** finish(sumBytes(p, len, acc)) stored with store<u16> at `out`, as a header field is written. */
export function test_checksumStore(p: usize, len: i32, acc: u32, out: usize): void {
  store<u16>(out, _finish(_sumBytes(p, len, <u64>acc)));
}
/** fold(sumBytes(p, len, 0)): the 16-bit one's-complement sum, in memory order. */
export function test_sumFold(p: usize, len: i32): u32 {
  return _fold(_sumBytes(p, len, 0));
}
/** fold() of the 64-bit accumulator hi:lo. */
export function test_fold(hi: u32, lo: u32): u32 {
  return _fold((<u64>hi << 32) | <u64>lo);
}
/** verifies(sumBytes(p, len, 0)): does a region holding its own checksum check out? */
export function test_verifies(p: usize, len: i32): bool {
  return _verifies(_sumBytes(p, len, 0));
}
/** finish(pseudoSum(...) + sumBytes(p, len)) stored at `out`: a TCP checksum over IPv4. */
export function test_tcpChecksumStore(src: u32, dst: u32, p: usize, len: i32, out: usize): void {
  store<u16>(out, _finish(_sumBytes(p, len, _pseudoSum(src, dst, 6, <u32>len))));
}
/** Parse a TCP header at p (hlen header bytes of a len-byte segment) into the segment record. */
export function test_segSet(p: usize, hlen: i32, len: i32): void {
  _segSet(0, 0, 0, p, hlen, len, false);
}
export function test_optMss(): u32 { return _optMss; }
export function test_optWs(): i32 { return _optWs; }
export function test_optSackOk(): bool { return _optSackOk; }
export function test_optTs(): bool { return _optTs; }
export function test_optTsVal(): u32 { return _optTsVal; }
export function test_optTsEcr(): u32 { return _optTsEcr; }
