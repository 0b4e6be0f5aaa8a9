// Congestion control: the congestion window each connection sends within, behind four hooks that
// send.ts calls (start, ACK of new data, duplicate ACK, retransmission timeout). NewReno
// (RFC 5681 slow start and congestion avoidance, fast retransmit on the third duplicate ACK,
// RFC 6582 recovery until the ACK covers everything sent when loss was detected). CUBIC
// (RFC 9438) is to come as a second algorithm behind the same hooks, chosen per socket.
import { knob } from '../stack';
import { K_FAMILY, FAMILY_BSD43 } from '../abi';
import { seqGe } from './seq';
import { cSndUna } from './conn';
import { cSndMax } from './send';

export let cCwnd: StaticArray<u32> = new StaticArray<u32>(0);
let cSsthresh: StaticArray<u32> = new StaticArray<u32>(0);
let cDupAcks: StaticArray<u8> = new StaticArray<u8>(0);
let cRecover: StaticArray<u32> = new StaticArray<u32>(0);
let cInRecovery: StaticArray<u8> = new StaticArray<u8>(0);

@inline const DUPACK_THRESHOLD: u8 = 3;   // RFC 5681 §3.2
@inline const INIT_CWND_SEGS: u32 = 10;   // RFC 6928 (Linux TCP_INIT_CWND, FreeBSD initcwnd_segments)

export function ccInit(n: i32): void {
  cCwnd = new StaticArray<u32>(n); cSsthresh = new StaticArray<u32>(n);
  cDupAcks = new StaticArray<u8>(n); cRecover = new StaticArray<u32>(n); cInRecovery = new StaticArray<u8>(n);
}

/** A connection became synchronized. 4.3BSD (before Tahoe) had no congestion control: only the peer's window limits it. */
export function ccOnStart(c: i32, mss: i32): void {
  unchecked(cCwnd[c] = knob(K_FAMILY) == FAMILY_BSD43 ? 0x7FFFFFFF : INIT_CWND_SEGS * <u32>mss);
  unchecked(cSsthresh[c] = 0x7FFFFFFF);
  unchecked(cDupAcks[c] = 0); unchecked(cInRecovery[c] = 0);
}

/**
 * `acked` new bytes were acknowledged (SND.UNA not yet moved). Returns true for a partial ACK in
 * recovery: the caller retransmits the first unacknowledged segment (RFC 6582 §3.2 step 3).
 */
export function ccOnAck(c: i32, acked: u32, mss: i32): bool {
  unchecked(cDupAcks[c] = 0);
  if (knob(K_FAMILY) == FAMILY_BSD43) return false;
  const m = <u32>mss;
  if (unchecked(cInRecovery[c]) != 0) {
    const ack = unchecked(cSndUna[c]) + acked;
    if (seqGe(ack, unchecked(cRecover[c]))) {
      // full ACK (RFC 6582 §3.2 step 3): deflate to ssthresh
      unchecked(cInRecovery[c] = 0);
      unchecked(cCwnd[c] = unchecked(cSsthresh[c]));
      return false;
    }
    // partial ACK: deflate by the amount acknowledged, add back one MSS
    const cw = unchecked(cCwnd[c]);
    unchecked(cCwnd[c] = (cw > acked ? cw - acked : 0) + m);
    return true;
  }
  const cw = unchecked(cCwnd[c]);
  if (cw < unchecked(cSsthresh[c])) unchecked(cCwnd[c] = cw + (acked < m ? acked : m));   // slow start (RFC 5681 eq. 2)
  else {
    const inc = m * m / (cw > 0 ? cw : 1);   // eq. 3
    unchecked(cCwnd[c] = cw + (inc > 0 ? inc : 1));
  }
  return false;
}

/** A duplicate ACK; returns true when the segment at SND.UNA should be retransmitted now. */
export function ccOnDupAck(c: i32, mss: i32, flight: u32): bool {
  if (knob(K_FAMILY) == FAMILY_BSD43) return false;
  const m = <u32>mss;
  const d = unchecked(cDupAcks[c]);
  if (unchecked(cInRecovery[c]) != 0) { unchecked(cCwnd[c] = unchecked(cCwnd[c]) + m); return false; }   // inflate
  if (d + 1 < DUPACK_THRESHOLD) { unchecked(cDupAcks[c] = d + 1); return false; }
  unchecked(cDupAcks[c] = 0);
  // RFC 5681 eq. 4 and §3.2 step 3; RFC 6582: recover = highest sequence sent
  let ss = flight >> 1; if (ss < 2 * m) ss = 2 * m;
  unchecked(cSsthresh[c] = ss);
  unchecked(cCwnd[c] = ss + 3 * m);
  unchecked(cRecover[c] = unchecked(cSndMax[c]));
  unchecked(cInRecovery[c] = 1);
  return true;
}

/** Retransmission timeout (RFC 5681 eq. 4, loss window of one segment). */
export function ccOnTimeout(c: i32, flight: u32, mss: i32): void {
  unchecked(cDupAcks[c] = 0); unchecked(cInRecovery[c] = 0);
  if (knob(K_FAMILY) == FAMILY_BSD43) return;
  const m = <u32>mss;
  let ss = flight >> 1; if (ss < 2 * m) ss = 2 * m;
  unchecked(cSsthresh[c] = ss);
  unchecked(cCwnd[c] = m);
}

/** For the host's getters. */
export function ccCwnd(c: i32): u32 { return unchecked(cCwnd[c]); }
export function ccSsthresh(c: i32): u32 { return unchecked(cSsthresh[c]); }
