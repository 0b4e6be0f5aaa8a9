// What every personality's passive open shares: our MSS, the SYN-queue bookkeeping per listener,
// and turning a SYN-queue entry into a connection. The decisions stay in linux.ts, freebsd.ts and
// bsd43.ts; this file only does what they all do the same way.
import { NOW, count, knob } from '../stack';
import { C_TCP_PASSIVE_OPENS, K_LINK_MTU } from '../abi';
import {
  sRaddr, synLaddr, sRport, sLport, sIrs, sIss, sTsRecent, sListener, sMss, sFlags, sSndWs, sNumTo,
  sIface, synFree, SF_TS, SF_SACK, SF_WS,
} from './synq';
import { lSynq, lYoung, lFlags, listenerMaybeFree, LFL_REUSEADDR, LFL_REUSEPORT } from './listener';
import {
  connAlloc, connEstablish, cIss, cIrs, cSndUna, cSndNxt, cSndWnd, cRcvNxt, cRcvBuf, cSndWs, cRcvWs,
  cMss, cTsRecent, cTsOff, cFlags, CF_TS, CF_SACK, CF_WS, connSetReusePort,
} from './conn';

/**
 * The MSS we offer: the links' IP MTU less the IPv4 and TCP headers. The MTU is 1500 unless the
 * host declares a larger one (knob link_mtu, e.g. 65521 for an in-memory link as Linux's loopback
 * declares 65536); frame records carry a 16-bit length, so an Ethernet frame is at most 65535 bytes.
 */
@inline export const MTU_MAX: u32 = 65535 - 14;
export function ourMss(): u32 {
  const m = knob(K_LINK_MTU);
  if (m <= 0) return 1460;
  return (m < 576 ? 576 : <u32>m > MTU_MAX ? MTU_MAX : <u32>m) - 40;
}

/** Count a new SYN-queue entry against its listener. */
export function synqAdded(l: i32): void {
  unchecked(lSynq[l] = unchecked(lSynq[l]) + 1);
  unchecked(lYoung[l] = unchecked(lYoung[l]) + 1);
}

/** Remove a SYN-queue entry from its listener's counts and free it. */
export function synqRelease(e: i32): void {
  const l = <i32>unchecked(sListener[e]);
  unchecked(lSynq[l] = unchecked(lSynq[l]) - 1);
  if (unchecked(sNumTo[e]) == 0) unchecked(lYoung[l] = unchecked(lYoung[l]) - 1);
  synFree(e);
  listenerMaybeFree(l);
}

/**
 * A connection for a completed handshake, from a SYN-queue entry's fields: ESTABLISHED with
 * SND.UNA = SND.NXT = ISS+1, RCV.NXT = IRS+1. Returns -1 when no connection record is free.
 * The entry itself is left for the caller to release.
 */
export function childFromEmbryo(e: i32, rcvBuf: u32, rcvWs: u32, tsOff: u32, peerWnd: u32): i32 {
  const l = <i32>unchecked(sListener[e]);
  const c = connAlloc(<i32>unchecked(sIface[e]), synLaddr(e), <u32>unchecked(sLport[e]),
    unchecked(sRaddr[e]), <u32>unchecked(sRport[e]), (unchecked(lFlags[l]) & LFL_REUSEADDR) != 0);
  if (c < 0) return -1;
  if ((unchecked(lFlags[l]) & LFL_REUSEPORT) != 0) connSetReusePort(c);
  const f = unchecked(sFlags[e]);
  const iss = unchecked(sIss[e]);
  unchecked(cIss[c] = iss); unchecked(cIrs[c] = unchecked(sIrs[e]));
  unchecked(cSndUna[c] = iss + 1); unchecked(cSndNxt[c] = iss + 1);
  unchecked(cRcvNxt[c] = unchecked(sIrs[e]) + 1);
  const ws = (f & SF_WS) != 0;
  unchecked(cSndWs[c] = ws ? unchecked(sSndWs[e]) : 0);
  unchecked(cRcvWs[c] = ws ? <u8>rcvWs : 0);
  unchecked(cSndWnd[c] = peerWnd << (ws ? <u32>unchecked(sSndWs[e]) : 0));
  unchecked(cRcvBuf[c] = rcvBuf);
  let mss = <u32>unchecked(sMss[e]);
  if (mss == 0 || mss > ourMss()) mss = mss == 0 ? 536 : ourMss();
  unchecked(cMss[c] = <u16>mss);
  unchecked(cTsRecent[c] = unchecked(sTsRecent[e]));
  unchecked(cTsOff[c] = tsOff);
  let cf = unchecked(cFlags[c]);
  if ((f & SF_TS) != 0) cf |= CF_TS;
  if ((f & SF_SACK) != 0) cf |= CF_SACK;
  if (ws) cf |= CF_WS;
  unchecked(cFlags[c] = cf);
  connEstablish(c);
  count(C_TCP_PASSIVE_OPENS);
  return c;
}

/** A connection straight from the current segment (a valid cookie: no SYN-queue entry). */
export function childFromCookie(iface: i32, laddr: u32, lport: u32, raddr: u32, rport: u32, listener: i32,
  iss: u32, irs: u32, mss: u32, sndWs: i32, sack: bool, ts: bool, tsRecent: u32, tsOff: u32,
  rcvBuf: u32, rcvWs: u32, peerWnd: u32): i32 {
  const c = connAlloc(iface, laddr, lport, raddr, rport, (unchecked(lFlags[listener]) & LFL_REUSEADDR) != 0);
  if (c < 0) return -1;
  if ((unchecked(lFlags[listener]) & LFL_REUSEPORT) != 0) connSetReusePort(c);
  unchecked(cIss[c] = iss); unchecked(cIrs[c] = irs);
  unchecked(cSndUna[c] = iss + 1); unchecked(cSndNxt[c] = iss + 1);
  unchecked(cRcvNxt[c] = irs + 1);
  const ws = sndWs >= 0;
  unchecked(cSndWs[c] = ws ? <u8>sndWs : 0);
  unchecked(cRcvWs[c] = ws ? <u8>rcvWs : 0);
  unchecked(cSndWnd[c] = peerWnd << (ws ? <u32>sndWs : 0));
  unchecked(cRcvBuf[c] = rcvBuf);
  unchecked(cMss[c] = <u16>mss);
  unchecked(cTsRecent[c] = tsRecent); unchecked(cTsOff[c] = tsOff);
  let cf = unchecked(cFlags[c]);
  if (ts) cf |= CF_TS;
  if (sack) cf |= CF_SACK;
  if (ws) cf |= CF_WS;
  unchecked(cFlags[c] = cf);
  connEstablish(c);
  count(C_TCP_PASSIVE_OPENS);
  return c;
}

/** ms clock for timestamps: Linux and FreeBSD tick TSval in milliseconds. */
@inline export function msNow(): u32 { return NOW; }
