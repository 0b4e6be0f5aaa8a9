// Linux IPv4 SYN cookies: the sequence-number codec (MSS index + minute counter) and the timestamp
// codec (window scale, SACK, ECN in TSval's low 6 bits). Owns the two cookie keys. Called by the
// `linux` personality's listener when it answers a SYN without state (tcp_syncookies = 2, or 1 with
// the SYN queue full) and when a non-SYN segment reaches the listener (cookie_v4_check).
// Rules from Linux net/ipv4/syncookies.c (SipHash version, 4.11+) and include/net/tcp.h.
//
// Inputs are host-order values. The 4-tuple is that of the client's segments, as Linux reads it off
// the SYN and off the ACK: saddr/sport = the client (peer), daddr/dport = this listener.
//
// Options packing returned by linuxCookieTsDecode (the same layout as fbsdCookieCheck's result, so a
// listener can read either with the same helpers); never negative:
//
//    31     26 25  24  23        16 15                0
//   +---------+---+---+------------+-------------------+
//   |    0    |ECN|SCK|   wscale   |   mss (0 here)    |
//   +---------+---+---+------------+-------------------+
//   wscale = 0..14, or 0xFF when the SYN had no window-scale option.

import { sipHash4, sipKeyStore } from './siphash';

// syncookie_secret[2] (syncookies.c): key 0 for H0, key 1 for H1.
const COOKIE_SECRET: usize = memory.data(32);

@inline const COOKIEBITS: u32 = 24; // syncookies.c: "Upper bits store count"
@inline const COOKIEMASK: u32 = (1 << COOKIEBITS) - 1;
@inline const COUNT_MASK: u32 = 0xffffffff >> COOKIEBITS; // the 8 count bits that fit in a cookie
@inline const MAX_SYNCOOKIE_AGE: u32 = 2; // include/net/tcp.h: cookie lifetime 60..120 s

// msstab[] (syncookies.c, IPv4): must stay sorted; the client's MSS is rounded down to an entry.
@inline const MSSTAB_SIZE: u32 = 4;
const MSSTAB: usize = memory.data<u16>([536, 1300, 1440, 1460]);

// TSval option bits (syncookies.c, TS_OPT_*): | 31..6 timestamp | 5 ECN | 4 SACK | 3..0 WScale |
@inline const TSBITS: u32 = 6;
@inline const TS_OPT_WSCALE_MASK: u32 = 0xf;
@inline const TS_OPT_SACK: u32 = 1 << 4;
@inline const TS_OPT_ECN: u32 = 1 << 5;
@inline const TCP_MAX_WSCALE: i32 = 14; // include/net/tcp.h

// Options packing, shared with cookie-freebsd.ts (see the diagram above).
@inline const OPT_WSCALE_SHIFT: u32 = 16;
@inline const OPT_WSCALE_NONE: u32 = 0xff;
@inline const OPT_SACK: u32 = 1 << 24;
@inline const OPT_ECN: u32 = 1 << 25;

/** Installs syncookie_secret[0] = k0..k3 and syncookie_secret[1] = k4..k7 (host randomness). */
export function linuxCookieSeed(k0: u32, k1: u32, k2: u32, k3: u32, k4: u32, k5: u32, k6: u32, k7: u32): void {
  sipKeyStore(COOKIE_SECRET, k0, k1, k2, k3);
  sipKeyStore(COOKIE_SECRET + 16, k4, k5, k6, k7);
}

/** cookie_hash(): SipHash-2-4 with key c over (saddr, daddr, sport << 16 | dport, count), low 32 bits. */
@inline function cookieHash(saddr: u32, daddr: u32, sport: u32, dport: u32, count: u32, c: usize): u32 {
  return <u32>sipHash4(COOKIE_SECRET + (c << 4), saddr, daddr, ((sport & 0xffff) << 16) | (dport & 0xffff), count);
}

/**
 * __cookie_v4_init_sequence's loop: the index of the largest msstab entry <= mss. Anything below 536
 * gets index 0, i.e. is announced upwards as 536, as Linux does.
 */
export function linuxMssIndex(mss: u32): u32 {
  let i = MSSTAB_SIZE - 1;
  while (i > 0 && mss < <u32>load<u16>(MSSTAB + (<usize>i << 1))) i--;
  return i;
}

/** msstab[i], or 0 for an index outside the table (__cookie_v4_check's "mss == 0" failure). */
export function linuxMssFromIndex(i: u32): u32 {
  return i < MSSTAB_SIZE ? <u32>load<u16>(MSSTAB + (<usize>i << 1)) : 0;
}

/**
 * secure_tcp_syn_cookie(): the ISS of a cookie SYN-ACK.
 *   ISS = H0(4-tuple) + clientIsn + (count << 24) + ((H1(4-tuple, count) + mssIdx) & 0xFFFFFF)
 * count = minutes (Linux tcp_cookie_time(): jiffies / (60 * HZ)); only its low 8 bits survive in the
 * cookie, but H1 is keyed by the whole value. All sums wrap mod 2^32.
 */
export function linuxCookieMake(
  saddr: u32, daddr: u32, sport: u32, dport: u32, clientIsn: u32, mssIdx: u32, count: u32,
): u32 {
  const h0 = cookieHash(saddr, daddr, sport, dport, 0, 0);
  const h1 = cookieHash(saddr, daddr, sport, dport, count, 1);
  return h0 + clientIsn + (count << COOKIEBITS) + ((h1 + mssIdx) & COOKIEMASK);
}

/**
 * check_tcp_syn_cookie() + __cookie_v4_check(): returns the MSS index (0..3) or -1.
 * clientIsn = SEG.SEQ - 1 of the ACK, cookie = SEG.ACK - 1 (cookie_v4_check passes both that way).
 * The age is (countNow - cookie's count) mod 2^8, exactly as Linux masks it, so a count that wrapped
 * past 255 still ages correctly and a cookie 256 minutes old looks fresh to the age test but is then
 * refused by H1, which is keyed by the full countNow - age.
 * As in Linux, only the hash sum and the count are authenticated: the MSS index rides in the low bits,
 * so a cookie changed by +-1 or +-2 can come back with a neighbouring index. That costs an attacker a
 * 2^-24 guess at the rest and gains nothing but a different table MSS.
 */
export function linuxCookieCheck(
  saddr: u32, daddr: u32, sport: u32, dport: u32, clientIsn: u32, cookie: u32, countNow: u32,
): i32 {
  // Strip away the layers: what is left is (count << 24) + ((H1 + data) & COOKIEMASK).
  const rest = cookie - (cookieHash(saddr, daddr, sport, dport, 0, 0) + clientIsn);
  const age = (countNow - (rest >> COOKIEBITS)) & COUNT_MASK;
  if (age >= MAX_SYNCOOKIE_AGE) return -1;
  const data = (rest - cookieHash(saddr, daddr, sport, dport, countNow - age, 1)) & COOKIEMASK;
  return data < MSSTAB_SIZE ? <i32>data : -1;
}

/**
 * cookie_init_timestamp(): the TSval of a cookie SYN-ACK (before any per-pair offset is added).
 * Low 6 bits = options: window scale (0xF = none), SACK-permitted, ECN. The other bits are tsNow's;
 * if that made the value larger than tsNow, go back one 64-tick step, because later segments use the
 * plain clock and TSval must never run backwards (RFC 7323 §5.3). The comparison is unsigned like
 * Linux's; when tsNow < 64 the step back wraps through zero, which in timestamp sequence space is
 * still at most 63 ticks before tsNow, never after it.
 * wscale > 14 is clamped to 14 first, as tcp_parse_options() does when it reads the SYN, so the field
 * never holds 0xF for a real scale.
 * With tcp_timestamps = 1, Linux adds secure_tcp_ts_off (isn.ts tsOffset) after this encoding and the
 * ACK's TSecr must have it subtracted before linuxCookieTsDecode (listen-behaviour.md §8 item 4).
 */
export function linuxCookieTsEncode(tsNow: u32, wscale: i32, sack: bool, ecn: bool): u32 {
  let options: u32 = wscale < 0 ? TS_OPT_WSCALE_MASK : <u32>min(wscale, TCP_MAX_WSCALE);
  if (sack) options |= TS_OPT_SACK;
  if (ecn) options |= TS_OPT_ECN;
  let ts = ((tsNow >> TSBITS) << TSBITS) | options;
  if (ts > tsNow) ts -= 1 << TSBITS;
  return ts;
}

/**
 * cookie_timestamp_decode() / cookie_ecn_ok(): the options from an ACK's TSecr (offset already
 * removed), in the packing described at the top of this file. Never -1: the 4-bit field holds 0..14
 * (a scale) or 0xF, the only value above TCP_MAX_WSCALE, which means "no window scaling". No other bad
 * value can exist, so Linux (net/ipv4/syncookies.c) has no range check here either. What Linux does
 * reject is policy, left to the caller, which has the knobs: tcp_timestamps == 0 (refuse any TS-bearing
 * cookie ACK), SACK bit with tcp_sack == 0, a scale with tcp_window_scaling == 0 (all "return false");
 * the ECN bit is honoured only with tcp_ecn or the route's ECN feature. An ACK without a timestamp
 * option carries no options at all (tcp_clear_options): the caller must not decode.
 */
export function linuxCookieTsDecode(tsecr: u32): i32 {
  const ws = tsecr & TS_OPT_WSCALE_MASK;
  let p: u32 = (ws == TS_OPT_WSCALE_MASK ? OPT_WSCALE_NONE : ws) << OPT_WSCALE_SHIFT;
  if (tsecr & TS_OPT_SACK) p |= OPT_SACK;
  if (tsecr & TS_OPT_ECN) p |= OPT_ECN;
  return <i32>p;
}

/** Window scale from an options packing: 0..14, or -1 for none. */
export function linuxTsWscale(p: i32): i32 {
  const ws = (<u32>p >> OPT_WSCALE_SHIFT) & 0xff;
  return ws == OPT_WSCALE_NONE ? -1 : <i32>ws;
}

/** SACK-permitted from an options packing. */
export function linuxTsSack(p: i32): bool {
  return (<u32>p & OPT_SACK) != 0;
}

/** ECN from an options packing. */
export function linuxTsEcn(p: i32): bool {
  return (<u32>p & OPT_ECN) != 0;
}
