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
