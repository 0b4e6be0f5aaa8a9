// Active open (RFC 9293 §3.5): connConnect() sends the SYN with the personality's options and
// enters SYN-SENT; synSentInput() handles the answer (§3.10.7.3); simultaneous open goes through
// SYN-RECEIVED (§3.5, Figure 8; MUST-10/11). SYN retransmission and the connect timeout are
// per family. Called by the host (connConnect), conn.ts (segments and timers for these states).
import { NOW, knob, count, postEvent } from '../stack';
import {
  K_FAMILY, FAMILY_LINUX, FAMILY_FREEBSD, FAMILY_BSD43, K_B43_PREDICTABLE_ISN, K_TCP_SYN_RETRIES, K_TCP_SYN_LINEAR_TIMEOUTS, K_TCP_TIMESTAMPS, K_TCP_SACK, K_TCP_WINDOW_SCALING, K_RCV_WSCALE,
  K_TCP_RMEM_DEFAULT, K_FB_RFC1323, K_FB_SACK, K_FB_RECVSPACE, K_B43_RECVSPACE,
  C_TCP_ACTIVE_OPENS, C_TCP_ATTEMPT_FAILS, C_TCP_RETRANS_SEGS, C_TCP_TIMEOUTS,
  EV_CONNECTED, E_CONNREFUSED, E_TIMEDOUT, E_INVAL, E_ADDRNOTAVAIL, E_NOBUFS,
} from '../abi';
import { seqLe, seqGt } from './seq';
import { timerSet, timerCancel } from './timer';
import { maxSynEntries } from './synq';
import {
  segSeq, segAck, segFlags, segWnd, optMss, optWs, optSackOk, optTs, optTsVal, TH_SYN, TH_RST, TH_ACK,
} from './segment';
import { optReset, optNop, optMssW, optWsW, optSackPermW, optTsW, optPad, tcpSend } from './output';
import { isnGenerate, tsOffset } from './isn';
import { ourMss } from './passive';
import {
  connAlloc, connLookup, connSetReusePort, connEstablish, connKill, connSendAck, replyReset,
  cState, cFlags, cIface, cLaddr, cRaddr, cLport, cRport, cIss, cIrs, cSndUna, cSndNxt, cSndWnd, cRcvNxt,
  cRcvBuf, cSndWs, cRcvWs, cMss, cTsRecent, cTsOff, cRetries,
  CF_USER, CF_TS, CF_SACK, CF_WS, ST_SYN_SENT, ST_SYN_RECEIVED,
} from './conn';
import { CF_ACTIVE, sendStart, sendHandshakeRtt, sendOutput } from './send';
import { kaHeard } from './keepalive';
import { bsdIssNext } from './bsd43';

// what the SYN offered (kept in cFlags until the answer: CF_TS/CF_SACK/CF_WS then mean "negotiated")
@inline const CF_OFFER_TS: u32 = 0x100000;
@inline const CF_OFFER_SACK: u32 = 0x200000;
@inline const CF_OFFER_WS: u32 = 0x400000;
@inline const CF_SYN_RETRANSMITTED: u32 = 0x800000;

@inline const CONNECT_TIMEOUT_BSD: u32 = 75000;   // FreeBSD tcp_keepinit / 4.3BSD TCPTV_KEEP_INIT: 75 s
/** FreeBSD tcp_syn_backoff[] (tcp_timer.c), multiplied by the initial RTO */
const FB_SYN_BACKOFF: StaticArray<u8> = [1, 1, 1, 1, 1, 2, 4, 8, 16, 32, 64, 64, 64];

let cConnStart: StaticArray<u32> = new StaticArray<u32>(0);
let cSynCnt: StaticArray<u8> = new StaticArray<u8>(0);   // Linux TCP_SYNCNT (icsk_syn_retries), 0 = the sysctl
export function connectInit(n: i32): void { cConnStart = new StaticArray<u32>(n); cSynCnt = new StaticArray<u8>(n); }

/** TCP_SYNCNT for an active open (Linux: 1..MAX_TCP_SYNCNT, checked by the host). */
export function connectSetSynCnt(c: i32, v: i32): void { unchecked(cSynCnt[c] = <u8>(v < 0 ? 0 : v > 255 ? 255 : v)); }

/** The receive buffer an active open starts with, per family (what its SYN's window comes from). */
function initialRcvBuf(): u32 {
  const fam = knob(K_FAMILY);
  if (fam == FAMILY_LINUX) {
    // tcp_connect_init -> tcp_select_initial_window: half of tcp_rmem[1] rounded down to whole
    // advmss-sized segments (no timestamp deduction: ts_recent_stamp is still 0 on a new socket)
    const mss = ourMss();
    const space = <u32>knob(K_TCP_RMEM_DEFAULT) >> 1;
    return space > mss ? (space / mss) * mss : space;
  }
  const r = knob(fam == FAMILY_FREEBSD ? K_FB_RECVSPACE : K_B43_RECVSPACE);
  return r <= 0 ? 0 : <u32>r;
}

/** Initial RTO for the SYN: 1 s on Linux and FreeBSD (RFC 6298), 4.3BSD's TCPTV_SRTTDFLT-derived 6 s. */
function synRto(): u32 { return knob(K_FAMILY) == FAMILY_BSD43 ? 6000 : 1000; }

function sendSyn(c: i32, withAck: bool): void {
  const f = unchecked(cFlags[c]);
  const fam = knob(K_FAMILY);
  const ts = (f & CF_OFFER_TS) != 0, sack = (f & CF_OFFER_SACK) != 0, ws = (f & CF_OFFER_WS) != 0;
  // on a SYN-ACK of a simultaneous open only what the peer offered is echoed
  const ts2 = withAck ? ts && (f & CF_TS) != 0 : ts;
  const sack2 = withAck ? sack && (f & CF_SACK) != 0 : sack;
  const ws2 = withAck ? ws && (f & CF_WS) != 0 : ws;
  const tsval = NOW + unchecked(cTsOff[c]);
  const tsecr = withAck ? unchecked(cTsRecent[c]) : 0;
  optReset();
  optMssW(ourMss());
  if (fam == FAMILY_LINUX) {
    // tcp_options_write: MSS, SACK-perm + TS (or NOP NOP + TS, or NOP NOP + SACK-perm), NOP + WS
    if (ts2) { if (sack2) optSackPermW(); else { optNop(); optNop(); } optTsW(tsval, tsecr); }
    else if (sack2) { optNop(); optNop(); optSackPermW(); }
    if (ws2) { optNop(); optWsW(<u32>knob(K_RCV_WSCALE)); }
  } else if (fam == FAMILY_FREEBSD) {
    // tcp_addoptions: MSS, NOP + WS, SACK-perm, TS (each aligned with NOPs), EOL padding
    if (ws2) { optNop(); optWsW(<u32>knob(K_RCV_WSCALE)); }
    if (sack2) optSackPermW();
    if (ts2) { if (!sack2) { optNop(); optNop(); } optTsW(tsval, tsecr); }
    optPad();
  }
  // 4.3BSD: the MSS option only
  const w = unchecked(cRcvBuf[c]);
  tcpSend(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), unchecked(cRaddr[c]),
    <u32>unchecked(cLport[c]), <u32>unchecked(cRport[c]), unchecked(cIss[c]),
    withAck ? unchecked(cRcvNxt[c]) : 0, withAck ? TH_SYN | TH_ACK : TH_SYN, w > 0xFFFF ? 0xFFFF : w, 0, 0);
}

/**
 * connect(): a new connection in SYN-SENT, owned by the host from the start. flags: bit 0
 * SO_REUSEADDR, bit 1 SO_REUSEPORT (for the host's bind bookkeeping). Returns the handle or -errno:
 * EINVAL (port or address 0), EADDRNOTAVAIL (the 4-tuple is in use), ENOBUFS (no connection record).
 */
export function connConnect(iface: i32, laddr: u32, lport: i32, raddr: u32, rport: i32, flags: i32): i32 {
  if (iface < 0 || iface > 255 || lport <= 0 || lport > 65535 || rport <= 0 || rport > 65535 || raddr == 0 || laddr == 0) return -E_INVAL;
  if (connLookup(laddr, <u32>lport, raddr, <u32>rport) >= 0) return -E_ADDRNOTAVAIL;
  const c = connAlloc(iface, laddr, <u32>lport, raddr, <u32>rport, (flags & 1) != 0);
  if (c < 0) return -E_NOBUFS;
  if ((flags & 2) != 0) connSetReusePort(c);
  const fam = knob(K_FAMILY);
  let ts = false, sack = false, ws = false;
  if (fam == FAMILY_LINUX) {
    ts = knob(K_TCP_TIMESTAMPS) != 0; sack = knob(K_TCP_SACK) != 0; ws = knob(K_TCP_WINDOW_SCALING) != 0;
  } else if (fam == FAMILY_FREEBSD) {
    ts = knob(K_FB_RFC1323) != 0; ws = ts; sack = knob(K_FB_SACK) != 0;
  }
  unchecked(cState[c] = ST_SYN_SENT);
  let f = unchecked(cFlags[c]) | CF_USER | CF_ACTIVE;
  if (ts) f |= CF_OFFER_TS;
  if (sack) f |= CF_OFFER_SACK;
  if (ws) f |= CF_OFFER_WS;
  unchecked(cFlags[c] = f);
  // RFC 6528; 4.3BSD with its historical global counter: tcp_usrreq PRU_CONNECT
  // "tp->iss = tcp_iss; tcp_iss += TCP_ISSINCR/2" (the same counter its passive opens use)
  const iss = fam == FAMILY_BSD43 && knob(K_B43_PREDICTABLE_ISN) != 0
    ? bsdIssNext()
    : isnGenerate(laddr, raddr, <u32>lport, <u32>rport, NOW * 1000);
  unchecked(cIss[c] = iss);
  unchecked(cSndUna[c] = iss); unchecked(cSndNxt[c] = iss + 1);
  unchecked(cRcvBuf[c] = initialRcvBuf());
  unchecked(cTsOff[c] = ts && (fam != FAMILY_LINUX || knob(K_TCP_TIMESTAMPS) == 1) ? tsOffset(laddr, raddr) : 0);
  unchecked(cConnStart[c] = NOW); unchecked(cSynCnt[c] = 0);
  unchecked(cRetries[c] = 0);
  count(C_TCP_ACTIVE_OPENS);
  sendSyn(c, false);
  timerSet(maxSynEntries() + c, NOW + synRto(), NOW);
  return c;
}

/** Options from the peer's SYN or SYN-ACK, as far as we offered them (RFC 7323 §1.3, RFC 2018 §2). */
function takeOptions(c: i32): void {
  let f = unchecked(cFlags[c]);
  f &= ~(CF_TS | CF_SACK | CF_WS);
  if (optTs && (f & CF_OFFER_TS) != 0) { f |= CF_TS; unchecked(cTsRecent[c] = optTsVal); }
  if (optSackOk && (f & CF_OFFER_SACK) != 0) f |= CF_SACK;
  const ws = optWs >= 0 && (f & CF_OFFER_WS) != 0;
  if (ws) f |= CF_WS;
  unchecked(cSndWs[c] = ws ? <u8>optWs : 0);
  unchecked(cRcvWs[c] = ws ? <u8>knob(K_RCV_WSCALE) : 0);
  let mss = optMss != 0 ? optMss : 536;   // RFC 9293 §3.7.1: 536 without the option
  if (mss > ourMss()) mss = ourMss();
  if (mss < 64) mss = 64;                 // Linux TCP_MIN_SND_MSS 48 + headers; never a zero MSS
  unchecked(cMss[c] = <u16>mss);
  unchecked(cFlags[c] = f);
}

function established(c: i32): void {
  connEstablish(c);
  sendStart(c, segSeq, segAck);
  kaHeard(c);   // SO_KEEPALIVE set while connecting starts its idle clock now
  postEvent(EV_CONNECTED, <u32>c, 0);
}

/** RFC 9293 §3.10.7.3: a segment for a connection in SYN-SENT. */
export function synSentInput(c: i32): void {
  const iss = unchecked(cIss[c]);
  let ackOk = false;
  if ((segFlags & TH_ACK) != 0) {
    // SEG.ACK =< ISS or SEG.ACK > SND.NXT: <SEQ=SEG.ACK><CTL=RST> unless it is a RST
    if (seqLe(segAck, iss) || seqGt(segAck, unchecked(cSndNxt[c]))) {
      if ((segFlags & TH_RST) == 0) replyReset();
      return;
    }
    ackOk = true;
  }
  if ((segFlags & TH_RST) != 0) {
    // "error: connection reset" (ECONNREFUSED on every OS) only for an acceptable ACK
    if (ackOk) { count(C_TCP_ATTEMPT_FAILS); connKill(c, E_CONNREFUSED); }
    return;
  }
  if ((segFlags & TH_SYN) == 0) return;
  unchecked(cIrs[c] = segSeq);
  unchecked(cRcvNxt[c] = segSeq + 1);
  takeOptions(c);
  if (ackOk) {
    unchecked(cSndUna[c] = segAck);
    unchecked(cSndWnd[c] = segWnd);   // a SYN's window is never scaled (RFC 7323 §2.2)
    if ((unchecked(cFlags[c]) & CF_SYN_RETRANSMITTED) == 0) sendHandshakeRtt(c, unchecked(cConnStart[c]));
    unchecked(cRetries[c] = 0);
    timerCancel(maxSynEntries() + c);   // the SYN's timer: from now on the data path owns it
    established(c);
    // the window of a SYN is unscaled; what follows uses SND.WL1 = SEG.SEQ, SND.WL2 = SEG.ACK
    connSendAck(c, TH_ACK);
    sendOutput(c);
    return;
  }
  // simultaneous open: SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> (MUST-10/11)
  unchecked(cState[c] = ST_SYN_RECEIVED);
  unchecked(cSndWnd[c] = segWnd);
  sendSyn(c, true);
}

/** SYN-RECEIVED of an active open: the ACK of our SYN-ACK completes the handshake. Returns true if handled. */
export function activeSynRcvdAck(c: i32): void {
  // called after the sequence and RST/SYN checks with an ACK segment
  if (seqLe(segAck, unchecked(cSndUna[c])) || seqGt(segAck, unchecked(cSndNxt[c]))) { replyReset(); return; }
  unchecked(cSndUna[c] = segAck);
  unchecked(cSndWnd[c] = segWnd << <u32>unchecked(cSndWs[c]));
  unchecked(cRetries[c] = 0);
  timerCancel(maxSynEntries() + c);
  established(c);
}

/** SYN (or simultaneous-open SYN-ACK) retransmission; false when the attempt is over. */
export function connectTimer(c: i32): void {
  const r = unchecked(cRetries[c]);
  const fam = knob(K_FAMILY);
  count(C_TCP_TIMEOUTS);
  let next: u32;
  if (fam == FAMILY_LINUX) {
    // tcp_write_timeout: a SYN_SENT socket gives up after icsk_syn_retries (or tcp_syn_retries)
    // retransmissions, plus tcp_syn_linear_timeouts since 6.5 ("tcp: make the first N SYN RTO
    // backoffs linear"); tcp_retransmit_timer waits the initial RTO after each of the first N
    // retransmissions and doubles from there: 1, 1, 1, 1, 1, 2, 4, ... s with N = 4.
    const sc = unchecked(cSynCnt[c]);
    const linear = knob(K_TCP_SYN_LINEAR_TIMEOUTS);
    const maxRetries = (sc != 0 ? <i32>sc : knob(K_TCP_SYN_RETRIES)) + linear;
    if (<i32>r >= maxRetries) { fail(c); return; }
    const k = <i32>r + 1;
    next = k <= linear ? synRto() : synRto() << <u32>(k - linear < 30 ? k - linear : 30);
    if (next > 120000) next = 120000;   // TCP_RTO_MAX
  } else {
    const elapsed = NOW - unchecked(cConnStart[c]);
    if (elapsed >= CONNECT_TIMEOUT_BSD) { fail(c); return; }
    next = fam == FAMILY_FREEBSD ? synRto() * <u32>FB_SYN_BACKOFF[r + 1 < 13 ? r + 1 : 12] : synRto() << <u32>(r + 1 < 6 ? r + 1 : 6);
    if (elapsed + next > CONNECT_TIMEOUT_BSD) next = CONNECT_TIMEOUT_BSD - elapsed;
  }
  unchecked(cRetries[c] = r + 1);
  unchecked(cFlags[c] = unchecked(cFlags[c]) | CF_SYN_RETRANSMITTED);
  sendSyn(c, unchecked(cState[c]) == ST_SYN_RECEIVED);
  count(C_TCP_RETRANS_SEGS);
  timerSet(maxSynEntries() + c, NOW + next, NOW);
}

function fail(c: i32): void {
  count(C_TCP_ATTEMPT_FAILS);
  connKill(c, E_TIMEDOUT);
}
