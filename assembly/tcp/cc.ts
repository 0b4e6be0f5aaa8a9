// Congestion control: the congestion window each connection sends within, behind the hooks that
// send.ts calls (reset, start, ACK of new data, duplicate ACK, entry into SACK recovery,
// retransmission timeout). Two algorithms, chosen per connection (TCP_CONGESTION; the default from
// net.ipv4.tcp_congestion_control / net.inet.tcp.cc.algorithm):
//   - NewReno (Linux "reno", FreeBSD "newreno"): RFC 5681 slow start and congestion avoidance,
//     fast retransmit on the third duplicate ACK, RFC 6582 recovery until the ACK covers everything
//     sent when loss was detected;
//   - CUBIC (RFC 9438): the same slow start and loss recovery, a window that follows
//     W_cubic(t) = C(t-K)^3 + W_max in congestion avoidance, never below the Reno-friendly W_est,
//     multiplicative decrease by beta_cubic = 0.7 and fast convergence.
// Loss recovery with SACK (RFC 6675) lives in sack.ts and send.ts; it asks this file for the
// reduction (ccEnterSackRecovery) and keeps cwnd fixed while it runs.
//
// Per-connection cost: cwnd, ssthresh, recover (4 bytes each), dup-ACK count and a state byte, and
// 14 bytes of CUBIC state (W_max, epoch start, K, W_est) — all in structure-of-arrays, allocated in
// ccInit.
import { knob, NOW } from '../stack';
import { K_FAMILY, FAMILY_BSD43, K_TCP_CC_DEFAULT, CC_CUBIC, CC_RENO } from '../abi';
import { seqGe } from './seq';
import { cSndUna } from './conn';
import { cSndMax, cSrtt } from './send';

export let cCwnd: StaticArray<u32> = new StaticArray<u32>(0);
let cSsthresh: StaticArray<u32> = new StaticArray<u32>(0);
let cDupAcks: StaticArray<u8> = new StaticArray<u8>(0);
let cRecover: StaticArray<u32> = new StaticArray<u32>(0);
let cCcState: StaticArray<u8> = new StaticArray<u8>(0);
// CUBIC (RFC 9438 §4): W_max in bytes, start of the congestion-avoidance epoch (ms), K (ms),
// the Reno-friendly estimate W_est in bytes
let cCuWmax: StaticArray<u32> = new StaticArray<u32>(0);
let cCuEpoch: StaticArray<u32> = new StaticArray<u32>(0);
let cCuK: StaticArray<u16> = new StaticArray<u16>(0);
let cCuWest: StaticArray<u32> = new StaticArray<u32>(0);

// cCcState bits
@inline const S_RECOVERY: u8 = 1;    // in fast recovery (NewReno) or SACK loss recovery
@inline const S_CUBIC: u8 = 2;       // the connection's algorithm is CUBIC
@inline const S_EPOCH: u8 = 4;       // CUBIC: a congestion-avoidance epoch has started (cCuEpoch/K valid)
@inline const S_SACK_REC: u8 = 8;    // the recovery is RFC 6675's: no inflation, cwnd fixed, pipe governs
@inline const S_AFTER_RTO: u8 = 16;  // RFC 6582 §4 / RFC 6675 §5.1: no new recovery until ACK >= recover

@inline const DUPACK_THRESHOLD: u8 = 3;   // RFC 5681 §3.2, RFC 6675 DupThresh
@inline const INIT_CWND_SEGS: u32 = 10;   // RFC 6928 (Linux TCP_INIT_CWND, FreeBSD initcwnd_segments)
@inline const CUBIC_C: f64 = 0.4;         // RFC 9438 §5.1
@inline const CUBIC_BETA: f64 = 0.7;      // RFC 9438 §4.6 beta_cubic
// RFC 9438 §4.3: alpha_cubic = 3 (1 - beta) / (1 + beta), so that W_est grows as Reno would on average
@inline const CUBIC_ALPHA: f64 = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);

export function ccInit(n: i32): void {
  cCwnd = new StaticArray<u32>(n); cSsthresh = new StaticArray<u32>(n);
  cDupAcks = new StaticArray<u8>(n); cRecover = new StaticArray<u32>(n); cCcState = new StaticArray<u8>(n);
  cCuWmax = new StaticArray<u32>(n); cCuEpoch = new StaticArray<u32>(n);
  cCuK = new StaticArray<u16>(n); cCuWest = new StaticArray<u32>(n);
}

/** A new connection record: the algorithm is the stack's default until TCP_CONGESTION changes it. */
export function ccReset(c: i32): void {
  unchecked(cCcState[c] = knob(K_TCP_CC_DEFAULT) == CC_CUBIC ? S_CUBIC : 0);
  unchecked(cDupAcks[c] = 0);
  unchecked(cCuWmax[c] = 0);
}

/** TCP_CONGESTION: 0 NewReno, 1 CUBIC. Switching keeps cwnd and ssthresh (as Linux's tcp_reinit_congestion_control does). */
export function ccSetAlgo(c: i32, algo: i32): bool {
  if (algo != CC_RENO && algo != CC_CUBIC) return false;
  const s = unchecked(cCcState[c]) & ~(S_CUBIC | S_EPOCH);
  unchecked(cCcState[c] = algo == CC_CUBIC ? s | S_CUBIC : s);
  unchecked(cCuWmax[c] = 0);
  return true;
}
export function ccAlgo(c: i32): i32 { return (unchecked(cCcState[c]) & S_CUBIC) != 0 ? CC_CUBIC : CC_RENO; }

/** A connection became synchronized. 4.3BSD (before Tahoe) had no congestion control: only the peer's window limits it. */
export function ccOnStart(c: i32, mss: i32): void {
  unchecked(cCwnd[c] = knob(K_FAMILY) == FAMILY_BSD43 ? 0x7FFFFFFF : INIT_CWND_SEGS * <u32>mss);
  unchecked(cSsthresh[c] = 0x7FFFFFFF);
  unchecked(cDupAcks[c] = 0);
  unchecked(cCcState[c] = unchecked(cCcState[c]) & S_CUBIC);
  unchecked(cCuWmax[c] = 0);
}

@inline export function ccInRecovery(c: i32): bool { return (unchecked(cCcState[c]) & S_RECOVERY) != 0; }
@inline export function ccInSackRecovery(c: i32): bool { return (unchecked(cCcState[c]) & S_SACK_REC) != 0; }
/** RFC 6675 RecoveryPoint / RFC 6582 recover. */
@inline export function ccRecover(c: i32): u32 { return unchecked(cRecover[c]); }
/** After an RTO, until the ACK passes the point it recorded (Linux's Loss state: TCPSlowStartRetrans). */
@inline export function ccAfterRto(c: i32): bool { return (unchecked(cCcState[c]) & S_AFTER_RTO) != 0; }
/** Whether a new loss recovery may start (not before the ACK passes the point an RTO recorded). */
@inline export function ccMayRecover(c: i32): bool { return (unchecked(cCcState[c]) & (S_RECOVERY | S_AFTER_RTO)) == 0; }

/**
 * `acked` new bytes were acknowledged (SND.UNA not yet moved). Returns true for a partial ACK in
 * NewReno recovery: the caller retransmits the first unacknowledged segment (RFC 6582 §3.2 step 3).
 */
export function ccOnAck(c: i32, acked: u32, mss: i32): bool {
  unchecked(cDupAcks[c] = 0);
  if (knob(K_FAMILY) == FAMILY_BSD43) return false;
  const m = <u32>mss;
  const ack = unchecked(cSndUna[c]) + acked;
  let st = unchecked(cCcState[c]);
  if ((st & S_AFTER_RTO) != 0 && seqGe(ack, unchecked(cRecover[c]))) { st &= ~S_AFTER_RTO; unchecked(cCcState[c] = st); }
  if ((st & S_RECOVERY) != 0) {
    if (seqGe(ack, unchecked(cRecover[c]))) {
      // full ACK (RFC 6582 §3.2 step 3; RFC 6675 §5 step (A)): recovery ends with cwnd = ssthresh
      unchecked(cCcState[c] = st & ~(S_RECOVERY | S_SACK_REC));
      unchecked(cCwnd[c] = unchecked(cSsthresh[c]));
      return false;
    }
    // SACK recovery: cwnd stays at ssthresh, the pipe estimate decides what is sent (RFC 6675 §5)
    if ((st & S_SACK_REC) != 0) return false;
    // partial ACK: deflate by the amount acknowledged, add back one MSS
    const cw = unchecked(cCwnd[c]);
    unchecked(cCwnd[c] = (cw > acked ? cw - acked : 0) + m);
    return true;
  }
  const cw = unchecked(cCwnd[c]);
  if (cw < unchecked(cSsthresh[c])) {
    unchecked(cCwnd[c] = cw + (acked < m ? acked : m));   // slow start (RFC 5681 eq. 2)
    return false;
  }
  if ((st & S_CUBIC) != 0) { cubicOnAck(c, acked, m); return false; }
  const inc = m * m / (cw > 0 ? cw : 1);   // congestion avoidance, RFC 5681 eq. 3
  unchecked(cCwnd[c] = cw + (inc > 0 ? inc : 1));
  return false;
}

/**
 * RFC 9438 §4.2-4.5, for one ACK of `acked` bytes in congestion avoidance. Windows in segments
 * (f64), time in seconds; the state is kept in bytes and milliseconds.
 */
function cubicOnAck(c: i32, acked: u32, m: u32): void {
  const cw = unchecked(cCwnd[c]);
  const mf = <f64>m;
  let st = unchecked(cCcState[c]);
  if ((st & S_EPOCH) == 0) {
    // the first ACK of a congestion-avoidance stage starts the epoch (§4.2): cwnd_epoch = cwnd,
    // K = cbrt((W_max - cwnd_epoch) / C); above W_max (no loss yet, or after an RTO, §4.8) K = 0
    // and W_max is cwnd_epoch
    unchecked(cCcState[c] = st | S_EPOCH);
    unchecked(cCuEpoch[c] = NOW);
    const wmax = unchecked(cCuWmax[c]);
    if (wmax <= cw) { unchecked(cCuWmax[c] = cw); unchecked(cCuK[c] = 0); }
    else {
      let k = Math.cbrt(<f64>(wmax - cw) / mf / CUBIC_C) * 1000.0;
      if (k > 65535.0) k = 65535.0;
      unchecked(cCuK[c] = <u16>k);
    }
    unchecked(cCuWest[c] = cw);   // §4.3: W_est = cwnd_epoch
  }
  const w = <f64>cw / mf;
  const wmaxS = <f64>unchecked(cCuWmax[c]) / mf;
  const k = <f64>unchecked(cCuK[c]) / 1000.0;
  const t = <f64>(NOW - unchecked(cCuEpoch[c])) / 1000.0;
  const rtt = <f64>(unchecked(cSrtt[c]) >> 3) / 1000.0;
  const segs = <f64>acked / mf;
  // §4.3 Reno-friendly region: W_est grows by alpha_cubic per window acknowledged, by 1 once it has
  // passed cwnd_prior (approximated as ssthresh / beta: ssthresh = FlightSize * beta at the loss)
  let west = <f64>unchecked(cCuWest[c]) / mf;
  const prior = <f64>unchecked(cSsthresh[c]) / CUBIC_BETA / mf;
  west += (west >= prior ? 1.0 : CUBIC_ALPHA) * segs / w;
  unchecked(cCuWest[c] = <u32>(west * mf + 0.5));
  const dt = t - k;
  const wcubic = CUBIC_C * dt * dt * dt + wmaxS;
  let nw: f64;
  if (wcubic < west) nw = west;   // Reno-friendly: cwnd = W_est
  else {
    // §4.4 concave / §4.5 convex: aim at W_cubic(t + RTT), at least cwnd and at most 1.5 cwnd,
    // and move cwnd by (target - cwnd) / cwnd per segment acknowledged
    const d2 = t + rtt - k;
    let target = CUBIC_C * d2 * d2 * d2 + wmaxS;
    if (target < w) target = w; else if (target > 1.5 * w) target = 1.5 * w;
    nw = w + (target - w) / w * segs;
  }
  let nb = nw * mf;
  if (nb > 2147483647.0) nb = 2147483647.0;
  const nc = <u32>nb;
  if (nc > cw) unchecked(cCwnd[c] = nc);
}

/** ssthresh after a loss (RFC 5681 eq. 4; RFC 9438 §4.6 with fast convergence §4.7). */
function lossSsthresh(c: i32, flight: u32, m: u32): u32 {
  let ss: u32;
  if ((unchecked(cCcState[c]) & S_CUBIC) != 0) {
    const cw = unchecked(cCwnd[c]);
    // §4.7 fast convergence: a window that stopped short of the previous W_max gives up more
    const wmax = unchecked(cCuWmax[c]);
    unchecked(cCuWmax[c] = cw < wmax ? <u32>(<f64>cw * (1.0 + CUBIC_BETA) / 2.0) : cw);
    ss = <u32>(<f64>flight * CUBIC_BETA);
    unchecked(cCcState[c] = unchecked(cCcState[c]) & ~S_EPOCH);
  } else ss = flight >> 1;
  if (ss < 2 * m) ss = 2 * m;
  return ss;
}

/** Count one duplicate ACK (RFC 6675's definition, for the SACK path); returns the count so far. */
export function ccCountDupAck(c: i32): u8 {
  const d = unchecked(cDupAcks[c]);
  const n: u8 = d < 255 ? d + 1 : d;
  unchecked(cDupAcks[c] = n);
  return n;
}
@inline export function ccDupThresh(): u8 { return DUPACK_THRESHOLD; }

/** A duplicate ACK (no SACK scoreboard); returns true when the segment at SND.UNA should be retransmitted now. */
export function ccOnDupAck(c: i32, mss: i32, flight: u32): bool {
  if (knob(K_FAMILY) == FAMILY_BSD43) return false;
  const m = <u32>mss;
  const d = unchecked(cDupAcks[c]);
  if ((unchecked(cCcState[c]) & S_RECOVERY) != 0) { unchecked(cCwnd[c] = unchecked(cCwnd[c]) + m); return false; }   // inflate
  if (d + 1 < DUPACK_THRESHOLD) { unchecked(cDupAcks[c] = d + 1); return false; }
  unchecked(cDupAcks[c] = 0);
  // RFC 6582 §3.2 step 2 / §4: not again before the ACK passes what an RTO left to recover
  if ((unchecked(cCcState[c]) & S_AFTER_RTO) != 0) return false;
  // RFC 5681 eq. 4 and §3.2 step 3; RFC 6582: recover = highest sequence sent
  const ss = lossSsthresh(c, flight, m);
  unchecked(cSsthresh[c] = ss);
  unchecked(cCwnd[c] = ss + 3 * m);
  unchecked(cRecover[c] = unchecked(cSndMax[c]));
  unchecked(cCcState[c] = unchecked(cCcState[c]) | S_RECOVERY);
  return true;
}

/** RFC 6675 §5 step (4.1)-(4.2): RecoveryPoint = HighData, ssthresh per the algorithm, cwnd = ssthresh. */
export function ccEnterSackRecovery(c: i32, flight: u32, mss: i32): void {
  const ss = lossSsthresh(c, flight, <u32>mss);
  unchecked(cSsthresh[c] = ss);
  unchecked(cCwnd[c] = ss);
  unchecked(cRecover[c] = unchecked(cSndMax[c]));
  unchecked(cDupAcks[c] = 0);
  unchecked(cCcState[c] = unchecked(cCcState[c]) | S_RECOVERY | S_SACK_REC);
}

/**
 * Retransmission timeout (RFC 5681 eq. 4, loss window of one segment; RFC 9438 §4.8: ssthresh by
 * beta_cubic, and the next epoch starts with K = 0 and W_max = cwnd_epoch). Recovery ends; no new
 * one starts before the ACK passes SND.MAX as it is now (RFC 6582 §4, RFC 6675 §5.1).
 */
export function ccOnTimeout(c: i32, flight: u32, mss: i32): void {
  unchecked(cDupAcks[c] = 0);
  const st = unchecked(cCcState[c]);
  if (knob(K_FAMILY) == FAMILY_BSD43) { unchecked(cCcState[c] = st & ~(S_RECOVERY | S_SACK_REC)); return; }
  unchecked(cCcState[c] = (st & ~(S_RECOVERY | S_SACK_REC)) | S_AFTER_RTO);
  unchecked(cRecover[c] = unchecked(cSndMax[c]));
  const m = <u32>mss;
  const ss = lossSsthresh(c, flight, m);
  unchecked(cSsthresh[c] = ss);
  unchecked(cCwnd[c] = m);
  unchecked(cCuWmax[c] = 0);   // §4.8
}

/** For the host's getters. */
export function ccCwnd(c: i32): u32 { return unchecked(cCwnd[c]); }
export function ccSsthresh(c: i32): u32 { return unchecked(cSsthresh[c]); }
/** CUBIC's W_max and K (ms), for tests and the host's getters. */
export function ccCubicWmax(c: i32): u32 { return unchecked(cCuWmax[c]); }
export function ccCubicK(c: i32): u32 { return <u32>unchecked(cCuK[c]); }
