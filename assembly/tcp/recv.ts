// Receive-side reassembly: segments that arrive above RCV.NXT wait here, one chunk of the shared
// pool each, in a per-connection list sorted by sequence number, until the gap before them is
// filled (RFC 9293 §3.10.7.4, seventh step: "segments with higher beginning sequence numbers may
// be held for later processing"). Bounded twice: only bytes inside the receive window are kept, and
// a connection holds at most a number of chunks derived from its receive buffer (so a peer sending
// tiny scattered segments cannot take the pool). Called by conn.ts; no SACK blocks yet (RFC 2018 is
// next: they would be built from this list).
import { NOW, knob, count } from '../stack';
import { C_NO_MEMORY, K_FAMILY, FAMILY_LINUX, FAMILY_FREEBSD } from '../abi';
import { timerSet, timerCancel, timerArmed } from './timer';
import { optNop, optSackBegin, optSackBlock, optRoom } from './output';
import { maxSynEntries } from './synq';
import { seqGt, seqGe, seqLe } from './seq';
import {
  cRcvNxt, cRcvBuf, connRcvWindow, connRxAppend, chunkTake, chunkGive, chunkNextOf, chunkSetNext, chunkLenOf,
  chunkSetLen, chunkPtr, CHUNK,
} from './conn';

let cOooHead: StaticArray<i32> = new StaticArray<i32>(0);
let cOooCount: StaticArray<u16> = new StaticArray<u16>(0);
let chunkSeq: StaticArray<u32> = new StaticArray<u32>(0);
let cOooLast: StaticArray<u32> = new StaticArray<u32>(0);   // sequence of the latest segment held

export function recvInit(n: i32, chunks: i32): void {
  cOooHead = new StaticArray<i32>(n); cOooCount = new StaticArray<u16>(n); cOooLast = new StaticArray<u32>(n);
  chunkSeq = new StaticArray<u32>(chunks);
  for (let i = 0; i < n; i++) unchecked(cOooHead[i] = -1);
}

/** Drop everything held (connection freed or reset). */
export function oooFree(c: i32): void {
  let k = unchecked(cOooHead[c]);
  while (k >= 0) { const nx = chunkNextOf(k); chunkGive(k); k = nx; }
  unchecked(cOooHead[c] = -1); unchecked(cOooCount[c] = 0);
}

@inline export function oooHeld(c: i32): bool { return unchecked(cOooHead[c]) >= 0; }

function oooLimit(c: i32): i32 {
  let n = <i32>(unchecked(cRcvBuf[c]) >> 10) + 4;
  if (n > 65535) n = 65535;
  return n;
}

/** Hold `len` bytes at `seq` (> RCV.NXT, inside the window). */
export function oooStore(c: i32, seq: u32, p: usize, len0: i32): void {
  const rn = unchecked(cRcvNxt[c]);
  const right = rn + connRcvWindow(c);
  let len = len0;
  if (seqGe(seq, right) || len <= 0) return;
  unchecked(cOooLast[c] = seq);
  if (seqGt(seq + <u32>len, right)) len = <i32>(right - seq);
  if (len > CHUNK) len = CHUNK;
  // where it goes: after every entry that starts at or before it
  let prev = -1;
  let k = unchecked(cOooHead[c]);
  while (k >= 0 && seqLe(unchecked(chunkSeq[k]), seq)) {
    // already held (a duplicate): keep the longer copy
    if (unchecked(chunkSeq[k]) == seq && chunkLenOf(k) >= len) return;
    prev = k; k = chunkNextOf(k);
  }
  if (<i32>unchecked(cOooCount[c]) >= oooLimit(c)) { count(C_NO_MEMORY); return; }
  const n = chunkTake();
  if (n < 0) { count(C_NO_MEMORY); return; }
  memory.copy(chunkPtr(n), p, len);
  chunkSetLen(n, len);
  unchecked(chunkSeq[n] = seq);
  chunkSetNext(n, k);
  if (prev >= 0) chunkSetNext(prev, n); else unchecked(cOooHead[c] = n);
  unchecked(cOooCount[c] = unchecked(cOooCount[c]) + 1);
}

/** After RCV.NXT moved: deliver every held segment that now continues the stream. Returns bytes delivered. */
export function oooDrain(c: i32): i32 {
  let total = 0;
  let k = unchecked(cOooHead[c]);
  while (k >= 0) {
    const rn = unchecked(cRcvNxt[c]);
    const s = unchecked(chunkSeq[k]);
    if (seqGt(s, rn)) break;
    const l = chunkLenOf(k);
    const end = s + <u32>l;
    if (seqGt(end, rn)) {
      const skip = <i32>(rn - s);
      let n = l - skip;
      const w = <i32>connRcvWindow(c);
      if (n > w) n = w;
      if (n > 0) {
        const got = connRxAppend(c, chunkPtr(k) + <usize>skip, n);
        unchecked(cRcvNxt[c] = rn + <u32>got);
        total += got;
      }
    }
    const nx = chunkNextOf(k);
    chunkGive(k);
    unchecked(cOooCount[c] = unchecked(cOooCount[c]) - 1);
    k = nx;
    unchecked(cOooHead[c] = k);
  }
  return total;
}

// ---- when to acknowledge (delayed ACKs) ----
// Linux (__tcp_ack_snd_check, tcp_event_data_recv): the first data starts "quick ACK" mode, up to
// TCP_MAX_QUICKACKS (16) segments ACKed at once; after that an ACK goes out when more than one
// full segment is unacknowledged or data is held out of order, else the delayed-ACK timer
// (TCP_ATO_MIN, 40 ms) sends it. FreeBSD (delacktime 100 ms, ACK every second segment) and 4.3BSD
// (200-ms fast timeout) still ACK every segment at once here: their delayed ACKs are to come.
@inline const LINUX_ATO_MIN: u32 = 40;
@inline const TCP_MAX_QUICKACKS: u8 = 16;
let cRcvWup: StaticArray<u32> = new StaticArray<u32>(0);   // RCV.NXT in the last segment we sent
let cQuick: StaticArray<u8> = new StaticArray<u8>(0);      // quick ACKs left; 255 = data not yet seen
let cRcvAdv: StaticArray<u32> = new StaticArray<u32>(0);   // the window we advertised with cRcvWup
let nConnR: i32 = 0;

export function ackInit(n: i32): void {
  nConnR = n;
  cRcvWup = new StaticArray<u32>(n); cQuick = new StaticArray<u8>(n); cRcvAdv = new StaticArray<u32>(n);
}
export function ackReset(c: i32): void { unchecked(cQuick[c] = 255); }

@inline function delackId(c: i32): i32 { return maxSynEntries() + nConnR + c; }
/** Timer ids the wheel needs for delayed ACKs: one per connection after the connection timers. */
export function delackTimerBase(): i32 { return maxSynEntries() + nConnR; }

/** Every segment we send carries ACK = RCV.NXT: nothing is owed any more. */
export function ackSent(c: i32): void {
  unchecked(cRcvWup[c] = unchecked(cRcvNxt[c]));
  unchecked(cRcvAdv[c] = connRcvWindow(c));
  const q = unchecked(cQuick[c]);
  if (q != 255 && q > 0) unchecked(cQuick[c] = q - 1);
  timerCancel(delackId(c));
}

/** In-order data arrived (no FIN): true = ACK now; false = the delayed-ACK timer is armed. */
export function ackNowForData(c: i32, mss: i32): bool {
  if (knob(K_FAMILY) != FAMILY_LINUX) return true;
  if (unchecked(cQuick[c]) == 255) {
    // first data: tcp_incr_quickack(sk, TCP_MAX_QUICKACKS), at most rcv_wnd / (2 * rcv_mss)
    let q = <i32>(unchecked(cRcvBuf[c]) / <u32>(2 * (mss > 0 ? mss : 536)));
    if (q > <i32>TCP_MAX_QUICKACKS) q = TCP_MAX_QUICKACKS;
    if (q < 1) q = 1;
    unchecked(cQuick[c] = <u8>q);
  }
  if (unchecked(cQuick[c]) > 0) return true;
  if (<i32>(unchecked(cRcvNxt[c]) - unchecked(cRcvWup[c])) > mss) return true;   // more than one full segment
  if (oooHeld(c)) return true;
  const id = delackId(c);
  if (!timerArmed(id)) timerSet(id, NOW + LINUX_ATO_MIN, NOW);
  return false;
}

export function delackCancel(c: i32): void { timerCancel(delackId(c)); }

/**
 * The application just read, the window now `w1` bytes (buffer `buf`): whether to
 * send an ACK now rather than leave the peer waiting on a closed or small window until a delayed
 * ACK or the next segment. Each OS's rule for a read:
 *  - Linux tcp_cleanup_rbuf: an ACK is owed (delayed) and more than one full segment arrived since
 *    the last one we sent; or the window at least doubled and was at most half the buffer;
 *  - FreeBSD tcp_output after soreceive (pru_rcvd): the window grew by 2 segments or by half the
 *    buffer;
 *  - 4.3BSD tcp_output: the window grew by 35 % of the buffer.
 */
export function ackAfterRead(c: i32, w1: u32, buf: u32, mss: u32): bool {
  const fam = knob(K_FAMILY);
  const m = mss > 0 ? mss : 536;
  // what the peer may still send: the window we last advertised less what came since
  // (Linux tcp_receive_window, BSD rcv_adv - rcv_nxt)
  const used = <i32>(unchecked(cRcvNxt[c]) - unchecked(cRcvWup[c]));
  const left = <i32>unchecked(cRcvAdv[c]) - used;
  const now = left > 0 ? <u32>left : 0;
  if (fam == FAMILY_LINUX) {
    if (timerArmed(delackId(c)) && <u32>used > m) return true;
    return <u64>now * 2 <= <u64>buf && <u64>w1 >= <u64>now * 2 && w1 > now;
  }
  if (w1 <= now) return false;
  const adv = <u64>(w1 - now);
  if (fam == FAMILY_FREEBSD) return adv >= <u64>(2 * m) || adv * 2 >= <u64>buf;
  return adv * 100 >= <u64>buf * 35;
}

// ---- SACK blocks (RFC 2018 §4) ----
const sackL = new StaticArray<u32>(8);
const sackR = new StaticArray<u32>(8);

/**
 * Append NOP NOP + a SACK option describing the held data to the options being built: contiguous
 * held ranges merged, the one with the most recently received segment first (RFC 2018 §4), then
 * the others in sequence order, as many as the option space allows (3 beside timestamps).
 */
export function sackOptions(c: i32): void {
  let k = unchecked(cOooHead[c]);
  if (k < 0) return;
  let n = 0;
  while (k >= 0) {
    const s = unchecked(chunkSeq[k]);
    const e = s + <u32>chunkLenOf(k);
    if (n > 0 && seqLe(s, unchecked(sackR[n - 1]))) {
      if (seqGt(e, unchecked(sackR[n - 1]))) unchecked(sackR[n - 1] = e);
    } else {
      if (n == 8) break;
      unchecked(sackL[n] = s); unchecked(sackR[n] = e); n++;
    }
    k = chunkNextOf(k);
  }
  let room = (optRoom() - 4) >> 3;   // NOP NOP kind len, then 8 bytes a block
  if (room <= 0) return;
  if (room > n) room = n;
  // the block holding the latest arrival goes first
  const last = unchecked(cOooLast[c]);
  let first = 0;
  for (let i = 0; i < n; i++) {
    if (seqGe(last, unchecked(sackL[i])) && seqGt(unchecked(sackR[i]), last)) { first = i; break; }
  }
  optNop(); optNop();
  optSackBegin(room);
  optSackBlock(unchecked(sackL[first]), unchecked(sackR[first]));
  let put = 1;
  for (let i = 0; i < n && put < room; i++) {
    if (i == first) continue;
    optSackBlock(unchecked(sackL[i]), unchecked(sackR[i]));
    put++;
  }
}
