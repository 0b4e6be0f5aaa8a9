// The SYN queue: half-open connections as small records (not sockets), in one pool with a hash on
// the 4-tuple. 44 bytes of fields + 14 bytes of timer links and slot + 3 bytes of bucket (a head
// and a length per two entries) = 61 bytes per half-open connection (bench/cases/memory measures it). Linux keeps them per listener (request socks), FreeBSD in a global
// syncache of hashsize buckets x bucketlimit entries, 4.3BSD as embryo sockets on the listener's q0;
// the personalities decide, this file only stores. Insert, lookup and remove are O(1).
//
// Layout per entry e (structure of arrays):
//   raddr u32 | rport u16 | lport u16 | irs u32 | iss u32 | tsRecent u32 | tsFirst u32 | tsLast u32 |
//   listener u16 | mss u16 | flags u8 | sndWs u8 | numTimeout u8 | iface u8 | peerWnd u16 | lastDup u16 |
//   hashNext i32                                                                  = 44 bytes
// The local address is not stored: it is the address of the interface the SYN came in on.
import { knob } from '../stack';
import { K_FAMILY, FAMILY_LINUX, FAMILY_FREEBSD } from '../abi';
import { timerCancel } from './timer';
import { ifaceAddr } from '../net/iface';
import { tableKey } from './secrets';
import { linuxEmbryoTimer } from './linux';
import { fbsdEmbryoTimer } from './freebsd';
import { bsdEmbryoTimer } from './bsd43';

// flag bits
@inline export const SF_TS: u8 = 0x01;       // timestamps negotiated
@inline export const SF_SACK: u8 = 0x02;     // SACK permitted
@inline export const SF_WS: u8 = 0x04;       // window scaling negotiated (sndWs valid)
@inline export const SF_ACKED: u8 = 0x08;    // Linux: third ACK seen but not accepted (overflow / defer)
@inline export const SF_FIN: u8 = 0x10;      // 4.3BSD: FIN arrived with the SYN (embryo in CLOSE_WAIT)
@inline export const SF_ECN: u8 = 0x20;
@inline export const SF_LIVE: u8 = 0x80;     // entry in use

let nSyn: i32 = 0;
export let sRaddr: StaticArray<u32> = new StaticArray<u32>(0);
export let sRport: StaticArray<u16> = new StaticArray<u16>(0);
export let sLport: StaticArray<u16> = new StaticArray<u16>(0);
export let sIrs: StaticArray<u32> = new StaticArray<u32>(0);
export let sIss: StaticArray<u32> = new StaticArray<u32>(0);
export let sTsRecent: StaticArray<u32> = new StaticArray<u32>(0);
export let sTsFirst: StaticArray<u32> = new StaticArray<u32>(0);
export let sTsLast: StaticArray<u32> = new StaticArray<u32>(0);   // TSval of the latest SYN-ACK (Linux 6.15+ TSecr check)
export let sListener: StaticArray<u16> = new StaticArray<u16>(0);
export let sMss: StaticArray<u16> = new StaticArray<u16>(0);
export let sFlags: StaticArray<u8> = new StaticArray<u8>(0);
export let sSndWs: StaticArray<u8> = new StaticArray<u8>(0);
export let sNumTo: StaticArray<u8> = new StaticArray<u8>(0);
export let sIface: StaticArray<u8> = new StaticArray<u8>(0);
export let sPeerWnd: StaticArray<u16> = new StaticArray<u16>(0);
export let sLastDup: StaticArray<u16> = new StaticArray<u16>(0);
let sNext: StaticArray<i32> = new StaticArray<i32>(0);
let buckets: StaticArray<i32> = new StaticArray<i32>(0);
let bucketLen: StaticArray<u16> = new StaticArray<u16>(0);
let nBuckets: u32 = 1;
let freeHead: i32 = -1;
let inUse: i32 = 0;

export function maxSynEntries(): i32 { return nSyn; }

/** The local address: the address of the interface the SYN came in on (one address per interface). */
@inline export function synLaddr(e: i32): u32 { return ifaceAddr(<i32>unchecked(sIface[e])); }
export function synInUse(): i32 { return inUse; }
export function synBucketCount(): u32 { return nBuckets; }

export function synInit(n: i32, bucketsWanted: i32): void {
  nSyn = n;
  sRaddr = new StaticArray<u32>(n); sTsLast = new StaticArray<u32>(n);
  sRport = new StaticArray<u16>(n); sLport = new StaticArray<u16>(n);
  sIrs = new StaticArray<u32>(n); sIss = new StaticArray<u32>(n);
  sTsRecent = new StaticArray<u32>(n); sTsFirst = new StaticArray<u32>(n);
  sListener = new StaticArray<u16>(n); sMss = new StaticArray<u16>(n);
  sFlags = new StaticArray<u8>(n); sSndWs = new StaticArray<u8>(n);
  sNumTo = new StaticArray<u8>(n); sIface = new StaticArray<u8>(n);
  sPeerWnd = new StaticArray<u16>(n); sLastDup = new StaticArray<u16>(n);
  sNext = new StaticArray<i32>(n);
  // FreeBSD sizes its syncache by hashsize (any count); otherwise one bucket per entry
  nBuckets = bucketsWanted > 0 ? <u32>bucketsWanted : <u32>(n < 32 ? 16 : n >> 1);
  buckets = new StaticArray<i32>(<i32>nBuckets);
  bucketLen = new StaticArray<u16>(<i32>nBuckets);
  for (let i: u32 = 0; i < nBuckets; i++) unchecked(buckets[i] = -1);
  for (let i = 0; i < n; i++) unchecked(sNext[i] = i + 1 < n ? i + 1 : -1);
  freeHead = 0;
}

/** Bucket of a 4-tuple: a keyed mix, so a remote host cannot aim at one bucket. */
export function synBucket(raddr: u32, rport: u32, laddr: u32, lport: u32): u32 {
  let h = (raddr ^ tableKey(0)) * 0x9E3779B1;
  h ^= ((rport << 16) | lport) ^ tableKey(1);
  h = (h ^ (h >>> 15)) * 0x85EBCA77;
  h ^= laddr ^ tableKey(2);
  h = (h ^ (h >>> 13)) * 0xC2B2AE3D;
  h ^= h >>> 16;
  return h % nBuckets;
}

export function synLookup(laddr: u32, lport: u32, raddr: u32, rport: u32): i32 {
  let e = unchecked(buckets[synBucket(raddr, rport, laddr, lport)]);
  while (e >= 0) {
    if (unchecked(sRaddr[e]) == raddr && <u32>unchecked(sRport[e]) == rport &&
        <u32>unchecked(sLport[e]) == lport && synLaddr(e) == laddr) return e;
    e = unchecked(sNext[e]);
  }
  return -1;
}

/** Length of a bucket (FreeBSD's per-bucket limit). */
export function synBucketLen(b: u32): i32 { return <i32>unchecked(bucketLen[b]); }

/** The oldest entry of a bucket (entries are inserted at the head). */
export function synBucketOldest(b: u32): i32 {
  let e = unchecked(buckets[b]);
  if (e < 0) return -1;
  while (unchecked(sNext[e]) >= 0) e = unchecked(sNext[e]);
  return e;
}

/** Take a free entry and fill in its identity; returns -1 when the pool is exhausted. */
export function synAlloc(iface: i32, laddr: u32, lport: u32, raddr: u32, rport: u32, listener: i32): i32 {
  if (freeHead < 0) return -1;
  const e = freeHead;
  freeHead = unchecked(sNext[e]);
  unchecked(sRaddr[e] = raddr);
  unchecked(sRport[e] = <u16>rport); unchecked(sLport[e] = <u16>lport);
  unchecked(sListener[e] = <u16>listener); unchecked(sIface[e] = <u8>iface);
  unchecked(sFlags[e] = SF_LIVE); unchecked(sNumTo[e] = 0); unchecked(sSndWs[e] = 0);
  unchecked(sTsRecent[e] = 0); unchecked(sTsFirst[e] = 0); unchecked(sTsLast[e] = 0); unchecked(sMss[e] = 0);
  unchecked(sPeerWnd[e] = 0); unchecked(sLastDup[e] = 0);
  const b = synBucket(raddr, rport, laddr, lport);
  unchecked(sNext[e] = unchecked(buckets[b])); unchecked(buckets[b] = e);
  unchecked(bucketLen[b] = unchecked(bucketLen[b]) + 1);
  inUse++;
  return e;
}

/** Unlink and free an entry (its timer too). The caller fixes per-listener counts first. */
export function synFree(e: i32): void {
  const b = synBucket(unchecked(sRaddr[e]), <u32>unchecked(sRport[e]), synLaddr(e), <u32>unchecked(sLport[e]));
  let cur = unchecked(buckets[b]);
  if (cur == e) unchecked(buckets[b] = unchecked(sNext[e]));
  else {
    while (cur >= 0) {
      const nx = unchecked(sNext[cur]);
      if (nx == e) { unchecked(sNext[cur] = unchecked(sNext[e])); break; }
      cur = nx;
    }
  }
  unchecked(bucketLen[b] = unchecked(bucketLen[b]) - 1);
  timerCancel(e);
  unchecked(sFlags[e] = 0);
  unchecked(sNext[e] = freeHead); freeHead = e;
  inUse--;
}

@inline export function synHas(e: i32, f: u8): bool { return (unchecked(sFlags[e]) & f) != 0; }
@inline export function synSetFlag(e: i32, f: u8): void { unchecked(sFlags[e] = unchecked(sFlags[e]) | f); }

export function embryoTimer(e: i32): void {
  const fam = knob(K_FAMILY);
  if (fam == FAMILY_LINUX) linuxEmbryoTimer(e);
  else if (fam == FAMILY_FREEBSD) fbsdEmbryoTimer(e);
  else bsdEmbryoTimer(e);
}
