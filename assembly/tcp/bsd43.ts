// The 4.3BSD personality (1986) of the passive open, read from the CSRG sources of the release
// (weiss/original-bsd): sys/netinet/tcp_input.c (LISTEN, SYN_RECEIVED, tcp_reass, tcp_mss),
// tcp_output.c (what tcp_output() puts in a segment), tcp_subr.c (tcp_respond, tcp_drop),
// tcp_timer.c (slow timer, REXMT, KEEP), sys/kern/uipc_socket2.c (sonewconn, soqinsque,
// soisconnected), uipc_socket.c (soclose) and netinet/in.c (in_localaddr). Section numbers refer
// to ../shared/listen-behaviour.md §4, corrected by §9 (all three corrections are followed here).
// Called by input.ts (segments), synq.ts (timers), listener.ts (close), tcp.ts (init) and conn.ts
// (tcp_drop of a connection).
//
// An embryo is a SYN-queue entry (synq.ts) plus one of its listener's 8 slots here: 4.3BSD's
// q0 holds at most ⌊3·5/2⌋+1 = 8 sockets, so a fixed per-listener table of 8 is enough to enumerate
// them at close() and to hold what synq.ts has no field for (timers, backoff, SYN data).
//
// Where this file models rather than copies:
// * Time. 4.3BSD counts its TCP timers in ticks of the 500-ms slow timer (PR_SLOWHZ = 2): a timer
//   set to N ticks fires at the N-th tick after it was set. Ticks are modelled at every multiple of
//   500 ms of the stack's clock (a free-running phase, ticks taken as run before any segment of
//   the same instant), so a timer set at time t for N ticks is due at (⌊t/500⌋ + N)·500 ms: 0 to
//   500 ms earlier than t + N·500, as on the real system. Re-armed timers count from the tick that
//   fired them, not from when the host got round to polling. (At the 49.7-day wrap of the u32 ms
//   clock the phase shifts once: 2^32 is not a multiple of 500.)
// * Order. Timers due at the same tick run REXMT before KEEP (t_timer[] order); embryos of one
//   tick run in the timer wheel's order, not 4.3BSD's PCB-list order.
// * SYN data is kept in a bounded pool (see bsdInit); a SYN whose data finds no room is answered
//   exactly the same (4.3BSD never acknowledges SYN data before ESTABLISHED: the SYN-ACK says
//   ACK = IRS+1), so the peer simply sends those bytes again. At most 1460 bytes per SYN are kept
//   (a full 1500-byte frame); 4.3BSD would keep up to tcp_recvspace from a larger (jumbo) SYN.
// * Counters. 4.3BSD's tcpstat has none of the Linux names. A segment that sonewconn() refuses
//   because the queue is full counts as TcpExtListenOverflows and TcpExtListenDrops (and the
//   listener's own overflows/drops): "the queue was full" and "a segment to the listener was
//   dropped" are exactly Linux's meanings. No embryo or connection record free: ListenDrops and
//   WtcpNoMemory only. An embryo that dies counts TcpAttemptFails (RFC 1213: SYN-RCVD -> CLOSED),
//   or TcpEstabResets for a SYN|FIN embryo (CLOSE-WAIT -> CLOSED); one killed by a RST also
//   TcpExtEmbryonicRsts; each REXMT/KEEP expiry TcpExtTCPTimeouts; each SYN-ACK resent
//   TcpRetransSegs. TcpPassiveOpens is counted when the handshake completes (passive.ts).
import { NOW, knob, count, poolAlloc } from '../stack';
import {
  K_B43_MSS_LOCAL, K_B43_RECVSPACE, K_B43_PREDICTABLE_ISN, K_MSS_DEFAULT,
  C_LISTEN_OVERFLOWS, C_LISTEN_DROPS, C_NO_MEMORY, C_TCP_ATTEMPT_FAILS, C_TCP_ESTAB_RESETS,
  C_EMBRYONIC_RSTS, C_TCP_TIMEOUTS, C_TCP_RETRANS_SEGS, E_CONNABORTED,
} from '../abi';
import { seqGt, seqLe, seqLt } from './seq';
import {
  segIface, segSrc, segDst, segSport, segDport, segSeq, segAck, segFlags, segWnd, segLen, segData,
  segBcast, optMss, TH_FIN, TH_SYN, TH_RST, TH_ACK, TH_PUSH, twIss, twIssSet } from './segment';
import {
  sRaddr, synLaddr, sRport, sLport, sIrs, sIss, sListener, sMss, sIface, synAlloc, synHas, synSetFlag,
  SF_FIN,
} from './synq';
import {
  lSynq, lBacklog, lAcceptq, lOverflows, lDrops, listenerLive, aqHead, aqPushFront,
} from './listener';
import {
  connInput, connKill, connDeliver, cQNext, cIface, cLaddr, cRaddr, cLport, cRport, cSndUna, cSndNxt,
  cSndWnd, cRcvNxt, cRcvBuf, cRxLen, cMss,
} from './conn';
import { timerSet, timerCancel } from './timer';
import { optReset, optMssW, tcpSend } from './output';
import { isnGenerate } from './isn';
import { synqAdded, synqRelease, childFromEmbryo } from './passive';
import { noSocket } from './input';
import { ifaceUp, ifaceAddr, routeIface, MAX_IFACES } from '../net/iface';

// ---- constants of the release (tcp_timer.h, tcp_seq.h, tcp.h, ip.h, socket.h) ----
@inline const TICK_MS: u32 = 500;             // 1000 / PR_SLOWHZ
@inline const TCPTV_SRTTDFLT: u32 = 6;        // 3 s, in ticks
@inline const TCP_BETA: u32 = 2;              // tcp_beta = TCP_BETA = 2.0
@inline const TCPTV_MIN: u32 = 2;             // 1 s
@inline const TCPTV_MAX: u32 = 60;            // 30 s
@inline const TCPTV_KEEP: u32 = 90;           // 45 s
@inline const TCP_MAXRXTSHIFT: i32 = 12;
@inline const ISS_STEP: u32 = 64000;          // TCP_ISSINCR/2 = TCP_ISSINCR/PR_SLOWHZ, TCP_ISSINCR = 125*1024
@inline const IP_MSS_OPT_MIN: u32 = 536;      // IP_MSS - sizeof(struct tcpiphdr): larger MSSs are announced
@inline const TCP_MSS_DFLT: u32 = 512;        // TCP_MSS, if the host left mss_default unset
@inline const SOMAXCONN: i32 = 5;
@inline const QSLOTS: i32 = 8;                // ⌊3·SOMAXCONN/2⌋ + 1 sockets on q0 + q at most
@inline const DATA_SLOT_BYTES: i32 = 1460;    // one 1500-byte frame's worth of SYN data
@inline const DATA_SLOTS_MAX: i32 = 128;

// tcp_timer.c: tcp_backoff[TCP_MAXRXTSHIFT+1]
const BACKOFF: StaticArray<u8> = [1, 2, 4, 6, 8, 10, 15, 20, 30, 30, 30, 30, 30];

// slot timer bits
@inline const T_REXMT: u8 = 1;
@inline const T_KEEP: u8 = 2;

// ---- per-listener embryo table: slot i = l*8 + k (k = 0..7), structure of arrays ----
//   emb i32 | age u32 | rexmt u32 | keep u32 | timers u8 | shift u8 | data i32 | dataLen u16
//   = 24 bytes per slot, 192 per listener (12 MiB at the 65535-listener maximum)
let nL: i32 = 0;
let bEmb: StaticArray<i32> = new StaticArray<i32>(0);     // embryo (SYN-queue entry), -1 = free
let bAge: StaticArray<u32> = new StaticArray<u32>(0);     // insertion stamp: q0 is newest-first
let bRexmt: StaticArray<u32> = new StaticArray<u32>(0);   // TCPT_REXMT deadline (ms)
let bKeep: StaticArray<u32> = new StaticArray<u32>(0);    // TCPT_KEEP deadline (ms)
let bTimers: StaticArray<u8> = new StaticArray<u8>(0);    // T_REXMT | T_KEEP armed
let bShift: StaticArray<u8> = new StaticArray<u8>(0);     // t_rxtshift
let bData: StaticArray<i32> = new StaticArray<i32>(0);    // SYN-data slot, -1 = none
let bDataLen: StaticArray<u16> = new StaticArray<u16>(0);
let ageNext: u32 = 0;

// ---- SYN-data pool (the reassembly queue of an embryo holds at most its SYN's data) ----
let dataMem: usize = 0;
let dataNext: StaticArray<i32> = new StaticArray<i32>(0);
let dataFree: i32 = -1;

// ---- the historical global ISS (K_B43_PREDICTABLE_ISN) ----
let tcpIss: u32 = 1;          // tcp_init(): "tcp_iss = 1; /* wrong */"
let issTicks: u32 = 0;        // slow ticks already added to tcpIss

/**
 * Init hook (tcp.ts): the per-listener slot tables and the SYN-data pool, sized once. The pool has
 * min(8·maxListeners, maxSyn, 128) slots of 1460 bytes (at most 187 KB): every personality pays
 * for it because the family is chosen after init.
 */
export function bsdInit(maxListeners: i32, maxSyn: i32): void {
  nL = maxListeners;
  const n = maxListeners * QSLOTS;
  bEmb = new StaticArray<i32>(n); bAge = new StaticArray<u32>(n);
  bRexmt = new StaticArray<u32>(n); bKeep = new StaticArray<u32>(n);
  bTimers = new StaticArray<u8>(n); bShift = new StaticArray<u8>(n);
  bData = new StaticArray<i32>(n); bDataLen = new StaticArray<u16>(n);
  for (let i = 0; i < n; i++) { unchecked(bEmb[i] = -1); unchecked(bData[i] = -1); }
  let d = n < maxSyn ? n : maxSyn;
  if (d > DATA_SLOTS_MAX) d = DATA_SLOTS_MAX;
  if (d < 1) d = 1;
  dataMem = poolAlloc(<usize>d * DATA_SLOT_BYTES);
  dataNext = new StaticArray<i32>(d);
  for (let i = 0; i < d; i++) unchecked(dataNext[i] = i + 1 < d ? i + 1 : -1);
  dataFree = 0;
}

// ---- small helpers ----
@inline function recvSpace(): u32 {
  const r = knob(K_B43_RECVSPACE);
  return r < 0 ? 0 : (r > 0xFFFF ? 0xFFFF : <u32>r);
}

/** The classful network mask of an address (in_ifinit's ia_netmask). */
@inline function classMask(a: u32): u32 {
  if ((a >>> 31) == 0) return 0xFF000000;           // class A
  if ((a >>> 30) == 2) return 0xFFFF0000;           // class B
  return 0xFFFFFF00;                                 // class C (and anything above, as in_ifinit)
}

/**
 * in_localaddr() with SUBNETSARELOCAL = 1, 4.3BSD's default: a peer is local when it is on the
 * classful network of one of our interfaces, so other subnets of that network count as local too.
 */
function inLocalAddr(raddr: u32): bool {
  for (let i = 0; i < MAX_IFACES; i++) {
    if (!ifaceUp(i)) continue;
    const a = ifaceAddr(i);
    const m = classMask(a);
    if ((raddr & m) == (a & m)) return true;
  }
  return false;
}

/**
 * tcp_mss(): interface MTU - 40 rounded down to CLBYTES (the machine-dependent knob, 1024 on the
 * VAX reference) for a local peer, at most TCP_MSS (512) otherwise, TCP_MSS when there is no route.
 */
function tcpMss(raddr: u32): u32 {
  let dflt = knob(K_MSS_DEFAULT);
  const tcpMssDflt = dflt > 0 ? <u32>dflt : TCP_MSS_DFLT;
  if (routeIface(raddr) < 0) return tcpMssDflt;
  const m = knob(K_B43_MSS_LOCAL);
  const mss = m > 0 ? <u32>m : tcpMssDflt;
  if (inLocalAddr(raddr)) return mss;
  return mss < tcpMssDflt ? mss : tcpMssDflt;
}

/**
 * The MSS option tcp_output() adds to every segment sent before ESTABLISHED (SYN-ACKs, and the
 * RST|ACK of tcp_drop(), whose state is then CLOSED): MIN(so_rcv.sb_hiwat/2, tcp_mss), announced
 * only when larger than 536. Returns 0 for no option.
 */
function mssOption(raddr: u32): u32 {
  const half = recvSpace() >> 1;
  const t = tcpMss(raddr);
  const mss = half < t ? half : t;
  return mss > IP_MSS_OPT_MIN ? mss : 0;
}

/** ⌊t/500⌋·500: the slow tick a segment or timer at time t belongs to. */
@inline function tickOf(t: u32): u32 { return t - t % TICK_MS; }

/** tcp_iss as it stands now: +64000 per slow tick (tcp_slowtimo) ... */
function issAdvance(): void {
  const t = NOW / TICK_MS;
  const d = t >= issTicks ? t - issTicks : t + (0xFFFFFFFF / TICK_MS + 1) - issTicks;
  tcpIss += d * ISS_STEP;
  issTicks = t;
}

/** ... and +64000 per connection (tcp_input LISTEN: tp->iss = tcp_iss; tcp_iss += TCP_ISSINCR/2). */
export function bsdIssNext(): u32 {
  issAdvance();
  const iss = tcpIss;
  tcpIss += ISS_STEP;
  return iss;
}

/** The effective listen() backlog: the host clamps to SOMAXCONN; clamped again so q0 + q <= 8. */
@inline function qlimit(l: i32): i32 {
  const b = unchecked(lBacklog[l]);
  return b < 0 ? 0 : (b > SOMAXCONN ? SOMAXCONN : b);
}

/** sonewconn(): refuses when so_qlen + so_q0len > 3 * so_qlimit / 2. */
@inline function queueFull(l: i32): bool {
  return unchecked(lSynq[l]) + unchecked(lAcceptq[l]) > (3 * qlimit(l)) / 2;
}

function listenOverflow(l: i32): void {
  count(C_LISTEN_OVERFLOWS); count(C_LISTEN_DROPS);
  unchecked(lOverflows[l] = unchecked(lOverflows[l]) + 1);
  unchecked(lDrops[l] = unchecked(lDrops[l]) + 1);
}
function listenDrop(l: i32): void { count(C_LISTEN_DROPS); unchecked(lDrops[l] = unchecked(lDrops[l]) + 1); }

// ---- embryo slots ----
/** The slot of embryo e in its listener's table, or -1. */
function slotOf(e: i32): i32 {
  const l = <i32>unchecked(sListener[e]);
  if (l >= nL) return -1;
  const base = l * QSLOTS;
  for (let k = 0; k < QSLOTS; k++) if (unchecked(bEmb[base + k]) == e) return base + k;
  return -1;
}

/** A free slot of listener l, or -1 (never, while q0 + q <= 8 holds). */
function slotFree(l: i32): i32 {
  const base = l * QSLOTS;
  for (let k = 0; k < QSLOTS; k++) if (unchecked(bEmb[base + k]) < 0) return base + k;
  return -1;
}

function slotClaim(i: i32, e: i32): void {
  unchecked(bEmb[i] = e); unchecked(bAge[i] = ageNext++);
  unchecked(bTimers[i] = 0); unchecked(bShift[i] = 0);
  unchecked(bData[i] = -1); unchecked(bDataLen[i] = 0);
}

/** Free embryo e: its SYN data, its slot, its SYN-queue entry (and timer), in that order. */
function embryoRelease(e: i32): void {
  const i = slotOf(e);
  if (i >= 0) {
    const d = unchecked(bData[i]);
    if (d >= 0) { unchecked(dataNext[d] = dataFree); dataFree = d; }
    unchecked(bData[i] = -1); unchecked(bDataLen[i] = 0);
    unchecked(bTimers[i] = 0);
    unchecked(bEmb[i] = -1);
  }
  synqRelease(e);
}

/** Arm the entry's one wheel timer for the earlier of its REXMT and KEEP deadlines. */
function armTimer(e: i32, i: i32): void {
  const t = unchecked(bTimers[i]);
  if (t == 0) { timerCancel(e); return; }
  let d: u32;
  if (t == (T_REXMT | T_KEEP)) {
    const r = unchecked(bRexmt[i]), k = unchecked(bKeep[i]);
    d = seqLe(r, k) ? r : k;
  } else d = (t & T_REXMT) != 0 ? unchecked(bRexmt[i]) : unchecked(bKeep[i]);
  timerSet(e, d, NOW);
}

/**
 * tcp_input: "tp->t_timer[TCPT_KEEP] = TCPTV_KEEP" for every segment that reaches the socket. In
 * CLOSE_WAIT (a SYN|FIN embryo) the KEEP timer only re-arms itself when it fires (no SO_KEEPALIVE:
 * tcp_timers drops only states below ESTABLISHED), so it is not armed at all.
 */
function keepRestart(e: i32, i: i32): void {
  if (synHas(e, SF_FIN)) return;
  unchecked(bKeep[i] = tickOf(NOW) + TCPTV_KEEP * TICK_MS);
  unchecked(bTimers[i] = unchecked(bTimers[i]) | T_KEEP);
}

// ---- what 4.3BSD puts on the wire ----
/** tcp_output() in SYN_RECEIVED: <SEQ=ISS><ACK=IRS+1><SYN,ACK>, MSS option only, window = recvspace. */
function sendSynAck(e: i32): void {
  const raddr = unchecked(sRaddr[e]);
  optReset();
  const mss = mssOption(raddr);
  if (mss != 0) optMssW(mss);
  tcpSend(<i32>unchecked(sIface[e]), synLaddr(e), raddr, <u32>unchecked(sLport[e]),
    <u32>unchecked(sRport[e]), unchecked(sIss[e]), unchecked(sIrs[e]) + 1, TH_SYN | TH_ACK, recvSpace(), 0, 0);
}

/** RCV.NXT of an embryo: IRS+1, or IRS+2 once the FIN of a SYN|FIN was taken (§9 item 1). */
@inline function embryoRcvNxt(e: i32): u32 { return unchecked(sIrs[e]) + (synHas(e, SF_FIN) ? 2 : 1); }
/** SND.NXT of an embryo: ISS+1 after its SYN-ACK; ISS for a SYN|FIN embryo, which never sent a SYN. */
@inline function embryoSndNxt(e: i32): u32 { return unchecked(sIss[e]) + (synHas(e, SF_FIN) ? 0 : 1); }

/**
 * A bare <SEQ=SND.NXT><ACK=RCV.NXT><ACK>, no options, window sbspace(so_rcv) of the embryo: both
 * tcp_respond(tp, ti, RCV.NXT, SND.NXT, TH_ACK) of `dropafterack` and what tcp_output() sends with
 * TF_ACKNOW in CLOSE_WAIT (a SYN|FIN embryo) look like this.
 */
function embryoSendAck(e: i32): void {
  optReset();
  tcpSend(<i32>unchecked(sIface[e]), synLaddr(e), unchecked(sRaddr[e]), <u32>unchecked(sLport[e]),
    <u32>unchecked(sRport[e]), embryoSndNxt(e), embryoRcvNxt(e), TH_ACK, recvSpace(), 0, 0);
}

/** `dropafterack`: the bare ACK, never in answer to a RST. */
function embryoDropAfterAck(e: i32): void {
  if ((segFlags & TH_RST) == 0) embryoSendAck(e);
}

/**
 * `dropwithreset` (tcp_input): <SEQ=SEG.ACK><RST> when the segment has ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN(+1 for SYN)><RST,ACK> (a FIN is not counted), from the segment as
 * trimmed; never for a RST or a broadcast destination. The window is sbspace(so_rcv) of the socket
 * still attached (`win`), 0 when tcp_drop() has just freed it.
 */
function dropWithReset(seq: u32, len: i32, flg: u32, win: u32): void {
  if ((flg & TH_RST) != 0 || segBcast) return;
  optReset();
  if ((flg & TH_ACK) != 0) {
    tcpSend(segIface, segDst, segSrc, segDport, segSport, segAck, 0, TH_RST, win, 0, 0);
  } else {
    const n = <u32>len + ((flg & TH_SYN) != 0 ? 1 : 0);
    tcpSend(segIface, segDst, segSrc, segDport, segSport, 0, seq + n, TH_RST | TH_ACK, win, 0, 0);
  }
}

/**
 * tcp_drop() of an embryo: state CLOSED, then tcp_output() sends the CLOSED state's flags,
 * <RST,ACK>. SND.WND is still 0 (no ACK was ever processed), so SND.NXT is pulled back to SND.UNA:
 * SEQ = ISS; ACK = RCV.NXT; and, the state (CLOSED) being below ESTABLISHED, the MSS option too.
 */
function embryoSendDrop(e: i32): void {
  const raddr = unchecked(sRaddr[e]);
  optReset();
  const mss = mssOption(raddr);
  if (mss != 0) optMssW(mss);
  tcpSend(<i32>unchecked(sIface[e]), synLaddr(e), raddr, <u32>unchecked(sLport[e]),
    <u32>unchecked(sRport[e]), unchecked(sIss[e]), embryoRcvNxt(e), TH_RST | TH_ACK, recvSpace(), 0, 0);
}

/** tcp_drop() + sofree(): the RST|ACK, then the embryo leaves q0. */
function embryoDrop(e: i32): void {
  embryoSendDrop(e);
  count(synHas(e, SF_FIN) ? C_TCP_ESTAB_RESETS : C_TCP_ATTEMPT_FAILS);
  embryoRelease(e);
}

/**
 * tcp_drop() of a connection (4.3BSD family only; conn.ts calls it for a RST or a SYN in a
 * synchronized state, listener close calls it for queued connections): state CLOSED, then
 * tcp_output(): <SEQ=SND.NXT><ACK=RCV.NXT><RST,ACK> with the MSS option (CLOSED < ESTABLISHED) and
 * the receive window. With unacknowledged sequence space (a FIN in flight) tcp_output() sends only
 * into a zero send window, from SND.UNA; otherwise it sends nothing at all.
 */
export function bsdConnDropReset(c: i32): void {
  const una = unchecked(cSndUna[c]), nxt = unchecked(cSndNxt[c]);
  let seq = nxt;
  if (nxt != una) {
    if (unchecked(cSndWnd[c]) != 0) return;
    seq = una;
  }
  // window: sbspace(so_rcv), silly-window rule of tcp_output (the rcv_adv floor is not tracked)
  const buf = unchecked(cRcvBuf[c]);
  const used = <u32>unchecked(cRxLen[c]);
  let win: u32 = used >= buf ? 0 : buf - used;
  if (win < (buf >> 2) && win < <u32>unchecked(cMss[c])) win = 0;
  const raddr = unchecked(cRaddr[c]);
  optReset();
  const mss = mssOption(raddr);
  if (mss != 0) optMssW(mss);
  tcpSend(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), raddr, <u32>unchecked(cLport[c]),
    <u32>unchecked(cRport[c]), seq, unchecked(cRcvNxt[c]), TH_RST | TH_ACK, win, 0, 0);
}

/**
 * `dropwithreset` after tcp_drop() of a connection on an in-window SYN (conn.ts): the second RST,
 * answering the SYN itself, with no socket left (window 0).
 */
export function bsdDropWithResetNoSocket(): void {
  dropWithReset(segSeq, segLen, segFlags, 0);
}

// ---- §4.2 / §4.3: a segment for the listener itself ----
export function bsdListenerInput(l: i32): void {
  // §4.2: tcp_input calls sonewconn() for every segment that reaches a listening socket, before
  // looking at its flags; when the queue is at its limit the segment is dropped whatever it is
  // (listen(2): "the request may be ignored so that retries may succeed").
  if (queueFull(l)) { listenOverflow(l); return; }
  // §4.3 on the temporary socket (dropped again unless a SYN commits it)
  const flg = segFlags;
  if ((flg & TH_RST) != 0) return;
  if ((flg & TH_ACK) != 0) {
    // dropwithreset: the temporary socket's receive space is the window (§9 item 3)
    dropWithReset(segSeq, segLen, flg, recvSpace());
    return;
  }
  if ((flg & TH_SYN) == 0) return;
  if (segBcast) return;
  const i = slotFree(l);
  if (i < 0) { listenDrop(l); return; }   // cannot happen: q0 + q <= 8
  const e = synAlloc(segIface, segDst, segDport, segSrc, segSport, l);
  if (e < 0) { count(C_NO_MEMORY); listenDrop(l); return; }
  slotClaim(i, e);
  synqAdded(l);
  // a SYN that ended a TIME-WAIT connection brings its ISS (tcp_input: `if (iss) tp->iss = iss`)
  const iss = twIssSet ? twIss : knob(K_B43_PREDICTABLE_ISN) != 0
    ? bsdIssNext()
    : isnGenerate(segDst, segSrc, segDport, segSport, NOW * 1000);   // RFC 6528 (§5.3)
  unchecked(sIrs[e] = segSeq); unchecked(sIss[e] = iss);
  unchecked(sMss[e] = <u16>optMss);   // tcp_dooptions: the peer's MSS, 0 = none (t_maxseg stays TCP_MSS)
  keepRestart(e, i);                  // TCPTV_KEEP, set for the temporary socket and again here
  // trimthenstep6: the SYN's text is trimmed to the receive window (losing a FIN with it) ...
  let len = segLen;
  let fin = (flg & TH_FIN) != 0;
  const wnd = <i32>recvSpace();
  if (len > wnd) { len = wnd; fin = false; }
  if (len > 0) {
    // ... and put on the reassembly queue, not presented before ESTABLISHED (tcp_reass:
    // "if (tp->t_state == TCPS_SYN_RECEIVED && ti->ti_len) return (0);"), which also loses a FIN
    // that came with data
    const d = dataFree;
    if (d >= 0) {
      dataFree = unchecked(dataNext[d]);
      const n = len < DATA_SLOT_BYTES ? len : DATA_SLOT_BYTES;
      memory.copy(dataMem + <usize>d * DATA_SLOT_BYTES, segData, n);
      unchecked(bData[i] = d); unchecked(bDataLen[i] = <u16>n);
    } else count(C_NO_MEMORY);
  } else if (fin) {
    // §9 item 1: a zero-length SYN|FIN is presented at once, so its FIN is processed:
    // RCV.NXT = IRS+2 and the embryo is in CLOSE_WAIT (tcp_output then sends a plain ACK)
    synSetFlag(e, SF_FIN);
  }
  if (synHas(e, SF_FIN)) {
    // CLOSE_WAIT's flags are ACK: <SEQ=ISS><ACK=IRS+2>, no SYN, no options (state >= ESTABLISHED),
    // nothing outstanding so no REXMT; the KEEP timer of a state >= ESTABLISHED only re-arms
    // itself without SO_KEEPALIVE, so the embryo stays on q0 until a RST or close()
    unchecked(bTimers[i] = 0);
    embryoSendAck(e);
  } else {
    sendSynAck(e);
    // tcp_output: REXMT = tcp_beta * TCPTV_SRTTDFLT = 6 s, t_rxtshift = 0
    unchecked(bRexmt[i] = tickOf(NOW) + TCP_BETA * TCPTV_SRTTDFLT * TICK_MS);
    unchecked(bTimers[i] = T_REXMT | T_KEEP);
    unchecked(bShift[i] = 0);
  }
  armTimer(e, i);
}

// ---- §4.4: a segment for an embryo (SYN_RECEIVED, or CLOSE_WAIT after a SYN|FIN) ----
export function bsdEmbryoInput(e: i32): void {
  const l = <i32>unchecked(sListener[e]);
  const i = slotOf(e);
  if (i < 0 || !listenerLive(l)) {
    // cannot happen (close() aborts every embryo): behave as if there were no socket
    embryoRelease(e);
    noSocket();
    return;
  }
  keepRestart(e, i);
  const cw = synHas(e, SF_FIN);
  const iss = unchecked(sIss[e]);
  const sndUna = iss;
  const sndMax = embryoSndNxt(e);
  const rcvNxt = embryoRcvNxt(e);
  const wnd = recvSpace();
  let flg = segFlags;
  let seq = segSeq;
  let len = segLen;
  // trim to the window (tcp_input, "States other than LISTEN or SYN_SENT")
  if (wnd == 0) {
    if (seq != rcvNxt) { embryoDropAfterAck(e); armTimer(e, i); return; }
    if (len > 0) { len = 0; flg &= ~(TH_PUSH | TH_FIN); }
  } else {
    let todrop = <i32>(rcvNxt - seq);
    if (todrop > 0) {
      if ((flg & TH_SYN) != 0) { flg &= ~TH_SYN; seq++; todrop--; }
      // a retransmitted SYN (seq = IRS) ends here: bare ACK <SEQ=SND.NXT><ACK=RCV.NXT> (S33)
      if (todrop > len || (todrop == len && (flg & TH_FIN) == 0)) { embryoDropAfterAck(e); armTimer(e, i); return; }
      seq += <u32>todrop; len -= todrop;
    }
    // the right edge: a zero-length segment exactly at RCV.NXT+RCV.WND is still in (§9 item 2)
    todrop = <i32>((seq + <u32>len) - (rcvNxt + wnd));
    if (todrop > 0) {
      if (todrop >= len) { embryoDropAfterAck(e); armTimer(e, i); return; }
      len -= todrop;
      flg &= ~(TH_PUSH | TH_FIN);
    }
  }
  // RST: SYN_RECEIVED -> tcp_drop(ECONNREFUSED), CLOSE_WAIT -> tcp_drop(ECONNRESET); either way a
  // RST|ACK answers the RST (S37, S40) and the embryo is freed from q0
  if ((flg & TH_RST) != 0) {
    count(C_EMBRYONIC_RSTS);
    embryoDrop(e);
    return;
  }
  // SYN in the window: tcp_drop(ECONNRESET), then dropwithreset with no socket left: two RSTs
  if ((flg & TH_SYN) != 0) {
    embryoDrop(e);
    dropWithReset(seq, len, flg, 0);
    return;
  }
  if ((flg & TH_ACK) == 0) { armTimer(e, i); return; }
  if (cw) {
    // CLOSE_WAIT: ESTABLISHED-style ACK processing; SND.UNA = SND.MAX = ISS, no SYN was ever sent
    if (seqGt(segAck, sndMax)) embryoDropAfterAck(e);
    // text and FIN after a FIN are ignored; a window update makes tcp_output send nothing
    armTimer(e, i);
    return;
  }
  // SYN_RECEIVED: "if (SEQ_GT(tp->snd_una, ti->ti_ack) || SEQ_GT(ti->ti_ack, tp->snd_max))
  // goto dropwithreset" — note SEG.ACK = ISS passes too; the embryo is kept (S35)
  if (seqGt(sndUna, segAck) || seqGt(segAck, sndMax)) {
    dropWithReset(seq, len, flg, wnd);
    armTimer(e, i);
    return;
  }
  embryoEstablish(e, l, i);
}

/**
 * soisconnected(): the embryo's socket moves from q0 to the head of q, with no limit check; the
 * state is ESTABLISHED and tcp_reass(tp, 0) presents the queued SYN data. The rest of the segment
 * (data, FIN) is the connection's business (conn.ts); a bare third ACK gets no answer.
 */
function embryoEstablish(e: i32, l: i32, i: i32): void {
  const c = childFromEmbryo(e, recvSpace(), 0, 0, segWnd);
  if (c < 0) { listenDrop(l); armTimer(e, i); return; }   // no connection record: the peer retries
  // t_maxseg = MIN(peer's MSS option or TCP_MSS, tcp_mss())
  const raddr = unchecked(sRaddr[e]);
  const t = tcpMss(raddr);
  let peer = <u32>unchecked(sMss[e]);
  if (peer == 0) { const d = knob(K_MSS_DEFAULT); peer = d > 0 ? <u32>d : TCP_MSS_DFLT; }
  unchecked(cMss[c] = <u16>(peer < t ? peer : t));
  const d = unchecked(bData[i]);
  if (d >= 0) connDeliver(c, dataMem + <usize>d * DATA_SLOT_BYTES, <i32>unchecked(bDataLen[i]));
  embryoRelease(e);
  aqPushFront(l, c);
  if (segLen > 0 || (segFlags & TH_FIN) != 0) connInput(c);
}

// ---- §4.5: the slow timer (TCPT_REXMT, then TCPT_KEEP) ----
export function bsdEmbryoTimer(e: i32): void {
  const i = slotOf(e);
  if (i < 0) { synqRelease(e); return; }
  // catch up on every expiry due by now (the host may poll late), in tick order
  for (let guard = 0; guard < TCP_MAXRXTSHIFT + 3; guard++) {
    const t = unchecked(bTimers[i]);
    const rDue = (t & T_REXMT) != 0 && seqLe(unchecked(bRexmt[i]), NOW);
    const kDue = (t & T_KEEP) != 0 && seqLe(unchecked(bKeep[i]), NOW);
    if (!rDue && !kDue) break;
    // REXMT runs first when both are due at the same tick
    if (rDue && (!kDue || seqLe(unchecked(bRexmt[i]), unchecked(bKeep[i])))) {
      count(C_TCP_TIMEOUTS);
      const shift = <i32>unchecked(bShift[i]) + 1;
      if (shift > TCP_MAXRXTSHIFT) { embryoDrop(e); return; }   // tcp_drop(ETIMEDOUT)
      unchecked(bShift[i] = <u8>shift);
      let rexmt = TCP_BETA * TCPTV_SRTTDFLT * <u32>unchecked(BACKOFF[shift - 1]);
      if (rexmt < TCPTV_MIN) rexmt = TCPTV_MIN;
      if (rexmt > TCPTV_MAX) rexmt = TCPTV_MAX;
      unchecked(bRexmt[i] = unchecked(bRexmt[i]) + rexmt * TICK_MS);
      // snd_nxt = snd_una; tcp_output() sends the SYN-ACK again, identical
      sendSynAck(e);
      count(C_TCP_RETRANS_SEGS);
    } else {
      // TCPT_KEEP before ESTABLISHED: "goto dropit" -> tcp_drop(ETIMEDOUT)
      count(C_TCP_TIMEOUTS);
      embryoDrop(e);
      return;
    }
  }
  armTimer(e, i);
}

// ---- §4.7: close() of the listening socket ----
/**
 * soclose(): soabort() every socket on q0, then every socket on q, each list from its head (the
 * newest: soqinsque() inserts at the head). soabort -> tcp_drop(ECONNABORTED): a RST|ACK to each
 * embryo and to each completed, not yet accepted connection. All the RSTs go out first; then the
 * records are freed (the last embryo's release lets listener.ts free the listener's slot).
 */
export function bsdListenerClose(l: i32): void {
  if (l < 0 || l >= nL) return;
  const base = l * QSLOTS;
  // q0, newest first: at most 8 picks of the youngest remaining, O(64)
  let lastAge: u32 = 0xFFFFFFFF;
  let first = true;
  for (let n = 0; n < QSLOTS; n++) {
    let best = -1;
    let bestAge: u32 = 0;
    for (let k = 0; k < QSLOTS; k++) {
      const i = base + k;
      if (unchecked(bEmb[i]) < 0) continue;
      const a = unchecked(bAge[i]);
      // strictly older than the last one sent (wrap-safe: stamps are within 8 of each other's era)
      if (!first && !seqLt(a, lastAge)) continue;
      if (best < 0 || seqGt(a, bestAge)) { best = i; bestAge = a; }
    }
    if (best < 0) break;
    embryoSendDrop(unchecked(bEmb[best]));
    lastAge = bestAge; first = false;
  }
  // q, from the head (aqPushFront keeps the newest there)
  let c = aqHead(l);
  let guard = 0;
  while (c >= 0 && guard < QSLOTS * 4) {
    bsdConnDropReset(c);
    c = unchecked(cQNext[c]);
    guard++;
  }
  // now free: completed connections (tcp_drop -> tcp_close -> sofree unlinks them) ...
  c = aqHead(l);
  guard = 0;
  while (c >= 0 && guard < QSLOTS * 4) {
    connKill(c, E_CONNABORTED);        // 4.3BSD family: unlinked from q and freed
    c = aqHead(l);
    guard++;
  }
  // ... then the embryos
  for (let k = 0; k < QSLOTS; k++) {
    const e = unchecked(bEmb[base + k]);
    if (e < 0) continue;
    count(synHas(e, SF_FIN) ? C_TCP_ESTAB_RESETS : C_TCP_ATTEMPT_FAILS);
    embryoRelease(e);
  }
}
