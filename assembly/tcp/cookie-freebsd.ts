// FreeBSD SYN cookies (IPv4): the ISS codec with its 24-bit SipHash MAC, and the two rotating
// secrets. Owns the secrets and their 15-s schedule. Called by the `freebsd` personality's syncache:
// syncookie_generate for every SYN-ACK when net.inet.tcp.syncookies = 1, syncookie_lookup when an ACK
// finds no syncache entry (listen-behaviour.md §3.6, §3.8). Rules from FreeBSD 12
// sys/netinet/tcp_syncache.c (syncookie_mac, syncookie_generate, syncookie_lookup, syncookie_reseed).
//
// ISS layout (the block comment "Schematic construction of a syncookie enabled Initial Sequence
// Number"):   |xxxxxxxxxxxxxxxxxxxxxxxx WWW MMM S P|
//   x 24-bit MAC, W window-scale index (tcp_sc_wstab), M MSS index (tcp_sc_msstab), S SACK, P secret.
// The flags byte is XORed with the MAC's top byte before it goes on the wire.
// Note: FreeBSD's `union syncookie` bitfields (tcp_syncache.h: odd_even:1, sack_ok:1, wscale_idx:3,
// mss_idx:3) put M above W on little-endian machines, unlike the schematic. The schematic's order is
// used here; the difference cannot be seen from outside, as the byte only appears XORed with MAC bits.
//
// Inputs are host-order values; faddr/fport = the peer, laddr/lport = this listener, irs = the
// client's ISN, bucket = the syncache bucket the 4-tuple hashes to (FreeBSD mixes in the bucket's
// address, `secmod`; any per-bucket constant does the same job).
//
// Result packing of fbsdCookieCheck (the same layout as linuxCookieTsDecode's; -1 = invalid):
//
//    31     25  24  23        16 15                0
//   +---------+---+------------+-------------------+
//   |    0    |SCK|   wscale   |        mss        |
//   +---------+---+------------+-------------------+
//   wscale = a tcp_sc_wstab value (0..8), or 0xFF when the SYN had no window-scale option.
//
// Secrets and rotation. FreeBSD keeps secret.key[2] and an odd/even counter; syncache_init fills both
// keys from arc4rand, and syncookie_reseed, every SYNCOOKIE_LIFETIME (15 s), refills the key NOT in use
// (secbit = oddeven & 1 ? 0 : 1) and then increments oddeven, so new cookies use the fresh key and
// cookies made with the other one stay valid until the next reseed: a lifetime of 15..30 s.
// The core has no random source, so: fbsdCookieSeed installs the two initial keys (256 random bits from
// the host), and each reseed derives the replaced key from the previous key material,
//   new key[s] = SipHash-2-4_{old key[s]}(key[1-s] words, reseed number, lane) for lanes 0 and 1,
// a one-way ratchet: a newer key does not reveal an older one, and the whole sequence is fixed by the
// host's seed, which therefore must be fresh per stack (tests use fixed seeds and get repeatable
// cookies). The 15-s clock is the host's: fbsdCookieRotate(nowMs) is cheap when nothing is due and is
// meant to be called before each make/check; its first call after a seed anchors the schedule.

import { sipHash6, sipKeyStore, sipFold32 } from './siphash';

// secret.key[0], secret.key[1], 16 bytes each (SYNCOOKIE_SECRET_SIZE = SIPHASH_KEY_LENGTH).
const SECRETS: usize = memory.data(32);

@inline const SYNCOOKIE_LIFETIME_MS: u32 = 15 * 1000; // tcp_syncache.h: SYNCOOKIE_LIFETIME 15 (s)

// tcp_sc_msstab[] and tcp_sc_wstab[] (tcp_syncache.c); entries in between round down.
@inline const TAB_SIZE: u32 = 8;
const MSSTAB: usize = memory.data<u16>([216, 536, 1200, 1360, 1400, 1440, 1452, 1460]);
const WSTAB: usize = memory.data<u8>([0, 0, 1, 2, 4, 6, 7, 8]);

// Flags byte: W W W M M M S P.
@inline const FLAG_ODD_EVEN: u32 = 1;
@inline const FLAG_SACK: u32 = 1 << 1;
@inline const FLAG_MSS_SHIFT: u32 = 2;
@inline const FLAG_WSCALE_SHIFT: u32 = 5;
@inline const FLAG_IDX_MASK: u32 = 7;

// Result packing (see the diagram above).
@inline const OPT_WSCALE_SHIFT: u32 = 16;
@inline const OPT_WSCALE_NONE: u32 = 0xff;
@inline const OPT_SACK: u32 = 1 << 24;

let oddEven: u32 = 0; // secret.oddeven
let reseeds: u32 = 0; // how many keys have been derived since the seed
let anchored = false;
let lastReseedMs: u32 = 0;

/** syncache_init's secrets: key[0] = k0..k3, key[1] = k4..k7; oddeven = 0; schedule re-anchored. */
export function fbsdCookieSeed(k0: u32, k1: u32, k2: u32, k3: u32, k4: u32, k5: u32, k6: u32, k7: u32): void {
  sipKeyStore(SECRETS, k0, k1, k2, k3);
  sipKeyStore(SECRETS + 16, k4, k5, k6, k7);
  oddEven = 0;
  reseeds = 0;
  anchored = false;
  lastReseedMs = 0;
}

/** syncookie_reseed: replace the key not in use, then flip which one new cookies use. */
function reseedOne(): void {
  const secbit: usize = (oddEven & 1) != 0 ? 0 : 1;
  const slot = SECRETS + (secbit << 4);
  const other = SECRETS + ((secbit ^ 1) << 4);
  reseeds++;
  const o0 = load<u32>(other, 0);
  const o1 = load<u32>(other, 4);
  const o2 = load<u32>(other, 8);
  const o3 = load<u32>(other, 12);
  // Both halves are computed under the old key before either is stored.
  const lo = sipHash6(slot, o0, o1, o2, o3, reseeds, 0);
  const hi = sipHash6(slot, o0, o1, o2, o3, reseeds, 1);
  store<u64>(slot, lo, 0);
  store<u64>(slot, hi, 8);
  oddEven++;
}

/**
 * The callout of syncookie_reseed, driven by the host's wrapping millisecond clock: one reseed per
 * whole SYNCOOKIE_LIFETIME elapsed since the last one. After a gap of two or more lifetimes both keys
 * are replaced (all that any larger number of reseeds could achieve) and the schedule keeps its phase.
 * A clock that runs backwards looks like a long gap: every outstanding cookie is then refused.
 */
export function fbsdCookieRotate(nowMs: u32): void {
  if (!anchored) {
    anchored = true;
    lastReseedMs = nowMs;
    return;
  }
  const elapsed = nowMs - lastReseedMs; // u32 wrapping difference
  if (elapsed < SYNCOOKIE_LIFETIME_MS) return;
  const periods = elapsed / SYNCOOKIE_LIFETIME_MS;
  lastReseedMs += periods * SYNCOOKIE_LIFETIME_MS;
  reseedOne();
  if (periods >= 2) reseedOne();
}

/** syncookie_mac: SipHash-2-4 over (faddr, laddr, fport|lport, irs, flags, secmod), halves XORed. */
@inline function cookieMac(key: usize, faddr: u32, laddr: u32, fport: u32, lport: u32, irs: u32, flags: u32, bucket: u32): u32 {
  return sipFold32(sipHash6(key, faddr, laddr, ((fport & 0xffff) << 16) | (lport & 0xffff), irs, flags, bucket));
}

/**
 * syncookie_generate: the ISS for a SYN-ACK. mss = the peer's MSS (rounded down to tcp_sc_msstab;
 * below 216 it becomes 216, as FreeBSD's loop stops at index 0); wscale = the peer's window-scale shift
 * or -1 if the SYN had none (rounded down to tcp_sc_wstab; 0 encodes as index 1, so index 0 stays
 * "none"); sack = SACK-permitted seen. iss = (hash & ~0xff) | (flags ^ (hash >> 24)).
 */
export function fbsdCookieMake(
  faddr: u32, laddr: u32, fport: u32, lport: u32, irs: u32, mss: u32, wscale: i32, sack: bool, bucket: u32,
): u32 {
  let m = TAB_SIZE - 1;
  while (m > 0 && <u32>load<u16>(MSSTAB + (<usize>m << 1)) > mss) m--;
  let w: u32 = 0;
  if (wscale >= 0) {
    w = TAB_SIZE - 1;
    while (w > 0 && <i32>load<u8>(WSTAB + <usize>w) > wscale) w--;
  }
  const secbit = oddEven & 1;
  let flags = (w << FLAG_WSCALE_SHIFT) | (m << FLAG_MSS_SHIFT) | secbit;
  if (sack) flags |= FLAG_SACK;
  const hash = cookieMac(SECRETS + (<usize>secbit << 4), faddr, laddr, fport, lport, irs, flags, bucket);
  return (hash & ~0xff) | (flags ^ (hash >> 24));
}

/**
 * syncookie_lookup: irs = SEG.SEQ - 1 and iss = SEG.ACK - 1 of the ACK. Recovers the flags byte from
 * the low byte and the MAC's top byte, recomputes the MAC with the secret the P bit names, and accepts
 * only if the top 24 bits match. Returns the packed (mss, wscale or none, sack), or -1.
 */
export function fbsdCookieCheck(
  faddr: u32, laddr: u32, fport: u32, lport: u32, irs: u32, iss: u32, bucket: u32,
): i32 {
  const flags = ((iss & 0xff) ^ (iss >> 24)) & 0xff;
  const secbit = flags & FLAG_ODD_EVEN;
  const hash = cookieMac(SECRETS + (<usize>secbit << 4), faddr, laddr, fport, lport, irs, flags, bucket);
  if (((iss ^ hash) & ~0xff) != 0) return -1;
  const m = (flags >> FLAG_MSS_SHIFT) & FLAG_IDX_MASK;
  const w = (flags >> FLAG_WSCALE_SHIFT) & FLAG_IDX_MASK;
  let p = <u32>load<u16>(MSSTAB + (<usize>m << 1));
  p |= (w == 0 ? OPT_WSCALE_NONE : <u32>load<u8>(WSTAB + <usize>w)) << OPT_WSCALE_SHIFT;
  if (flags & FLAG_SACK) p |= OPT_SACK;
  return <i32>p;
}

/** MSS from fbsdCookieCheck's packing. */
export function fbsdCookieMss(p: i32): u32 {
  return <u32>p & 0xffff;
}

/** Window scale from fbsdCookieCheck's packing: a table value, or -1 for none. */
export function fbsdCookieWscale(p: i32): i32 {
  const ws = (<u32>p >> OPT_WSCALE_SHIFT) & 0xff;
  return ws == OPT_WSCALE_NONE ? -1 : <i32>ws;
}

/** SACK-permitted from fbsdCookieCheck's packing. */
export function fbsdCookieSack(p: i32): bool {
  return (<u32>p & OPT_SACK) != 0;
}
