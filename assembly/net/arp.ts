// ARP (RFC 826): answer requests for our addresses, resolve next hops, cache with expiry, and hold
// a few frames per unresolved neighbour. Also the Ethernet output path: ethBegin()/ethCommit() give
// every IPv4 sender a place to build a frame whose destination MAC is filled in here.
import { NOW, count, outputBegin, outputCommit, poolAlloc, FRAME_MAX } from '../stack';
import { C_ARP_IN, C_ARP_OUT, C_ARP_REPLIES, C_ARP_UNRESOLVED, C_ARP_QUEUE_DROPS, C_MALFORMED, C_NOT_FOR_US, C_IP_OUT_NO_ROUTES } from '../abi';
import { rd16, rd32, wr16, wr32 } from '../wire/bytes';
import { ifaceAddr, ifaceMask, writeMac, nextHop, MAX_IFACES } from './iface';

@inline const ARP_LEN: i32 = 28;
@inline const ST_FREE: u8 = 0;
@inline const ST_INCOMPLETE: u8 = 1;
@inline const ST_REACHABLE: u8 = 2;
/** a learned entry is trusted this long; after that it is still used but re-confirmed */
@inline const REACHABLE_MS: u32 = 60000;
/** unresolved: ask again every second, give up after three requests (Linux mcast_solicit 3) */
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
let eTime: StaticArray<u32> = new StaticArray<u32>(0);     // confirmed at / last request at
let ePending: StaticArray<i32> = new StaticArray<i32>(0);  // first pending slot, -1 none
let eNext: StaticArray<i32> = new StaticArray<i32>(0);     // hash chain
let buckets: StaticArray<i32> = new StaticArray<i32>(0);
let bucketMask: u32 = 0;
let freeHead: i32 = -1;
let incomplete: i32 = 0;
let victim: i32 = 0;

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
  if (unchecked(eState[e]) == ST_INCOMPLETE) incomplete--;
  dropPending(e);
  unlink(e);
  unchecked(eState[e] = ST_FREE);
  unchecked(eNext[e] = freeHead); freeHead = e;
}

function allocEntry(ip: u32, iface: i32): i32 {
  if (freeHead < 0) {
    // full: evict a resolved entry, round robin (never one we are still resolving)
    for (let k = 0; k < nEntries; k++) {
      victim = victim + 1 >= nEntries ? 0 : victim + 1;
      if (unchecked(eState[victim]) == ST_REACHABLE) { release(victim); break; }
    }
    if (freeHead < 0) return -1;
  }
  const e = freeHead;
  freeHead = unchecked(eNext[e]);
  unchecked(eIp[e] = ip); unchecked(eIface[e] = <u8>iface); unchecked(eTries[e] = 0);
  unchecked(ePending[e] = -1); unchecked(eState[e] = ST_INCOMPLETE); unchecked(eTime[e] = NOW);
  const b = hashIp(ip);
  unchecked(eNext[e] = unchecked(buckets[b])); unchecked(buckets[b] = e);
  incomplete++;
  return e;
}

/** Learn or refresh ip -> mac; flush frames waiting for it. */
function learn(iface: i32, ip: u32, hi: u32, lo: u32, create: bool): void {
  let e = find(ip);
  if (e < 0) { if (!create) return; e = allocEntry(ip, iface); if (e < 0) return; }
  if (unchecked(eState[e]) == ST_INCOMPLETE) incomplete--;
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
  const p = outputBegin(iface, 42);
  if (p == 0) return;
  writeMacRaw(p, ethHi, ethLo);
  writeMac(iface, p + 6);
  wr16(p + 12, 0x0806);
  const a = p + 14;
  wr16(a, 1); wr16(a + 2, 0x0800); store<u8>(a + 4, 6); store<u8>(a + 5, 4); wr16(a + 6, op);
  writeMac(iface, a + 8);
  wr32(a + 14, ifaceAddr(iface));
  writeMacRaw(a + 18, tHi, tLo);
  wr32(a + 24, tIp);
  outputCommit(42);
  count(C_ARP_OUT);
}

function sendRequest(e: i32): void {
  unchecked(eTime[e] = NOW);
  unchecked(eTries[e] = unchecked(eTries[e]) + 1);
  sendArp(<i32>unchecked(eIface[e]), 1, 0, 0, unchecked(eIp[e]), 0xFFFF, 0xFFFFFFFF);
}

export function arpInput(iface: i32, p: usize, len: i32): void {
  count(C_ARP_IN);
  if (len < 14 + ARP_LEN) { count(C_MALFORMED); return; }
  const a = p + 14;
  if (rd16(a) != 1 || rd16(a + 2) != 0x0800 || load<u8>(a + 4) != 6 || load<u8>(a + 5) != 4) { count(C_MALFORMED); return; }
  const op = rd16(a + 6);
  const sHi = (<u32>load<u8>(a + 8) << 8) | <u32>load<u8>(a + 9);
  const sLo = rd32(a + 10);
  const sIp = rd32(a + 14);
  const tIp = rd32(a + 24);
  if ((sHi & 0x100) != 0 || sIp == 0 && op != 1) { count(C_MALFORMED); return; }
  const mine = tIp == ifaceAddr(iface);
  if (sIp != 0 && (sIp & ifaceMask(iface)) == (ifaceAddr(iface) & ifaceMask(iface))) {
    // RFC 826: update an entry we have; create one only when the packet is for us
    learn(iface, sIp, sHi, sLo, mine);
  }
  if (op == 1) {
    if (!mine) { count(C_NOT_FOR_US); return; }
    sendArp(iface, 2, sHi, sLo, sIp, sHi, sLo);
    count(C_ARP_REPLIES);
  } else if (op != 2) count(C_MALFORMED);
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
  if (hop == 0) { count(C_IP_OUT_NO_ROUTES); return 0; }
  let e = find(hop);
  let p: usize = 0;
  if (e >= 0 && unchecked(eState[e]) == ST_REACHABLE) {
    p = outputBegin(iface, maxLen);
    if (p == 0) return 0;
    writeMacRaw(p, unchecked(eMacHi[e]), unchecked(eMacLo[e]));
    // stale: keep using it, but confirm it again (Linux's STALE -> PROBE)
    if (NOW - unchecked(eTime[e]) > REACHABLE_MS && NOW - unchecked(eTime[e]) > REACHABLE_MS + RETRY_MS) {
      unchecked(eTime[e] = NOW - REACHABLE_MS);
      sendArp(iface, 1, 0, 0, hop, 0xFFFF, 0xFFFFFFFF);
      // the ARP request took the output area after our reservation: rebuild the reservation
      p = outputBegin(iface, maxLen);
      if (p == 0) return 0;
      writeMacRaw(p, unchecked(eMacHi[e]), unchecked(eMacLo[e]));
    }
  } else {
    if (e < 0) {
      e = allocEntry(hop, iface);
      if (e < 0) { count(C_ARP_QUEUE_DROPS); return 0; }
      sendRequest(e);
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
 * Retry or give up on unresolved neighbours (when `run`), and return ms until the next retry,
 * or -1 when nothing is being resolved. With `run` false it only looks.
 */
export function arpTimers(now: u32, run: bool): i32 {
  if (incomplete == 0) return -1;
  let next: i32 = -1;
  for (let e = 0; e < nEntries; e++) {
    if (unchecked(eState[e]) != ST_INCOMPLETE) continue;
    const due = unchecked(eTime[e]) + RETRY_MS;
    if (run && <i32>(due - now) <= 0) {
      if (unchecked(eTries[e]) >= MAX_TRIES) { release(e); continue; }
      sendRequest(e);
    }
    const left = <i32>(unchecked(eTime[e]) + RETRY_MS - now);
    if (next < 0 || left < next) next = left < 0 ? 0 : left;
  }
  return next;
}

/** For the host: number of cache entries in use (resolved or resolving). */
export function arpEntriesInUse(): i32 {
  let n = 0;
  for (let e = 0; e < nEntries; e++) if (unchecked(eState[e]) != ST_FREE) n++;
  return n;
}
