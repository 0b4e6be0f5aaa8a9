// ARP (RFC 826): answer requests for our addresses, resolve next hops, cache with expiry, and hold
// a few frames per unresolved neighbour. Also the Ethernet output path: ethBegin()/ethCommit() give
// every IPv4 sender a place to build a frame whose destination MAC is filled in here.
//
// Called by net/link.ts (arpInput), net/ip.ts (ethBegin/ethCommit) and tcp/timer.ts (arpTimers).
//
// An entry's life, after Linux's neighbour states (net/core/neighbour.c), simplified:
//
//   (none) --frame to send--> INCOMPLETE --reply--> REACHABLE --used 60 s after confirmation--> PROBE
//               broadcast request every 1 s,          |                unicast request every 1 s,
//               frames held; 3 unanswered:            |                frames still sent to the
//               freed, held frames dropped            |                cached MAC; 3 unanswered: freed
//                                                     <----------------- reply ---------------
//
// An entry is created only when we need it (a frame to send) or when the neighbour asks for us;
// an ARP packet from anyone else only updates an entry we already have (RFC 826's merge flag;
// Linux arp_accept=0), so unsolicited replies cannot fill or poison the cache.
import { NOW, count, outputBegin, outputCommit, poolAlloc } from '../stack';
import { C_ARP_IN, C_ARP_OUT, C_ARP_REPLIES, C_ARP_UNRESOLVED, C_ARP_QUEUE_DROPS, C_MALFORMED, C_NOT_FOR_US, C_IP_OUT_NO_ROUTES } from '../abi';
import { rd16, rd32, wr16, wr32 } from '../wire/bytes';
import { ifaceAddr, ifaceMask, ifaceMacHi, ifaceMacLo, ifaceByAddr, isBroadcast, isMulticast, writeMac, nextHop } from './iface';

@inline const ETH_HDR: i32 = 14;
@inline const ARP_LEN: i32 = 28;
@inline const ARP_FRAME: i32 = ETH_HDR + ARP_LEN;
// ARP packet fields (offsets from the start of the ARP header)
@inline const A_HTYPE: usize = 0;
@inline const A_PTYPE: usize = 2;
@inline const A_HLEN: usize = 4;
@inline const A_PLEN: usize = 5;
@inline const A_OP: usize = 6;
@inline const A_SHA: usize = 8;
@inline const A_SPA: usize = 14;
@inline const A_THA: usize = 18;
@inline const A_TPA: usize = 24;
@inline const HTYPE_ETHER: u32 = 1;
@inline const PTYPE_IPV4: u32 = 0x0800;
@inline const OP_REQUEST: u32 = 1;
@inline const OP_REPLY: u32 = 2;

@inline const ST_FREE: u8 = 0;
@inline const ST_INCOMPLETE: u8 = 1;
@inline const ST_REACHABLE: u8 = 2;
@inline const ST_PROBE: u8 = 3;
/** a learned entry is trusted this long; used after that, it is re-confirmed (PROBE) */
@inline const REACHABLE_MS: u32 = 60000;
/** unresolved: ask again every second, give up after three requests (Linux mcast_solicit 3, retrans_time 1 s) */
@inline const RETRY_MS: u32 = 1000;
@inline const MAX_TRIES: u8 = 3;
/** frames held per unresolved neighbour (Linux unres_qlen_bytes is larger; a few is enough here) */
@inline const PENDING_PER_ENTRY: i32 = 4;
@inline const PENDING_SLOTS: i32 = 256;
@inline const SLOT_BYTES: i32 = 1520;

let nEntries: i32 = 0;
let eIp: StaticArray<u32> = new StaticArray<u32>(0);
let eMacHi: StaticArray<u32> = new StaticArray<u32>(0);
let eMacLo: StaticArray<u32> = new StaticArray<u32>(0);
let eState: StaticArray<u8> = new StaticArray<u8>(0);
let eIface: StaticArray<u8> = new StaticArray<u8>(0);
let eTries: StaticArray<u8> = new StaticArray<u8>(0);
let eTime: StaticArray<u32> = new StaticArray<u32>(0);     // REACHABLE: confirmed at; else: last request at
let ePending: StaticArray<i32> = new StaticArray<i32>(0);  // first pending slot, -1 none
let eNext: StaticArray<i32> = new StaticArray<i32>(0);     // hash chain, or the free list
let buckets: StaticArray<i32> = new StaticArray<i32>(0);
let bucketMask: u32 = 0;
let freeHead: i32 = -1;
/** entries in INCOMPLETE or PROBE: the ones the timer looks at */
let resolving: i32 = 0;
/** no resolving entry is due before this (a lower bound: the timer scans only when it passes) */
let resolveDue: u32 = 0;
let victim: i32 = -1;      // round-robin eviction cursor: a fresh cache evicts in allocation order

let slots: usize = 0;
let slotNext: StaticArray<i32> = new StaticArray<i32>(0);
let slotLen: StaticArray<i32> = new StaticArray<i32>(0);
let slotIface: StaticArray<i32> = new StaticArray<i32>(0);
let slotFree: i32 = -1;

export function arpInit(n: i32): void {
  nEntries = n;
  eIp = new StaticArray<u32>(n); eMacHi = new StaticArray<u32>(n); eMacLo = new StaticArray<u32>(n);
  eState = new StaticArray<u8>(n); eIface = new StaticArray<u8>(n); eTries = new StaticArray<u8>(n);
  eTime = new StaticArray<u32>(n); ePending = new StaticArray<i32>(n); eNext = new StaticArray<i32>(n);
  let nb: i32 = 4;
  while (nb < n) nb <<= 1;
  buckets = new StaticArray<i32>(nb);
  bucketMask = <u32>(nb - 1);
  for (let i = 0; i < nb; i++) unchecked(buckets[i] = -1);
  for (let i = 0; i < n; i++) { unchecked(eNext[i] = i + 1 < n ? i + 1 : -1); unchecked(ePending[i] = -1); }
  freeHead = 0;
  slots = poolAlloc(<usize>PENDING_SLOTS * SLOT_BYTES);
  slotNext = new StaticArray<i32>(PENDING_SLOTS); slotLen = new StaticArray<i32>(PENDING_SLOTS);
  slotIface = new StaticArray<i32>(PENDING_SLOTS);
  for (let i = 0; i < PENDING_SLOTS; i++) unchecked(slotNext[i] = i + 1 < PENDING_SLOTS ? i + 1 : -1);
  slotFree = 0;
}

@inline function hashIp(ip: u32): u32 { return ((ip * 0x9E3779B1) >>> 16) & bucketMask; }
@inline function isResolving(st: u8): bool { return st == ST_INCOMPLETE || st == ST_PROBE; }

function find(ip: u32): i32 {
  let e = unchecked(buckets[hashIp(ip)]);
  while (e >= 0) { if (unchecked(eIp[e]) == ip && unchecked(eState[e]) != ST_FREE) return e; e = unchecked(eNext[e]); }
  return -1;
}

function unlink(e: i32): void {
  const b = hashIp(unchecked(eIp[e]));
  let cur = unchecked(buckets[b]);
  if (cur == e) { unchecked(buckets[b] = unchecked(eNext[e])); return; }
  while (cur >= 0) {
    const nx = unchecked(eNext[cur]);
    if (nx == e) { unchecked(eNext[cur] = unchecked(eNext[e])); return; }
    cur = nx;
  }
}

function dropPending(e: i32): void {
  let s = unchecked(ePending[e]);
  while (s >= 0) {
    const nx = unchecked(slotNext[s]);
    unchecked(slotNext[s] = slotFree); slotFree = s;
    count(C_ARP_UNRESOLVED);
    s = nx;
  }
  unchecked(ePending[e] = -1);
}

function release(e: i32): void {
  if (isResolving(unchecked(eState[e]))) resolving--;
  dropPending(e);
  unlink(e);
  unchecked(eState[e] = ST_FREE);
  unchecked(eNext[e] = freeHead); freeHead = e;
}

/** Start timing a resolving entry whose last request went out now. */
@inline function resolveArm(): void {
  if (resolving == 1 || <i32>(NOW + RETRY_MS - resolveDue) < 0) resolveDue = NOW + RETRY_MS;
}

function allocEntry(ip: u32, iface: i32): i32 {
  if (freeHead < 0) {
    // full: evict an entry that holds no frames, round robin (never one still being resolved)
    for (let k = 0; k < nEntries; k++) {
      victim = victim + 1 >= nEntries ? 0 : victim + 1;
      const st = unchecked(eState[victim]);
      if (st == ST_REACHABLE || st == ST_PROBE) { release(victim); break; }
    }
    if (freeHead < 0) return -1;
  }
  const e = freeHead;
  freeHead = unchecked(eNext[e]);
  unchecked(eIp[e] = ip); unchecked(eIface[e] = <u8>iface); unchecked(eTries[e] = 0);
  unchecked(eMacHi[e] = 0); unchecked(eMacLo[e] = 0);
  unchecked(ePending[e] = -1); unchecked(eState[e] = ST_INCOMPLETE); unchecked(eTime[e] = NOW);
  const b = hashIp(ip);
  unchecked(eNext[e] = unchecked(buckets[b])); unchecked(buckets[b] = e);
  resolving++;
  return e;
}

/** Learn or refresh ip -> mac (creating the entry only if `create`); flush frames waiting for it. */
function learn(iface: i32, ip: u32, hi: u32, lo: u32, create: bool): void {
  let e = find(ip);
  if (e < 0) { if (!create) return; e = allocEntry(ip, iface); if (e < 0) return; }
  if (isResolving(unchecked(eState[e]))) resolving--;
  unchecked(eState[e] = ST_REACHABLE); unchecked(eMacHi[e] = hi); unchecked(eMacLo[e] = lo);
  unchecked(eTime[e] = NOW); unchecked(eIface[e] = <u8>iface); unchecked(eTries[e] = 0);
  // send what was waiting, in order
  let s = unchecked(ePending[e]);
  unchecked(ePending[e] = -1);
  while (s >= 0) {
    const nx = unchecked(slotNext[s]);
    const len = unchecked(slotLen[s]);
    const src = slots + <usize>s * SLOT_BYTES;
    const dst = outputBegin(unchecked(slotIface[s]), len);
    if (dst != 0) {
      memory.copy(dst, src, len);
      writeMacRaw(dst, hi, lo);
      outputCommit(len);
    }
    unchecked(slotNext[s] = slotFree); slotFree = s;
    s = nx;
  }
}

@inline function writeMacRaw(p: usize, hi: u32, lo: u32): void {
  store<u8>(p, <u8>(hi >> 8)); store<u8>(p + 1, <u8>hi); store<u32>(p + 2, bswap<u32>(lo));
}

function sendArp(iface: i32, op: u32, tHi: u32, tLo: u32, tIp: u32, ethHi: u32, ethLo: u32): void {
  const p = outputBegin(iface, ARP_FRAME);
  if (p == 0) return;
  writeMacRaw(p, ethHi, ethLo);
  writeMac(iface, p + 6);
  wr16(p + 12, 0x0806);
  const a = p + ETH_HDR;
  wr16(a + A_HTYPE, HTYPE_ETHER); wr16(a + A_PTYPE, PTYPE_IPV4);
  store<u8>(a + A_HLEN, 6); store<u8>(a + A_PLEN, 4); wr16(a + A_OP, op);
  writeMac(iface, a + A_SHA);
  wr32(a + A_SPA, ifaceAddr(iface));
  writeMacRaw(a + A_THA, tHi, tLo);
  wr32(a + A_TPA, tIp);
  outputCommit(ARP_FRAME);
  count(C_ARP_OUT);
}

/** Ask for an entry's address: broadcast while INCOMPLETE, unicast to the cached MAC in PROBE. */
function sendRequest(e: i32): void {
  unchecked(eTime[e] = NOW);
  unchecked(eTries[e] = unchecked(eTries[e]) + 1);
  const iface = <i32>unchecked(eIface[e]);
  if (unchecked(eState[e]) == ST_PROBE) sendArp(iface, OP_REQUEST, 0, 0, unchecked(eIp[e]), unchecked(eMacHi[e]), unchecked(eMacLo[e]));
  else sendArp(iface, OP_REQUEST, 0, 0, unchecked(eIp[e]), 0xFFFF, 0xFFFFFFFF);
}

/** Is this an address an ARP packet may teach us: a unicast neighbour on the subnet, not us? */
function learnable(iface: i32, ip: u32, hi: u32, lo: u32): bool {
  if (ip == 0 || (ip & ifaceMask(iface)) != (ifaceAddr(iface) & ifaceMask(iface))) return false;
  if (isBroadcast(iface, ip) || ifaceByAddr(ip) >= 0) return false;        // someone claiming our address
  if ((hi & 0x100) != 0 || (hi == 0 && lo == 0)) return false;              // group or zero MAC
  if (hi == ifaceMacHi(iface) && lo == ifaceMacLo(iface)) return false;     // our own frame, looped back
  return true;
}

export function arpInput(iface: i32, p: usize, len: i32): void {
  count(C_ARP_IN);
  if (len < ARP_FRAME) { count(C_MALFORMED); return; }
  const a = p + ETH_HDR;
  if (rd16(a + A_HTYPE) != HTYPE_ETHER || rd16(a + A_PTYPE) != PTYPE_IPV4 || load<u8>(a + A_HLEN) != 6 || load<u8>(a + A_PLEN) != 4) {
    count(C_MALFORMED); return;
  }
  const op = rd16(a + A_OP);
  const sHi = (<u32>load<u8>(a + A_SHA) << 8) | <u32>load<u8>(a + A_SHA + 1);
  const sLo = rd32(a + A_SHA + 2);
  const sIp = rd32(a + A_SPA);
  const tIp = rd32(a + A_TPA);
  if (op != OP_REQUEST && op != OP_REPLY) { count(C_MALFORMED); return; }
  // a group sender MAC is never valid; sender 0.0.0.0 is valid only in a probe (RFC 5227 §2.1.1)
  if ((sHi & 0x100) != 0 || sIp == 0 && op != OP_REQUEST) { count(C_MALFORMED); return; }
  const mine = tIp == ifaceAddr(iface);
  if (learnable(iface, sIp, sHi, sLo)) {
    // RFC 826: update an entry we have (a reply to our request, a gratuitous ARP, any request);
    // create one only for a request to us, which we are about to answer (Linux arp_process)
    learn(iface, sIp, sHi, sLo, mine && op == OP_REQUEST);
  }
  if (op == OP_REQUEST) {
    if (!mine) { count(C_NOT_FOR_US); return; }
    // a sender claiming our own address gets no answer (Linux: its route check finds a martian)
    if (ifaceByAddr(sIp) >= 0) return;
    // to the asker's hardware address, even for a probe from 0.0.0.0 (as Linux arp_process does)
    sendArp(iface, OP_REPLY, sHi, sLo, sIp, sHi, sLo);
    count(C_ARP_REPLIES);
  }
}

// ---- Ethernet output for IPv4 senders ----
let pendTarget: i32 = -1;   // entry the frame being built waits for, -1 = built in the output area
let pendSlot: i32 = -1;

/**
 * Start an IPv4 frame to `dst` out of `iface`. Returns a pointer to the frame (Ethernet header
 * filled in) with room for maxLen bytes, or 0 when it cannot be sent (no route, no buffer: counted).
 */
export function ethBegin(iface: i32, dst: u32, maxLen: i32): usize {
  pendTarget = -1;
  const hop = nextHop(iface, dst);
  // never resolve a group, an unspecified or our own address: no neighbour answers for those
  if (hop == 0 || isBroadcast(iface, hop) || isMulticast(hop) || ifaceByAddr(hop) >= 0) {
    count(C_IP_OUT_NO_ROUTES); return 0;
  }
  let e = find(hop);
  let p: usize = 0;
  const st: u8 = e >= 0 ? unchecked(eState[e]) : ST_FREE;
  if (st == ST_REACHABLE || st == ST_PROBE) {
    if (st == ST_REACHABLE && NOW - unchecked(eTime[e]) >= REACHABLE_MS) {
      // stale: keep using it, but confirm it (Linux STALE -> PROBE, unicast to the cached MAC).
      // The request goes first so that the frame built next is not overwritten by it.
      unchecked(eState[e] = ST_PROBE); unchecked(eTries[e] = 0);
      resolving++;
      sendRequest(e);
      resolveArm();
    }
    p = outputBegin(iface, maxLen);
    if (p == 0) return 0;
    writeMacRaw(p, unchecked(eMacHi[e]), unchecked(eMacLo[e]));
  } else {
    if (e < 0) {
      e = allocEntry(hop, iface);
      if (e < 0) { count(C_ARP_QUEUE_DROPS); return 0; }
      sendRequest(e);
      resolveArm();
    }
    // queue the frame: count what is already waiting
    let n = 0; let s = unchecked(ePending[e]);
    while (s >= 0) { n++; s = unchecked(slotNext[s]); }
    if (n >= PENDING_PER_ENTRY || slotFree < 0 || maxLen > SLOT_BYTES) { count(C_ARP_QUEUE_DROPS); return 0; }
    pendSlot = slotFree; slotFree = unchecked(slotNext[pendSlot]);
    pendTarget = e;
    p = slots + <usize>pendSlot * SLOT_BYTES;
    unchecked(slotIface[pendSlot] = iface);
  }
  writeMac(iface, p + 6);
  wr16(p + 12, 0x0800);
  return p;
}

/** Finish the frame begun by ethBegin with its real length. */
export function ethCommit(len: i32): void {
  if (pendTarget < 0) { outputCommit(len); return; }
  const e = pendTarget;
  unchecked(slotLen[pendSlot] = len);
  unchecked(slotNext[pendSlot] = -1);
  // append at the tail, keeping order
  let s = unchecked(ePending[e]);
  if (s < 0) unchecked(ePending[e] = pendSlot);
  else { while (unchecked(slotNext[s]) >= 0) s = unchecked(slotNext[s]); unchecked(slotNext[s] = pendSlot); }
  pendTarget = -1;
}

/**
 * Retry or give up on unresolved and unconfirmed neighbours (when `run`), and return ms until the
 * next retry, or -1 when nothing is being resolved. With `run` false it only looks. The entries are
 * scanned only once the earliest retry is due, so a call costs O(1) between retries.
 */
export function arpTimers(now: u32, run: bool): i32 {
  if (resolving == 0) return -1;
  let left = <i32>(resolveDue - now);
  if (left > 0 || !run) return left < 0 ? 0 : left;
  let next: i32 = -1;
  for (let e = 0; e < nEntries; e++) {
    if (!isResolving(unchecked(eState[e]))) continue;
    if (<i32>(unchecked(eTime[e]) + RETRY_MS - now) <= 0) {
      if (unchecked(eTries[e]) >= MAX_TRIES) { release(e); continue; }
      sendRequest(e);
    }
    left = <i32>(unchecked(eTime[e]) + RETRY_MS - now);
    if (next < 0 || left < next) next = left < 0 ? 0 : left;
  }
  if (next >= 0) resolveDue = now + <u32>next;
  return next;
}

/** For the host: number of cache entries in use (resolved or resolving). */
export function arpEntriesInUse(): i32 {
  let n = 0;
  for (let e = 0; e < nEntries; e++) if (unchecked(eState[e]) != ST_FREE) n++;
  return n;
}
