// The listener table: listening sockets by port, their accept queue (completed connections), the
// FreeBSD accept-filter queue (incomplete), counts of their SYN-queue entries, and the exports the
// host's listen()/accept()/close() use. Listeners are smaller records than connections.
// The host (src/bsd.ts) checks bind conflicts and clamps backlogs; the core never second-guesses it.
import { knob, postEvent } from '../stack';
import { K_FAMILY, FAMILY_LINUX, FAMILY_FREEBSD, EV_ACCEPT_READY, E_AGAIN, E_CONNABORTED, E_INVAL,
  LF_STATE, LF_ACCEPTQ, LF_SYNQ, LF_INCOMPQ, LF_BACKLOG, LF_PORT, LF_ADDR, LF_OVERFLOWS, LF_DROPS } from '../abi';
import { tableKey } from './secrets';
import { cQNext, cQPrev, cListener, connIsDead, connFree, connPortUsage, connOwn, cFlags, CF_QUEUED, CF_INCOMPLETE } from './conn';
import { linuxListenerClose } from './linux';
import { fbsdListenerClose } from './freebsd';
import { bsdListenerClose } from './bsd43';

@inline export const LS_FREE: u8 = 0;
@inline export const LS_LISTEN: u8 = 1;
@inline export const LS_CLOSED: u8 = 2;     // closed by the user, slot kept until its SYN-queue entries are gone

@inline export const LO_DEFER_ACCEPT: i32 = 1;
@inline export const LO_ACCEPT_FILTER: i32 = 2;
@inline export const LO_SYNCNT: i32 = 3;
@inline export const ACCF_NONE: i32 = 0;
@inline export const ACCF_DATA: i32 = 1;
@inline export const ACCF_HTTP: i32 = 2;

@inline export const LFL_REUSEPORT: u32 = 1;
@inline export const LFL_REUSEADDR: u32 = 2;

let nL: i32 = 0;
export let lState: StaticArray<u8> = new StaticArray<u8>(0);
export let lAddr: StaticArray<u32> = new StaticArray<u32>(0);
export let lPort: StaticArray<u16> = new StaticArray<u16>(0);
export let lFlags: StaticArray<u32> = new StaticArray<u32>(0);
export let lBacklog: StaticArray<i32> = new StaticArray<i32>(0);
export let lSynq: StaticArray<i32> = new StaticArray<i32>(0);
export let lYoung: StaticArray<i32> = new StaticArray<i32>(0);
export let lAcceptq: StaticArray<i32> = new StaticArray<i32>(0);
let lAqHead: StaticArray<i32> = new StaticArray<i32>(0);
let lAqTail: StaticArray<i32> = new StaticArray<i32>(0);
export let lIncq: StaticArray<i32> = new StaticArray<i32>(0);
let lIqHead: StaticArray<i32> = new StaticArray<i32>(0);
let lIqTail: StaticArray<i32> = new StaticArray<i32>(0);
export let lDefer: StaticArray<i32> = new StaticArray<i32>(0);
export let lAccf: StaticArray<i32> = new StaticArray<i32>(0);
export let lSyncnt: StaticArray<i32> = new StaticArray<i32>(0);
export let lLastOverflow: StaticArray<u32> = new StaticArray<u32>(0);
export let lHasOverflow: StaticArray<bool> = new StaticArray<bool>(0);
export let lWarned: StaticArray<bool> = new StaticArray<bool>(0);
export let lOverflows: StaticArray<u32> = new StaticArray<u32>(0);
export let lDrops: StaticArray<u32> = new StaticArray<u32>(0);
let lNext: StaticArray<i32> = new StaticArray<i32>(0);
const portHead = new StaticArray<i32>(65536);
let freeHead: i32 = -1;

export function listenersInit(n: i32): void {
  nL = n;
  lState = new StaticArray<u8>(n); lAddr = new StaticArray<u32>(n); lPort = new StaticArray<u16>(n);
  lFlags = new StaticArray<u32>(n); lBacklog = new StaticArray<i32>(n); lSynq = new StaticArray<i32>(n);
  lYoung = new StaticArray<i32>(n); lAcceptq = new StaticArray<i32>(n); lAqHead = new StaticArray<i32>(n);
  lAqTail = new StaticArray<i32>(n); lIncq = new StaticArray<i32>(n); lIqHead = new StaticArray<i32>(n);
  lIqTail = new StaticArray<i32>(n); lDefer = new StaticArray<i32>(n); lAccf = new StaticArray<i32>(n);
  lSyncnt = new StaticArray<i32>(n); lLastOverflow = new StaticArray<u32>(n);
  lHasOverflow = new StaticArray<bool>(n); lWarned = new StaticArray<bool>(n);
  lOverflows = new StaticArray<u32>(n); lDrops = new StaticArray<u32>(n); lNext = new StaticArray<i32>(n);
  for (let i = 0; i < 65536; i++) unchecked(portHead[i] = -1);
  for (let i = 0; i < n; i++) unchecked(lNext[i] = i + 1 < n ? i + 1 : -1);
  freeHead = 0;
}

@inline export function listenerLive(l: i32): bool { return unchecked(lState[l]) == LS_LISTEN; }

/**
 * The listener for a segment to (laddr, lport) from (raddr, rport): an exact address match beats
 * the wildcard; several equal candidates (SO_REUSEPORT) are chosen between by a hash of the
 * 4-tuple on Linux (reuseport_select_sock), and on FreeBSD/4.3BSD the most recently bound wins
 * (in_pcbinshash inserts at the head; FreeBSD's non-LB choice is unverified, see README).
 */
export function listenerLookup(laddr: u32, lport: u32, raddr: u32, rport: u32): i32 {
  let exact = 0, wild = 0;
  let firstExact = -1, firstWild = -1;
  let l = unchecked(portHead[lport]);
  while (l >= 0) {
    if (unchecked(lState[l]) == LS_LISTEN) {
      const a = unchecked(lAddr[l]);
      if (a == laddr) { if (exact == 0) firstExact = l; exact++; }
      else if (a == 0) { if (wild == 0) firstWild = l; wild++; }
    }
    l = unchecked(lNext[l]);
  }
  const n = exact > 0 ? exact : wild;
  if (n == 0) return -1;
  const first = exact > 0 ? firstExact : firstWild;
  if (n == 1 || knob(K_FAMILY) != FAMILY_LINUX) return first;
  // Linux reuseport group: pick by 4-tuple hash
  let h = (raddr ^ tableKey(3)) * 0x9E3779B1 ^ ((rport << 16) | lport);
  h = (h ^ (h >>> 16)) * 0x85EBCA6B; h ^= h >>> 13;
  let k = <i32>(h % <u32>n);
  l = unchecked(portHead[lport]);
  while (l >= 0) {
    if (unchecked(lState[l]) == LS_LISTEN && unchecked(lAddr[l]) == (exact > 0 ? laddr : 0)) {
      if (k == 0) return l;
      k--;
    }
    l = unchecked(lNext[l]);
  }
  return first;
}

export function listenerOpen(laddr: u32, port: i32, backlog: i32, flags: u32): i32 {
  if (port < 0 || port > 65535) return -E_INVAL;
  if (freeHead < 0) return -24; // EMFILE: no listener slot left
  const l = freeHead;
  freeHead = unchecked(lNext[l]);
  unchecked(lState[l] = LS_LISTEN); unchecked(lAddr[l] = laddr); unchecked(lPort[l] = <u16>port);
  unchecked(lFlags[l] = flags); unchecked(lBacklog[l] = backlog);
  unchecked(lSynq[l] = 0); unchecked(lYoung[l] = 0); unchecked(lAcceptq[l] = 0);
  unchecked(lAqHead[l] = -1); unchecked(lAqTail[l] = -1);
  unchecked(lIncq[l] = 0); unchecked(lIqHead[l] = -1); unchecked(lIqTail[l] = -1);
  unchecked(lDefer[l] = 0); unchecked(lAccf[l] = 0); unchecked(lSyncnt[l] = 0);
  unchecked(lLastOverflow[l] = 0); unchecked(lHasOverflow[l] = false); unchecked(lWarned[l] = false);
  unchecked(lOverflows[l] = 0); unchecked(lDrops[l] = 0);
  unchecked(lNext[l] = unchecked(portHead[port])); unchecked(portHead[port] = l);
  return l;
}

export function listenerSetBacklog(l: i32, backlog: i32): i32 {
  if (l < 0 || l >= nL || unchecked(lState[l]) != LS_LISTEN) return -E_INVAL;
  unchecked(lBacklog[l] = backlog);
  return 0;
}

export function listenerSet(l: i32, opt: i32, value: i32): i32 {
  if (l < 0 || l >= nL || unchecked(lState[l]) != LS_LISTEN) return -E_INVAL;
  if (opt == LO_DEFER_ACCEPT) unchecked(lDefer[l] = value);
  else if (opt == LO_ACCEPT_FILTER) {
    const was = unchecked(lAccf[l]);
    unchecked(lAccf[l] = value);
    // removing the filter releases the connections still waiting for it (uipc_accf.c)
    if (was != ACCF_NONE && value == ACCF_NONE) {
      while (unchecked(lIqHead[l]) >= 0) { const c = unchecked(lIqHead[l]); iqRemove(l, c); aqPush(l, c); }
    }
  } else if (opt == LO_SYNCNT) unchecked(lSyncnt[l] = value);
  else return -E_INVAL;
  return 0;
}

export function listenerGet(l: i32, field: i32): i32 {
  if (l < 0 || l >= nL) return -1;
  switch (field) {
    case LF_STATE: return <i32>unchecked(lState[l]);
    case LF_ACCEPTQ: return unchecked(lAcceptq[l]);
    case LF_SYNQ: return unchecked(lSynq[l]);
    case LF_INCOMPQ: return unchecked(lIncq[l]);
    case LF_BACKLOG: return unchecked(lBacklog[l]);
    case LF_PORT: return <i32>unchecked(lPort[l]);
    case LF_ADDR: return <i32>unchecked(lAddr[l]);
    case LF_OVERFLOWS: return <i32>unchecked(lOverflows[l]);
    case LF_DROPS: return <i32>unchecked(lDrops[l]);
  }
  return -1;
}

// ---- the two connection queues of a listener: doubly linked through cQNext/cQPrev, O(1) ----
// Both queues (the accept queue and FreeBSD's accept-filter queue) share these list operations;
// only their counters, flags and events differ.

/** Link `c` at the tail (or, with `front`, the head) of the list `head`/`tail` of listener `l`. */
function listInsert(head: StaticArray<i32>, tail: StaticArray<i32>, l: i32, c: i32, front: bool): void {
  if (front) {
    const h = unchecked(head[l]);
    unchecked(cQPrev[c] = -1);
    unchecked(cQNext[c] = h);
    if (h >= 0) unchecked(cQPrev[h] = c); else unchecked(tail[l] = c);
    unchecked(head[l] = c);
  } else {
    const t = unchecked(tail[l]);
    unchecked(cQNext[c] = -1);
    unchecked(cQPrev[c] = t);
    if (t >= 0) unchecked(cQNext[t] = c); else unchecked(head[l] = c);
    unchecked(tail[l] = c);
  }
  unchecked(cListener[c] = l);
}

function listUnlink(head: StaticArray<i32>, tail: StaticArray<i32>, l: i32, c: i32): void {
  const p = unchecked(cQPrev[c]); const n = unchecked(cQNext[c]);
  if (p >= 0) unchecked(cQNext[p] = n); else unchecked(head[l] = n);
  if (n >= 0) unchecked(cQPrev[n] = p); else unchecked(tail[l] = p);
  unchecked(cListener[c] = -1);
}

function aqInsert(l: i32, c: i32, front: bool): void {
  listInsert(lAqHead, lAqTail, l, c, front);
  unchecked(cFlags[c] = (unchecked(cFlags[c]) | CF_QUEUED) & ~CF_INCOMPLETE);
  const n = unchecked(lAcceptq[l]) + 1;
  unchecked(lAcceptq[l] = n);
  if (n == 1) postEvent(EV_ACCEPT_READY, <u32>l, 0);
}

/** The accept queue is FIFO: a completed connection goes to the tail. */
export function aqPush(l: i32, c: i32): void { aqInsert(l, c, false); }

/** 4.3BSD soqinsque(): at the head of so_q, which accept() also takes from: newest first (LIFO). */
export function aqPushFront(l: i32, c: i32): void { aqInsert(l, c, true); }

/** Remove a connection from whichever queue of `l` holds it. */
export function qRemove(l: i32, c: i32): void {
  const f = unchecked(cFlags[c]);
  if ((f & CF_INCOMPLETE) != 0) { iqRemove(l, c); return; }
  if ((f & CF_QUEUED) == 0) return;
  listUnlink(lAqHead, lAqTail, l, c);
  unchecked(lAcceptq[l] = unchecked(lAcceptq[l]) - 1);
  unchecked(cFlags[c] = f & ~CF_QUEUED);
}

// ---- FreeBSD accept-filter queue (sol_incomp) ----
export function iqPush(l: i32, c: i32): void {
  listInsert(lIqHead, lIqTail, l, c, false);
  unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_INCOMPLETE);
  unchecked(lIncq[l] = unchecked(lIncq[l]) + 1);
}
export function iqRemove(l: i32, c: i32): void {
  listUnlink(lIqHead, lIqTail, l, c);
  unchecked(lIncq[l] = unchecked(lIncq[l]) - 1);
  unchecked(cFlags[c] = unchecked(cFlags[c]) & ~CF_INCOMPLETE);
}
@inline export function iqOldest(l: i32): i32 { return unchecked(lIqHead[l]); }
@inline export function aqHead(l: i32): i32 { return unchecked(lAqHead[l]); }

/** accept(): the oldest completed connection, -EAGAIN when none, -ECONNABORTED (FreeBSD) for a dead one. */
export function listenerAccept(l: i32): i32 {
  if (l < 0 || l >= nL || unchecked(lState[l]) != LS_LISTEN) return -E_INVAL;
  const c = unchecked(lAqHead[l]);
  if (c < 0) return -E_AGAIN;
  qRemove(l, c);
  if (knob(K_FAMILY) == FAMILY_FREEBSD && connIsDead(c)) {
    // tcp_usr_accept: SS_ISDISCONNECTED => ECONNABORTED, and kern_accept4 closes the new fd
    connFree(c);
    return -E_CONNABORTED;
  }
  connOwn(c);
  return c;
}

/** close() of a listening socket: the personality decides what its queued connections get. */
export function listenerClose(l: i32): i32 {
  if (l < 0 || l >= nL || unchecked(lState[l]) != LS_LISTEN) return -E_INVAL;
  unchecked(lState[l] = LS_CLOSED);
  const fam = knob(K_FAMILY);
  if (fam == FAMILY_LINUX) linuxListenerClose(l);
  else if (fam == FAMILY_FREEBSD) fbsdListenerClose(l);
  else bsdListenerClose(l);
  listenerMaybeFree(l);
  return 0;
}

/** Release a closed listener's slot once no SYN-queue entry refers to it. */
export function listenerMaybeFree(l: i32): void {
  if (unchecked(lState[l]) != LS_CLOSED || unchecked(lSynq[l]) > 0) return;
  // drop any connection still queued (each personality already reset them)
  while (unchecked(lAqHead[l]) >= 0) { const c = unchecked(lAqHead[l]); qRemove(l, c); connFree(c); }
  while (unchecked(lIqHead[l]) >= 0) { const c = unchecked(lIqHead[l]); iqRemove(l, c); connFree(c); }
  const port = <i32>unchecked(lPort[l]);
  let cur = unchecked(portHead[port]);
  if (cur == l) unchecked(portHead[port] = unchecked(lNext[l]));
  else {
    while (cur >= 0) {
      const nx = unchecked(lNext[cur]);
      if (nx == l) { unchecked(lNext[cur] = unchecked(lNext[l])); break; }
      cur = nx;
    }
  }
  unchecked(lState[l] = LS_FREE);
  unchecked(lNext[l] = freeHead); freeHead = l;
}

/** For the host's bind rules: what connections (not listeners) hold `port`. See src/bsd.ts. */
export function portUsage(port: i32): i32 {
  if (port < 0 || port > 65535) return 0;
  return connPortUsage(port);
}
