// One timer wheel for every timed thing in TCP: SYN-queue entries (ids 0..maxSyn-1) and
// connections (ids maxSyn..). Insert, cancel and re-arm are O(1); running the wheel costs the slots
// passed plus the timers that fire. Deadlines are absolute ms (wrapping u32).
//
// Slots are SLOT_MS wide and the wheel spans SLOTS*SLOT_MS (32.8 s). A deadline farther away waits
// on the `far` list, which is swept into the wheel every half span, so each far timer is touched a
// bounded number of times. Firing compares exact deadlines, so the wheel's granularity never makes
// a timer fire early; nextTimer() reports the exact earliest deadline.
import { arpTimers } from '../net/arp';
import { timeDue } from './seq';
import { embryoTimer, maxSynEntries } from './synq';
import { connTimer, connDelackTimer, connCount } from './conn';
import { kaTimer } from './keepalive';

@inline const SLOT_SHIFT: u32 = 3;           // 8 ms
@inline const SLOTS: i32 = 4096;
@inline const SPAN: u32 = (<u32>SLOTS) << SLOT_SHIFT;
@inline const NONE: i32 = -1;
@inline const FAR_SLOT: i32 = SLOTS;         // marker: on the far list
@inline const NO_SLOT: i32 = -2;

let tDeadline: StaticArray<u32> = new StaticArray<u32>(0);
let tNext: StaticArray<i32> = new StaticArray<i32>(0);
let tPrev: StaticArray<i32> = new StaticArray<i32>(0);
let tSlot: StaticArray<i16> = new StaticArray<i16>(0);   // slot index, FAR_SLOT or NO_SLOT
const heads = new StaticArray<i32>(SLOTS + 1);   // +1: the far list
const bitmap = new StaticArray<u64>(SLOTS / 64);
// per-slot lower bound of the deadlines in it: exact after link() and after a walk in timersNext();
// unlinkT() leaves it (a stale bound is only ever early, and is made exact at the next walk)
const slotMin = new StaticArray<u32>(SLOTS);
let cursor: u32 = 0;        // time up to which the wheel has been run (slot of cursor is current)
let started = false;
let armed: i32 = 0;
let farCount: i32 = 0;
let nextSweep: u32 = 0;

export function timersInit(n: i32): void {
  tDeadline = new StaticArray<u32>(n);
  tNext = new StaticArray<i32>(n);
  tPrev = new StaticArray<i32>(n);
  tSlot = new StaticArray<i16>(n);
  for (let i = 0; i < n; i++) unchecked(tSlot[i] = <i16>NO_SLOT);
  for (let i = 0; i <= SLOTS; i++) unchecked(heads[i] = NONE);
}

@inline function slotOf(d: u32): i32 { return <i32>((d >> SLOT_SHIFT) & <u32>(SLOTS - 1)); }

function link(id: i32, s: i32): void {
  const h = unchecked(heads[s]);
  if (s != FAR_SLOT) {
    const d = unchecked(tDeadline[id]);
    if (h == NONE || <i32>(d - unchecked(slotMin[s])) < 0) unchecked(slotMin[s] = d);
  }
  unchecked(tNext[id] = h); unchecked(tPrev[id] = NONE);
  if (h != NONE) unchecked(tPrev[h] = id);
  unchecked(heads[s] = id);
  unchecked(tSlot[id] = <i16>s);
  if (s == FAR_SLOT) farCount++;
  else unchecked(bitmap[s >> 6] |= (<u64>1) << (<u64>(s & 63)));
}

function unlinkT(id: i32): void {
  const s = unchecked(tSlot[id]);
  const n = unchecked(tNext[id]); const p = unchecked(tPrev[id]);
  if (p != NONE) unchecked(tNext[p] = n); else unchecked(heads[s] = n);
  if (n != NONE) unchecked(tPrev[n] = p);
  unchecked(tSlot[id] = <i16>NO_SLOT);
  if (s == FAR_SLOT) farCount--;
  else if (unchecked(heads[s]) == NONE) unchecked(bitmap[s >> 6] &= ~((<u64>1) << (<u64>(s & 63))));
}

/** Arm (or re-arm) timer `id` for absolute time `deadline`. */
export function timerSet(id: i32, deadline: u32, now: u32): void {
  if (unchecked(tSlot[id]) != NO_SLOT) unlinkT(id); else armed++;
  if (!started) { cursor = now; started = true; nextSweep = now + (SPAN >> 1); }
  unchecked(tDeadline[id] = deadline);
  // anything already due goes in the current slot; anything beyond the span waits on the far list
  let d = deadline;
  if (timeDue(d, cursor)) d = cursor;
  // measured from the later of the cursor and `now`: a handler re-arming from inside timersRun (or an
  // input long after the last run) sees a stale cursor, and a deadline only seconds away would wait
  // on the far list for the next sweep, up to half a span late (a FreeBSD SYN-SENT gave up at 84 s
  // instead of 75 s). Its slot is still reached: it lies less than a span ahead of every later walk.
  const base = timeDue(now, cursor) ? cursor : now;
  if (!timeDue(d, base) && d - base >= SPAN - (1 << SLOT_SHIFT)) link(id, FAR_SLOT);
  else link(id, slotOf(d));
}

export function timerCancel(id: i32): void {
  if (unchecked(tSlot[id]) == NO_SLOT) return;
  unlinkT(id);
  armed--;
}

@inline export function timerArmed(id: i32): bool { return unchecked(tSlot[id]) != NO_SLOT; }
@inline export function timerDeadline(id: i32): u32 { return unchecked(tDeadline[id]); }

function fire(id: i32): void {
  unlinkT(id);
  armed--;
  const ns = maxSynEntries();
  if (id < ns) embryoTimer(id);
  else if (id < ns + connCount()) connTimer(id - ns);
  else if (id < ns + 2 * connCount()) connDelackTimer(id - ns - connCount());
  else kaTimer(id - ns - 2 * connCount());
}

function sweepFar(now: u32): void {
  nextSweep = now + (SPAN >> 1);
  if (farCount == 0) return;
  let id = unchecked(heads[FAR_SLOT]);
  while (id != NONE) {
    const nx = unchecked(tNext[id]);
    const d = unchecked(tDeadline[id]);
    if (timeDue(d, now) || d - now < SPAN - (1 << SLOT_SHIFT)) {
      unlinkT(id);
      link(id, timeDue(d, now) ? slotOf(now) : slotOf(d));
    }
    id = nx;
  }
}

/** Run every timer due at `now`, in slot order. */
export function timersRun(now: u32): void {
  arpTimers(now, true);
  if (!started || armed == 0) { cursor = now; return; }
  if (timeDue(nextSweep, now)) sweepFar(now);
  // walk slots from the cursor's slot to now's slot (at most one full turn)
  let steps = <i32>(((now >> SLOT_SHIFT) - (cursor >> SLOT_SHIFT)));
  if (steps < 0) steps = 0;
  if (steps >= SLOTS) steps = SLOTS - 1;
  let s = slotOf(cursor);
  for (let k = 0; k <= steps; k++) {
    let id = unchecked(heads[s]);
    while (id != NONE) {
      const nx = unchecked(tNext[id]);
      if (timeDue(unchecked(tDeadline[id]), now)) {
        fire(id);
        // the handler may have cancelled the next timer of this slot: rescan the slot then
        id = nx != NONE && unchecked(tSlot[nx]) != s ? unchecked(heads[s]) : nx;
      } else id = nx;
      // a fired handler may re-arm timers into this slot: they are picked up next run
    }
    s = (s + 1) & (SLOTS - 1);
  }
  cursor = now;
}

/** ms until the earliest timer (or ARP retry), 0 if due, -1 if none. */
export function timersNext(now: u32): i32 {
  let best: i32 = arpTimers(now, false);
  if (armed == 0) return best;
  // earliest non-empty slot from the cursor's slot onwards
  const start = slotOf(cursor);
  let found: i32 = -1;
  for (let k = 0; k < SLOTS; k += 0) {
    const s = (start + k) & (SLOTS - 1);
    const w = unchecked(bitmap[s >> 6]) >> (<u64>(s & 63));
    if (w != 0) { found = (s + <i32>ctz<u64>(w)) & (SLOTS - 1); break; }
    k += 64 - (s & 63);
  }
  if (found >= 0) {
    let min = <i32>(unchecked(slotMin[found]) - now);
    if (min <= 0) {
      // due, or a stale bound: walk the slot once and make the bound exact
      let id = unchecked(heads[found]);
      min = i32.MAX_VALUE;
      while (id != NONE) {
        const left = <i32>(unchecked(tDeadline[id]) - now);
        if (left < min) min = left;
        id = unchecked(tNext[id]);
      }
      unchecked(slotMin[found] = now + <u32>min);
    }
    if (min < 0) min = 0;
    if (best < 0 || min < best) best = min;
  }
  if (farCount > 0) {
    const left = <i32>(nextSweep - now);
    const v = left < 0 ? 0 : left;
    if (best < 0 || v < best) best = v;
  }
  return best;
}
