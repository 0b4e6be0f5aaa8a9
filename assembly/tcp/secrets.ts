// Secrets derived from the host's seed: the hash-table key and the seeds of the ISN generator and
// both cookie codecs. The core has no random source of its own.
import { isnSeed } from './isn';
import { linuxCookieSeed } from './cookie-linux';
import { fbsdCookieSeed } from './cookie-freebsd';

const key = new StaticArray<u32>(4);

/** splitmix32-style expansion of the host's 128-bit seed into as many words as needed */
let st: u32 = 0;
function nextWord(): u32 {
  st += 0x9E3779B9;
  let z = st;
  z = (z ^ (z >>> 16)) * 0x85EBCA6B;
  z = (z ^ (z >>> 13)) * 0xC2B2AE35;
  return z ^ (z >>> 16);
}

export function seedSecrets(a: u32, b: u32, c: u32, d: u32): void {
  st = a ^ (b << 7) ^ (c << 13) ^ (d << 19) ^ b ^ c ^ d;
  const w = new StaticArray<u32>(28);
  for (let i = 0; i < 28; i++) unchecked(w[i] = nextWord() ^ (i % 4 == 0 ? a : i % 4 == 1 ? b : i % 4 == 2 ? c : d));
  for (let i = 0; i < 4; i++) unchecked(key[i] = w[i]);
  isnSeed(w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11]);
  linuxCookieSeed(w[12], w[13], w[14], w[15], w[16], w[17], w[18], w[19]);
  fbsdCookieSeed(w[20], w[21], w[22], w[23], w[24], w[25], w[26], w[27]);
}

@inline export function tableKey(i: i32): u32 { return unchecked(key[i & 3]); }
