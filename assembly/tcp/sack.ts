// The SACK scoreboard of the sender and RFC 6675's routines over it: Update(), IsLost(), SetPipe()
// and NextSeg(). send.ts calls them from ACK processing, its output loop and the retransmission
// timer; cc.ts decides the window.
//
// Memory: a connection holds a scoreboard slot only while the peer has SACKed data above SND.UNA
// or a SACK-driven recovery runs; slots come from one pool allocated in sbInit (at most SB_SLOTS),
// so idle connections cost the 2-byte slot index and nothing else. A slot keeps up to SB_RANGES
// disjoint SACKed ranges (sorted, merged); when a fifth would be needed the highest is forgotten,
// which only makes IsLost() more cautious. A connection that finds the pool empty falls back to
// NewReno for that ACK (counted in WtcpSackNoScoreboard).
//
// Sequence numbers: HighACK = SND.UNA, HighData = SND.MAX, HighRxt is kept as the end (exclusive)
// of the highest retransmitted byte, RecoveryPoint is cc.ts's recover.
import { count } from '../stack';
import { C_SACK_NO_SCOREBOARD, C_TCP_SACK_RENEGING } from '../abi';
import { seqLt, seqLe, seqGt, seqGe } from './seq';
import { optSackN, optSackL, optSackR } from './segment';

@inline const SB_RANGES: i32 = 4;
@inline const SB_MAX_SLOTS: i32 = 4096;
@inline const DUP_THRESH: u32 = 3;   // RFC 6675 §2 DupThresh

// slot flags
@inline const SBF_RECOVERY: u8 = 1;  // RFC 6675 §5 loss recovery: output by NextSeg() within cwnd - pipe
@inline const SBF_LOSS: u8 = 2;      // after an RTO (§5.1): every unSACKed byte below HighData counts as lost
@inline const SBF_RESCUE: u8 = 4;    // RescueRxt is defined

let sbOf: StaticArray<i16> = new StaticArray<i16>(0);     // per connection: slot or -1
let sbNextFree: StaticArray<i16> = new StaticArray<i16>(0);
let sbL: StaticArray<u32> = new StaticArray<u32>(0);       // slot * SB_RANGES + i
let sbR: StaticArray<u32> = new StaticArray<u32>(0);
let sbCnt: StaticArray<u8> = new StaticArray<u8>(0);
let sbFlags: StaticArray<u8> = new StaticArray<u8>(0);
let sbHighRxt: StaticArray<u32> = new StaticArray<u32>(0);
let sbRescue: StaticArray<u32> = new StaticArray<u32>(0);
let sbFree: i32 = -1;

/** NextSeg()'s answer: what to send. */
export let nsSeq: u32 = 0;
export let nsLen: i32 = 0;
@inline export const NS_NONE: i32 = 0;
@inline export const NS_LOST: i32 = 1;     // rule 1: a lost hole above HighRxt
@inline export const NS_NEW: i32 = 2;      // rule 2: new data
@inline export const NS_UNSACKED: i32 = 3; // rule 3: an unSACKed hole above HighRxt that is not (yet) lost
@inline export const NS_RESCUE: i32 = 4;   // rule 4: the rescue retransmission

export function sbInit(n: i32): void {
  let s = n < SB_MAX_SLOTS ? n : SB_MAX_SLOTS;
  if (s < 1) s = 1;
  sbOf = new StaticArray<i16>(n);
  for (let i = 0; i < n; i++) unchecked(sbOf[i] = -1);
  sbNextFree = new StaticArray<i16>(s);
  sbL = new StaticArray<u32>(s * SB_RANGES); sbR = new StaticArray<u32>(s * SB_RANGES);
  sbCnt = new StaticArray<u8>(s); sbFlags = new StaticArray<u8>(s);
  sbHighRxt = new StaticArray<u32>(s); sbRescue = new StaticArray<u32>(s);
  for (let i = 0; i < s; i++) unchecked(sbNextFree[i] = <i16>(i + 1 < s ? i + 1 : -1));
  sbFree = 0;
}

/** Give the slot back (the send buffer was emptied or freed). */
export function sbRelease(c: i32): void {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return;
  unchecked(sbNextFree[s] = <i16>sbFree); sbFree = s;
  unchecked(sbOf[c] = -1);
}

function sbTake(c: i32): i32 {
  if (sbFree < 0) { count(C_SACK_NO_SCOREBOARD); return -1; }
  const s = sbFree;
  sbFree = <i32>unchecked(sbNextFree[s]);
  unchecked(sbOf[c] = <i16>s);
  unchecked(sbCnt[s] = 0); unchecked(sbFlags[s] = 0);
  return s;
}

/** The connection has a scoreboard with SACKed data, or runs a SACK-driven recovery. */
export function sbActive(c: i32): bool {
  const s = <i32>unchecked(sbOf[c]);
  return s >= 0 && (unchecked(sbCnt[s]) > 0 || (unchecked(sbFlags[s]) & (SBF_RECOVERY | SBF_LOSS)) != 0);
}
export function sbInRecovery(c: i32): bool {
  const s = <i32>unchecked(sbOf[c]);
  return s >= 0 && (unchecked(sbFlags[s]) & (SBF_RECOVERY | SBF_LOSS)) != 0;
}
/** Whether the connection holds a slot (for tests: idle connections must not). */
export function sbHolds(c: i32): bool { return unchecked(sbOf[c]) >= 0; }
/** Ranges held (for tests). */
export function sbRanges(c: i32): i32 { const s = <i32>unchecked(sbOf[c]); return s < 0 ? 0 : <i32>unchecked(sbCnt[s]); }

/** Insert [l, r) into slot s (sorted, merged; at most SB_RANGES, the highest dropped). Returns bytes newly covered. */
function insertRange(s: i32, l: u32, r: u32): i32 {
  const base = s * SB_RANGES;
  let n = <i32>unchecked(sbCnt[s]);
  // bytes already covered inside [l, r)
  let covered: i32 = 0;
  for (let i = 0; i < n; i++) {
    const a = unchecked(sbL[base + i]), b = unchecked(sbR[base + i]);
    const lo = seqGt(a, l) ? a : l, hi = seqLt(b, r) ? b : r;
    if (seqLt(lo, hi)) covered += <i32>(hi - lo);
  }
  const added = <i32>(r - l) - covered;
  if (added <= 0) return 0;
  // merge every range that touches [l, r) into it, then re-insert in order
  let nl = l, nr = r;
  let w = 0;
  for (let i = 0; i < n; i++) {
    const a = unchecked(sbL[base + i]), b = unchecked(sbR[base + i]);
    if (seqLe(a, nr) && seqGe(b, nl)) {
      if (seqLt(a, nl)) nl = a;
      if (seqGt(b, nr)) nr = b;
    } else { unchecked(sbL[base + w] = a); unchecked(sbR[base + w] = b); w++; }
  }
  n = w;
  // position of the merged range
  let pos = 0;
  while (pos < n && seqLt(unchecked(sbL[base + pos]), nl)) pos++;
  if (n == SB_RANGES) {
    if (pos == SB_RANGES) return added;   // above all four: forgotten (IsLost stays cautious)
    n--;                                  // forget the highest
  }
  for (let i = n; i > pos; i--) { unchecked(sbL[base + i] = unchecked(sbL[base + i - 1])); unchecked(sbR[base + i] = unchecked(sbR[base + i - 1])); }
  unchecked(sbL[base + pos] = nl); unchecked(sbR[base + pos] = nr);
  unchecked(sbCnt[s] = <u8>(n + 1));
  return added;
}

/**
 * RFC 6675 Update(): fold the SACK blocks of the segment being processed into the scoreboard.
 * Blocks are believed only within (SND.UNA, SND.MAX] (RFC 2018 §4; a D-SACK below SND.UNA is
 * ignored). Returns the bytes newly SACKed, or -1 when no slot was free.
 */
export function sbUpdate(c: i32, una: u32, sndMax: u32): i32 {
  let s = <i32>unchecked(sbOf[c]);
  let added = 0;
  for (let b = 0; b < optSackN; b++) {
    let l = unchecked(optSackL[b]);
    const r = unchecked(optSackR[b]);
    if (!seqLt(l, r) || seqLe(r, una) || seqGt(r, sndMax)) continue;
    if (seqLt(l, una)) l = una;
    if (s < 0) { s = sbTake(c); if (s < 0) return -1; unchecked(sbHighRxt[s] = una); }
    added += insertRange(s, l, r);
  }
  return added;
}

/**
 * SND.UNA moved to `una`: drop what it covers. A cumulative ACK that stops exactly where a SACKed
 * range begins means the receiver threw that data away (reneging, RFC 2018 §8): forget the
 * scoreboard. The slot goes back to the pool once nothing is SACKed and no recovery runs.
 */
export function sbAdvance(c: i32, una: u32): void {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return;
  const base = s * SB_RANGES;
  let n = <i32>unchecked(sbCnt[s]);
  let w = 0;
  for (let i = 0; i < n; i++) {
    let a = unchecked(sbL[base + i]);
    const b = unchecked(sbR[base + i]);
    if (seqLe(b, una)) continue;
    if (seqLt(a, una)) a = una;
    unchecked(sbL[base + w] = a); unchecked(sbR[base + w] = b); w++;
  }
  n = w;
  if (n > 0 && unchecked(sbL[base]) == una) { count(C_TCP_SACK_RENEGING); n = 0; }
  unchecked(sbCnt[s] = <u8>n);
  if (seqLt(unchecked(sbHighRxt[s]), una)) unchecked(sbHighRxt[s] = una);
  if (n == 0 && (unchecked(sbFlags[s]) & (SBF_RECOVERY | SBF_LOSS)) == 0) sbRelease(c);
}

/** Forget all SACK information (keeps the slot if a recovery runs). */
export function sbClear(c: i32): void {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return;
  unchecked(sbCnt[s] = 0);
  if ((unchecked(sbFlags[s]) & (SBF_RECOVERY | SBF_LOSS)) == 0) sbRelease(c);
}

/** Enter RFC 6675 §5 loss recovery (`loss`: after an RTO, §5.1). HighRxt = HighACK; RescueRxt undefined. */
export function sbStartRecovery(c: i32, una: u32, loss: bool): bool {
  let s = <i32>unchecked(sbOf[c]);
  if (s < 0) { s = sbTake(c); if (s < 0) return false; }
  unchecked(sbFlags[s] = loss ? SBF_LOSS : SBF_RECOVERY);
  unchecked(sbHighRxt[s] = una);
  return true;
}
export function sbEndRecovery(c: i32): void {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return;
  unchecked(sbFlags[s] = 0);
  if (unchecked(sbCnt[s]) == 0) sbRelease(c);
}

/** RFC 6675 IsLost(seq): DupThresh SACKed ranges above it, or more than (DupThresh - 1) * SMSS SACKed bytes above it. */
export function sbIsLost(c: i32, seq: u32, mss: i32): bool {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return false;
  if ((unchecked(sbFlags[s]) & SBF_LOSS) != 0) return true;
  const base = s * SB_RANGES;
  const n = <i32>unchecked(sbCnt[s]);
  let bytes: u32 = 0, blocks: u32 = 0;
  for (let i = 0; i < n; i++) {
    const a = unchecked(sbL[base + i]), b = unchecked(sbR[base + i]);
    if (seqLe(b, seq)) continue;
    blocks++;
    bytes += seqGt(a, seq) ? b - a : b - seq - 1;
  }
  return blocks >= DUP_THRESH || bytes > (DUP_THRESH - 1) * <u32>mss;
}

/** Whether the hole before range i (i == n: the data above the highest SACKed byte) counts as lost. */
function holeLost(s: i32, i: i32, mss: i32): bool {
  if ((unchecked(sbFlags[s]) & SBF_LOSS) != 0) return true;
  const base = s * SB_RANGES;
  const n = <i32>unchecked(sbCnt[s]);
  let bytes: u32 = 0;
  for (let j = i; j < n; j++) bytes += unchecked(sbR[base + j]) - unchecked(sbL[base + j]);
  return <u32>(n - i) >= DUP_THRESH || bytes > (DUP_THRESH - 1) * <u32>mss;
}

/**
 * RFC 6675 SetPipe(): bytes in flight = unSACKed bytes between HighACK and HighData not deemed
 * lost, plus those retransmitted (below HighRxt). Computed per hole: IsLost() is the same for every
 * byte of a hole, since what is SACKed above them is the same.
 */
export function sbPipe(c: i32, una: u32, sndMax: u32, mss: i32): u32 {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return sndMax - una;
  const base = s * SB_RANGES;
  const n = <i32>unchecked(sbCnt[s]);
  const hr = unchecked(sbHighRxt[s]);
  let pipe: u32 = 0;
  let start = una;
  for (let i = 0; i <= n; i++) {
    const end = i < n ? unchecked(sbL[base + i]) : sndMax;
    if (seqLt(start, end)) {
      if (!holeLost(s, i, mss)) pipe += end - start;
      if (seqGt(hr, start)) pipe += (seqLt(hr, end) ? hr : end) - start;
    }
    if (i < n) start = unchecked(sbR[base + i]);
  }
  return pipe;
}

/**
 * RFC 6675 NextSeg(). `newOk`: unsent data exists and the peer's window takes it (rule 2).
 * Returns NS_* and, for retransmissions, nsSeq / nsLen (at most one MSS, never into SACKed data).
 */
export function sbNextSeg(c: i32, una: u32, sndMax: u32, mss: i32, newOk: bool): i32 {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return newOk ? NS_NEW : NS_NONE;
  const base = s * SB_RANGES;
  const n = <i32>unchecked(sbCnt[s]);
  const hr = unchecked(sbHighRxt[s]);
  const loss = (unchecked(sbFlags[s]) & SBF_LOSS) != 0;
  // rule 1: the lowest lost unSACKed byte at or above HighRxt, below the highest SACKed byte (in
  // the loss state after an RTO, below HighData)
  let start = una;
  for (let i = 0; i <= n; i++) {
    const end = i < n ? unchecked(sbL[base + i]) : sndMax;
    if (i == n && !loss) break;
    const s2 = seqGt(hr, start) ? hr : start;
    if (seqLt(s2, end) && holeLost(s, i, mss)) return answer(s2, end, mss, NS_LOST);
    if (i < n) start = unchecked(sbR[base + i]);
  }
  // rule 2: new data
  if (newOk) return NS_NEW;
  // rule 3: an unSACKed byte at or above HighRxt below the highest SACKed byte, lost or not
  start = una;
  for (let i = 0; i < n; i++) {
    const end = unchecked(sbL[base + i]);
    const s3 = seqGt(hr, start) ? hr : start;
    if (seqLt(s3, end)) return answer(s3, end, mss, NS_UNSACKED);
    start = unchecked(sbR[base + i]);
  }
  // rule 4: one rescue retransmission per recovery, of the highest outstanding unSACKed segment,
  // when HighACK has passed RescueRxt (or it is undefined); HighRxt is left alone
  const f = unchecked(sbFlags[s]);
  if ((f & SBF_RECOVERY) != 0 && ((f & SBF_RESCUE) == 0 || seqGt(una, unchecked(sbRescue[s])))) {
    // the top hole: from the highest SACKed byte (or SND.UNA) to HighData
    const lo = n > 0 ? unchecked(sbR[base + n - 1]) : una;
    if (seqLt(lo, sndMax)) {
      let a = sndMax - <u32>mss;
      if (seqLt(a, lo)) a = lo;
      return answer(a, sndMax, mss, NS_RESCUE);
    }
  }
  return NS_NONE;
}

function answer(seq: u32, end: u32, mss: i32, kind: i32): i32 {
  let len = <i32>(end - seq);
  if (len > mss) len = mss;
  nsSeq = seq; nsLen = len;
  return kind;
}

/** A retransmission of [seq, seq + len) went out: HighRxt follows (rules 1 and 3), RescueRxt is set (rule 4). */
export function sbSent(c: i32, kind: i32, seq: u32, len: i32, recoveryPoint: u32): void {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return;
  if (kind == NS_RESCUE) {
    unchecked(sbRescue[s] = recoveryPoint);
    unchecked(sbFlags[s] = unchecked(sbFlags[s]) | SBF_RESCUE);
    return;
  }
  const e = seq + <u32>len;
  if (seqGt(e, unchecked(sbHighRxt[s]))) unchecked(sbHighRxt[s] = e);
}

/** End of the SACKed range containing `seq`, or `seq` (for the go-back-N path, which skips SACKed data). */
export function sbSkip(c: i32, seq: u32): u32 {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return seq;
  const base = s * SB_RANGES;
  const n = <i32>unchecked(sbCnt[s]);
  for (let i = 0; i < n; i++) {
    if (seqGe(seq, unchecked(sbL[base + i])) && seqLt(seq, unchecked(sbR[base + i]))) return unchecked(sbR[base + i]);
  }
  return seq;
}

/** Bytes from `seq` to the next SACKed range (0x7FFFFFFF if none above). */
export function sbRoomBefore(c: i32, seq: u32): i32 {
  const s = <i32>unchecked(sbOf[c]);
  if (s < 0) return 0x7FFFFFFF;
  const base = s * SB_RANGES;
  const n = <i32>unchecked(sbCnt[s]);
  for (let i = 0; i < n; i++) {
    const a = unchecked(sbL[base + i]);
    if (seqGt(a, seq)) return <i32>(a - seq);
  }
  return 0x7FFFFFFF;
}
