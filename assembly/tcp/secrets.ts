// Secrets derived from the host's seed: the hash-table key and the seeds of the ISN generator and
// both cookie codecs. The core has no random source of its own. Every derived word is SipHash of
// its index under the host's 128-bit seed (a PRF), so learning one derived key reveals neither the
// seed nor any other key.
import { isnSeed } from './isn';
import { linuxCookieSeed } from './cookie-linux';
import { fbsdCookieSeed } from './cookie-freebsd';
import { sipHash2, sipKeyStore } from './siphash';

const key = new StaticArray<u32>(4);
const seedKey = memory.data(16);
const prfKey = memory.data(16);

function word(i: u32): u32 { return <u32>sipHash2(seedKey, i, 0x77746370 /* "wtcp" */); }

export function seedSecrets(a: u32, b: u32, c: u32, d: u32): void {
  sipKeyStore(seedKey, a, b, c, d);
  for (let i = 0; i < 4; i++) unchecked(key[i] = word(<u32>i));
  isnSeed(word(4), word(5), word(6), word(7), word(8), word(9), word(10), word(11));
  linuxCookieSeed(word(12), word(13), word(14), word(15), word(16), word(17), word(18), word(19));
  fbsdCookieSeed(word(20), word(21), word(22), word(23), word(24), word(25), word(26), word(27));
  sipKeyStore(prfKey, word(28), word(29), word(30), word(31));
  // the seed itself is not kept
  sipKeyStore(seedKey, 0, 0, 0, 0);
}

@inline export function tableKey(i: i32): u32 { return unchecked(key[i & 3]); }

/**
 * The i-th keyed pseudo-random word (SipHash under its own derived key), for what an OS draws from
 * its RNG at run time (Linux's randomised challenge-ACK budget). Outputs reveal no other key.
 */
export function prfWord(i: u32): u32 { return <u32>sipHash2(prfKey, i, 0x35393631 /* "5961" */); }
