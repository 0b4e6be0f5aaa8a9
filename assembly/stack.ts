// Per-instance state shared by every layer: knobs, counters, the clock value of the current call,
// the input/output frame areas, the event ring and the scratch area. Owns init(), input(), poll().
// Called by the host through index.ts; calls into net/ (frames) and tcp/ (timers).
import { KNOB_COUNT, COUNTER_COUNT, C_OUT_OVERFLOW, C_IN_FRAMES, C_OUT_FRAMES } from './abi';
import { linkInput } from './net/link';
import { arpInit } from './net/arp';
import { ifaceInit, ifaceConfigure } from './net/iface';
import { timersInit, timersRun, timersNext } from './tcp/timer';
import { tcpInit } from './tcp/tcp';
import { seedSecrets } from './tcp/secrets';

@inline const INPUT_CAP: i32 = 256 * 1024;
@inline const OUTPUT_CAP: i32 = 512 * 1024;
@inline const EVENT_CAP: i32 = 16384;
@inline const SCRATCH_CAP: i32 = 64 * 1024;
/** largest frame we build: Ethernet header + 1500-byte IP packet */
@inline export const FRAME_MAX: i32 = 1514;

// ---- the current call's time (ms since the stack's epoch, wrapping) ----
export let NOW: u32 = 0;

// ---- knobs ----
const knobs = new StaticArray<i32>(KNOB_COUNT);
@inline export function knob(id: i32): i32 { return unchecked(knobs[id]); }
export function setKnob(id: i32, value: i32): i32 {
  if (id < 0 || id >= KNOB_COUNT) return -1;
  unchecked(knobs[id] = value);
  return 0;
}
export function getKnob(id: i32): i32 {
  if (id < 0 || id >= KNOB_COUNT) return 0;
  return unchecked(knobs[id]);
}

// ---- counters: u64 each, read by the host through counterPtr() ----
let counters: usize = 0;
@inline export function count(id: i32): void {
  const p = counters + (<usize>id << 3);
  store<u64>(p, load<u64>(p) + 1);
}
@inline export function countN(id: i32, n: u64): void {
  const p = counters + (<usize>id << 3);
  store<u64>(p, load<u64>(p) + n);
}
@inline export function countSub(id: i32): void {
  const p = counters + (<usize>id << 3);
  store<u64>(p, load<u64>(p) - 1);
}
export function counterPtr(): usize { return counters; }

// ---- frame areas ----
let inBuf: usize = 0;
let outBuf: usize = 0;
let outUsed: i32 = 0;
let outFrames: i32 = 0;
export function inputPtr(): usize { return inBuf; }
export function inputCap(): i32 { return INPUT_CAP; }
export function outputPtr(): usize { return outBuf; }
export function outputLen(): i32 { return outUsed; }
export function outputCount(): i32 { return outFrames; }
export function outputReset(): void { outUsed = 0; outFrames = 0; }

/**
 * Reserve room for one outgoing frame of at most `maxLen` bytes on interface `iface`.
 * Returns a pointer to the frame bytes, or 0 when the area is full (counted; the frame is lost,
 * as a full transmit ring loses it). Commit with outputCommit(len).
 */
export function outputBegin(iface: i32, maxLen: i32): usize {
  if (outUsed + 4 + maxLen > OUTPUT_CAP) { count(C_OUT_OVERFLOW); return 0; }
  const rec = outBuf + <usize>outUsed;
  store<u16>(rec + 2, <u16>iface);
  return rec + 4;
}
/** Bytes left in the output area (the data path stops sending, rather than lose frames, when a segment would not fit). */
export function outputRoom(): i32 { return OUTPUT_CAP - outUsed; }

/** Finish the frame started by outputBegin with its real length. */
export function outputCommit(len: i32): void {
  const rec = outBuf + <usize>outUsed;
  store<u16>(rec, <u16>len);
  outUsed += (4 + len + 3) & ~3;
  outFrames++;
  count(C_OUT_FRAMES);
}
/** The frame most recently committed (for callers that must take it back, e.g. ARP queueing). */
export function outputUncommitLast(startPtr: usize): void {
  outUsed = <i32>(startPtr - 4 - outBuf);
  outFrames--;
}

// ---- events ----
let evBuf: usize = 0;
let evCount: i32 = 0;
let evLost: bool = false;
export function postEvent(type: i32, a: u32, b: u32): void {
  if (evCount >= EVENT_CAP) { evLost = true; return; }
  const p = evBuf + <usize>evCount * 12;
  store<u32>(p, type); store<u32>(p + 4, a); store<u32>(p + 8, b);
  evCount++;
}
export function eventsPtr(): usize { return evBuf; }
/** number of events; negative when events were lost (the host then rescans its waiters) */
export function eventsCount(): i32 { return evLost ? -evCount - 1 : evCount; }
export function eventsReset(): void { evCount = 0; evLost = false; }

// ---- scratch ----
let scratch: usize = 0;
export function scratchPtr(): usize { return scratch; }
export function scratchCap(): i32 { return SCRATCH_CAP; }

let poolBytes: usize = 0;
/** Allocate a zeroed pool at init time; the stub runtime never frees, and nothing allocates later. */
export function poolAlloc(bytes: usize): usize {
  const p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  poolBytes += bytes;
  return p;
}
let heapEnd: usize = 0;
/** Bytes the core took at init: every pool and table (everything allocated after the static data). */
export function memoryBytes(): i32 { return heapEnd != 0 ? <i32>(heapEnd - __heap_base) : <i32>poolBytes; }

let initialised = false;

/**
 * Grow memory once, before init's allocations, to a little more than they will take. The stub
 * allocator doubles memory whenever it must grow, so without this a heap just past a step (1 M
 * connections: 229 MiB) gets twice the memory it needs. The figures per entry are upper bounds of
 * what the tables take today (connection 233 B with its hash bucket and three timers, SYN-queue
 * entry 61 B, buffer chunk 2 KiB + 10 B), with room for fields still to come; if the heap outgrows
 * the estimate anyway, the stub allocator grows memory as before.
 */
function reserveHeap(maxListeners: i32, maxSyn: i32, maxConn: i32, synBuckets: i32, rxChunks: i32, arpEntries: i32): void {
  const est: u64 = (<u64>4 << 20) + <u64>maxListeners * 512 + <u64>maxSyn * 72 + <u64>maxConn * 288 +
    <u64>synBuckets * 16 + <u64>rxChunks * 2080 + <u64>arpEntries * 64;
  const mark = <u64>heap.alloc(16);
  const need = (mark + est + 0xFFFF) >> 16;
  const have = <u64>memory.size();
  if (need > have && need <= 65536) memory.grow(<i32>(need - have));   // on failure the allocator still tries
}

export function init(
  maxListeners: i32, maxSyn: i32, maxConn: i32, synBuckets: i32, rxChunks: i32, arpEntries: i32,
  seed0: u32, seed1: u32, seed2: u32, seed3: u32,
): i32 {
  if (initialised) return -1;
  if (maxListeners < 1 || maxListeners > 65535) return -2;
  if (maxSyn < 1 || maxSyn > (1 << 26)) return -3;
  if (maxConn < 1 || maxConn > (1 << 24)) return -4;
  if (synBuckets < 0 || synBuckets > (1 << 24)) return -5;
  if (rxChunks < 1 || rxChunks > (1 << 24)) return -6;
  if (arpEntries < 4 || arpEntries > 65536) return -7;
  reserveHeap(maxListeners, maxSyn, maxConn, synBuckets, rxChunks, arpEntries);
  counters = poolAlloc(<usize>COUNTER_COUNT << 3);
  inBuf = poolAlloc(INPUT_CAP);
  outBuf = poolAlloc(OUTPUT_CAP);
  evBuf = poolAlloc(<usize>EVENT_CAP * 12);
  scratch = poolAlloc(SCRATCH_CAP);
  seedSecrets(seed0, seed1, seed2, seed3);
  ifaceInit();
  arpInit(arpEntries);
  timersInit(maxSyn + 3 * maxConn);   // SYN-queue entries, connection, delayed-ACK and keepalive timers
  tcpInit(maxListeners, maxSyn, maxConn, synBuckets, rxChunks);
  heapEnd = heap.alloc(16);   // the stub allocator is a bump pointer: this marks where init's allocations end
  initialised = true;
  return 0;
}

export function ifaceSet(idx: i32, macHi: u32, macLo: u32, ip: u32, prefixLen: i32, gateway: u32): i32 {
  return ifaceConfigure(idx, macHi, macLo, ip, prefixLen, gateway);
}

/**
 * Process `n` frame records from the input area. Every frame is checked before it is believed:
 * a malformed one is counted and dropped, never trusted, so no input can make the core abort.
 */
export function input(n: i32, now: u32): i32 {
  if (!initialised) return -1;
  return inputRecords(inBuf, INPUT_CAP, n, now);
}

function inputRecords(base: usize, cap: i32, n: i32, now: u32): i32 {
  NOW = now;
  timersRun(now);
  let off: i32 = 0;
  for (let i = 0; i < n; i++) {
    if (off + 4 > cap) break;
    const rec = base + <usize>off;
    const len = <i32>load<u16>(rec);
    const iface = <i32>load<u16>(rec + 2);
    if (off + 4 + len > cap) break;
    count(C_IN_FRAMES);
    linkInput(iface, rec + 4, len);
    off += (4 + len + 3) & ~3;
  }
  return outFrames;
}

// ---- a receive area for a link that reads frames itself (the TAP addon) ----
// The host lets such a link read its batches straight into this area, already laid out as input
// records ([u16 length][u16 interface][frame][pad to 4]), and hands the batch over with
// inputRx(n): no copy between the link and the core. Reserved once, while the stack is created
// (memory never grows afterwards).
let rxArea: usize = 0;
let rxAreaCap: i32 = 0;

/** Reserve the receive area (once, right after init); returns its pointer, or 0 if refused. */
export function rxAreaInit(bytes: i32): usize {
  if (!initialised || rxArea != 0 || bytes < 2048 || bytes > (16 << 20)) return 0;
  rxArea = poolAlloc(<usize>bytes);
  rxAreaCap = bytes;
  heapEnd = heap.alloc(16);
  return rxArea;
}
export function rxAreaSize(): i32 { return rxAreaCap; }

/** Process `n` frame records from the receive area (the same checks as input()). */
export function inputRx(n: i32, now: u32): i32 {
  if (!initialised || rxArea == 0) return -1;
  return inputRecords(rxArea, rxAreaCap, n, now);
}

/** Run every timer that is due at `now`. */
export function poll(now: u32): i32 {
  if (!initialised) return -1;
  NOW = now;
  timersRun(now);
  return outFrames;
}

/** ms until the next timer is due (0 = now), or -1 when nothing is scheduled. */
export function nextTimer(now: u32): i32 {
  if (!initialised) return -1;
  return timersNext(now);
}
