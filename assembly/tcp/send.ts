// The sending half of an established connection: the send buffer (chunks from the shared pool,
// held only while data is queued or unacknowledged), segmentation at the effective MSS within
// min(SND.WND, cwnd), Nagle, ACK processing that frees acknowledged bytes, RTT measurement and the
// retransmission timer (RFC 6298 with Karn's rule), go-back-N retransmission, zero-window probes and
// the FIN after the queued data. Called by conn.ts (segment arrival, close, timers), connect.ts and
// the host's connWrite/connShutdown/connSetOpt exports. Congestion control decisions live in cc.ts.
//
// Sequence space of the send buffer: byte i of the buffer (0 = oldest) has sequence SND.UNA + i.
// SND.MAX is the highest sequence ever sent: after a timeout SND.NXT goes back to SND.UNA and the
// segments up to SND.MAX are retransmissions (not timed, Karn's rule; counted in TcpRetransSegs).
//
// With SACK negotiated and SACKed data on the scoreboard (sack.ts), loss recovery is RFC 6675's:
// entered on the third duplicate ACK (or IsLost(HighACK)), cwnd set by cc.ts, then NextSeg() picks
// holes, new data or a rescue segment while cwnd - pipe >= 1 SMSS; SND.NXT stays at SND.MAX. An RTO
// with SACKed data retransmits only the holes (RFC 6675 §5.1: the scoreboard is kept). Without SACK,
// NewReno fast recovery and go-back-N after an RTO, as before.
import { NOW, knob, count, postEvent, outputRoom } from '../stack';
import {
  K_FAMILY, FAMILY_LINUX, FAMILY_FREEBSD, FAMILY_BSD43,
  C_TCP_RETRANS_SEGS, C_TCP_TIMEOUTS, C_NO_MEMORY, EV_WRITABLE, E_TIMEDOUT,
  C_TCP_RENO_RECOVERY, C_TCP_SACK_RECOVERY, C_TCP_FAST_RETRANS, C_TCP_SLOW_START_RETRANS,
} from '../abi';
import { seqLt, seqLe, seqGt, seqGe } from './seq';
import { timerSet, timerCancel, timerArmed } from './timer';
import { maxSynEntries } from './synq';
import { optReset, optNop, optTsW, tcpSend, tcpBegin, tcpEnd } from './output';
import { TH_ACK, TH_PUSH, TH_FIN } from './segment';
import {
  cState, cFlags, cIface, cLaddr, cRaddr, cLport, cRport, cSndUna, cSndNxt, cSndWnd, cRcvNxt,
  cTsRecent, cMss, cRcvWs, cRetries, tsNow, connRcvWindow, connSendAck, connSendReset, connKill, connFree,
  chunkTakeForSend, chunkGive, chunkNextOf, chunkSetNext, chunkLenOf, chunkSetLen, chunkPtr, CHUNK,
  CF_TS, CF_SACK, CF_FIN_SENT, CF_LIVE, CF_USER_CLOSED,
  ST_ESTABLISHED, ST_CLOSE_WAIT, ST_FIN_WAIT_1, ST_CLOSING, ST_LAST_ACK,
} from './conn';
import { ackSent, oooHeld, sackOptions } from './recv';
import {
  ccInit, ccReset, ccOnStart, ccOnAck, ccOnTimeout, ccOnDupAck, cCwnd, ccRecover, ccMayRecover, ccAfterRto,
  ccCountDupAck, ccDupThresh, ccEnterSackRecovery, ccSsthresh, ccCubicWmax, ccCubicK, ccInRecovery,
} from './cc';
import {
  sbInit, sbRelease, sbActive, sbInRecovery, sbRanges, sbUpdate, sbAdvance, sbStartRecovery, sbEndRecovery,
  sbIsLost, sbPipe, sbNextSeg, sbSent, sbSkip, sbRoomBefore, sbHolds, nsSeq, nsLen, NS_NONE, NS_NEW, NS_LOST,
} from './sack';
import { optSackN } from './segment';

// flags kept in cFlags (bits above conn.ts's)
@inline export const CF_ACTIVE: u32 = 0x2000;      // opened by connConnect
@inline export const CF_FIN_QUEUED: u32 = 0x4000;  // shutdown(SHUT_WR) or close(): FIN after the data
@inline export const CF_NODELAY: u32 = 0x8000;     // TCP_NODELAY: no Nagle
@inline export const CF_SHUT_RD: u32 = 0x10000;    // shutdown(SHUT_RD)
@inline export const CF_WR_BLOCKED: u32 = 0x20000; // a write was cut short: post EV_WRITABLE when space frees
@inline export const CF_RTT: u32 = 0x40000;        // one segment is being timed (no timestamps)
@inline export const CF_PERSIST: u32 = 0x80000;    // the connection timer is the persist (probe) timer

@inline export const CF_SNDBUF_LOCK: u32 = 0x2000000; // SO_SNDBUF was set: no automatic sizing (Linux SOCK_SNDBUF_LOCK)
@inline const CF_OUT_BLOCKED: u32 = 0x4000000;  // stopped because the output area was full: on the resume list

// Connections that stopped sending because the output area (the transmit ring) was full. The host
// drains the area and calls outputResume(), which lets them go on: a burst larger than the area
// waits instead of being dropped and retransmitted. A full list falls back to losing the frames.
@inline const RESUME_CAP: i32 = 4096;
const resumeList = new StaticArray<i32>(RESUME_CAP);
let resumeN: i32 = 0;

/** Room for one more full segment of `c` in the output area; if not, put `c` on the resume list. */
function outputFits(c: i32, mss: i32): bool {
  if (outputRoom() >= mss + 128) return true;
  const f = unchecked(cFlags[c]);
  if ((f & CF_OUT_BLOCKED) != 0) return false;
  if (resumeN >= RESUME_CAP) return true;   // list full: send and let the area drop it (counted)
  unchecked(cFlags[c] = f | CF_OUT_BLOCKED);
  unchecked(resumeList[resumeN++] = c);
  return false;
}

/** Connections waiting for room in the output area. */
export function outputBlocked(): i32 { return resumeN; }

/** After the host drained the output area: let the connections that stopped go on (in order). */
export function outputResume(): void {
  const n = resumeN;
  resumeN = 0;
  for (let i = 0; i < n; i++) {
    const c = unchecked(resumeList[i]);
    const f = unchecked(cFlags[c]);
    if ((f & CF_OUT_BLOCKED) == 0) continue;
    unchecked(cFlags[c] = f & ~CF_OUT_BLOCKED);
    if ((f & CF_LIVE) != 0) sendOutput(c);
  }
}

/** Linux tcp_wmem[1]: the default send buffer (SO_SNDBUF may change it per socket). */
@inline export const SNDBUF_DEFAULT: i32 = 16384;
@inline const SNDBUF_FREEBSD: i32 = 32768;        // net.inet.tcp.sendspace
@inline const SNDBUF_BSD43: i32 = 4096;           // tcp_sendspace (tcp_usrreq.c)
@inline const SNDBUF_MAX: i32 = 4 * 1024 * 1024;  // Linux tcp_wmem[2]
@inline const SNDBUF_MAX_FREEBSD: i32 = 2 * 1024 * 1024;  // net.inet.tcp.sendbuf_max
@inline const RTO_INIT: u32 = 1000;       // RFC 6298 §2.1 (Linux TCP_TIMEOUT_INIT)
@inline const RTO_MAX: u32 = 120000;      // Linux TCP_RTO_MAX; FreeBSD TCPTV_REXMTMAX is 64 s
@inline const RETRIES2: u8 = 15;          // Linux tcp_retries2 / FreeBSD TCP_MAXRXTSHIFT + 3 (close enough)
@inline const ORPHAN_RETRIES: u8 = 8;     // Linux tcp_orphan_retries 0 => 8 for a closed socket

let nS: i32 = 0;
export let cTxHead: StaticArray<i32> = new StaticArray<i32>(0);
let cTxTail: StaticArray<i32> = new StaticArray<i32>(0);
let cTxOff: StaticArray<u16> = new StaticArray<u16>(0);    // offset of SND.UNA's byte in the head chunk
export let cTxLen: StaticArray<i32> = new StaticArray<i32>(0);    // bytes queued (unacked + unsent)
export let cSndBuf: StaticArray<i32> = new StaticArray<i32>(0);   // send buffer limit (SO_SNDBUF)
export let cSndMax: StaticArray<u32> = new StaticArray<u32>(0);
export let cSndWl1: StaticArray<u32> = new StaticArray<u32>(0);
export let cSndWl2: StaticArray<u32> = new StaticArray<u32>(0);
export let cSrtt: StaticArray<u32> = new StaticArray<u32>(0);     // ms << 3, 0 = no sample yet
let cRttvar: StaticArray<u32> = new StaticArray<u32>(0);          // ms << 2
export let cRto: StaticArray<u32> = new StaticArray<u32>(0);      // ms
let cRttSeq: StaticArray<u32> = new StaticArray<u32>(0);
let cRttTime: StaticArray<u32> = new StaticArray<u32>(0);
// where txCopy last stopped: a chunk of the send buffer (-1: none) and the sequence number of its
// first byte, so that each segment does not walk the buffer's chunk list from SND.UNA again
let cTxCurK: StaticArray<i32> = new StaticArray<i32>(0);
let cTxCurSeq: StaticArray<u32> = new StaticArray<u32>(0);

export function sendInit(n: i32): void {
  nS = n;
  cTxHead = new StaticArray<i32>(n); cTxTail = new StaticArray<i32>(n); cTxOff = new StaticArray<u16>(n);
  cTxLen = new StaticArray<i32>(n); cSndBuf = new StaticArray<i32>(n); cSndMax = new StaticArray<u32>(n);
  cSndWl1 = new StaticArray<u32>(n); cSndWl2 = new StaticArray<u32>(n);
  cSrtt = new StaticArray<u32>(n); cRttvar = new StaticArray<u32>(n); cRto = new StaticArray<u32>(n);
  cRttSeq = new StaticArray<u32>(n); cRttTime = new StaticArray<u32>(n);
  cTxCurK = new StaticArray<i32>(n); cTxCurSeq = new StaticArray<u32>(n);
  for (let i = 0; i < n; i++) { unchecked(cTxHead[i] = -1); unchecked(cTxTail[i] = -1); unchecked(cTxCurK[i] = -1); }
  ccInit(n);
  sbInit(n);
}

/** Fresh sending state for a new connection record (called by connAlloc). */
export function sendReset(c: i32): void {
  txFree(c);
  ccReset(c);
  const fam = knob(K_FAMILY);
  unchecked(cSndBuf[c] = fam == FAMILY_LINUX ? SNDBUF_DEFAULT : fam == FAMILY_FREEBSD ? SNDBUF_FREEBSD : SNDBUF_BSD43);
  unchecked(cSrtt[c] = 0); unchecked(cRttvar[c] = 0); unchecked(cRto[c] = RTO_INIT);
  unchecked(cSndWl1[c] = 0); unchecked(cSndWl2[c] = 0); unchecked(cSndMax[c] = 0);
}

/** SND.MAX and the window-update marks once SND.NXT is known (handshake done). */
export function sendStart(c: i32, wl1: u32, wl2: u32): void {
  unchecked(cSndMax[c] = unchecked(cSndNxt[c]));
  unchecked(cSndWl1[c] = wl1); unchecked(cSndWl2[c] = wl2);
  ccStartConn(c);
}
function ccStartConn(c: i32): void { ccOnStart(c, effMss(c)); }

// ---- the buffer ----
export function txFree(c: i32): void {
  let k = unchecked(cTxHead[c]);
  while (k >= 0) { const nx = chunkNextOf(k); chunkGive(k); k = nx; }
  unchecked(cTxHead[c] = -1); unchecked(cTxTail[c] = -1); unchecked(cTxOff[c] = 0); unchecked(cTxLen[c] = 0);
  unchecked(cTxCurK[c] = -1);
  sbRelease(c);
}

/**
 * Room left in the send buffer. Unless SO_SNDBUF fixed its size, the buffer grows with the
 * connection, as both OSes size it automatically: Linux tcp_sndbuf_expand() makes room for two
 * congestion windows of segments, up to tcp_wmem[2]; FreeBSD's sendbuf_auto grows it while the send
 * window keeps up with what is queued, up to sendbuf_max. Modelled (in payload bytes) as twice the
 * usable window, never shrinking. 4.3BSD's buffer is fixed.
 */
export function sendSpace(c: i32): i32 {
  if ((unchecked(cFlags[c]) & CF_SNDBUF_LOCK) == 0) {
    const fam = knob(K_FAMILY);
    if (fam != FAMILY_BSD43) {
      let w = <u64>unchecked(cCwnd[c]);
      if (fam == FAMILY_FREEBSD && <u64>unchecked(cSndWnd[c]) < w) w = <u64>unchecked(cSndWnd[c]);
      const cap = <u64>(fam == FAMILY_LINUX ? SNDBUF_MAX : SNDBUF_MAX_FREEBSD);
      let auto = w << 1;
      if (auto > cap) auto = cap;
      if (<i32>auto > unchecked(cSndBuf[c])) unchecked(cSndBuf[c] = <i32>auto);
    }
  }
  const s = unchecked(cSndBuf[c]) - unchecked(cTxLen[c]);
  return s > 0 ? s : 0;
}

function txAppend(c: i32, p: usize, len: i32): i32 {
  let done = 0;
  while (done < len) {
    let t = unchecked(cTxTail[c]);
    if (t < 0 || chunkLenOf(t) == CHUNK) {
      const k = chunkTakeForSend();
      if (k < 0) { count(C_NO_MEMORY); break; }
      if (t >= 0) chunkSetNext(t, k); else { unchecked(cTxHead[c] = k); unchecked(cTxOff[c] = 0); }
      unchecked(cTxTail[c] = k);
      t = k;
    }
    const used = chunkLenOf(t);
    let n = CHUNK - used;
    if (n > len - done) n = len - done;
    memory.copy(chunkPtr(t) + <usize>used, p + <usize>done, n);
    chunkSetLen(t, used + n);
    done += n;
  }
  unchecked(cTxLen[c] = unchecked(cTxLen[c]) + done);
  return done;
}

/**
 * Copy `n` bytes starting `off` bytes after SND.UNA into dst. The walk to the first chunk starts at
 * the chunk where the previous copy stopped when that is not beyond the start (segments go out in
 * order), else at the head, so sending a window of W bytes walks its chunks once, not W/MSS times.
 */
function txCopy(c: i32, off: i32, dst: usize, n: i32): void {
  const una = unchecked(cSndUna[c]);
  const want = una + <u32>off;
  let k = unchecked(cTxHead[c]);
  let kseq = una - <u32>unchecked(cTxOff[c]);   // sequence number of the head chunk's first byte
  const ck = unchecked(cTxCurK[c]);
  if (ck >= 0 && seqLe(unchecked(cTxCurSeq[c]), want) && seqLe(kseq, unchecked(cTxCurSeq[c]))) { k = ck; kseq = unchecked(cTxCurSeq[c]); }
  let o = <i32>(want - kseq);
  while (k >= 0 && o >= chunkLenOf(k)) { o -= chunkLenOf(k); kseq += <u32>chunkLenOf(k); k = chunkNextOf(k); }
  if (k >= 0) { unchecked(cTxCurK[c] = k); unchecked(cTxCurSeq[c] = kseq); }
  let done = 0;
  while (k >= 0 && done < n) {
    let a = chunkLenOf(k) - o;
    if (a > n - done) a = n - done;
    memory.copy(dst + <usize>done, chunkPtr(k) + <usize>o, a);
    done += a; o = 0; k = chunkNextOf(k);
  }
}

/** Drop `n` acknowledged bytes from the front, returning emptied chunks to the pool. */
function txDrop(c: i32, n: i32): void {
  let left = n;
  while (left > 0) {
    const k = unchecked(cTxHead[c]);
    if (k < 0) break;
    const off = <i32>unchecked(cTxOff[c]);
    const a = chunkLenOf(k) - off;
    if (left >= a) {
      left -= a;
      const nx = chunkNextOf(k);
      if (k == unchecked(cTxCurK[c])) unchecked(cTxCurK[c] = -1);
      chunkGive(k);
      unchecked(cTxHead[c] = nx); unchecked(cTxOff[c] = 0);
      if (nx < 0) unchecked(cTxTail[c] = -1);
    } else { unchecked(cTxOff[c] = <u16>(off + left)); left = 0; }
  }
  unchecked(cTxLen[c] = unchecked(cTxLen[c]) - (n - left));
}

// ---- the host's write ----
/** Queue bytes; returns how many were taken (0 when the buffer is full). */
export function sendWrite(c: i32, p: usize, len: i32): i32 {
  let n = sendSpace(c);
  if (n > len) n = len;
  const got = n > 0 ? txAppend(c, p, n) : 0;
  if (got < len) unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_WR_BLOCKED);
  if (got > 0) sendOutput(c);
  return got;
}

// ---- segmentation ----
/** MSS for data: the negotiated MSS less the timestamp option (RFC 9293 §3.7.1, RFC 7323 §3). */
export function effMss(c: i32): i32 {
  let m = <i32>unchecked(cMss[c]);
  if (m <= 0) m = 536;
  if ((unchecked(cFlags[c]) & CF_TS) != 0) m -= 12;
  return m;
}

@inline function canSend(st: u8): bool {
  return st == ST_ESTABLISHED || st == ST_CLOSE_WAIT || st == ST_FIN_WAIT_1 || st == ST_CLOSING || st == ST_LAST_ACK;
}
@inline function connTimerId(c: i32): i32 { return maxSynEntries() + c; }

function sendSegment(c: i32, seq: u32, flags: u32, data: usize, len: i32): void {
  optReset();
  if ((unchecked(cFlags[c]) & CF_TS) != 0) { optNop(); optNop(); optTsW(tsNow(c), unchecked(cTsRecent[c])); }
  if ((unchecked(cFlags[c]) & CF_SACK) != 0 && oooHeld(c)) sackOptions(c);
  tcpSend(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), unchecked(cRaddr[c]),
    <u32>unchecked(cLport[c]), <u32>unchecked(cRport[c]),
    seq, unchecked(cRcvNxt[c]), flags, connRcvWindow(c) >> <u32>unchecked(cRcvWs[c]), data, len);
  ackSent(c);
}

/** sendSegment with `n` bytes of the send buffer from `off` bytes after SND.UNA, copied straight into the frame. */
function sendSegmentTx(c: i32, seq: u32, flags: u32, off: i32, n: i32): void {
  optReset();
  if ((unchecked(cFlags[c]) & CF_TS) != 0) { optNop(); optNop(); optTsW(tsNow(c), unchecked(cTsRecent[c])); }
  if ((unchecked(cFlags[c]) & CF_SACK) != 0 && oooHeld(c)) sackOptions(c);
  const q = tcpBegin(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), unchecked(cRaddr[c]),
    <u32>unchecked(cLport[c]), <u32>unchecked(cRport[c]),
    seq, unchecked(cRcvNxt[c]), flags, connRcvWindow(c) >> <u32>unchecked(cRcvWs[c]), n);
  if (q != 0) { txCopy(c, off, q, n); tcpEnd(); }
  ackSent(c);
}

/** Send what the windows allow: data segments, then the FIN once all data is out. */
export function sendOutput(c: i32): void {
  const st = unchecked(cState[c]);
  if (!canSend(st)) return;
  const sent = sbInRecovery(c) ? sackOutput(c) : windowOutput(c);
  armTimer(c, sent);
}

/** Outside SACK recovery: everything from SND.NXT that min(SND.WND, cwnd) allows, Nagle, the FIN. */
function windowOutput(c: i32): bool {
  const mss = effMss(c);
  let sent = false;
  for (let guard = 0; guard < 4096; guard++) {
    const f = unchecked(cFlags[c]);
    if ((f & CF_FIN_SENT) != 0) break;
    if (!outputFits(c, mss)) break;   // the transmit area is full: go on once the host drained it
    const una = unchecked(cSndUna[c]);
    let nxt = unchecked(cSndNxt[c]);
    const txLen = unchecked(cTxLen[c]);
    let room = 0x7FFFFFFF;
    if (seqLt(nxt, unchecked(cSndMax[c])) && sbActive(c)) {
      // going back after an RTO with SACKed data: skip what the peer holds (RFC 6675 §5.1)
      let j = sbSkip(c, nxt);
      if (seqGt(j, una + <u32>txLen)) j = una + <u32>txLen;
      if (j != nxt) { unchecked(cSndNxt[c] = j); nxt = j; }
      room = sbRoomBefore(c, nxt);
    }
    const off = <i32>(nxt - una);
    const avail = txLen - off;
    if (avail <= 0) {
      if ((f & CF_FIN_QUEUED) != 0) {
        sendSegment(c, nxt, TH_FIN | TH_ACK, 0, 0);
        if (seqLt(nxt, unchecked(cSndMax[c]))) count(C_TCP_RETRANS_SEGS);
        unchecked(cSndNxt[c] = nxt + 1);
        if (seqGt(nxt + 1, unchecked(cSndMax[c]))) unchecked(cSndMax[c] = nxt + 1);
        unchecked(cFlags[c] = f | CF_FIN_SENT);
        sent = true;
      }
      break;
    }
    let win = unchecked(cSndWnd[c]);
    const cw = unchecked(cCwnd[c]);
    if (cw < win) win = cw;
    const usable = <i32>(una + win - nxt);
    let n = avail < mss ? avail : mss;
    if (room < n) n = room;
    if (usable < n) {
      // window-limited: a segment smaller than the data needs nothing in flight (sender SWS avoidance,
      // RFC 9293 §3.8.6.2.1), and a zero window is left to the persist timer
      if (usable <= 0 || nxt != una) break;
      n = usable;
    } else if (n < mss && nxt != una && (f & (CF_NODELAY | CF_FIN_QUEUED)) == 0) {
      break;   // Nagle (RFC 9293 §3.7.4): a small segment waits while data is unacknowledged
    }
    const retrans = seqLt(nxt, unchecked(cSndMax[c]));
    sendSegmentTx(c, nxt, TH_ACK | (off + n == txLen ? TH_PUSH : 0), off, n);
    if (retrans) { count(C_TCP_RETRANS_SEGS); if (ccAfterRto(c)) count(C_TCP_SLOW_START_RETRANS); }
    else if ((f & (CF_RTT | CF_TS)) == 0) {
      unchecked(cRttSeq[c] = nxt); unchecked(cRttTime[c] = NOW);
      unchecked(cFlags[c] = f | CF_RTT);
    }
    unchecked(cSndNxt[c] = nxt + <u32>n);
    if (seqGt(nxt + <u32>n, unchecked(cSndMax[c]))) unchecked(cSndMax[c] = nxt + <u32>n);
    sent = true;
  }
  return sent;
}

/**
 * RFC 6675 §5 steps (4.4)-(4.5) and (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() names.
 * Also the loss state after an RTO with SACKed data (§5.1), where every unSACKed byte is lost.
 */
function sackOutput(c: i32): bool {
  const mss = effMss(c);
  const una = unchecked(cSndUna[c]);
  let pipe = sbPipe(c, una, unchecked(cSndMax[c]), mss);
  const cw = unchecked(cCwnd[c]);
  let sent = false;
  for (let guard = 0; guard < 4096; guard++) {
    if (<u64>pipe + <u64>mss > <u64>cw) break;
    if (!outputFits(c, mss)) break;
    const f = unchecked(cFlags[c]);
    const nxt = unchecked(cSndNxt[c]), max = unchecked(cSndMax[c]);
    const avail = unchecked(cTxLen[c]) - <i32>(nxt - una);
    let newOk = false;
    if (nxt == max) {
      if (avail > 0) newOk = <i32>(una + unchecked(cSndWnd[c]) - nxt) >= (avail < mss ? avail : mss);
      else newOk = (f & (CF_FIN_QUEUED | CF_FIN_SENT)) == CF_FIN_QUEUED;
    }
    const kind = sbNextSeg(c, una, max, mss, newOk);
    if (kind == NS_NONE) break;
    if (kind == NS_NEW) {
      const k = sendNewOne(c, mss);
      if (k <= 0) break;
      pipe += <u32>k; sent = true;
      continue;
    }
    const seq = nsSeq, len = nsLen;
    const k = sendRange(c, seq, len);
    if (k <= 0) break;
    sbSent(c, kind, seq, len, ccRecover(c));
    count(ccAfterRto(c) ? C_TCP_SLOW_START_RETRANS : C_TCP_FAST_RETRANS);
    pipe += <u32>k; sent = true;
  }
  return sent;
}

/** One segment of new data at SND.NXT (= SND.MAX) within the peer's window, or the FIN. Returns sequence space used. */
function sendNewOne(c: i32, mss: i32): i32 {
  const f = unchecked(cFlags[c]);
  const una = unchecked(cSndUna[c]), nxt = unchecked(cSndNxt[c]);
  const off = <i32>(nxt - una);
  const txLen = unchecked(cTxLen[c]);
  const avail = txLen - off;
  if (avail <= 0) {
    if ((f & (CF_FIN_QUEUED | CF_FIN_SENT)) != CF_FIN_QUEUED) return 0;
    sendSegment(c, nxt, TH_FIN | TH_ACK, 0, 0);
    unchecked(cSndNxt[c] = nxt + 1); unchecked(cSndMax[c] = nxt + 1);
    unchecked(cFlags[c] = f | CF_FIN_SENT);
    return 1;
  }
  let n = avail < mss ? avail : mss;
  const usable = <i32>(una + unchecked(cSndWnd[c]) - nxt);
  if (usable < n) n = usable;
  if (n <= 0) return 0;
  sendSegmentTx(c, nxt, TH_ACK | (off + n == txLen ? TH_PUSH : 0), off, n);
  if ((f & (CF_RTT | CF_TS)) == 0) {
    unchecked(cRttSeq[c] = nxt); unchecked(cRttTime[c] = NOW);
    unchecked(cFlags[c] = f | CF_RTT);
  }
  unchecked(cSndNxt[c] = nxt + <u32>n);
  if (seqGt(nxt + <u32>n, unchecked(cSndMax[c]))) unchecked(cSndMax[c] = nxt + <u32>n);
  return n;
}

/**
 * Retransmit [seq, seq + len) without moving SND.NXT (the FIN too, when the range reaches it).
 * Returns the sequence space sent, 0 if nothing could be.
 */
function sendRange(c: i32, seq: u32, len: i32): i32 {
  const f = unchecked(cFlags[c]);
  const off = <i32>(seq - unchecked(cSndUna[c]));
  const txLen = unchecked(cTxLen[c]);
  if (off < 0 || len <= 0) return 0;
  let n = len;
  if (off + n > txLen) n = txLen - off;
  if (n < 0) n = 0;
  let flags = TH_ACK;
  let used = n;
  if ((f & CF_FIN_SENT) != 0 && off + n == txLen && off + len > txLen) { flags |= TH_FIN; used++; }
  if (used == 0) return 0;
  if (n > 0) { if (off + n == txLen) flags |= TH_PUSH; sendSegmentTx(c, seq, flags, off, n); }
  else sendSegment(c, seq, flags, 0, 0);
  count(C_TCP_RETRANS_SEGS);
  unchecked(cFlags[c] = unchecked(cFlags[c]) & ~CF_RTT);   // Karn: nothing in flight is timed any more
  return used;
}

function armTimer(c: i32, sent: bool): void {
  const id = connTimerId(c);
  const f2 = unchecked(cFlags[c]);
  if (unchecked(cSndNxt[c]) != unchecked(cSndUna[c])) {
    // something in flight: the retransmission timer runs (RFC 6298 §5.1)
    if (sent && (!timerArmed(id) || (f2 & CF_PERSIST) != 0)) {
      unchecked(cFlags[c] = f2 & ~CF_PERSIST);
      timerSet(id, NOW + unchecked(cRto[c]), NOW);
    }
  } else if (unchecked(cTxLen[c]) > 0 && unchecked(cSndWnd[c]) == 0 && !timerArmed(id)) {
    // data waits on a zero window: the persist timer (RFC 9293 §3.8.6.1)
    unchecked(cRetries[c] = 0);
    unchecked(cFlags[c] = f2 | CF_PERSIST);
    timerSet(id, NOW + unchecked(cRto[c]), NOW);
  }
}

// ---- acknowledgements ----
/** RFC 6298 §2.2/2.3: fold one RTT sample (ms) into SRTT/RTTVAR and recompute RTO. */
function rttSample(c: i32, r0: u32): void {
  let r = r0; if (r == 0) r = 1;
  let srtt = unchecked(cSrtt[c]), var_ = unchecked(cRttvar[c]);
  if (srtt == 0) { srtt = r << 3; var_ = r << 1; }   // SRTT = R, RTTVAR = R/2
  else {
    const s = srtt >> 3;
    const d = s > r ? s - r : r - s;
    var_ = var_ - (var_ >> 2) + d;            // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|   (var_ is ms << 2)
    srtt = srtt - (srtt >> 3) + r;            // SRTT = 7/8 SRTT + 1/8 R               (srtt is ms << 3)
  }
  unchecked(cSrtt[c] = srtt); unchecked(cRttvar[c] = var_);
  let rto = (srtt >> 3) + (var_ > 0 ? var_ : 1);   // SRTT + max(G, 4 * RTTVAR), G = 1 ms
  const min = rtoMin();
  if (rto < min) rto = min;
  if (rto > RTO_MAX) rto = RTO_MAX;
  unchecked(cRto[c] = rto);
}

/**
 * RFC 6298 §2.4's 1-second floor is what each OS relaxes: Linux TCP_RTO_MIN 200 ms, FreeBSD
 * net.inet.tcp.rexmit_min 30 ms, 4.3BSD TCPTV_MIN 2 ticks of 500 ms = 1 s.
 */
function rtoMin(): u32 {
  const fam = knob(K_FAMILY);
  return fam == FAMILY_LINUX ? 200 : fam == FAMILY_FREEBSD ? 30 : 1000;
}

/** A handshake's RTT (SYN sent at `t0`, never retransmitted: Karn). */
export function sendHandshakeRtt(c: i32, t0: u32): void { rttSample(c, NOW - t0); }

/**
 * The fifth check of RFC 9293 §3.10.7.4 for data: an ACK that is acceptable (SND.UNA < ACK <= SND.MAX)
 * frees acknowledged bytes, takes an RTT sample, updates the window (SND.WL1/WL2) and sends more.
 * Returns true when the FIN we sent is acknowledged.
 */
export function sendOnAck(c: i32, seq: u32, ack: u32, wnd: u32, tsEcr: u32, hasTs: bool, pure: bool): bool {
  const una = unchecked(cSndUna[c]);
  let finAcked = false;
  if (seqLt(ack, una)) return false;   // an old duplicate: ignored (RFC 9293 §3.10.7.4)
  // RFC 6675 Update(): the SACK blocks of this ACK onto the scoreboard (segment.ts parsed them)
  let newSack = 0;
  if ((unchecked(cFlags[c]) & CF_SACK) != 0 && optSackN > 0) newSack = sbUpdate(c, una, unchecked(cSndMax[c]));
  // RFC 5681 §2 "duplicate acknowledgment": no data, no SYN/FIN, same window, data outstanding
  const dup = pure && ack == una && wnd == unchecked(cSndWnd[c]) && unchecked(cSndMax[c]) != una && unchecked(cTxLen[c]) > 0;
  // window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ, or equal and SND.WL2 <= SEG.ACK)
  const wl1 = unchecked(cSndWl1[c]);
  if (seqLt(wl1, seq) || (wl1 == seq && seqLe(unchecked(cSndWl2[c]), ack))) {
    unchecked(cSndWnd[c] = wnd);
    unchecked(cSndWl1[c] = seq); unchecked(cSndWl2[c] = ack);
  }
  if (seqGt(ack, una)) {
    let acked = <i32>(ack - una);
    const txLen = unchecked(cTxLen[c]);
    const f = unchecked(cFlags[c]);
    if (acked > txLen) {
      // beyond the data: only our FIN can be there
      if ((f & CF_FIN_QUEUED) != 0 && acked == txLen + 1) finAcked = true;
      acked = txLen;
    }
    // RTT: the echoed timestamp (RFC 7323 §4) or the timed segment (Karn: never a retransmission)
    if (hasTs && (f & CF_TS) != 0 && tsEcr != 0) rttSample(c, tsNow(c) - tsEcr);
    else if ((f & CF_RTT) != 0 && seqGt(ack, unchecked(cRttSeq[c]))) {
      rttSample(c, NOW - unchecked(cRttTime[c]));
      unchecked(cFlags[c] = unchecked(cFlags[c]) & ~CF_RTT);
    }
    txDrop(c, acked);
    const partial = ccOnAck(c, <u32>acked, effMss(c));
    unchecked(cSndUna[c] = ack);
    sbAdvance(c, ack);
    // RFC 6675 §5 (A) / §5.1: recovery (or the loss state after an RTO) ends once RecoveryPoint is acknowledged
    if (sbInRecovery(c) && seqGe(ack, ccRecover(c))) sbEndRecovery(c);
    if (partial) { resendFirst(c); count(C_TCP_FAST_RETRANS); }
    if (seqLt(unchecked(cSndNxt[c]), ack)) unchecked(cSndNxt[c] = ack);   // after a go-back-N rewind
    unchecked(cRetries[c] = 0);
    const id = connTimerId(c);
    // RFC 6298 §5.2/5.3: all acknowledged => stop the timer, else restart it
    if (ack == unchecked(cSndMax[c])) timerCancel(id);
    else timerSet(id, NOW + unchecked(cRto[c]), NOW);
    unchecked(cFlags[c] = unchecked(cFlags[c]) & ~CF_PERSIST);
    if ((unchecked(cFlags[c]) & CF_WR_BLOCKED) != 0 && sendSpace(c) > 0 && (unchecked(cFlags[c]) & CF_FIN_QUEUED) == 0) {
      unchecked(cFlags[c] = unchecked(cFlags[c]) & ~CF_WR_BLOCKED);
      postEvent(EV_WRITABLE, <u32>c, 0);
    }
  } else if (sbActive(c)) {
    // RFC 6675 §5: with a scoreboard, a "duplicate ACK" is one that SACKs new data; the third, or
    // IsLost(HighACK + 1), starts loss recovery (once recovery runs, sendOutput below does the work)
    if (ack == una && newSack > 0 && !sbInRecovery(c) && ccMayRecover(c)) {
      const d = ccCountDupAck(c);
      if (d >= ccDupThresh() || sbIsLost(c, una, effMss(c))) sackEnterRecovery(c);
    }
  } else if (dup) {
    if (ccOnDupAck(c, effMss(c), <u32>(unchecked(cSndMax[c]) - una))) {
      // fast retransmit (RFC 5681 §3.2): the first unacknowledged segment, once
      count(C_TCP_RENO_RECOVERY);
      resendFirst(c);
      count(C_TCP_FAST_RETRANS);
    }
  }
  if (!finAcked) sendOutput(c);
  return finAcked;
}

/**
 * RFC 6675 §5 steps (4.1)-(4.3): RecoveryPoint = HighData, the window reduction (cc.ts), and the
 * segment at HighACK + 1 retransmitted at once, whatever the pipe; (4.4)-(4.5) follow in sendOutput.
 */
function sackEnterRecovery(c: i32): void {
  const una = unchecked(cSndUna[c]);
  const mss = effMss(c);
  if (!sbStartRecovery(c, una, false)) return;
  count(C_TCP_SACK_RECOVERY);
  ccEnterSackRecovery(c, unchecked(cSndMax[c]) - una, mss);
  let n = sbRoomBefore(c, una);
  if (n > mss) n = mss;
  const k = sendRange(c, una, n);
  if (k > 0) { sbSent(c, NS_LOST, una, n, ccRecover(c)); count(C_TCP_FAST_RETRANS); }
}

/** Retransmit the segment at SND.UNA without moving SND.NXT. */
function resendFirst(c: i32): void {
  let n = unchecked(cTxLen[c]);
  const mss = effMss(c);
  if (n > mss) n = mss;
  if (n <= 0) return;
  sendSegmentTx(c, unchecked(cSndUna[c]), TH_ACK, 0, n);
  count(C_TCP_RETRANS_SEGS);
  unchecked(cFlags[c] = unchecked(cFlags[c]) & ~CF_RTT);
}

// ---- timers ----
/**
 * The connection timer fired in a synchronized state: a retransmission timeout (RFC 6298 §5.4-5.7:
 * back off, rewind to SND.UNA, resend) or a zero-window probe. Returns false if it was neither.
 */
export function sendTimer(c: i32): bool {
  const f = unchecked(cFlags[c]);
  const st = unchecked(cState[c]);
  if (!canSend(st)) return false;
  const id = connTimerId(c);
  if ((f & CF_PERSIST) != 0) {
    if (unchecked(cSndWnd[c]) != 0 || unchecked(cTxLen[c]) == 0) { unchecked(cFlags[c] = f & ~CF_PERSIST); sendOutput(c); return true; }
    // Linux tcp_write_wakeup: a probe with an old sequence number makes the peer answer with its window
    sendSegment(c, unchecked(cSndUna[c]) - 1, TH_ACK, 0, 0);
    const r = unchecked(cRetries[c]);
    if (r < 30) unchecked(cRetries[c] = r + 1);
    let to = unchecked(cRto[c]) << <u32>(r + 1 < 16 ? r + 1 : 16);
    if (to > RTO_MAX) to = RTO_MAX;
    timerSet(id, NOW + to, NOW);
    return true;
  }
  if (unchecked(cSndNxt[c]) == unchecked(cSndUna[c]) && unchecked(cSndMax[c]) == unchecked(cSndUna[c])) return true;
  const r = unchecked(cRetries[c]);
  const limit = (f & CF_USER_CLOSED) != 0 ? ORPHAN_RETRIES : RETRIES2;
  count(C_TCP_TIMEOUTS);
  if (r >= limit) {
    connSendReset(c);
    connKill(c, E_TIMEDOUT);
    if ((unchecked(cFlags[c]) & (CF_LIVE | CF_USER_CLOSED)) == (CF_LIVE | CF_USER_CLOSED)) connFree(c);
    return true;
  }
  unchecked(cRetries[c] = r + 1);
  ccOnTimeout(c, <u32>(unchecked(cSndMax[c]) - unchecked(cSndUna[c])), effMss(c));
  if ((f & CF_SACK) != 0 && sbRanges(c) > 0 && unchecked(cSndNxt[c]) == unchecked(cSndMax[c]) &&
      sbStartRecovery(c, unchecked(cSndUna[c]), true)) {
    // RFC 6675 §5.1: keep the scoreboard, RecoveryPoint = HighData (cc.ts), and resend only the
    // holes, from SND.UNA, in slow start (Karn: nothing timed)
    unchecked(cFlags[c] = f & ~CF_RTT);
  } else {
    sbEndRecovery(c);
    // go back N: everything from SND.UNA is sent again as the windows allow (Karn: nothing timed)
    unchecked(cFlags[c] = f & ~(CF_RTT | CF_FIN_SENT));
    unchecked(cSndNxt[c] = unchecked(cSndUna[c]));
  }
  sendOutput(c);
  let to = unchecked(cRto[c]) << <u32>(r + 1);   // back-off (RFC 6298 §5.5)
  if (to > RTO_MAX) to = RTO_MAX;
  timerSet(id, NOW + to, NOW);
  return true;
}


// ---- the host's view ----
/**
 * Congestion-control and loss-recovery state of a live connection (like Linux's tcp_info):
 * 0 cwnd, 1 ssthresh (bytes), 2 CUBIC W_max (bytes), 3 CUBIC K (ms), 4 in recovery (0/1),
 * 5 SACKed ranges on the scoreboard, 6 pipe (RFC 6675 SetPipe, bytes), 7 SACK recovery or the
 * loss state after an RTO (0/1), 8 holds a scoreboard slot (0/1). -1 for a bad handle or field.
 */
export function connCcInfo(c: i32, field: i32): i32 {
  if (c < 0 || c >= nS || (unchecked(cFlags[c]) & CF_LIVE) == 0) return -1;
  switch (field) {
    case 0: return <i32>unchecked(cCwnd[c]);
    case 1: return <i32>ccSsthresh(c);
    case 2: return <i32>ccCubicWmax(c);
    case 3: return <i32>ccCubicK(c);
    case 4: return ccInRecovery(c) ? 1 : 0;
    case 5: return sbRanges(c);
    case 6: return <i32>sbPipe(c, unchecked(cSndUna[c]), unchecked(cSndMax[c]), effMss(c));
    case 7: return sbInRecovery(c) ? 1 : 0;
    case 8: return sbHolds(c) ? 1 : 0;
  }
  return -1;
}
