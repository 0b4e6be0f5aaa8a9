// Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): with SO_KEEPALIVE on, an ESTABLISHED or
// CLOSE-WAIT connection that has heard nothing for TCP_KEEPIDLE seconds sends a probe
// <SEQ=SND.UNA-1><ACK=RCV.NXT> every TCP_KEEPINTVL seconds; TCP_KEEPCNT unanswered probes reset it
// (ETIMEDOUT). Defaults per family: Linux tcp_keepalive_time 7200 s / intvl 75 s / probes 9;
// FreeBSD keepidle 7200 s / keepintvl 75 s / keepcnt 8; 4.3BSD TCPTV_KEEP_IDLE 2 h /
// TCPTV_KEEPINTVL 75 s / TCPTV_KEEPCNT 8. Each connection has its own timer (ids after the
// delayed-ACK timers). Called by conn.ts (segments, options) and timer.ts.
import { NOW, knob, count } from '../stack';
import { K_FAMILY, FAMILY_LINUX, C_TCP_TIMEOUTS, E_TIMEDOUT } from '../abi';
import { timerSet, timerCancel } from './timer';
import { maxSynEntries } from './synq';
import { optReset, optNop, optTsW, tcpSend } from './output';
import { TH_ACK } from './segment';
import {
  cState, cFlags, cIface, cLaddr, cRaddr, cLport, cRport, cSndUna, cSndNxt, cRcvNxt, cTsRecent, cRcvWs,
  tsNow, connRcvWindow, connSendReset, connKill, connCount, CF_TS, CF_LIVE, ST_ESTABLISHED, ST_CLOSE_WAIT,
} from './conn';
import { cTxLen } from './send';

@inline export const CF_KEEPALIVE: u32 = 0x1000000;

let cKeepIdle: StaticArray<u16> = new StaticArray<u16>(0);   // s
let cKeepIntvl: StaticArray<u16> = new StaticArray<u16>(0);  // s
let cKeepCnt: StaticArray<u8> = new StaticArray<u8>(0);
let cKaProbes: StaticArray<u8> = new StaticArray<u8>(0);

export function kaInit(n: i32): void {
  cKeepIdle = new StaticArray<u16>(n); cKeepIntvl = new StaticArray<u16>(n);
  cKeepCnt = new StaticArray<u8>(n); cKaProbes = new StaticArray<u8>(n);
}

/** A new connection takes the family's defaults. */
export function kaReset(c: i32): void {
  unchecked(cKeepIdle[c] = 7200); unchecked(cKeepIntvl[c] = 75);
  unchecked(cKeepCnt[c] = knob(K_FAMILY) == FAMILY_LINUX ? 9 : 8);
  unchecked(cKaProbes[c] = 0);
  timerCancel(kaId(c));
}

@inline function kaId(c: i32): i32 { return maxSynEntries() + 2 * connCount() + c; }
@inline function kaState(st: u8): bool { return st == ST_ESTABLISHED || st == ST_CLOSE_WAIT; }

/** Something arrived from the peer: the idle clock restarts. */
export function kaHeard(c: i32): void {
  if ((unchecked(cFlags[c]) & CF_KEEPALIVE) == 0) return;
  unchecked(cKaProbes[c] = 0);
  if (kaState(unchecked(cState[c]))) timerSet(kaId(c), NOW + <u32>unchecked(cKeepIdle[c]) * 1000, NOW);
}

/** Turn keepalive on or off (SO_KEEPALIVE), or re-time it after TCP_KEEPIDLE changed. */
export function kaSet(c: i32, on: bool): void {
  const f = unchecked(cFlags[c]);
  unchecked(cFlags[c] = on ? f | CF_KEEPALIVE : f & ~CF_KEEPALIVE);
  if (!on) { timerCancel(kaId(c)); return; }
  unchecked(cKaProbes[c] = 0);
  if (kaState(unchecked(cState[c]))) timerSet(kaId(c), NOW + <u32>unchecked(cKeepIdle[c]) * 1000, NOW);
}

/** opt 3 TCP_KEEPIDLE, 4 TCP_KEEPINTVL (1..32767 s, Linux MAX_TCP_KEEPIDLE), 5 TCP_KEEPCNT (1..127). */
export function kaSetOpt(c: i32, opt: i32, v: i32): bool {
  if (opt == 5) { if (v < 1 || v > 127) return false; unchecked(cKeepCnt[c] = <u8>v); return true; }
  if (v < 1 || v > 32767) return false;
  if (opt == 3) {
    unchecked(cKeepIdle[c] = <u16>v);
    if ((unchecked(cFlags[c]) & CF_KEEPALIVE) != 0) kaSet(c, true);
  } else unchecked(cKeepIntvl[c] = <u16>v);
  return true;
}

export function kaGetOpt(c: i32, opt: i32): i32 {
  if (opt == 2) return (unchecked(cFlags[c]) & CF_KEEPALIVE) != 0 ? 1 : 0;
  if (opt == 3) return <i32>unchecked(cKeepIdle[c]);
  if (opt == 4) return <i32>unchecked(cKeepIntvl[c]);
  return <i32>unchecked(cKeepCnt[c]);
}

export function kaCancel(c: i32): void { timerCancel(kaId(c)); }

/** The keepalive timer fired. */
export function kaTimer(c: i32): void {
  const f = unchecked(cFlags[c]);
  if ((f & (CF_LIVE | CF_KEEPALIVE)) != (CF_LIVE | CF_KEEPALIVE) || !kaState(unchecked(cState[c]))) return;
  // data in flight or waiting: the retransmission timer watches the peer instead (tcp_keepalive_timer)
  if (unchecked(cSndNxt[c]) != unchecked(cSndUna[c]) || unchecked(cTxLen[c]) > 0) {
    timerSet(kaId(c), NOW + <u32>unchecked(cKeepIdle[c]) * 1000, NOW);
    return;
  }
  const n = unchecked(cKaProbes[c]);
  if (n >= unchecked(cKeepCnt[c])) {
    count(C_TCP_TIMEOUTS);
    connSendReset(c);
    connKill(c, E_TIMEDOUT);
    return;
  }
  unchecked(cKaProbes[c] = n + 1);
  optReset();
  if ((f & CF_TS) != 0) { optNop(); optNop(); optTsW(tsNow(c), unchecked(cTsRecent[c])); }
  tcpSend(<i32>unchecked(cIface[c]), unchecked(cLaddr[c]), unchecked(cRaddr[c]),
    <u32>unchecked(cLport[c]), <u32>unchecked(cRport[c]), unchecked(cSndUna[c]) - 1, unchecked(cRcvNxt[c]),
    TH_ACK, connRcvWindow(c) >> <u32>unchecked(cRcvWs[c]), 0, 0);
  timerSet(kaId(c), NOW + <u32>unchecked(cKeepIntvl[c]) * 1000, NOW);
}
