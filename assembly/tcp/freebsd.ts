// The FreeBSD 12.1 personality of the passive open, read from sys/netinet/tcp_input.c (the LISTEN
// branch of tcp_input, tcp_dropwithreset), tcp_syncache.c (syncache_add, syncache_insert,
// syncache_respond, syncache_timeout, syncache_timer, syncache_expand, syncache_socket,
// syncache_chkrst, syncache_badack, syncookie_lookup), sys/kern/uipc_socket.c (sonewconn, soclose),
// uipc_accf.c and sys/netinet/ip_icmp.c (badport_bandlim). Section numbers refer to
// ../shared/listen-behaviour.md §3 (and §1, §5.1, §6, §7).
// Called by input.ts (segments reaching a live listener), synq.ts (syncache timers), listener.ts
// (close) and tcp.ts (init).
//
// What FreeBSD keeps where, and how it maps onto this core:
//   * the syncache: one global hash of net.inet.tcp.syncache.hashsize buckets (synq.ts's buckets;
//     the host passes hashsize as the bucket count), at most bucketlimit entries per bucket and
//     cachelimit in all, not per listener. An entry is a synq.ts record; its listener field only
//     keeps the closed listener's slot alive while the entry retransmits (§3.5).
//   * sc_rxmits (SYN-ACKs sent so far, the first included) is stored as sNumTo + 1, so that
//     sNumTo counts the timeouts as it does for Linux and passive.ts's per-listener bookkeeping holds.
//   * sch_last_overflow, per bucket: overflowSec[] below, allocated at init (fbsdInit).
//   * sol_comp / sol_incomp: listener.ts's accept queue and accept-filter queue.
import { NOW, knob, count } from '../stack';
import {
  K_FB_SYNCOOKIES, K_FB_SYNCOOKIES_ONLY, K_FB_RST_ON_SOCK_FAIL, K_FB_DROP_SYNFIN, K_FB_INSECURE_RST,
  K_FB_REXMTLIMIT, K_FB_REXMIT_INITIAL, K_FB_BUCKETLIMIT, K_FB_CACHELIMIT, K_FB_ICMPLIM, K_FB_RFC1323,
  K_FB_SACK, K_FB_RECVSPACE, K_RCV_WSCALE, K_MSS_DEFAULT,
  C_SC_ADDED, C_SC_RETRANSMITTED, C_SC_DUPSYN, C_SC_DROPPED, C_SC_COMPLETED, C_SC_BUCKETOVERFLOW,
  C_SC_RESET, C_SC_STALE, C_SC_ABORTED, C_SC_BADACK, C_SC_ZONEFAIL, C_SC_SENDCOOKIE, C_SC_RECVCOOKIE,
  C_RCV_BADSYN, C_ACCFILT_DROPS, C_LISTEN_OVERFLOWS, C_LISTEN_DROPS, C_RST_RATE_LIMITED,
} from '../abi';
import { seqLe, seqGt, seqGe, seqLt } from './seq';
import {
  segIface, segSrc, segDst, segSport, segDport, segSeq, segAck, segFlags, segWnd, segBcast,
  optMss, optWs, optSackOk, optTs, optTsVal, TH_FIN, TH_SYN, TH_RST, TH_ACK,
} from './segment';
import {
  sRaddr, synLaddr, sRport, sLport, sIrs, sIss, sTsRecent, sListener, sMss, sFlags, sSndWs, sNumTo,
  sIface, synAlloc, synHas, synBucket, synBucketLen, synBucketOldest, synInUse, maxSynEntries,
  SF_TS, SF_SACK, SF_WS,
} from './synq';
import {
  lBacklog, lAcceptq, lIncq, lAccf, lYoung, lOverflows, lDrops, aqPush, aqHead, qRemove, iqPush,
  iqRemove, iqOldest, ACCF_NONE,
} from './listener';
import { connInput, connSendReset, connFree, connIsDead, replyReset } from './conn';
import { timerSet } from './timer';
import { optReset, optNop, optLength, optMssW, optWsW, optSackPermW, optTsW, optPad, tcpSend } from './output';
import { isnGenerate, tsOffset } from './isn';
import { fbsdCookieRotate, fbsdCookieMake, fbsdCookieCheck, fbsdCookieMss, fbsdCookieWscale, fbsdCookieSack } from './cookie-freebsd';
import { ourMss, synqAdded, synqRelease, childFromEmbryo, childFromCookie } from './passive';

@inline const TCP_MAXWIN: u32 = 65535;
@inline const TCP_MINMSS: u32 = 216;            // net.inet.tcp.minmss
@inline const TCP_MAXRXTSHIFT: i32 = 12;        // the rexmtlimit sysctl's maximum
@inline const TCPTV_REXMTMAX: u64 = 64000;      // ms
@inline const TCPTV_MIN: u64 = 30;              // tcp_rexmit_min, ms (hz / 33)
@inline const SYNCOOKIE_LIFETIME: u32 = 15;     // s: cookies are accepted this long after an overflow
@inline const BANDLIM_WINDOW_MS: u32 = 1000;    // counter_ratecheck's one-second window (hz ticks)
@inline const BUCKET_LEN_MAX: i32 = 65535;      // synq.ts counts a bucket's entries in a u16

// tcp_backoff[] (tcp_timer.c), indexed by sc_rxmits
const tcpBackoff = memory.data<u16>([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512, 512]);

// ---- per-bucket state: sch_last_overflow (syncache_head) ----
// time_uptime counts whole seconds, and so does this: the second (NOW / 1000) of the bucket's last
// overflow, plus one, so that 0 can mean "never" (FreeBSD starts every bucket at -(15 + 1)).
let overflowSec: StaticArray<u32> = new StaticArray<u32>(0);
let nOverflow: u32 = 0;

/** Init hook (tcp.ts): one sch_last_overflow per syncache bucket, allocated once. */
export function fbsdInit(buckets: u32): void {
  nOverflow = buckets;
  overflowSec = new StaticArray<u32>(<i32>buckets);
}

function noteOverflow(b: u32): void {
  if (b < nOverflow) unchecked(overflowSec[b] = NOW / 1000 + 1);
}

/**
 * syncache_expand's `sch_last_overflow < time_uptime - SYNCOOKIE_LIFETIME` test: a cookie is
 * acceptable while the bucket overflowed in this second or in one of the 15 before it. A stale
 * value is forgotten, and one from "the future" means the ms clock wrapped (49.7 days): forgotten too.
 */
function recentOverflow(b: u32): bool {
  if (b >= nOverflow) return false;
  const v = unchecked(overflowSec[b]);
  if (v == 0) return false;
  const at = v - 1, now = NOW / 1000;
  if (now >= at && now - at <= SYNCOOKIE_LIFETIME) return true;
  unchecked(overflowSec[b] = 0);
  return false;
}

// ---- knobs, clamped to what FreeBSD's sysctl handlers allow ----
@inline function syncookies(): bool { return knob(K_FB_SYNCOOKIES) != 0; }
@inline function syncookiesOnly(): bool { return knob(K_FB_SYNCOOKIES_ONLY) != 0; }
/** sc_wnd: the listener's receive buffer clipped to [0, TCP_MAXWIN] (syncache_add). */
function scWnd(): u32 {
  const r = knob(K_FB_RECVSPACE);
  return r <= 0 ? 0 : (<u32>r > TCP_MAXWIN ? TCP_MAXWIN : <u32>r);
}
function rcvBuf(): u32 { const r = knob(K_FB_RECVSPACE); return r <= 0 ? 0 : <u32>r; }
function bucketLimit(): i32 {
  const b = knob(K_FB_BUCKETLIMIT);
  return b < 1 ? 1 : (b > BUCKET_LEN_MAX ? BUCKET_LEN_MAX : b);
}
function rexmtLimit(): i32 {
  const r = knob(K_FB_REXMTLIMIT);
  return r < 0 ? 0 : (r > TCP_MAXRXTSHIFT ? TCP_MAXRXTSHIFT : r);
}
/** The uma zone is exhausted: cachelimit reached, or no record left in the pool. */
function zoneFull(): bool {
  const n = synInUse();
  const lim = knob(K_FB_CACHELIMIT);
  return n >= maxSynEntries() || (lim > 0 && n >= lim);   // uma: a zone limit of 0 is no limit
}
/**
 * tcp_new_ts_offset with net.inet.tcp.ts_offset_per_conn = 1 (12.0 onwards): a keyed hash of the
 * whole 4-tuple, so each connection's TSval starts at its own random point.
 */
@inline function tsOff(laddr: u32, lport: u32, raddr: u32, rport: u32): u32 {
  return tsOffset(laddr, raddr ^ ((lport << 16) | (rport & 0xFFFF)));
}

function listenOverflow(l: i32): void {
  // sonewconn refused: tcps_listendrop ("listen queue overflows" in netstat -s), the figure Linux
  // calls ListenOverflows; per listener it is both an overflow and a drop
  count(C_LISTEN_OVERFLOWS);
  unchecked(lOverflows[l] = unchecked(lOverflows[l]) + 1);
  unchecked(lDrops[l] = unchecked(lDrops[l]) + 1);
}

// ---- RST bandwidth limiting: badport_bandlim(BANDLIM_RST_OPENPORT) ----
// counter_ratecheck (subr_counter.c): a window opens at the first RST one second or more after the
// previous window opened; within it the first net.inet.icmp.icmplim RSTs go out, the rest do not.
let crTicks: u32 = 0;
let crCount: u32 = 0;
let crOver = false;

/** true = the RST may be sent. icmplim = 0 turns the limit off. */
function badportBandlim(): bool {
  const lim = knob(K_FB_ICMPLIM);
  if (lim <= 0) return true;
  if (NOW - crTicks >= BANDLIM_WINDOW_MS) { crTicks = NOW; crCount = 0; crOver = false; }
  crCount++;
  if (crOver) return false;
  if (crCount > <u32>lim) { crOver = true; return false; }
  return true;
}

/**
 * tcp_dropwithreset: never answer a RST or a segment sent to a broadcast/multicast address (the
 * IP layer already refused broadcast and multicast sources); `limited` = BANDLIM_RST_OPENPORT,
 * otherwise BANDLIM_UNLIMITED. The RST is <SEQ=SEG.ACK><RST> for an ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>, window 0, no options (replyReset).
 */
function dropWithReset(limited: bool): void {
  if ((segFlags & TH_RST) != 0 || segBcast) return;
  if (limited && !badportBandlim()) { count(C_RST_RATE_LIMITED); return; }
  replyReset();
}

// ---- syncache_respond ----
/**
 * A SYN-ACK (`syn`) or a bare ACK from a syncache entry's fields, with FreeBSD's tcp_addoptions
 * layout: options in TOF_* order (MSS, window scale, SACK-permitted, timestamps), each aligned as
 * tcp_addoptions aligns it, then EOL and zero padding to a 4-byte boundary:
 *   all four:  MSS, NOP, WS, SACK-perm, TS                         (20 bytes)
 *   MSS + TS:  MSS, NOP, NOP, TS                                    (16 bytes)
 *   MSS + SACK: MSS, SACK-perm, EOL, 0                              (8 bytes)
 * An ACK carries timestamps only. The window is sc_wnd, never scaled (not even on the ACK).
 */
function respond(iface: i32, laddr: u32, lport: u32, raddr: u32, rport: u32, iss: u32, irs: u32,
  syn: bool, ws: bool, sack: bool, ts: bool, tsecr: u32): bool {
  optReset();
  if (syn) {
    // TOF_MSS: aligned to 4 (always at 0 here)
    optMssW(ourMss());
    // TOF_SCALE: NOPs until the length is odd
    if (ws) {
      while (optLength() == 0 || (optLength() & 1) != 1) optNop();
      optWsW(<u32>knob(K_RCV_WSCALE));
    }
    // TOF_SACKPERM: NOPs until the length is even
    if (sack) {
      while ((optLength() & 1) != 0) optNop();
      optSackPermW();
    }
  }
  // TOF_TS: NOPs until the length is 2 mod 4
  if (ts) {
    while (optLength() == 0 || (optLength() & 3) != 2) optNop();
    optTsW(NOW + tsOff(laddr, lport, raddr, rport), tsecr);
  }
  optPad();
  return tcpSend(iface, laddr, raddr, lport, rport, syn ? iss : iss + 1, irs + 1,
    syn ? TH_SYN | TH_ACK : TH_ACK, scWnd(), 0, 0);
}

function respondEntry(e: i32, syn: bool): bool {
  return respond(<i32>unchecked(sIface[e]), synLaddr(e), <u32>unchecked(sLport[e]),
    unchecked(sRaddr[e]), <u32>unchecked(sRport[e]), unchecked(sIss[e]), unchecked(sIrs[e]),
    syn, synHas(e, SF_WS), synHas(e, SF_SACK), synHas(e, SF_TS), unchecked(sTsRecent[e]));
}

// ---- §3.5: syncache_timeout / syncache_timer ----
/** sNumTo = sc_rxmits - 1, keeping passive.ts's "young" count (entries never timed out) right. */
function setNumTo(e: i32, n: i32): void {
  const old = <i32>unchecked(sNumTo[e]);
  const l = <i32>unchecked(sListener[e]);
  if (old == 0 && n > 0) unchecked(lYoung[l] = unchecked(lYoung[l]) - 1);
  else if (old > 0 && n == 0) unchecked(lYoung[l] = unchecked(lYoung[l]) + 1);
  unchecked(sNumTo[e] = <u8>n);
}

/**
 * syncache_timeout with sc_rxmits = `rxmits` before the call: the first timeout is
 * tcp_rexmit_initial (K_FB_REXMIT_INITIAL, 3000 ms for 12.1, §7 item 5), later ones
 * TCPT_RANGESET(base * tcp_backoff[rxmits], tcp_rexmit_min, TCPTV_REXMTMAX); sc_rxmits then grows by one.
 */
function syncacheTimeout(e: i32, rxmits: i32): void {
  let base = knob(K_FB_REXMIT_INITIAL);
  if (base < 1) base = 1;
  let rexmt: u64;
  if (rxmits == 0) rexmt = <u64>base;
  else {
    const i = rxmits > TCP_MAXRXTSHIFT ? TCP_MAXRXTSHIFT : rxmits;
    rexmt = <u64>base * <u64>load<u16>(tcpBackoff + (<usize>i << 1));
    if (rexmt < TCPTV_MIN) rexmt = TCPTV_MIN;
    if (rexmt > TCPTV_REXMTMAX) rexmt = TCPTV_REXMTMAX;
  }
  setNumTo(e, rxmits);   // sc_rxmits = rxmits + 1
  timerSet(e, NOW + <u32>rexmt, NOW);
}

/**
 * syncache_timer for one entry: give up silently once sc_rxmits > rexmtlimit (TcpScStale), else
 * retransmit the SYN-ACK (TcpScRetransmitted) and back off. The listener is not looked at: an
 * entry whose listener was closed keeps retransmitting ("We do not check if the listen socket
 * still exists"); synqRelease frees the closed listener's slot with its last entry.
 * With base 3 s and rexmtlimit 3: SYN-ACKs at 0, 3, 9, 21 s, entry gone at 45 s.
 */
export function fbsdEmbryoTimer(e: i32): void {
  const rxmits = <i32>unchecked(sNumTo[e]) + 1;
  if (rxmits > rexmtLimit()) {
    count(C_SC_STALE);
    synqRelease(e);
    return;
  }
  // 12.x sends and re-arms whatever syncache_respond returns
  respondEntry(e, true);
  count(C_SC_RETRANSMITTED);
  syncacheTimeout(e, rxmits);
}

// ---- §3.4: tcp_input's LISTEN branch, in its order ----
export function fbsdListenerInput(l: i32, e: i32): void {
  const flg = segFlags;
  // 1. ACK without RST or SYN (data and FIN may ride along): syncache_expand
  if ((flg & (TH_RST | TH_ACK | TH_SYN)) == TH_ACK) { syncacheExpand(l, e); return; }
  // 2. any RST: syncache_chkrst, and the listener itself never answers
  if ((flg & TH_RST) != 0) { syncacheChkrst(e); return; }
  // 3. no SYN: "SYN is missing, segment ignored"
  if ((flg & TH_SYN) == 0) { count(C_RCV_BADSYN); return; }
  // 4. SYN|ACK: "SYN|ACK invalid, segment rejected": drop the 4-tuple's entry, RST (rate limited)
  if ((flg & TH_ACK) != 0) {
    syncacheBadack(e);
    count(C_RCV_BADSYN);
    dropWithReset(true);
    return;
  }
  // 5. SYN|FIN: dropped when net.inet.tcp.drop_synfin is set; otherwise a SYN whose FIN is never
  //    acted upon (PUSH, URG, ECE, CWR are ignored as well)
  if ((flg & TH_FIN) != 0 && knob(K_FB_DROP_SYNFIN) != 0) { count(C_RCV_BADSYN); return; }
  // 6. RFC 1122 §4.2.3.10: not to broadcast or multicast (link or IP); not from ourselves
  if (segBcast) return;
  if (segSrc == segDst && segSport == segDport) return;
  // 7.
  syncacheAdd(l, e);
}

// ---- §3.4: syncache_add ----
function syncacheAdd(l: i32, e: i32): void {
  if (e >= 0) { dupSyn(e); return; }
  const cookies = syncookies();
  const b = synBucket(segSrc, segSport, segDst, segDport);
  // uma_zalloc: an exhausted zone costs the bucket its oldest entry, then one more try; failing
  // that, a stateless cookie reply (syncookies) or nothing
  let stateless = false;
  if (zoneFull()) {
    count(C_SC_ZONEFAIL);
    const old = synBucketOldest(b);
    if (old >= 0) { noteOverflow(b); synqRelease(old); }
    if (zoneFull()) {
      if (!cookies) return;
      stateless = true;
    }
  }
  // options as remembered in the entry: timestamps and window scaling need net.inet.tcp.rfc1323,
  // SACK needs net.inet.tcp.sack.enable (tcp_dooptions ignores SACK-permitted otherwise)
  const rfc1323 = knob(K_FB_RFC1323) != 0;
  const ts = rfc1323 && optTs;
  const ws = rfc1323 && optWs >= 0;
  const sack = optSackOk && knob(K_FB_SACK) != 0;
  const irs = segSeq;
  let iss: u32;
  if (cookies) {
    // every SYN-ACK's ISS is a cookie while net.inet.tcp.syncookies is on (§3.8)
    fbsdCookieRotate(NOW);
    iss = fbsdCookieMake(segSrc, segDst, segSport, segDport, irs, optMss, ws ? optWs : -1, sack, b);
    count(C_SC_SENDCOOKIE);
  } else {
    iss = isnGenerate(segDst, segSrc, segDport, segSport, NOW * 1000);
  }
  // the SYN's data (if any) is neither ACKed nor kept: ack = SEG.SEQ + 1
  if (!respond(segIface, segDst, segDport, segSrc, segSport, iss, irs, true, ws, sack, ts, ts ? optTsVal : 0)) {
    count(C_SC_DROPPED);
    return;
  }
  if (stateless || (cookies && syncookiesOnly())) return;   // no state, no retransmission
  // syncache_insert: a full bucket loses its oldest entry and remembers the overflow
  if (synBucketLen(b) >= bucketLimit()) {
    const old = synBucketOldest(b);
    if (old >= 0) {
      noteOverflow(b);
      synqRelease(old);
      count(C_SC_BUCKETOVERFLOW);
    }
  }
  const ne = synAlloc(segIface, segDst, segDport, segSrc, segSport, l);
  if (ne < 0) { count(C_SC_ZONEFAIL); return; }   // not reached: room was made above
  unchecked(sIrs[ne] = irs); unchecked(sIss[ne] = iss);
  // tcp_mss: no MSS option means net.inet.tcp.mssdflt; any offer is raised to tcp_minmss
  let mss: u32 = optMss == 0 ? <u32>knob(K_MSS_DEFAULT) : optMss;
  if (mss < TCP_MINMSS) mss = TCP_MINMSS;
  if (mss > 0xFFFF) mss = 0xFFFF;
  unchecked(sMss[ne] = <u16>mss);
  let f = unchecked(sFlags[ne]);
  if (ts) { f |= SF_TS; unchecked(sTsRecent[ne] = optTsVal); }
  if (sack) f |= SF_SACK;
  if (ws) { f |= SF_WS; unchecked(sSndWs[ne] = <u8>optWs); }
  unchecked(sFlags[ne] = f);
  synqAdded(l);
  syncacheTimeout(ne, 0);
  count(C_SC_ADDED);
}

/**
 * A SYN for an existing entry: "We do not check the sequence number to see if this is a real
 * retransmit or a new connection attempt." Timestamps: the new TSval is reflected from now on, or,
 * if this SYN has none, timestamps are off for the entry. The SYN-ACK goes out again with the
 * stored IRS and ISS, sc_rxmits restarts from 0 and so does the timer (TcpScDupSyn).
 */
function dupSyn(e: i32): void {
  count(C_SC_DUPSYN);
  if (synHas(e, SF_TS) && optTs) unchecked(sTsRecent[e] = optTsVal);
  else unchecked(sFlags[e] = unchecked(sFlags[e]) & ~SF_TS);
  if (respondEntry(e, true)) syncacheTimeout(e, 0);
}

// ---- §3.7: syncache_chkrst ----
/**
 * A RST at a listener. 12.x ignores a RST carrying ACK, SYN or FIN ("Spurious RST with ACK, SYN or
 * FIN flag set"), and one without an entry. In the window irs+1 <= seq < irs+1+wnd (or seq == irs+1
 * with a zero window): exactly irs+1, or any in-window value with net.inet.tcp.insecure_rst,
 * removes the entry silently (TcpScReset); otherwise RFC 5961 §3.2's challenge ACK
 * <SEQ=ISS+1><ACK=IRS+1><ACK>. Outside the window: ignored.
 */
function syncacheChkrst(e: i32): void {
  if ((segFlags & (TH_ACK | TH_SYN | TH_FIN)) != 0) return;
  if (e < 0) return;
  const rcvNxt = unchecked(sIrs[e]) + 1;
  const wnd = scWnd();
  const inWindow = (seqGe(segSeq, rcvNxt) && seqLt(segSeq, rcvNxt + wnd)) || (wnd == 0 && segSeq == rcvNxt);
  if (!inWindow) return;
  if (segSeq == rcvNxt || knob(K_FB_INSECURE_RST) != 0) {
    count(C_SC_RESET);
    synqRelease(e);
    return;
  }
  respondEntry(e, false);
}

/** syncache_badack: a SYN|ACK for the 4-tuple of an entry removes it (TcpScBadAck). */
function syncacheBadack(e: i32): void {
  if (e < 0) return;
  count(C_SC_BADACK);
  synqRelease(e);
}

// ---- §3.6: syncache_expand, syncache_socket and sonewconn ----
/**
 * The third ACK. A found entry is unlinked before anything is checked, so every failure destroys
 * it; without one, a cookie is considered only with net.inet.tcp.syncookies on and either
 * syncookies_only or an overflow of this bucket in the last 15 s. Any failure: RST <SEQ=SEG.ACK>
 * (rate limited). Then sonewconn's ⌊3b/2⌋ test on completed sockets: over it (or no connection
 * record), TcpScAborted and a RST unless rst_on_sock_fail is 0 (not rate limited).
 */
function syncacheExpand(l: i32, e: i32): void {
  let iss: u32, irs: u32, ts: bool;
  let cookie: i32 = -1;
  if (e >= 0) {
    iss = unchecked(sIss[e]); irs = unchecked(sIrs[e]); ts = synHas(e, SF_TS);
  } else {
    // "Spurious ACK, segment rejected (syncookies disabled)" / "(no syncache entry)"
    if (!syncookies()) { dropWithReset(true); return; }
    const b = synBucket(segSrc, segSport, segDst, segDport);
    if (!syncookiesOnly() && !recentOverflow(b)) { dropWithReset(true); return; }
    // syncookie_lookup: "Segment failed SYNCOOKIE authentication"
    fbsdCookieRotate(NOW);
    cookie = fbsdCookieCheck(segSrc, segDst, segSport, segDport, segSeq - 1, segAck - 1, b);
    if (cookie < 0) { dropWithReset(true); return; }
    count(C_SC_RECVCOOKIE);
    iss = segAck - 1; irs = segSeq - 1;
    ts = optTs;   // timestamps are not in the cookie: on if the ACK carries them
  }
  // validation: ACK == ISS+1; IRS < SEQ <= IRS+wnd; no timestamp unless negotiated
  if (segAck != iss + 1 || seqLe(segSeq, irs) || seqGt(segSeq, irs + scWnd()) || (optTs && !ts)) {
    if (e >= 0) synqRelease(e);
    dropWithReset(true);
    return;
  }
  // sonewconn(lso, 0): "Listen queue overflow" when sol_qlen > 3 * sol_qlimit / 2 (64-bit: the
  // backlog may be up to UINT_MAX / 3)
  const b = <u64><u32>unchecked(lBacklog[l]);
  if (<u64><u32>unchecked(lAcceptq[l]) > (3 * b) / 2) {
    if (e >= 0) synqRelease(e);
    count(C_SC_ABORTED);
    listenOverflow(l);
    if (knob(K_FB_RST_ON_SOCK_FAIL) != 0) dropWithReset(false);
    return;
  }
  let c: i32;
  const wsShift = <u32>knob(K_RCV_WSCALE);
  if (e >= 0) {
    c = childFromEmbryo(e, rcvBuf(), wsShift,
      ts ? tsOff(synLaddr(e), <u32>unchecked(sLport[e]), unchecked(sRaddr[e]), <u32>unchecked(sRport[e])) : 0, segWnd);
    synqRelease(e);
  } else {
    // the entry syncookie_lookup rebuilds: MSS, send window scale and SACK from the cookie
    let mss = fbsdCookieMss(cookie);
    if (mss > ourMss()) mss = ourMss();
    c = childFromCookie(segIface, segDst, segDport, segSrc, segSport, l, iss, irs, mss,
      fbsdCookieWscale(cookie), fbsdCookieSack(cookie), ts, optTsVal,
      ts ? tsOff(segDst, segDport, segSrc, segSport) : 0, rcvBuf(), wsShift, segWnd);
  }
  if (c < 0) {
    // no connection record: the allocation failure of syncache_socket, handled as the overflow
    count(C_SC_ABORTED);
    count(C_LISTEN_DROPS);
    unchecked(lDrops[l] = unchecked(lDrops[l]) + 1);
    if (knob(K_FB_RST_ON_SOCK_FAIL) != 0) dropWithReset(false);
    return;
  }
  count(C_SC_COMPLETED);
  if (unchecked(lAccf[l]) != ACCF_NONE) {
    // §3.9: with an accept filter every new socket waits on sol_incomp; before it is inserted,
    // the oldest waiting sockets are aborted while sol_incqlen > sol_qlimit
    while (<u64><u32>unchecked(lIncq[l]) > b) {
      const old = iqOldest(l);
      if (old < 0) break;
      iqRemove(l, old);
      soabort(old);
      count(C_ACCFILT_DROPS);
    }
    iqPush(l, c);
  } else aqPush(l, c);
  connInput(c);   // the ACK's data and FIN, processed by the new socket
}

/** soabort -> tcp_drop: a RST|ACK <SEQ=SND.NXT><ACK=RCV.NXT> unless already dead, and the socket is gone. */
function soabort(c: i32): void {
  if (!connIsDead(c)) connSendReset(c);
  connFree(c);
}

// ---- §3.11: closing a listener ----
/**
 * soclose of a listening socket: every socket on sol_incomp, then on sol_comp, is soabort()ed
 * (RST to each live one). Syncache entries are not touched: they keep retransmitting, and their
 * ACK then finds no listener (RST from input.ts).
 */
export function fbsdListenerClose(l: i32): void {
  let c = iqOldest(l);
  while (c >= 0) { iqRemove(l, c); soabort(c); c = iqOldest(l); }
  c = aqHead(l);
  while (c >= 0) { qRemove(l, c); soabort(c); c = aqHead(l); }
}
