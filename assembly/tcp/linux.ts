// The Linux personality (4.14 ... 6.18) of the passive open, read from net/ipv4/tcp_input.c
// (tcp_conn_request), tcp_minisocks.c (tcp_check_req), inet_connection_sock.c
// (reqsk_timer_handler, inet_csk_listen_stop), tcp_ipv4.c (tcp_v4_syn_recv_sock,
// tcp_v4_send_reset) and syncookies.c. Section numbers refer to ../shared/listen-behaviour.md §2.
// Called by input.ts (segments), synq.ts (timers) and listener.ts (close).
import { NOW, knob, count, postEvent } from '../stack';
import {
  K_TCP_SYNCOOKIES, K_TCP_ABORT_ON_OVERFLOW, K_TCP_SYNACK_RETRIES, K_TCP_MAX_SYN_BACKLOG, K_SYNQ_FULL_GT,
  K_SYNRECV_RST_CHALLENGE, K_SYNRECV_TSECR_CHECK, K_TCP_TIMESTAMPS, K_TCP_SACK, K_TCP_WINDOW_SCALING,
  K_TCP_INVALID_RATELIMIT, K_TCP_RMEM_DEFAULT, K_RCV_WSCALE, K_LINUX_INIT_RWND,
  C_SYNCOOKIES_SENT, C_SYNCOOKIES_RECV, C_SYNCOOKIES_FAILED, C_EMBRYONIC_RSTS, C_LISTEN_OVERFLOWS,
  C_LISTEN_DROPS, C_REQQ_FULL_DO_COOKIES, C_REQQ_FULL_DROP, C_TCP_TIMEOUTS, C_TSECR_REJECTED,
  C_CHALLENGE_ACK, C_DEFER_ACCEPT_DROP, C_TCP_ATTEMPT_FAILS, C_TCP_RETRANS_SEGS, C_ACK_SKIPPED_SYNRECV,
  C_NO_MEMORY, EV_SYNFLOOD_WARNING,
} from '../abi';
import { seqGt, seqLt, seqInRange } from './seq';
import {
  segIface, segSrc, segDst, segSport, segDport, segSeq, segAck, segFlags, segWnd, segLen, segBcast,
  optMss, optWs, optSackOk, optTs, optTsVal, optTsEcr, TH_FIN, TH_SYN, TH_RST, TH_ACK, twIss, twIssSet,
} from './segment';
import {
  sRaddr, synLaddr, sRport, sLport, sIrs, sIss, sTsRecent, sTsFirst, sTsLast, sListener, sMss, sFlags, sSndWs,
  sNumTo, sIface, sPeerWnd, sLastDup, synAlloc, synHas, synSetFlag, SF_TS, SF_SACK, SF_WS, SF_ACKED,
} from './synq';
import {
  lSynq, lYoung, lBacklog, lAcceptq, lDefer, lSyncnt, lPort, lLastOverflow, lHasOverflow, lWarned,
  lOverflows, lDrops, listenerLive, listenerLookup, aqPush, aqHead, qRemove,
} from './listener';
import { connInput, connSendReset, connFree, connIsDead, replyReset } from './conn';
import { timerSet } from './timer';
import { optReset, optNop, optMssW, optWsW, optSackPermW, optTsW, tcpSend } from './output';
import { isnGenerate, tsOffset } from './isn';
import { linuxCookieMake, linuxCookieCheck, linuxMssIndex, linuxMssFromIndex, linuxCookieTsEncode, linuxCookieTsDecode, linuxTsWscale, linuxTsSack } from './cookie-linux';
import { ourMss, synqAdded, synqRelease, childFromEmbryo, childFromCookie } from './passive';
import { noSocket } from './input';

@inline const TCP_TIMEOUT_INIT: u32 = 1000;   // req->timeout, ms
@inline const TCP_RTO_MAX: u32 = 120000;
@inline const COOKIE_VALID_MS: u32 = 120000;  // tcp_synq_no_recent_overflow: 2 minutes
@inline const TCP_PAWS_WINDOW: i32 = 1;

// ---- small helpers ----
@inline function synqFull(l: i32): bool {
  const q = unchecked(lSynq[l]), b = unchecked(lBacklog[l]);
  return knob(K_SYNQ_FULL_GT) != 0 ? q > b : q >= b;    // §2.3, §2.13
}
@inline function acceptFull(l: i32): bool { return unchecked(lAcceptq[l]) > unchecked(lBacklog[l]); } // sk_acceptq_is_full
@inline function tsOff(laddr: u32, raddr: u32): u32 { return knob(K_TCP_TIMESTAMPS) == 1 ? tsOffset(laddr, raddr) : 0; }

function listenDrop(l: i32): void { count(C_LISTEN_DROPS); unchecked(lDrops[l] = unchecked(lDrops[l]) + 1); }
function listenOverflow(l: i32): void { count(C_LISTEN_OVERFLOWS); unchecked(lOverflows[l] = unchecked(lOverflows[l]) + 1); }

/** The receive window Linux offers in a SYN-ACK: half of tcp_rmem[1], in whole segments (tcp_select_initial_window). */
function initialWindow(ts: bool): u32 {
  const mss = ourMss() - (ts ? 12 : 0);
  const space = <u32>knob(K_TCP_RMEM_DEFAULT) >> 1;
  let w = space > mss ? (space / mss) * mss : space;
  // before 4.20, tcp_default_init_rwnd capped it at TCP_INIT_CWND * 2 = 20 segments
  const cap = <u32>knob(K_LINUX_INIT_RWND) * mss;
  if (cap != 0 && w > cap) w = cap;
  return w;
}

/** SYN-ACK with Linux's option layout (tcp_options_write): MSS, SACK-perm + TS (or NOPs), NOP + WS. */
function sendSynAck(iface: i32, laddr: u32, lport: u32, raddr: u32, rport: u32, iss: u32, irs: u32,
  ws: bool, sack: bool, ts: bool, tsval: u32, tsecr: u32): bool {
  optReset();
  optMssW(ourMss());
  if (ts) {
    if (sack) optSackPermW(); else { optNop(); optNop(); }
    optTsW(tsval, tsecr);
  } else if (sack) { optNop(); optNop(); optSackPermW(); }
  if (ws) { optNop(); optWsW(<u32>knob(K_RCV_WSCALE)); }
  const w = initialWindow(ts);
  return tcpSend(iface, laddr, raddr, lport, rport, iss, irs + 1, TH_SYN | TH_ACK, w > 0xFFFF ? 0xFFFF : w, 0, 0);
}

function resendSynAck(e: i32): bool {
  const ts = synHas(e, SF_TS);
  const tsval = ts ? NOW + tsOff(synLaddr(e), unchecked(sRaddr[e])) : 0;
  unchecked(sTsLast[e] = tsval);   // snt_tsval_last
  const ok = sendSynAck(<i32>unchecked(sIface[e]), synLaddr(e), <u32>unchecked(sLport[e]),
    unchecked(sRaddr[e]), <u32>unchecked(sRport[e]), unchecked(sIss[e]), unchecked(sIrs[e]),
    synHas(e, SF_WS), synHas(e, SF_SACK), ts, tsval, unchecked(sTsRecent[e]));
  if (ok) count(C_TCP_RETRANS_SEGS);
  return ok;
}

/** tcp_oow_rate_limited for a request: at most one out-of-window answer per tcp_invalid_ratelimit. */
function oowLimited(e: i32): bool {
  // data without SYN is never limited
  if (segLen > 0 && (segFlags & TH_SYN) == 0) return false;
  const stamp = <u16>((NOW >> 4) | 1);        // 16-ms units; never 0 (0 = not yet)
  const last = unchecked(sLastDup[e]);
  if (last != 0) {
    const elapsed = <u32>(<u16>(stamp - last)) << 4;
    if (elapsed < <u32>knob(K_TCP_INVALID_RATELIMIT)) { count(C_ACK_SKIPPED_SYNRECV); return true; }
  }
  unchecked(sLastDup[e] = stamp);
  return false;
}

/** tcp_v4_reqsk_send_ack: <SEQ=ISS+1><ACK=RCV.NXT><ACK> with the request's window and timestamps. */
function reqSendAck(e: i32): void {
  optReset();
  const ts = synHas(e, SF_TS);
  if (ts) { optNop(); optNop(); optTsW(NOW + tsOff(synLaddr(e), unchecked(sRaddr[e])), unchecked(sTsRecent[e])); }
  const ws = synHas(e, SF_WS) ? <u32>knob(K_RCV_WSCALE) : 0;
  tcpSend(<i32>unchecked(sIface[e]), synLaddr(e), unchecked(sRaddr[e]), <u32>unchecked(sLport[e]),
    <u32>unchecked(sRport[e]), unchecked(sIss[e]) + 1, unchecked(sIrs[e]) + 1, TH_ACK, initialWindow(ts) >> ws, 0, 0);
}

// ---- §2.4 / §2.5: a segment for the listener itself ----
export function linuxListenerInput(l: i32): void {
  const syncookies = knob(K_TCP_SYNCOOKIES);
  if ((segFlags & TH_SYN) == 0) {
    // tcp_v4_cookie_check: an ACK that may carry a cookie, only if one was sent in the last 2 minutes
    if (syncookies != 0 && (segFlags & (TH_ACK | TH_RST)) == TH_ACK && unchecked(lHasOverflow[l]) &&
        NOW - unchecked(lLastOverflow[l]) < COOKIE_VALID_MS) {
      const r = cookieAck(l);
      if (r <= 0) return;   // child made, or dropped on overflow
      // r > 0: not a valid cookie, fall through to the RST
    }
  }
  if ((segFlags & TH_RST) != 0) return;                      // tcp_v4_send_reset never answers a RST
  if ((segFlags & TH_ACK) != 0) { replyReset(); return; }   // tcp_rcv_state_process: return 1 => RST
  if ((segFlags & TH_SYN) == 0) return;
  if ((segFlags & TH_FIN) != 0) return;                      // SYN|FIN: discard (§2.4.3)
  if (segBcast) return;
  connRequest(l);
}

/** cookie_v4_check: 1 = not a cookie (caller answers RST), 0 = handled (child or silent drop). */
function cookieAck(l: i32): i32 {
  const irs = segSeq - 1, iss = segAck - 1;
  const count2 = NOW / 60000;
  const idx = linuxCookieCheck(segSrc, segDst, segSport, segDport, irs, iss, count2);
  if (idx < 0) { count(C_SYNCOOKIES_FAILED); return 1; }
  count(C_SYNCOOKIES_RECV);
  // cookie_timestamp_decode: options come back from the TSecr bits; no timestamps => no WS, no SACK.
  // A refusal here is not counted as a failed cookie: the segment just goes on to the listener's RST.
  let ws: i32 = -1; let sack = false; let ts = false;
  const off = tsOff(segDst, segSrc);
  if (optTs) {
    if (knob(K_TCP_TIMESTAMPS) == 0) return 1;
    const dec = linuxCookieTsDecode(optTsEcr != 0 ? optTsEcr - off : 0);
    if (dec < 0) return 1;
    ts = true;
    ws = linuxTsWscale(dec);
    sack = linuxTsSack(dec);
    if (sack && knob(K_TCP_SACK) == 0) return 1;
    if (ws >= 0 && knob(K_TCP_WINDOW_SCALING) == 0) return 1;
  }
  // tcp_get_cookie_sock -> syn_recv_sock: a full accept queue drops silently, whatever abort_on_overflow says
  if (acceptFull(l)) { listenOverflow(l); listenDrop(l); return 0; }
  let mss = linuxMssFromIndex(<u32>idx);
  const eff = ourMss();
  if (mss > eff) mss = eff;
  const c = childFromCookie(segIface, segDst, segDport, segSrc, segSport, l, iss, irs, mss, ws, sack, ts,
    optTsVal, off, initialWindow(ts), <u32>knob(K_RCV_WSCALE), segWnd);
  if (c < 0) { listenDrop(l); return 0; }
  aqPush(l, c);
  connInput(c);   // the ACK may carry data
  return 0;
}

/** tcp_conn_request, in its order (§2.4.4). */
function connRequest(l: i32): void {
  const syncookies = knob(K_TCP_SYNCOOKIES);
  let wantCookie = false;
  if ((syncookies == 2 || synqFull(l)) && !twIssSet) {
    // tcp_syn_flood_action
    if (syncookies != 0) { wantCookie = true; count(C_REQQ_FULL_DO_COOKIES); }
    else count(C_REQQ_FULL_DROP);
    if (!unchecked(lWarned[l]) && syncookies != 2) {
      unchecked(lWarned[l] = true);
      postEvent(EV_SYNFLOOD_WARNING, <u32>unchecked(lPort[l]), wantCookie ? 1 : 0);
    }
    if (!wantCookie) { listenDrop(l); return; }
  }
  if (acceptFull(l)) { listenOverflow(l); listenDrop(l); return; }
  // options, as the sysctls allow; a cookie without timestamps carries none but MSS
  let ts = optTs && knob(K_TCP_TIMESTAMPS) != 0;
  let sack = optSackOk && knob(K_TCP_SACK) != 0;
  let ws = optWs >= 0 && knob(K_TCP_WINDOW_SCALING) != 0;
  if (wantCookie && !optTs) { ts = false; sack = false; ws = false; }
  const peerMss = optMss != 0 ? optMss : 536;
  if (!wantCookie && syncookies == 0 && !twIssSet) {
    // the last quarter of tcp_max_syn_backlog is kept for proven peers; no peer is proven here
    const m = knob(K_TCP_MAX_SYN_BACKLOG);
    if (m - unchecked(lSynq[l]) < (m >> 2)) { listenDrop(l); return; }
  }
  const off = ts ? tsOff(segDst, segSrc) : 0;
  if (wantCookie) {
    const idx = linuxMssIndex(peerMss);
    const iss = linuxCookieMake(segSrc, segDst, segSport, segDport, segSeq, idx, NOW / 60000);
    count(C_SYNCOOKIES_SENT);
    unchecked(lLastOverflow[l] = NOW); unchecked(lHasOverflow[l] = true);
    const tsval = ts ? linuxCookieTsEncode(NOW, ws ? optWs : -1, sack, false) + off : 0;
    sendSynAck(segIface, segDst, segDport, segSrc, segSport, iss, segSeq, ws, sack, ts, tsval, optTsVal);
    return;
  }
  const e = synAlloc(segIface, segDst, segDport, segSrc, segSport, l);
  if (e < 0) { count(C_NO_MEMORY); listenDrop(l); return; }
  const iss = twIssSet ? twIss : isnGenerate(segDst, segSrc, segDport, segSport, NOW * 1000);
  unchecked(sIrs[e] = segSeq); unchecked(sIss[e] = iss);
  unchecked(sMss[e] = <u16>peerMss);
  unchecked(sPeerWnd[e] = <u16>segWnd);
  let f = unchecked(sFlags[e]);
  if (ts) f |= SF_TS;
  if (sack) f |= SF_SACK;
  if (ws) { f |= SF_WS; unchecked(sSndWs[e] = <u8>optWs); }
  unchecked(sFlags[e] = f);
  const tsval = NOW + off;
  unchecked(sTsRecent[e] = ts ? optTsVal : 0);
  unchecked(sTsFirst[e] = tsval);
  unchecked(sTsLast[e] = tsval);
  synqAdded(l);
  sendSynAck(segIface, segDst, segDport, segSrc, segSport, iss, segSeq, ws, sack, ts, tsval, optTsVal);
  timerSet(e, NOW + TCP_TIMEOUT_INIT, NOW);
}

// ---- §2.6: a segment for a request sock (tcp_check_req) ----
export function linuxEmbryoInput(e: i32): void {
  const l = <i32>unchecked(sListener[e]);
  if (!listenerLive(l)) {
    // the listener is gone: drop the request and look again (no listener => RST)
    synqRelease(e);
    const l2 = listenerLookup(segDst, segDport, segSrc, segSport);
    if (l2 >= 0) linuxListenerInput(l2); else noSocket();
    return;
  }
  let flg = segFlags;
  const irs = unchecked(sIrs[e]), iss = unchecked(sIss[e]);
  const rcvNxt = irs + 1;
  const hasTs = synHas(e, SF_TS);
  let pawsReject = false;
  let tsecrReject = false;
  if (optTs && hasTs) {
    pawsReject = <i32>(unchecked(sTsRecent[e]) - optTsVal) > TCP_PAWS_WINDOW;
    if (optTsEcr != 0 && knob(K_SYNRECV_TSECR_CHECK) != 0) {
      // between(tsecr, snt_tsval_first, snt_tsval_last)
      tsecrReject = !seqInRange(optTsEcr, unchecked(sTsFirst[e]), unchecked(sTsLast[e]) + 1);
    }
  }
  // 1. a pure retransmitted SYN: SYN-ACK again (rate limited) and push the timer out
  if (segSeq == irs && flg == TH_SYN && !pawsReject) {
    if (!oowLimited(e) && resendSynAck(e)) {
      let to = TCP_TIMEOUT_INIT << <u32>unchecked(sNumTo[e]);
      if (to > TCP_RTO_MAX) to = TCP_RTO_MAX;
      timerSet(e, NOW + to, NOW);
    }
    return;
  }
  // 2. an ACK for something we never sent: the listener answers (RST), the request stays
  if ((flg & TH_ACK) != 0 && segAck != iss + 1) { linuxListenerInput(l); return; }
  // 3. sequence (and PAWS, and on 6.15+ the TSecr) check
  const endSeq = segSeq + <u32>segLen + ((flg & TH_SYN) != 0 ? 1 : 0) + ((flg & TH_FIN) != 0 ? 1 : 0);
  const wnd = initialWindow(hasTs);
  if (pawsReject || tsecrReject || !inWindow(segSeq, endSeq, rcvNxt, rcvNxt + wnd)) {
    if (tsecrReject) count(C_TSECR_REJECTED);
    if ((flg & TH_RST) == 0 && !oowLimited(e)) reqSendAck(e);
    return;
  }
  // 4. a SYN at the IRS is taken as retransmitted: its SYN bit is dropped
  if (segSeq == irs) flg &= ~TH_SYN;
  // 5. RFC 5961 for a non-exact RST (the 2026 fix, present in 6.18)
  if ((flg & TH_RST) != 0 && segSeq != rcvNxt && knob(K_SYNRECV_RST_CHALLENGE) != 0) {
    count(C_CHALLENGE_ACK);
    reqSendAck(e);
    return;
  }
  // 6. RST or an in-window SYN: embryonic reset
  if ((flg & (TH_RST | TH_SYN)) != 0) {
    count(C_TCP_ATTEMPT_FAILS);
    embryonicReset(e, (flg & TH_RST) == 0);
    return;
  }
  // 7. no ACK: nothing to do
  if ((flg & TH_ACK) == 0) return;
  // 8. TCP_DEFER_ACCEPT: a bare ACK while deferring marks the request and is dropped
  if (<i32>unchecked(sNumTo[e]) < unchecked(lDefer[l]) && endSeq == irs + 1) {
    synSetFlag(e, SF_ACKED);
    count(C_DEFER_ACCEPT_DROP);
    return;
  }
  // 9. syn_recv_sock: the accept-queue test, then the child
  if (acceptFull(l)) {
    listenOverflow(l); listenDrop(l);
    if (knob(K_TCP_ABORT_ON_OVERFLOW) == 0) { synSetFlag(e, SF_ACKED); return; }   // §2.7
    embryonicReset(e, true);
    return;
  }
  const c = childFromEmbryo(e, wnd, <u32>knob(K_RCV_WSCALE), hasTs ? tsOff(synLaddr(e), unchecked(sRaddr[e])) : 0, segWnd);
  if (c < 0) {
    // no memory for the child: tcp_v4_syn_recv_sock fails (exit_nonewsk: ListenDrops, not
    // ListenOverflows) and tcp_check_req takes its listen_overflow path, as for a full accept queue
    listenDrop(l);
    if (knob(K_TCP_ABORT_ON_OVERFLOW) == 0) { synSetFlag(e, SF_ACKED); return; }
    embryonicReset(e, true);
    return;
  }
  synqRelease(e);
  aqPush(l, c);
  connInput(c);   // the child processes the segment: data, FIN
}

/** tcp_in_window for a request (tcp_minisocks.c) */
function inWindow(seq: u32, endSeq: u32, s: u32, e: u32): bool {
  if (seq == s) return true;
  if (seqGt(endSeq, s) && seqLt(seq, e)) return true;
  return seq == e && seq == endSeq;
}

/** embryonic_reset: RST the offending segment (unless it is a RST) and drop the request. */
function embryonicReset(e: i32, sendRst: bool): void {
  if (sendRst) replyReset();
  count(C_EMBRYONIC_RSTS);
  synqRelease(e);
}

// ---- §2.8: SYN-ACK retransmission and expiry (reqsk_timer_handler) ----
export function linuxEmbryoTimer(e: i32): void {
  const l = <i32>unchecked(sListener[e]);
  if (!listenerLive(l)) { synqRelease(e); return; }
  const syncnt = unchecked(lSyncnt[l]);
  let maxRetries = syncnt != 0 ? syncnt : knob(K_TCP_SYNACK_RETRIES);
  const qlen = unchecked(lSynq[l]);
  const b = unchecked(lBacklog[l]);
  if ((qlen << 1) > (b > 8 ? b : 8)) {
    // prune old requests first when the queue is more than half full of them
    let young = unchecked(lYoung[l]) << 1;
    while (maxRetries > 2) {
      if (qlen < young) break;
      maxRetries--;
      young <<= 1;
    }
  }
  const defer = unchecked(lDefer[l]);
  const numTo = <i32>unchecked(sNumTo[e]);
  const acked = synHas(e, SF_ACKED);
  let expire: bool, resend: bool;
  if (defer == 0) { expire = numTo >= maxRetries; resend = true; }
  else {
    expire = numTo >= maxRetries && (!acked || numTo >= defer);
    resend = !acked || numTo >= defer - 1;
  }
  count(C_TCP_TIMEOUTS);
  if (!expire) {
    const ok = resend ? resendSynAck(e) : false;
    if (!resend || ok || acked) {
      if (numTo == 0) unchecked(lYoung[l] = unchecked(lYoung[l]) - 1);
      unchecked(sNumTo[e] = <u8>(numTo + 1));
      let to = TCP_TIMEOUT_INIT << <u32>(numTo + 1);
      if (to > TCP_RTO_MAX) to = TCP_RTO_MAX;
      timerSet(e, NOW + to, NOW);
      return;
    }
  }
  synqRelease(e);
}

// ---- §2.12: closing a listener ----
export function linuxListenerClose(l: i32): void {
  // inet_csk_listen_stop: every child still queued is disconnected with a RST; requests are left
  // to die at their next timer
  let c = aqHead(l);
  while (c >= 0) {
    qRemove(l, c);
    if (!connIsDead(c)) connSendReset(c);
    connFree(c);
    c = aqHead(l);
  }
}
