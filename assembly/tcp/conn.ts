// Connections (TCBs): the pool, the 4-tuple hash, receive buffers, and the synchronized-state
// segment handling a queued or accepted connection needs (RFC 9293 §3.10.7.4): data in order, FIN,
// RST (RFC 5961 §3), SYN (RFC 5961 §4), ACK of our FIN, TIME-WAIT. Issue 3 grows this into the
// whole data path; the listener engine only needs what is here.
//
// A connection is created by a personality when a handshake completes (connFromEmbryo) and lives
// on its listener's accept queue until accept(); after that the host holds its handle (CF_USER)
// until connClose()/connAbort().
import { NOW, knob, count, postEvent, poolAlloc, scratchPtr, scratchCap, countSub } from '../stack';
import {
  K_FAMILY, FAMILY_LINUX, FAMILY_BSD43, FAMILY_FREEBSD, K_TCP_TIMESTAMPS, K_FB_INSECURE_RST,
  C_TCP_CURR_ESTAB, C_TCP_ESTAB_RESETS, C_CHALLENGE_ACK, C_NO_MEMORY, C_ABORT_ON_CLOSE, C_TCP_RETRANS_SEGS,
  EV_READABLE, EV_CONN_ERROR, EV_CONN_CLOSED, E_AGAIN, E_CONNRESET, E_TIMEDOUT, E_INVAL,
  E_CONNREFUSED, E_NOTCONN, E_PIPE, E_NOPROTOOPT, C_TCP_ATTEMPT_FAILS, C_PAWS_ESTAB,
  K_TCP_INVALID_RATELIMIT, K_TCP_CHALLENGE_ACK_LIMIT, K_ACK_BYTES_ACKED_BOUND, K_OLD_ACK_CLOSING,
  K_ACK_UNSENT_CHALLENGE, C_ACK_SKIPPED_CHALLENGE, C_ACK_SKIPPED_SEQ, C_ACK_SKIPPED_PAWS, C_SYN_CHALLENGE,
  C_RCV_ACK_TOO_MUCH, C_ACK_SKIPPED_TIMEWAIT, C_RCV_BADSYN,
} from '../abi';
import { tableKey, prfWord } from './secrets';
import { seqLt, seqLe, seqGt, seqGe, seqInRange } from './seq';
import { timerSet, timerCancel } from './timer';
import { maxSynEntries } from './synq';
import {
  segSeq, segAck, segFlags, segLen, segData, segWnd, optTs, optTsVal, optTsEcr,
  TH_FIN, TH_SYN, TH_RST, TH_ACK,
} from './segment';
import { optReset, optTsW, optNop, tcpSend } from './output';
import { qRemove, lAccf, iqRemove, aqPush, ACCF_NONE } from './listener';
import { accfReady } from './accf';
import { setTwIss } from './segment';
import { tcpDispatch } from './input';
import { bsdConnDropReset, bsdDropWithResetNoSocket } from './bsd43';
import {
  sendInit, sendReset, sendStart, sendOnAck, sendOutput, sendTimer, sendWrite, sendSpace, txFree, effMss,
  cSndMax, cTxLen, cSndBuf, cSrtt, cRto, CF_SNDBUF_LOCK, CF_ACTIVE, CF_FIN_QUEUED, CF_NODELAY, CF_SHUT_RD, CF_WR_BLOCKED,
} from './send';
import { ccCwnd, ccSetAlgo, ccAlgo } from './cc';
import { kaInit, kaReset, kaCancel, kaHeard, kaSet, kaSetOpt, kaGetOpt } from './keepalive';
import { sackOptions, recvInit, oooStore, oooDrain, oooFree, oooHeld, ackInit, ackReset, ackSent, ackNowForData, delackCancel, ackAfterRead } from './recv';
export function connCount(): i32 { return nC; }
import { connectInit, synSentInput, activeSynRcvdAck, connectTimer, connectSetSynCnt } from './connect';

// states (RFC 9293 §3.3.2)
@inline export const ST_CLOSED: u8 = 0;
@inline export const ST_SYN_SENT: u8 = 2;
@inline export const ST_SYN_RECEIVED: u8 = 3;
@inline export const ST_ESTABLISHED: u8 = 4;
@inline export const ST_FIN_WAIT_1: u8 = 5;
@inline export const ST_FIN_WAIT_2: u8 = 6;
@inline export const ST_CLOSE_WAIT: u8 = 7;
@inline export const ST_CLOSING: u8 = 8;
@inline export const ST_LAST_ACK: u8 = 9;
@inline export const ST_TIME_WAIT: u8 = 10;

// flags
@inline export const CF_LIVE: u32 = 0x0001;
@inline export const CF_QUEUED: u32 = 0x0002;      // on the accept queue
@inline export const CF_INCOMPLETE: u32 = 0x0004; // on FreeBSD's accept-filter queue
@inline export const CF_USER: u32 = 0x0008;       // accepted: the host holds the handle
@inline export const CF_USER_CLOSED: u32 = 0x0010;// the host closed it: free when TCP is done
@inline export const CF_EOF: u32 = 0x0020;        // FIN received
@inline export const CF_DEAD: u32 = 0x0040;       // reset or timed out
@inline export const CF_TS: u32 = 0x0080;
@inline export const CF_SACK: u32 = 0x0100;
@inline export const CF_WS: u32 = 0x0200;
@inline export const CF_REUSEADDR: u32 = 0x0400;
@inline export const CF_FIN_SENT: u32 = 0x0800;
@inline export const CF_REUSEPORT: u32 = 0x1000;   // inherited from the listener (bind rules)

@inline export const CHUNK: i32 = 2048;
@inline const TIME_WAIT_MS: u32 = 60000;       // Linux TCP_TIMEWAIT_LEN; 2*MSL on the BSDs

let nC: i32 = 0;
export let cState: StaticArray<u8> = new StaticArray<u8>(0);
export let cIface: StaticArray<u8> = new StaticArray<u8>(0);
export let cFlags: StaticArray<u32> = new StaticArray<u32>(0);
export let cRaddr: StaticArray<u32> = new StaticArray<u32>(0);
export let cLaddr: StaticArray<u32> = new StaticArray<u32>(0);
export let cRport: StaticArray<u16> = new StaticArray<u16>(0);
export let cLport: StaticArray<u16> = new StaticArray<u16>(0);
export let cIss: StaticArray<u32> = new StaticArray<u32>(0);
export let cIrs: StaticArray<u32> = new StaticArray<u32>(0);
export let cSndUna: StaticArray<u32> = new StaticArray<u32>(0);
export let cSndNxt: StaticArray<u32> = new StaticArray<u32>(0);
export let cSndWnd: StaticArray<u32> = new StaticArray<u32>(0);
export let cRcvNxt: StaticArray<u32> = new StaticArray<u32>(0);
export let cRcvBuf: StaticArray<u32> = new StaticArray<u32>(0);
export let cSndWs: StaticArray<u8> = new StaticArray<u8>(0);
export let cRcvWs: StaticArray<u8> = new StaticArray<u8>(0);
export let cMss: StaticArray<u16> = new StaticArray<u16>(0);
export let cTsRecent: StaticArray<u32> = new StaticArray<u32>(0);
export let cTsOff: StaticArray<u32> = new StaticArray<u32>(0);
export let cListener: StaticArray<i32> = new StaticArray<i32>(0);
export let cQNext: StaticArray<i32> = new StaticArray<i32>(0);
export let cQPrev: StaticArray<i32> = new StaticArray<i32>(0);
export let cErr: StaticArray<u8> = new StaticArray<u8>(0);
export let cRetries: StaticArray<u8> = new StaticArray<u8>(0);
let cHashNext: StaticArray<i32> = new StaticArray<i32>(0);
let cRxHead: StaticArray<i32> = new StaticArray<i32>(0);
let cRxTail: StaticArray<i32> = new StaticArray<i32>(0);
let cRxOff: StaticArray<u16> = new StaticArray<u16>(0);
// RFC 5961: the largest window the peer has offered (MAX.SND.WND, Linux max_window, FreeBSD
// max_sndwnd) and Linux's per-socket out-of-window reply clock (last_oow_ack_time)
export let cMaxSndWnd: StaticArray<u32> = new StaticArray<u32>(0);
let cOowTime: StaticArray<u32> = new StaticArray<u32>(0);
let cOowSet: StaticArray<u8> = new StaticArray<u8>(0);
export let cRxLen: StaticArray<i32> = new StaticArray<i32>(0);
let buckets: StaticArray<i32> = new StaticArray<i32>(0);
let bucketMask: u32 = 0;
let freeHead: i32 = -1;
let inUse: i32 = 0;

// receive chunks
let chunkMem: usize = 0;
let chunkNext: StaticArray<i32> = new StaticArray<i32>(0);
let chunkLen: StaticArray<u16> = new StaticArray<u16>(0);
let chunkFree: i32 = -1;
let chunkFreeCount: i32 = 0;
let chunkReserve: i32 = 0;

// bind bookkeeping per local port (see portUsage)
const portConnReuse = new StaticArray<u16>(65536);
const portConnNoReuse = new StaticArray<u16>(65536);
const portTwReuse = new StaticArray<u16>(65536);
const portTwNoReuse = new StaticArray<u16>(65536);
const portReusePort = new StaticArray<u16>(65536);
const portNoReusePort = new StaticArray<u16>(65536);

export function connInit(n: i32, rxChunks: i32): void {
  nC = n;
  cState = new StaticArray<u8>(n); cIface = new StaticArray<u8>(n); cFlags = new StaticArray<u32>(n);
  cRaddr = new StaticArray<u32>(n); cLaddr = new StaticArray<u32>(n);
  cRport = new StaticArray<u16>(n); cLport = new StaticArray<u16>(n);
  cIss = new StaticArray<u32>(n); cIrs = new StaticArray<u32>(n);
  cSndUna = new StaticArray<u32>(n); cSndNxt = new StaticArray<u32>(n); cSndWnd = new StaticArray<u32>(n);
  cRcvNxt = new StaticArray<u32>(n); cRcvBuf = new StaticArray<u32>(n);
  cSndWs = new StaticArray<u8>(n); cRcvWs = new StaticArray<u8>(n); cMss = new StaticArray<u16>(n);
  cTsRecent = new StaticArray<u32>(n); cTsOff = new StaticArray<u32>(n);
  cListener = new StaticArray<i32>(n); cQNext = new StaticArray<i32>(n); cQPrev = new StaticArray<i32>(n);
  cErr = new StaticArray<u8>(n); cRetries = new StaticArray<u8>(n);
  cHashNext = new StaticArray<i32>(n); cRxHead = new StaticArray<i32>(n); cRxTail = new StaticArray<i32>(n);
  cRxOff = new StaticArray<u16>(n); cRxLen = new StaticArray<i32>(n);
  cMaxSndWnd = new StaticArray<u32>(n); cOowTime = new StaticArray<u32>(n); cOowSet = new StaticArray<u8>(n);
  let nb: i32 = 16;
  while (nb < n) nb <<= 1;
  buckets = new StaticArray<i32>(nb);
  bucketMask = <u32>(nb - 1);
  for (let i = 0; i < nb; i++) unchecked(buckets[i] = -1);
  for (let i = 0; i < n; i++) unchecked(cHashNext[i] = i + 1 < n ? i + 1 : -1);
  freeHead = 0;
  chunkMem = poolAlloc(<usize>rxChunks * CHUNK);
  chunkNext = new StaticArray<i32>(rxChunks); chunkLen = new StaticArray<u16>(rxChunks);
  for (let i = 0; i < rxChunks; i++) unchecked(chunkNext[i] = i + 1 < rxChunks ? i + 1 : -1);
  chunkFree = 0;
  chunkFreeCount = rxChunks;
  chunkReserve = rxChunks >> 3;
  sendInit(n);
  connectInit(n);
  recvInit(n, rxChunks);
  ackInit(n);
  kaInit(n);
}

// ---- the chunk pool, shared by receive and send buffers ----
/** A free chunk (emptied, unlinked), or -1 when the pool is exhausted. */
export function chunkTake(): i32 {
  if (chunkFree < 0) return -1;
  chunkFreeCount--;
  const k = chunkFree; chunkFree = unchecked(chunkNext[k]);
  unchecked(chunkNext[k] = -1); unchecked(chunkLen[k] = 0);
  return k;
}
export function chunkGive(k: i32): void { unchecked(chunkNext[k] = chunkFree); chunkFree = k; chunkFreeCount++; }
/**
 * A chunk for a send buffer: refused while fewer than an eighth of the pool is free, so that data
 * arriving on established connections always finds room (new sends wait, counted in WtcpNoMemory).
 */
export function chunkTakeForSend(): i32 { return chunkFreeCount > chunkReserve ? chunkTake() : -1; }
@inline export function chunkNextOf(k: i32): i32 { return unchecked(chunkNext[k]); }
@inline export function chunkSetNext(k: i32, n: i32): void { unchecked(chunkNext[k] = n); }
@inline export function chunkLenOf(k: i32): i32 { return <i32>unchecked(chunkLen[k]); }
@inline export function chunkSetLen(k: i32, n: i32): void { unchecked(chunkLen[k] = <u16>n); }
@inline export function chunkPtr(k: i32): usize { return chunkMem + <usize>k * CHUNK; }

@inline function hashTuple(laddr: u32, lport: u32, raddr: u32, rport: u32): u32 {
  let h = (raddr ^ tableKey(1)) * 0x9E3779B1;
  h ^= ((rport << 16) | lport) ^ tableKey(2);
  h = (h ^ (h >>> 15)) * 0x85EBCA77;
  h ^= laddr;
  h = (h ^ (h >>> 13)) * 0xC2B2AE3D;
  return (h ^ (h >>> 16)) & bucketMask;
}

export function connLookup(laddr: u32, lport: u32, raddr: u32, rport: u32): i32 {
  let c = unchecked(buckets[hashTuple(laddr, lport, raddr, rport)]);
  while (c >= 0) {
    if (unchecked(cRaddr[c]) == raddr && <u32>unchecked(cRport[c]) == rport &&
        <u32>unchecked(cLport[c]) == lport && unchecked(cLaddr[c]) == laddr) return c;
    c = unchecked(cHashNext[c]);
  }
  return -1;
}

@inline function tw(c: i32): bool { return unchecked(cState[c]) == ST_TIME_WAIT; }
function portAccount(c: i32, delta: i32): void {
  const p = <i32>unchecked(cLport[c]);
  const reuse = (unchecked(cFlags[c]) & CF_REUSEADDR) != 0;
  if ((unchecked(cFlags[c]) & CF_REUSEPORT) != 0) unchecked(portReusePort[p] = <u16>(<i32>unchecked(portReusePort[p]) + delta));
  else unchecked(portNoReusePort[p] = <u16>(<i32>unchecked(portNoReusePort[p]) + delta));
  if (tw(c)) {
    if (reuse) unchecked(portTwReuse[p] = <u16>(<i32>unchecked(portTwReuse[p]) + delta));
    else unchecked(portTwNoReuse[p] = <u16>(<i32>unchecked(portTwNoReuse[p]) + delta));
  } else {
    if (reuse) unchecked(portConnReuse[p] = <u16>(<i32>unchecked(portConnReuse[p]) + delta));
    else unchecked(portConnNoReuse[p] = <u16>(<i32>unchecked(portConnNoReuse[p]) + delta));
  }
}

export function connPortUsage(port: i32): i32 {
  let m = 0;
  const a = unchecked(portConnReuse[port]), b = unchecked(portConnNoReuse[port]);
  const t1 = unchecked(portTwNoReuse[port]), t2 = unchecked(portTwReuse[port]);
  if (a + b + t1 + t2 > 0) m |= 1;
  if (t1 > 0) m |= 2;
  if (t2 > 0) m |= 4;
  if (a > 0) m |= 8;
  if (b > 0) m |= 16;
  if (unchecked(portReusePort[port]) > 0) m |= 32;
  if (unchecked(portNoReusePort[port]) > 0) m |= 64;
  return m;
}

/** A new connection record in state `st`; -1 when the pool is exhausted (counted). */
export function connAlloc(iface: i32, laddr: u32, lport: u32, raddr: u32, rport: u32, reuse: bool): i32 {
  if (freeHead < 0) { count(C_NO_MEMORY); return -1; }
  const c = freeHead;
  freeHead = unchecked(cHashNext[c]);
  unchecked(cState[c] = ST_SYN_RECEIVED); unchecked(cIface[c] = <u8>iface);
  unchecked(cFlags[c] = CF_LIVE | (reuse ? CF_REUSEADDR : 0));
  unchecked(cRaddr[c] = raddr); unchecked(cLaddr[c] = laddr);
  unchecked(cRport[c] = <u16>rport); unchecked(cLport[c] = <u16>lport);
  unchecked(cListener[c] = -1); unchecked(cQNext[c] = -1); unchecked(cQPrev[c] = -1);
  unchecked(cErr[c] = 0); unchecked(cRetries[c] = 0);
  unchecked(cRxHead[c] = -1); unchecked(cRxTail[c] = -1); unchecked(cRxOff[c] = 0); unchecked(cRxLen[c] = 0);
  unchecked(cTsRecent[c] = 0); unchecked(cTsOff[c] = 0);
  unchecked(cMaxSndWnd[c] = 0); unchecked(cOowSet[c] = 0);
  sendReset(c);
  ackReset(c);
  kaReset(c);
  const b = hashTuple(laddr, lport, raddr, rport);
  unchecked(cHashNext[c] = unchecked(buckets[b])); unchecked(buckets[b] = c);
  portAccount(c, 1);
  inUse++;
  return c;
}

function rxFree(c: i32): void {
  let k = unchecked(cRxHead[c]);
  while (k >= 0) { const nx = unchecked(chunkNext[k]); chunkGive(k); k = nx; }
  unchecked(cRxHead[c] = -1); unchecked(cRxTail[c] = -1); unchecked(cRxLen[c] = 0); unchecked(cRxOff[c] = 0);
}

/** Release a connection record entirely. */
export function connFree(c: i32): void {
  if ((unchecked(cFlags[c]) & CF_LIVE) == 0) return;
  const st = unchecked(cState[c]);
  if (st == ST_ESTABLISHED || st == ST_CLOSE_WAIT) countSub(C_TCP_CURR_ESTAB);
  const l = unchecked(cListener[c]);
  if (l >= 0) qRemove(l, c);
  timerCancel(maxSynEntries() + c);
  rxFree(c);
  txFree(c);
  oooFree(c);
  delackCancel(c);
  kaCancel(c);
  portAccount(c, -1);
  const b = hashTuple(unchecked(cLaddr[c]), <u32>unchecked(cLport[c]), unchecked(cRaddr[c]), <u32>unchecked(cRport[c]));
  let cur = unchecked(buckets[b]);
  if (cur == c) unchecked(buckets[b] = unchecked(cHashNext[c]));
  else {
    while (cur >= 0) {
      const nx = unchecked(cHashNext[cur]);
      if (nx == c) { unchecked(cHashNext[cur] = unchecked(cHashNext[c])); break; }
      cur = nx;
    }
  }
  unchecked(cFlags[c] = 0); unchecked(cState[c] = ST_CLOSED);
  unchecked(cHashNext[c] = freeHead); freeHead = c;
  inUse--;
}

export function connsInUse(): i32 { return inUse; }

/** A child inherits SO_REUSEPORT from its listener (kept apart for the host's bind checks). */
export function connSetReusePort(c: i32): void {
  portAccount(c, -1);
  unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_REUSEPORT);
  portAccount(c, 1);
}

/** accept(): from now on the host holds the handle (events are posted, nothing frees it behind the host's back). */
export function connOwn(c: i32): void { unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_USER); }
@inline export function connIsDead(c: i32): bool { return (unchecked(cFlags[c]) & CF_DEAD) != 0; }

/** Move a connection into ESTABLISHED (a completed handshake). */
export function connEstablish(c: i32): void {
  unchecked(cState[c] = ST_ESTABLISHED);
  unchecked(cMaxSndWnd[c] = unchecked(cSndWnd[c]));   // Linux tcp_init_wl / max_window = snd_wnd
  count(C_TCP_CURR_ESTAB);
  sendStart(c, unchecked(cRcvNxt[c]), unchecked(cSndUna[c]));
}

@inline export function tsNow(c: i32): u32 { return NOW + unchecked(cTsOff[c]); }
@inline function rcvWindow(c: i32): u32 { return connRcvWindow(c); }
export function connRcvWindow(c: i32): u32 {
  const used = <u32>unchecked(cRxLen[c]);
  const buf = unchecked(cRcvBuf[c]);
  return used >= buf ? 0 : buf - used;
}

/**
 * The sequence number of a segment without data: SND.MAX, not SND.NXT. After a retransmission
 * timeout send.ts rewinds SND.NXT to SND.UNA (go-back-N, as BSD's tcp_timer_rexmt does), and the
 * peer may already have RCV.NXT above that: an ACK carrying the rewound SND.NXT would be below its
 * window, unacceptable, dropped unread and answered with an ACK; with both ends rewound the two
 * answer each other's ACKs for ever and neither learns what the other received. FreeBSD's
 * tcp_output uses snd_max for a segment with no data, SYN or FIN; Linux never rewinds snd_nxt.
 */
@inline function ctlSeq(c: i32): u32 {
  const nxt = unchecked(cSndNxt[c]);
  // SND.MAX is kept from the handshake's end on (connEstablish -> sendStart); before that (an
  // active open's SYN-SENT or SYN-RECEIVED) it is not set and nothing was rewound
  const st = unchecked(cState[c]);
  if (st == ST_SYN_SENT || st == ST_SYN_RECEIVED || st == ST_CLOSED) return nxt;
  const max = unchecked(cSndMax[c]);
  return seqGt(max, nxt) ? max : nxt;
}

/** Send a bare ACK <SEQ=SND.MAX><ACK=RCV.NXT> with our options. */
export function connSendAck(c: i32, flags: u32): void {
  optReset();
  if ((unchecked(cFlags[c]) & CF_TS) != 0) { optNop(); optNop(); optTsW(tsNow(c), unchecked(cTsRecent[c])); }
  if ((unchecked(cFlags[c]) & CF_SACK) != 0 && oooHeld(c)) sackOptions(c);
  tcpSend(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), unchecked(cRaddr[c]),
    <u32>unchecked(cLport[c]), <u32>unchecked(cRport[c]),
    ctlSeq(c), unchecked(cRcvNxt[c]), flags,
    rcvWindow(c) >> <u32>unchecked(cRcvWs[c]), 0, 0);
  ackSent(c);
}

/** Abort with RST|ACK <SEQ=SND.MAX><ACK=RCV.NXT> (tcp_send_active_reset / tcp_drop). */
export function connSendReset(c: i32): void {
  optReset();
  tcpSend(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), unchecked(cRaddr[c]),
    <u32>unchecked(cLport[c]), <u32>unchecked(cRport[c]),
    ctlSeq(c), unchecked(cRcvNxt[c]), TH_RST | TH_ACK, 0, 0, 0);
}

/** The connection died (RST received or timed out); what happens to a queued one is per personality. */
export function connKill(c: i32, err: i32): void {
  const st = unchecked(cState[c]);
  if (st == ST_ESTABLISHED || st == ST_CLOSE_WAIT) { countSub(C_TCP_CURR_ESTAB); count(C_TCP_ESTAB_RESETS); }
  unchecked(cState[c] = ST_CLOSED);
  unchecked(cErr[c] = <u8>err);
  unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_DEAD);
  timerCancel(maxSynEntries() + c);
  const f = unchecked(cFlags[c]);
  if ((f & CF_USER_CLOSED) != 0) { connFree(c); return; }
  if ((f & CF_USER) != 0) { postEvent(EV_CONN_ERROR, <u32>c, <u32>err); return; }
  // still queued, never accepted
  const l = unchecked(cListener[c]);
  const fam = knob(K_FAMILY);
  if (fam == FAMILY_FREEBSD && (f & CF_INCOMPLETE) != 0 && l >= 0) {
    // FreeBSD: tcp_close -> soisdisconnected -> socantrcvmore wakes the accept filter, whose test
    // (soreadable: EOF or so_error) now passes, so soisconnected moves the socket to sol_comp with
    // SS_ISDISCONNECTED set: accept() returns ECONNABORTED (listen-behaviour.md §3.9, §3.11)
    iqRemove(l, c); aqPush(l, c);
    return;
  }
  if (fam == FAMILY_BSD43 || (f & CF_INCOMPLETE) != 0) {
    // 4.3BSD: sofree() unlinks it, accept() never sees it (FreeBSD's filter-pending sockets: above)
    if (l >= 0) qRemove(l, c);
    connFree(c);
  }
  // Linux keeps it queued (accept() returns it, the first read gives ECONNRESET);
  // FreeBSD keeps it on sol_comp and accept() returns ECONNABORTED.
}

// ---- receive buffer ----
export function connRxAppend(c: i32, p: usize, len: i32): i32 { return rxAppend(c, p, len); }
function rxAppend(c: i32, p: usize, len: i32): i32 {
  let done = 0;
  while (done < len) {
    let t = unchecked(cRxTail[c]);
    if (t < 0 || <i32>unchecked(chunkLen[t]) == CHUNK) {
      const k = chunkTake();
      if (k < 0) { count(C_NO_MEMORY); break; }
      if (t >= 0) unchecked(chunkNext[t] = k); else unchecked(cRxHead[c] = k);
      unchecked(cRxTail[c] = k);
      t = k;
    }
    const used = <i32>unchecked(chunkLen[t]);
    let n = CHUNK - used;
    if (n > len - done) n = len - done;
    memory.copy(chunkMem + <usize>t * CHUNK + <usize>used, p + <usize>done, n);
    unchecked(chunkLen[t] = <u16>(used + n));
    done += n;
  }
  unchecked(cRxLen[c] = unchecked(cRxLen[c]) + done);
  return done;
}

/** Bytes that arrived before the connection existed (4.3BSD SYN data): buffer them, advance RCV.NXT. */
export function connDeliver(c: i32, p: usize, len: i32): i32 {
  if (len <= 0) return 0;
  const got = rxAppend(c, p, len);
  unchecked(cRcvNxt[c] = unchecked(cRcvNxt[c]) + <u32>got);
  return got;
}

/** Copy up to `max` buffered bytes starting `skip` bytes in, without consuming (accept filters). */
export function rxPeek(c: i32, dst: usize, max: i32): i32 {
  let k = unchecked(cRxHead[c]);
  let off = <i32>unchecked(cRxOff[c]);
  let n = 0;
  while (k >= 0 && n < max) {
    let avail = <i32>unchecked(chunkLen[k]) - off;
    if (avail > max - n) avail = max - n;
    memory.copy(dst + <usize>n, chunkMem + <usize>k * CHUNK + <usize>off, avail);
    n += avail; off = 0; k = unchecked(chunkNext[k]);
  }
  return n;
}

function rxTake(c: i32, dst: usize, max: i32): i32 {
  let n = 0;
  while (n < max) {
    const k = unchecked(cRxHead[c]);
    if (k < 0) break;
    const off = <i32>unchecked(cRxOff[c]);
    let avail = <i32>unchecked(chunkLen[k]) - off;
    if (avail > max - n) avail = max - n;
    memory.copy(dst + <usize>n, chunkMem + <usize>k * CHUNK + <usize>off, avail);
    n += avail;
    if (off + avail == <i32>unchecked(chunkLen[k])) {
      unchecked(cRxHead[c] = unchecked(chunkNext[k]));
      if (unchecked(cRxHead[c]) < 0) unchecked(cRxTail[c] = -1);
      chunkGive(k);
      unchecked(cRxOff[c] = 0);
    } else unchecked(cRxOff[c] = <u16>(off + avail));
  }
  unchecked(cRxLen[c] = unchecked(cRxLen[c]) - n);
  return n;
}

// ---- segment arrival in a synchronized state ----
function acceptable(c: i32): bool {
  const rn = unchecked(cRcvNxt[c]);
  const w = rcvWindow(c);
  if (segLen == 0) return w == 0 ? segSeq == rn : seqInRange(segSeq, rn, rn + w);
  if (w == 0) return false;
  return seqInRange(segSeq, rn, rn + w) || seqInRange(segSeq + <u32>segLen - 1, rn, rn + w);
}

// ---- RFC 5961 §7 and the out-of-window reply limits, as each OS has them ----
// Linux rate-limits every reply to a segment it will not accept: per connection one reply per
// net.ipv4.tcp_invalid_ratelimit (__tcp_oow_rate_limited, counted TCPACKSkipped*), and challenge
// ACKs also against a per-stack budget per second (tcp_send_challenge_ack with
// net.ipv4.tcp_challenge_ack_limit: 1000 in 4.7-5.19, randomised since "tcp: make challenge acks less
// predictable"; INT_MAX = off since 6.0). FreeBSD 12.1 answers with tcp_respond() / dropafterack
// and no limit at all (its "ACK war" limit, tcp_ack_war_time_window, came with FreeBSD 13.1); 4.3BSD
// has no challenge ACKs and no limit.
let chSecond: u32 = 0;
let chStarted = false;
let chCount: u32 = 0;
let chDraws: u32 = 0;

/** __tcp_oow_rate_limited: true (and counted) if this connection answered an invalid segment less than tcp_invalid_ratelimit ago. */
function oowLimited(c: i32, counter: i32): bool {
  if (unchecked(cOowSet[c]) != 0) {
    const elapsed = <i32>(NOW - unchecked(cOowTime[c]));
    if (elapsed >= 0 && elapsed < knob(K_TCP_INVALID_RATELIMIT)) { count(counter); return true; }
  }
  unchecked(cOowTime[c] = NOW); unchecked(cOowSet[c] = 1);
  return false;
}

/** tcp_oow_rate_limited: as above, but a segment with data or FIN and no SYN is never limited ("not likely part of an ACK loop"). */
function oowLimitedSeg(c: i32, counter: i32): bool {
  if ((segLen > 0 || (segFlags & TH_FIN) != 0) && (segFlags & TH_SYN) == 0) return false;
  return oowLimited(c, counter);
}

/** The duplicate ACK an unacceptable segment gets (RFC 9293 §3.10.7.4 first check); Linux rate-limits it. */
function dupAckLimited(c: i32, counter: i32): void {
  if (knob(K_FAMILY) == FAMILY_LINUX && oowLimitedSeg(c, counter)) return;
  connSendAck(c, TH_ACK);
}

/** A challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (RFC 5961 §3.2, §4.2, §5.2), limited as the OS limits it (§7). */
function challengeAck(c: i32): void {
  if (knob(K_FAMILY) == FAMILY_LINUX) {
    if (oowLimited(c, C_ACK_SKIPPED_CHALLENGE)) return;
    const limit = <u32>knob(K_TCP_CHALLENGE_ACK_LIMIT);
    if (limit != 0x7fffffff) {
      // a new budget each second: limit/2 + a random number below limit (half + prandom_u32_max(limit))
      const sec = NOW / 1000;
      if (!chStarted || sec != chSecond) {
        chStarted = true; chSecond = sec;
        chCount = ((limit + 1) >> 1) + (limit == 0 ? 0 : prfWord(chDraws++) % limit);
      }
      if (chCount == 0) return;
      chCount--;
    }
  }
  count(C_CHALLENGE_ACK);
  connSendAck(c, TH_ACK);
}

/** Bytes of ours the peer has acknowledged (Linux tp->bytes_acked: an active open counts its SYN). */
function bytesAcked(c: i32): u32 {
  const n = unchecked(cSndUna[c]) - unchecked(cIss[c]);
  return (unchecked(cFlags[c]) & CF_ACTIVE) != 0 ? n : n - 1;
}

/**
 * RFC 5961 §5.2: is SEG.ACK acceptable? If not, the segment (data included: blind data injection) is
 * dropped here with the OS's answer.
 * - Linux tcp_ack: SEG.ACK < SND.UNA - MAX.SND.WND (6.7+: the bound is at most bytes_acked) is too old:
 *   challenge ACK. An older ACK within the bound is ignored in ESTABLISHED (tcp_rcv_established goes
 *   on) but makes tcp_rcv_state_process drop the segment with a challenge ACK in the other states,
 *   until "net: tcp: accept old ack during closing" (6.9). SEG.ACK > SND.NXT: dropped; silently in
 *   ESTABLISHED (tcp_ack returns -1) until the 2026 fix "tcp: send a challenge ACK on SEG.ACK >
 *   SND.NXT", with a challenge ACK elsewhere (tcp_rcv_state_process).
 * - FreeBSD 12.1 tcp_do_segment and 4.3BSD tcp_input: SEG.ACK > SND.MAX is tcps_rcvacktoomuch and
 *   dropafterack (an ACK, no limit); there is no lower bound (FreeBSD 12.1 has no RFC 5961 §5).
 */
function ackAcceptable(c: i32, st: u8): bool {
  const una = unchecked(cSndUna[c]);
  const max = unchecked(cSndMax[c]);   // Linux snd_nxt and BSD snd_max: the highest sequence sent
  if (knob(K_FAMILY) != FAMILY_LINUX) {
    if (seqGt(segAck, max)) { count(C_RCV_ACK_TOO_MUCH); connSendAck(c, TH_ACK); return false; }
    return true;
  }
  if (seqLt(segAck, una)) {
    let bound = unchecked(cMaxSndWnd[c]);
    if (knob(K_ACK_BYTES_ACKED_BOUND) != 0) { const b = bytesAcked(c); if (b < bound) bound = b; }
    if (seqLt(segAck, una - bound)) { challengeAck(c); return false; }
    if (st == ST_ESTABLISHED || knob(K_OLD_ACK_CLOSING) != 0) return true;
    challengeAck(c);
    return false;
  }
  if (seqGt(segAck, max)) {
    if (st != ST_ESTABLISHED || knob(K_ACK_UNSENT_CHALLENGE) != 0) challengeAck(c);
    return false;
  }
  return true;
}

/**
 * TIME-WAIT (RFC 9293 §3.10.7.4: "the only thing that can arrive in this state is a retransmission
 * of the remote FIN. Acknowledge it, and restart the 2 MSL timeout"), per OS. Returns true if handled.
 * - Linux tcp_timewait_state_process: a RST at RCV.NXT kills the TIME-WAIT (tcp_rfc1337 = 0), any
 *   other RST is dropped; a bare ACK at RCV.NXT restarts the timer silently; anything else is answered
 *   with an ACK (rate-limited, TCPACKSkippedTimeWait) and, if it carries ACK, restarts the timer.
 * - FreeBSD tcp_twcheck: every RST is dropped (RFC 1337); no ACK bit: dropped; a duplicate FIN restarts
 *   2*MSL; anything but the exact bare ACK <SEQ=RCV.NXT><ACK=SND.NXT> is answered with an ACK.
 * - 4.3BSD keeps a full tcpcb in TIME_WAIT and runs the ordinary checks (below): false.
 */
function timeWaitInput(c: i32): bool {
  const fam = knob(K_FAMILY);
  if (fam == FAMILY_BSD43) return false;
  const rn = unchecked(cRcvNxt[c]);
  if (fam == FAMILY_LINUX) {
    if ((segFlags & TH_RST) != 0) { if (segSeq == rn) connFinish(c); return true; }
    if (segSeq == rn && segLen == 0 && (segFlags & (TH_SYN | TH_FIN)) == 0) {
      if ((segFlags & TH_ACK) != 0) timerSet(maxSynEntries() + c, NOW + TIME_WAIT_MS, NOW);
      return true;
    }
    if ((segFlags & TH_ACK) != 0) timerSet(maxSynEntries() + c, NOW + TIME_WAIT_MS, NOW);
    if (!oowLimitedSeg(c, C_ACK_SKIPPED_TIMEWAIT)) connSendAck(c, TH_ACK);
    return true;
  }
  if ((segFlags & TH_RST) != 0 || (segFlags & TH_ACK) == 0) return true;
  if ((segFlags & TH_FIN) != 0 && segSeq + <u32>segLen + ((segFlags & TH_SYN) != 0 ? 1 : 0) + 1 == rn)
    timerSet(maxSynEntries() + c, NOW + TIME_WAIT_MS, NOW);
  if (segFlags != TH_ACK || segLen != 0 || segSeq != rn || segAck != unchecked(cSndNxt[c])) connSendAck(c, TH_ACK);
  return true;
}

/** The peer reset the connection (RFC 9293 §3.10.7.4 second check, a RST that passed). */
function rstAccepted(c: i32, st: u8, fam: i32): void {
  if (st == ST_TIME_WAIT || st == ST_LAST_ACK || st == ST_CLOSING) { connFinish(c); return; }
  if (st == ST_SYN_RECEIVED && (unchecked(cFlags[c]) & CF_ACTIVE) != 0) {
    // an active open that went through SYN-RECEIVED: "connection refused" (RFC 9293 §3.10.7.4)
    count(C_TCP_ATTEMPT_FAILS); connKill(c, E_CONNREFUSED); return;
  }
  if (fam == FAMILY_BSD43) bsdConnDropReset(c);   // 4.3BSD tcp_drop(): a RST|ACK answers the RST
  // Linux tcp_reset: EPIPE in CLOSE-WAIT ("as BSD sees it"), ECONNRESET elsewhere
  connKill(c, fam == FAMILY_LINUX && st == ST_CLOSE_WAIT ? E_PIPE : E_CONNRESET);
}

/** RFC 9293 §3.10.7.4 for a connection that exists (queued, accepted or closing). */
export function connInput(c: i32): void {
  const st = unchecked(cState[c]);
  const fam = knob(K_FAMILY);
  if (st == ST_CLOSED) {
    // dead but not yet freed (the host still holds it): behave as CLOSED
    closedReply();
    return;
  }
  if (st == ST_SYN_SENT) { synSentInput(c); return; }
  if (st == ST_TIME_WAIT && (segFlags & (TH_SYN | TH_RST | TH_ACK)) == TH_SYN && seqGt(segSeq, unchecked(cRcvNxt[c]))) {
    // a new connection request above the old sequence space ends TIME-WAIT and goes to the listener
    // (Linux tcp_timewait_state_process TCP_TW_SYN; FreeBSD tcp_twcheck; 4.3BSD tcp_input)
    if (fam == FAMILY_LINUX) { let isn = unchecked(cSndNxt[c]) + 65535 + 2; if (isn == 0) isn = 1; setTwIss(isn); }
    else if (fam == FAMILY_BSD43) setTwIss(unchecked(cRcvNxt[c]) + 125 * 1024);   // TCP_ISSINCR
    connFree(c);
    tcpDispatch();
    return;
  }
  if (st == ST_TIME_WAIT && timeWaitInput(c)) return;
  let tsUpdate = false;
  if (optTs && (unchecked(cFlags[c]) & CF_TS) != 0) {
    // PAWS (RFC 7323 §5.3): a timestamp older than TS.Recent marks an old duplicate. Linux
    // tcp_paws_discard (window of 1 tick) sends a duplicate ACK (rate-limited, TCPACKSkippedPAWS) and
    // drops it, counted as PAWSEstab; a RST is let through to the sequence checks ("Reset is accepted
    // even if it did not pass PAWS"). FreeBSD drops it and acknowledges only if it carried data.
    if (<i32>(unchecked(cTsRecent[c]) - optTsVal) > 1 && (segFlags & TH_RST) == 0 && st != ST_SYN_RECEIVED) {
      count(C_PAWS_ESTAB);
      if (fam != FAMILY_FREEBSD || segLen > 0) dupAckLimited(c, C_ACK_SKIPPED_PAWS);
      return;
    }
    // RFC 7323 §4.3: TS.Recent follows the newest timestamp of segments at or before RCV.NXT, once
    // the segment is known to be acceptable (below)
    tsUpdate = seqLe(segSeq, unchecked(cRcvNxt[c])) && <i32>(optTsVal - unchecked(cTsRecent[c])) >= 0;
  }
  kaHeard(c);
  // first: sequence number
  if (!acceptable(c)) {
    if ((segFlags & TH_RST) != 0) {
      // Linux tcp_reset_check: after the peer's FIN, a RST at RCV.NXT - 1 still resets
      if (fam == FAMILY_LINUX && segSeq == unchecked(cRcvNxt[c]) - 1 &&
          (st == ST_CLOSE_WAIT || st == ST_LAST_ACK || st == ST_CLOSING)) rstAccepted(c, st, fam);
      return;
    }
    // a SYN outside the window: Linux tcp_validate_incoming goto syn_challenge; FreeBSD checks SYN
    // before the window (tcps_badsyn, tcp_respond); 4.3BSD trims it and sends dropafterack's ACK
    if (fam != FAMILY_BSD43 && (segFlags & TH_SYN) != 0) {
      count(fam == FAMILY_LINUX ? C_SYN_CHALLENGE : C_RCV_BADSYN);
      challengeAck(c);
      return;
    }
    dupAckLimited(c, C_ACK_SKIPPED_SEQ);
    return;
  }
  // second: RST (RFC 5961 §3.2: exact => reset, otherwise in window => challenge ACK)
  if ((segFlags & TH_RST) != 0) {
    if (segSeq == unchecked(cRcvNxt[c]) || fam == FAMILY_BSD43 ||
        (fam == FAMILY_FREEBSD && knob(K_FB_INSECURE_RST) != 0)) {   // FreeBSD net.inet.tcp.insecure_rst
      rstAccepted(c, st, fam);
    } else challengeAck(c);
    return;
  }
  // fourth: SYN in a synchronized state (RFC 5961 §4: challenge ACK; 4.3BSD: reset)
  if ((segFlags & TH_SYN) != 0) {
    if (fam == FAMILY_BSD43) { bsdConnDropReset(c); connKill(c, E_CONNRESET); bsdDropWithResetNoSocket(); } // tcp_drop + dropwithreset
    else {
      count(fam == FAMILY_LINUX ? C_SYN_CHALLENGE : C_RCV_BADSYN);   // TCPSYNChallenge / tcps_badsyn
      challengeAck(c);
    }
    return;
  }
  // BSD: ts_recent is recorded before the ACK checks (FreeBSD tcp_do_segment); Linux after them (tcp_ack)
  if (tsUpdate && fam != FAMILY_LINUX) unchecked(cTsRecent[c] = optTsVal);
  // fifth: ACK
  if ((segFlags & TH_ACK) == 0) return;
  if (st == ST_SYN_RECEIVED && (unchecked(cFlags[c]) & CF_ACTIVE) != 0) {
    // simultaneous open: the ACK of our SYN-ACK
    activeSynRcvdAck(c);
    if (unchecked(cState[c]) != ST_ESTABLISHED) return;
  }
  if (!ackAcceptable(c, unchecked(cState[c]))) return;
  if (tsUpdate && fam == FAMILY_LINUX) unchecked(cTsRecent[c] = optTsVal);
  {
    const finAcked = sendOnAck(c, segSeq, segAck, segWnd << <u32>unchecked(cSndWs[c]), optTsEcr, optTs,
      segLen == 0 && (segFlags & (TH_SYN | TH_FIN)) == 0);
    // MAX.SND.WND follows the accepted window updates (Linux tcp_ack_update_window, FreeBSD max_sndwnd)
    if (unchecked(cSndWnd[c]) > unchecked(cMaxSndWnd[c])) unchecked(cMaxSndWnd[c] = unchecked(cSndWnd[c]));
    if (finAcked) {
      // our FIN is acknowledged
      unchecked(cRetries[c] = 0);
      timerCancel(maxSynEntries() + c);
      if (st == ST_FIN_WAIT_1) { unchecked(cState[c] = ST_FIN_WAIT_2); finWait2Timer(c); }
      else if (st == ST_CLOSING) { enterTimeWait(c); return; }
      else if (st == ST_LAST_ACK) { connFinish(c); return; }
    }
  }
  const st2 = unchecked(cState[c]);
  // seventh: segment text
  let ackNow = false;
  let readable = false;
  if (segLen > 0 && (st2 == ST_ESTABLISHED || st2 == ST_FIN_WAIT_1 || st2 == ST_FIN_WAIT_2)) {
    const rn = unchecked(cRcvNxt[c]);
    if (seqGt(segSeq, rn)) {
      // out of order: hold it (recv.ts) and send a duplicate ACK at once (RFC 5681 §4.2)
      oooStore(c, segSeq, segData, segLen);
      connSendAck(c, TH_ACK);
      return;
    }
    const skip = <i32>(rn - segSeq);
    let n = segLen - skip;
    const w = <i32>rcvWindow(c);
    if (n > w) n = w;
    if (n > 0) {
      const got = rxAppend(c, segData + <usize>skip, n);
      unchecked(cRcvNxt[c] = rn + <u32>got);
      if (got > 0) readable = true;
      if (got > 0 && oooHeld(c)) oooDrain(c);   // a filled gap releases what waited behind it
    }
    // a FIN is always acknowledged at once (below); plain data may wait for the delayed-ACK timer
    ackNow = (segFlags & TH_FIN) != 0 || n <= 0 || ackNowForData(c, <i32>unchecked(cMss[c]));
  }
  // eighth: FIN, when everything before it has arrived
  if ((segFlags & TH_FIN) != 0 && segSeq + <u32>segLen == unchecked(cRcvNxt[c]) &&
      (unchecked(cFlags[c]) & CF_EOF) == 0) {
    unchecked(cRcvNxt[c] = unchecked(cRcvNxt[c]) + 1);
    unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_EOF);
    readable = true; ackNow = true;
    if (st2 == ST_ESTABLISHED) { unchecked(cState[c] = ST_CLOSE_WAIT); }
    else if (st2 == ST_FIN_WAIT_1) unchecked(cState[c] = ST_CLOSING);
    else if (st2 == ST_FIN_WAIT_2) { connSendAck(c, TH_ACK); enterTimeWait(c); afterReadable(c); return; }   // the reader learns of the EOF too
  }
  if (ackNow) connSendAck(c, TH_ACK);
  if (readable) afterReadable(c);
}

/** New data or EOF: release an accept-filter wait, or tell the host. */
function afterReadable(c: i32): void {
  const f = unchecked(cFlags[c]);
  if ((f & CF_INCOMPLETE) != 0) {
    const l = unchecked(cListener[c]);
    if (accfReady(c, unchecked(lAccf[l]))) { iqRemove(l, c); aqPush(l, c); }
    return;
  }
  if ((f & CF_USER) != 0) postEvent(EV_READABLE, <u32>c, 0);
}

function enterTimeWait(c: i32): void {
  portAccount(c, -1);
  unchecked(cState[c] = ST_TIME_WAIT);
  unchecked(cOowSet[c] = 0);   // Linux: a fresh timewait sock, tw_last_oow_ack_time = 0
  portAccount(c, 1);
  timerSet(maxSynEntries() + c, NOW + TIME_WAIT_MS, NOW);
}

/** TCP is done with the connection: free it if the host let go, else leave it CLOSED for the host. */
function connFinish(c: i32): void {
  const f = unchecked(cFlags[c]);
  unchecked(cState[c] = ST_CLOSED);
  timerCancel(maxSynEntries() + c);
  if ((f & CF_USER) == 0 || (f & CF_USER_CLOSED) != 0) {
    if ((f & CF_USER) != 0) postEvent(EV_CONN_CLOSED, <u32>c, 0);
    connFree(c);
  }
}

function closedReply(): void {
  // RFC 9293 §3.10.7.1 for a segment that reached a dead connection
  if ((segFlags & TH_RST) != 0) return;
  replyReset();
}

/** The RST a segment gets when nothing accepts it (RFC 9293 §3.10.7.1). */
export function replyReset(): void {
  if ((segFlags & TH_RST) != 0) return;   // never a RST for a RST
  optReset();
  if ((segFlags & TH_ACK) != 0) {
    tcpSend(segIfaceG(), segDstG(), segSrcG(), segDportG(), segSportG(), segAck, 0, TH_RST, 0, 0, 0);
  } else {
    let n = <u32>segLen;
    if ((segFlags & TH_SYN) != 0) n++;
    if ((segFlags & TH_FIN) != 0 && knob(K_FAMILY) != FAMILY_BSD43) n++;   // 4.3BSD dropwithreset counts only the SYN
    tcpSend(segIfaceG(), segDstG(), segSrcG(), segDportG(), segSportG(), 0, segSeq + n, TH_RST | TH_ACK, 0, 0, 0);
  }
}
import { segIface, segSrc, segDst, segSport, segDport } from './segment';
@inline function segIfaceG(): i32 { return segIface; }
@inline function segSrcG(): u32 { return segSrc; }
@inline function segDstG(): u32 { return segDst; }
@inline function segSportG(): u32 { return segSport; }
@inline function segDportG(): u32 { return segDport; }

/** The delayed-ACK timer: send the ACK that is owed, if the connection still wants one. */
export function connDelackTimer(c: i32): void {
  if ((unchecked(cFlags[c]) & CF_LIVE) == 0) return;
  const st = unchecked(cState[c]);
  if (st == ST_ESTABLISHED || st == ST_FIN_WAIT_1 || st == ST_FIN_WAIT_2 || st == ST_CLOSE_WAIT || st == ST_CLOSING || st == ST_LAST_ACK) connSendAck(c, TH_ACK);
}

/**
 * A closed socket must not wait in FIN-WAIT-2 for ever on a peer that never sends its FIN: Linux
 * tcp_fin_timeout (60 s), FreeBSD tcp_finwait2_timeout (60 s), 4.3BSD tcp_maxidle (8 x 75 s). A
 * socket only shut down for writing still belongs to the host and waits as long as it likes.
 */
function finWait2Timer(c: i32): void {
  if ((unchecked(cFlags[c]) & CF_USER_CLOSED) == 0 || unchecked(cState[c]) != ST_FIN_WAIT_2) return;
  timerSet(maxSynEntries() + c, NOW + (knob(K_FAMILY) == FAMILY_BSD43 ? 600000 : 60000), NOW);
}

export function connTimer(c: i32): void {
  const st = unchecked(cState[c]);
  if (st == ST_TIME_WAIT) { connFinish(c); return; }
  if (st == ST_FIN_WAIT_2) { connFinish(c); return; }   // finWait2Timer's deadline
  if (st == ST_SYN_SENT || (st == ST_SYN_RECEIVED && (unchecked(cFlags[c]) & CF_ACTIVE) != 0)) { connectTimer(c); return; }
  // retransmission (data and FIN) and zero-window probes: send.ts
  sendTimer(c);
}

// ---- exports for the host ----
export function connGet(c: i32, field: i32): i32 {
  if (c < 0 || c >= nC || (unchecked(cFlags[c]) & CF_LIVE) == 0) return -1;
  switch (field) {
    case 0: return <i32>unchecked(cState[c]);
    case 1: return <i32>unchecked(cRaddr[c]);
    case 2: return <i32>unchecked(cRport[c]);
    case 3: return <i32>unchecked(cLaddr[c]);
    case 4: return <i32>unchecked(cLport[c]);
    case 5: return <i32>unchecked(cErr[c]);
    case 6: return unchecked(cRxLen[c]);
    case 7: return (unchecked(cFlags[c]) & CF_EOF) != 0 ? 1 : 0;
    case 8: return unchecked(cTxLen[c]);
    case 9: return sendSpace(c);
    case 10: return <i32>ccCwnd(c);
    case 11: return <i32>(unchecked(cSrtt[c]) >> 3);
    case 12: return <i32>unchecked(cRto[c]);
    case 13: return <i32>unchecked(cSndWnd[c]);
    case 14: return effMss(c);
    case 15: return <i32>(unchecked(cSndNxt[c]) - unchecked(cSndUna[c]));
  }
  return -1;
}

/** Mark a connection as the host's (called by the host right after accept). */
function own(c: i32): void { unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_USER); }

export function connRead(c: i32, ptr: usize, max: i32): i32 {
  if (c < 0 || c >= nC || (unchecked(cFlags[c]) & CF_LIVE) == 0) return -E_INVAL;
  own(c);
  if ((unchecked(cFlags[c]) & CF_SHUT_RD) != 0 && unchecked(cRxLen[c]) == 0) return 0;
  if (unchecked(cRxLen[c]) > 0) {
    const w0 = rcvWindow(c);
    const n = rxTake(c, ptr == 0 ? scratchPtr() : ptr, max);
    // window update when reading reopened a closed window, or grew a window smaller than
    // min(buffer / 2, MSS) to at least that (receiver SWS avoidance, RFC 9293 §3.8.6.2.2)
    let thr = unchecked(cRcvBuf[c]) >> 1;
    if (thr > 1460) thr = 1460;
    const w1 = rcvWindow(c);
    const st = unchecked(cState[c]);
    if (((w0 == 0 && w1 > 0) || (w0 < thr && w1 >= thr) ||
         ackAfterRead(c, w1, unchecked(cRcvBuf[c]), <u32>unchecked(cMss[c]))) &&
        st != ST_CLOSED && st != ST_SYN_SENT && st != ST_SYN_RECEIVED) connSendAck(c, TH_ACK);
    return n;
  }
  const e = <i32>unchecked(cErr[c]);
  if (e != 0) { unchecked(cErr[c] = 0); return -e; }
  if ((unchecked(cFlags[c]) & CF_EOF) != 0 || unchecked(cState[c]) == ST_CLOSED) return 0;
  return -E_AGAIN;
}

/** close(): FIN (or RST when unread data would be lost, as Linux's tcp_close does). */
export function connClose(c: i32): i32 {
  if (c < 0 || c >= nC || (unchecked(cFlags[c]) & CF_LIVE) == 0) return -E_INVAL;
  unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_USER | CF_USER_CLOSED);
  const st = unchecked(cState[c]);
  if (st == ST_CLOSED) { connFree(c); return 0; }
  if (st == ST_SYN_SENT) { connFree(c); return 0; }   // RFC 9293 §3.10.4: delete the TCB
  if (st == ST_SYN_RECEIVED && (unchecked(cFlags[c]) & CF_ACTIVE) != 0) {
    // close() in SYN-RECEIVED (a simultaneous open; RFC 9293 §3.10.4: send a FIN, enter FIN-WAIT-1).
    // FreeBSD tcp_disconnect and 4.3BSD tcp_disconnect: t_state < ESTABLISHED => tcp_close(), the
    // TCB goes silently. Linux tcp_close: tcp_close_state maps SYN_RECV to FIN_WAIT1 and tcp_send_fin
    // sends <SEQ=ISS+1><ACK=RCV.NXT><FIN,ACK> at once. wtcp then treats the SYN as acknowledged (the
    // peer's FIN-WAIT answers acknowledge it), so a retransmission resends the FIN, not the SYN-ACK.
    if (knob(K_FAMILY) != FAMILY_LINUX) { connFree(c); return 0; }
    timerCancel(maxSynEntries() + c);
    unchecked(cSndUna[c] = unchecked(cIss[c]) + 1);
    connEstablish(c);
    queueFin(c);
    return 0;
  }
  if (st == ST_FIN_WAIT_2) { finWait2Timer(c); return 0; }   // after shutdown(SHUT_WR)
  if (st != ST_ESTABLISHED && st != ST_CLOSE_WAIT) return 0; // already closing
  if (unchecked(cRxLen[c]) > 0 && knob(K_FAMILY) == FAMILY_LINUX) {
    count(C_ABORT_ON_CLOSE);
    connSendReset(c);
    connKill(c, E_CONNRESET);
    return 0;
  }
  queueFin(c);
  return 0;
}

/** Our side is done sending: FIN after the queued data (ESTABLISHED -> FIN-WAIT-1, CLOSE-WAIT -> LAST-ACK). */
function queueFin(c: i32): void {
  const st = unchecked(cState[c]);
  countSub(C_TCP_CURR_ESTAB);
  unchecked(cState[c] = st == ST_ESTABLISHED ? ST_FIN_WAIT_1 : ST_LAST_ACK);
  unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_FIN_QUEUED);
  if (unchecked(cSndNxt[c]) == unchecked(cSndUna[c])) unchecked(cRetries[c] = 0);
  sendOutput(c);
}

@inline function connValid(c: i32): bool { return c >= 0 && c < nC && (unchecked(cFlags[c]) & CF_LIVE) != 0; }

/**
 * shutdown(how): 0 SHUT_RD (later reads give end of stream), 1 SHUT_WR (FIN after the queued data;
 * the other direction keeps working), 2 both. -ENOTCONN before the handshake completes or after
 * the connection is gone, -EINVAL for a bad `how`.
 */
export function connShutdown(c: i32, how: i32): i32 {
  if (!connValid(c) || how < 0 || how > 2) return -E_INVAL;
  const st = unchecked(cState[c]);
  if (st == ST_SYN_SENT || st == ST_SYN_RECEIVED || st == ST_CLOSED) return -E_NOTCONN;
  if (how != 1) unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_SHUT_RD);
  if (how != 0 && (st == ST_ESTABLISHED || st == ST_CLOSE_WAIT) && (unchecked(cFlags[c]) & CF_FIN_QUEUED) == 0) queueFin(c);
  return 0;
}

/**
 * send(): bytes taken into the send buffer (0 when it is full, or while the handshake is still
 * running: like Linux's non-blocking send in SYN-SENT, which gives EAGAIN; EV_CONNECTED then means
 * writable). EV_WRITABLE follows a short write once space frees. -EPIPE after shutdown(SHUT_WR) or
 * close, a pending error (ECONNRESET, ETIMEDOUT) once, then -EPIPE. `ptr` 0 = the scratch area.
 */
export function connWrite(c: i32, ptr: usize, len: i32): i32 {
  if (!connValid(c) || len < 0) return -E_INVAL;
  const p = ptr == 0 ? scratchPtr() : ptr;
  if (ptr == 0 && len > scratchCap()) return -E_INVAL;
  if (<u64>p + <u64>len > (<u64>memory.size() << 16)) return -E_INVAL;
  own(c);
  const e = <i32>unchecked(cErr[c]);
  if (e != 0) { unchecked(cErr[c] = 0); return -e; }
  const st = unchecked(cState[c]);
  if ((unchecked(cFlags[c]) & CF_FIN_QUEUED) != 0 || st == ST_CLOSED || st == ST_TIME_WAIT) return -E_PIPE;
  if (st == ST_SYN_SENT || st == ST_SYN_RECEIVED) { unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_WR_BLOCKED); return 0; }
  if (st != ST_ESTABLISHED && st != ST_CLOSE_WAIT) return -E_PIPE;
  if (len == 0) return 0;
  return sendWrite(c, p, len);
}

/**
 * Socket options: 1 TCP_NODELAY, 2 SO_KEEPALIVE, 3 TCP_KEEPIDLE (s), 4 TCP_KEEPINTVL (s),
 * 5 TCP_KEEPCNT, 6 SO_SNDBUF (bytes), 7 SO_RCVBUF (bytes), 9 TCP_CONGESTION (0 NewReno, 1 CUBIC);
 * -EINVAL for a value out of range, -ENOPROTOOPT for others (SO_LINGER is not implemented yet).
 */
export function connSetOpt(c: i32, opt: i32, value: i32): i32 {
  if (!connValid(c)) return -E_INVAL;
  switch (opt) {
    case 2: kaSet(c, value != 0); return 0;
    case 3: case 4: case 5: return kaSetOpt(c, opt, value) ? 0 : -E_INVAL;
    case 1: {
      const f = unchecked(cFlags[c]);
      unchecked(cFlags[c] = value != 0 ? f | CF_NODELAY : f & ~CF_NODELAY);
      if (value != 0) sendOutput(c);   // Linux: setting TCP_NODELAY pushes what Nagle held back
      return 0;
    }
    case 6: {
      let v = value < 2048 ? 2048 : value;
      if (v > 4 << 20) v = 4 << 20;
      unchecked(cSndBuf[c] = v);
      unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_SNDBUF_LOCK);   // no automatic sizing from now on
      return 0;
    }
    case 7: {
      let v = value < 2048 ? 2048 : value;
      if (v > 4 << 20) v = 4 << 20;
      // never shrink below what is already advertised (RFC 9293 §3.8.6.2.2: no window shrinking)
      if (<u32>v < <u32>unchecked(cRxLen[c]) + rcvWindow(c)) v = <i32>(<u32>unchecked(cRxLen[c]) + rcvWindow(c));
      unchecked(cRcvBuf[c] = <u32>v);
      return 0;
    }
    case 9: return ccSetAlgo(c, value) ? 0 : -E_INVAL;   // TCP_CONGESTION (cc.ts)
    case 10: connectSetSynCnt(c, value); return 0;        // TCP_SYNCNT of an active open (connect.ts)
  }
  return -E_NOPROTOOPT;
}

export function connGetOpt(c: i32, opt: i32): i32 {
  if (!connValid(c)) return -E_INVAL;
  switch (opt) {
    case 1: return (unchecked(cFlags[c]) & CF_NODELAY) != 0 ? 1 : 0;
    case 2: case 3: case 4: case 5: return kaGetOpt(c, opt);
    case 6: return unchecked(cSndBuf[c]);
    case 7: return <i32>unchecked(cRcvBuf[c]);
    case 9: return ccAlgo(c);
  }
  return -E_NOPROTOOPT;
}

export function connAbort(c: i32): i32 {
  if (c < 0 || c >= nC || (unchecked(cFlags[c]) & CF_LIVE) == 0) return -E_INVAL;
  const st = unchecked(cState[c]);
  if (st != ST_CLOSED && st != ST_TIME_WAIT) connSendReset(c);
  if (st == ST_ESTABLISHED || st == ST_CLOSE_WAIT) countSub(C_TCP_CURR_ESTAB);
  unchecked(cState[c] = ST_CLOSED);
  connFree(c);
  return 0;
}
