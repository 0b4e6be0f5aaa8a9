/**
 * The host side of the WebAssembly core: compiling the module once per process, one instance per
 * stack, and a small typed wrapper over the instance's exports (assembly/index.ts).
 *
 * Owned here: module cache, instantiation (the raw bindings' imports, reproduced synchronously so
 * `new Stack()` needs no await), cached memory views (re-derived after init(), the only call that
 * grows memory), the frame input area (records [u16 len][u16 iface][bytes][pad to 4]), draining
 * the output area and the event ring, counters.
 *
 * Not owned here: when to flush input or poll timers (src/stack.ts decides, batching frames that
 * arrive in the same tick), what events mean (src/bsd.ts). No Node imports: file loading is in
 * src/core-file.ts.
 */

import { COUNTERS, type CounterName } from './core-abi.js';
import { readCore, readCoreSync, variantFromEnv, type CoreVariant } from './core-file.js';

export type { CoreVariant } from './core-file.js';

/** The raw exports of one core instance: every number is an i32/u32 crossing as a JS number. */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  init(
    maxListeners: number, maxSyn: number, maxConn: number, synBuckets: number, rxChunks: number,
    arpEntries: number, seed0: number, seed1: number, seed2: number, seed3: number,
  ): number;
  setKnob(id: number, value: number): number;
  getKnob(id: number): number;
  ifaceSet(idx: number, macHi: number, macLo: number, ip: number, prefixLen: number, gateway: number): number;
  counterPtr(): number;
  inputPtr(): number;
  inputCap(): number;
  input(count: number, now: number): number;
  outputPtr(): number;
  outputLen(): number;
  outputCount(): number;
  outputReset(): void;
  /** reserve the receive area for a batch-reading link (once, at creation); its pointer or 0 */
  rxAreaInit(bytes: number): number;
  rxAreaSize(): number;
  /** input n records laid out in the receive area */
  inputRx(n: number, now: number): number;
  /** connections waiting for room in the output area */
  outputBlocked(): number;
  /** let them go on (after the host drained the area) */
  outputResume(): void;
  eventsPtr(): number;
  eventsCount(): number;
  eventsReset(): void;
  poll(now: number): number;
  nextTimer(now: number): number;
  scratchPtr(): number;
  scratchCap(): number;
  memoryBytes(): number;
  listenerOpen(laddr: number, port: number, backlog: number, flags: number): number;
  listenerSetBacklog(idx: number, backlog: number): number;
  listenerClose(idx: number): number;
  listenerSet(idx: number, opt: number, value: number): number;
  listenerGet(idx: number, field: number): number;
  listenerAccept(idx: number): number;
  portUsage(port: number): number;
  connGet(conn: number, field: number): number;
  connRead(conn: number, ptr: number, max: number): number;
  connClose(conn: number): number;
  connAbort(conn: number): number;
  /** active open: conn handle or -errno (flags: 1 SO_REUSEADDR, 2 SO_REUSEPORT) */
  connConnect(iface: number, laddr: number, lport: number, raddr: number, rport: number, flags: number): number;
  /** bytes taken into the send buffer (0: full or still connecting), or -errno */
  connWrite(conn: number, ptr: number, len: number): number;
  /** 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR */
  connShutdown(conn: number, how: number): number;
  connSetOpt(conn: number, opt: number, value: number): number;
  connGetOpt(conn: number, opt: number): number;
  /** congestion control / loss recovery state (CcInfo fields), -1 for a bad handle */
  connCcInfo(conn: number, field: number): number;
}

/** The export names the host needs; instantiation fails with the list of missing ones. */
export const CORE_FUNCTIONS = [
  'init', 'setKnob', 'getKnob', 'ifaceSet', 'counterPtr', 'inputPtr', 'inputCap', 'input',
  'outputPtr', 'outputLen', 'outputCount', 'outputReset', 'eventsPtr', 'eventsCount', 'eventsReset',
  'poll', 'nextTimer', 'scratchPtr', 'scratchCap', 'memoryBytes', 'listenerOpen',
  'listenerSetBacklog', 'listenerClose', 'listenerSet', 'listenerGet', 'listenerAccept', 'portUsage',
  'connGet', 'connRead', 'connClose', 'connAbort', 'connConnect', 'connWrite', 'connShutdown',
  'connSetOpt', 'connGetOpt', 'connCcInfo', 'outputBlocked', 'outputResume', 'rxAreaInit', 'rxAreaSize', 'inputRx',
] as const satisfies readonly (keyof CoreExports)[];

/** listenerSet options (assembly/tcp/listener.ts). */
export const enum ListenerOpt { DeferAccept = 1, AcceptFilter = 2, SynCnt = 3 }
/** listenerOpen flags. */
export const enum ListenerFlag { ReusePort = 1, ReuseAddr = 2 }
/** portUsage bits. */
export const enum PortUsage {
  Any = 1, TimeWaitNoReuse = 2, TimeWaitReuse = 4, ConnReuse = 8, ConnNoReuse = 16,
}
/** connGet fields. */
export const enum ConnField {
  State = 0, RemoteAddr = 1, RemotePort = 2, LocalAddr = 3, LocalPort = 4, Error = 5, Readable = 6, Eof = 7,
  /** bytes in the send buffer (unacknowledged + unsent) */
  SendQueued = 8,
  /** room left in the send buffer */
  SendSpace = 9,
  /** congestion window, bytes */
  Cwnd = 10,
  /** smoothed RTT, ms (0 before the first sample) */
  Srtt = 11,
  /** retransmission timeout, ms */
  Rto = 12,
  /** peer's window, bytes */
  SendWindow = 13,
  /** effective send MSS (options excluded) */
  Mss = 14,
  /** bytes in flight (SND.NXT - SND.UNA) */
  InFlight = 15,
}

/** connCcInfo fields (assembly/tcp/send.ts). */
export const enum CcInfo {
  Cwnd = 0, Ssthresh = 1, CubicWmax = 2, CubicK = 3, InRecovery = 4, SackRanges = 5, Pipe = 6, SackRecovery = 7, SackSlot = 8,
}

/** connSetOpt / connGetOpt options. */
export const enum ConnOpt { NoDelay = 1, KeepAlive = 2, KeepIdle = 3, KeepIntvl = 4, KeepCnt = 5, SndBuf = 6, RcvBuf = 7, Linger = 8, Congestion = 9, SynCnt = 10 }

/** connGet State values (RFC 9293 §3.3.2). */
export const enum ConnState {
  Closed = 0, SynSent = 2, SynReceived = 3, Established = 4, FinWait1 = 5, FinWait2 = 6, CloseWait = 7,
  Closing = 8, LastAck = 9, TimeWait = 10,
}

/** Pool sizes for init(). */
export interface CoreSizes {
  listeners: number;
  synEntries: number;
  connections: number;
  /** FreeBSD syncache hash buckets (net.inet.tcp.syncache.hashsize); 0 = the core picks */
  synBuckets: number;
  /** receive-buffer chunks, shared by all connections */
  rxChunks: number;
  arpEntries: number;
}

// ------------------------------------------------------------------------------------------------
// Module cache
// ------------------------------------------------------------------------------------------------

const modules = new Map<CoreVariant, WebAssembly.Module>();
const loading = new Map<CoreVariant, Promise<WebAssembly.Module>>();

/** Options naming the core a stack runs on. */
export interface CoreOptions {
  /** the debug build (build/wtcp.debug.wasm); default from WTCP_CORE=debug / WTCP_DEBUG=1, else release */
  debug?: boolean;
  /** a compiled module or the .wasm bytes, instead of the file next to the package */
  module?: WebAssembly.Module | BufferSource;
}

function variantOf(opts: CoreOptions | undefined): CoreVariant {
  if (opts?.debug !== undefined) return opts.debug ? 'debug' : 'release';
  return variantFromEnv();
}

/** Install a compiled module (or bytes) as the process-wide cached core for `variant`. */
export function setCoreModule(module: WebAssembly.Module | BufferSource, variant: CoreVariant = 'release'): WebAssembly.Module {
  const m = module instanceof WebAssembly.Module ? module : new WebAssembly.Module(module);
  modules.set(variant, m);
  return m;
}

/**
 * The compiled core, synchronously: the cached module, else (Node) read and compiled now. Throws if
 * it cannot be had synchronously (browsers: `await loadCoreModule()` first, or pass `module`).
 */
export function getCoreModule(opts?: CoreOptions): WebAssembly.Module {
  if (opts?.module !== undefined) {
    return opts.module instanceof WebAssembly.Module ? opts.module : new WebAssembly.Module(opts.module);
  }
  const variant = variantOf(opts);
  const cached = modules.get(variant);
  if (cached) return cached;
  const bytes = readCoreSync(variant);
  if (!bytes) {
    throw new Error(
      `wtcp: the ${variant} WebAssembly core cannot be loaded synchronously here; ` +
        'call `await loadCoreModule()` first or pass `core: { module }`',
    );
  }
  return setCoreModule(bytes as Uint8Array<ArrayBuffer>, variant);
}

/** The compiled core, loading it asynchronously if needed (works in browsers). */
export async function loadCoreModule(opts?: CoreOptions): Promise<WebAssembly.Module> {
  if (opts?.module !== undefined) {
    return opts.module instanceof WebAssembly.Module ? opts.module : WebAssembly.compile(opts.module);
  }
  const variant = variantOf(opts);
  const cached = modules.get(variant);
  if (cached) return cached;
  let p = loading.get(variant);
  if (!p) {
    p = readCore(variant).then((bytes) => WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)).then((m) => {
      modules.set(variant, m);
      return m;
    });
    p.finally(() => loading.delete(variant)).catch(() => undefined);
    loading.set(variant, p);
  }
  return p;
}

// ------------------------------------------------------------------------------------------------
// Instance
// ------------------------------------------------------------------------------------------------

/** Thrown when the core aborted (an AssemblyScript assert/throw): the instance is unusable afterwards. */
export class CoreAbortError extends Error {
  constructor(message: string) {
    super(`wtcp core aborted: ${message}`);
    this.name = 'CoreAbortError';
  }
}

/** One event from the ring: [type, a, b]. */
export type CoreEventHandler = (type: number, a: number, b: number) => void;

/**
 * One core instance. Calls go straight to the exports (`core.x.listenerOpen(...)`); the helpers
 * here are the ones that touch memory.
 */
export class Core {
  /** the raw exports */
  readonly x: CoreExports;
  /** set once the core has aborted; every later use must fail */
  aborted: CoreAbortError | undefined;

  #memory: WebAssembly.Memory;
  #u8: Uint8Array;
  #dv: DataView;
  #inPtr = 0;
  #inCap = 0;
  #inOff = 0;
  #inCount = 0;
  #outPtr = 0;
  #evPtr = 0;
  #ctrPtr = 0;
  #scratchPtr = 0;
  #scratchCap = 0;
  #initialised = false;
  #evBuf = new Uint32Array(192);

  private constructor(exports: CoreExports, holder: { core?: Core }) {
    this.x = exports;
    this.#memory = exports.memory;
    this.#u8 = new Uint8Array(this.#memory.buffer);
    this.#dv = new DataView(this.#memory.buffer);
    holder.core = this;
  }

  /** Instantiate `module` synchronously, with the imports the raw bindings would give it. */
  static instantiate(module: WebAssembly.Module): Core {
    const holder: { core?: Core; memory?: WebAssembly.Memory } = {};
    const imports = buildImports(module, holder);
    const instance = new WebAssembly.Instance(module, imports);
    const exports = instance.exports as unknown as CoreExports & { _start?: () => void };
    const missing = CORE_FUNCTIONS.filter((n) => typeof (exports as unknown as Record<string, unknown>)[n] !== 'function');
    if (!(exports.memory instanceof WebAssembly.Memory)) missing.unshift('memory' as never);
    if (missing.length > 0) {
      throw new Error(`wtcp: the WebAssembly core lacks exports the host needs: ${missing.join(', ')} (rebuild with \`npm run build:wasm\`)`);
    }
    holder.memory = exports.memory;
    // The raw bindings run the start function after instantiation (asconfig exportStart).
    if (typeof exports._start === 'function') exports._start();
    return new Core(exports, holder);
  }

  /** init(): allocate every pool once. Throws on bad sizes (the core's negative result). */
  init(sizes: CoreSizes, seeds: readonly [number, number, number, number]): void {
    if (this.#initialised) throw new Error('wtcp: core already initialised');
    const r = this.x.init(
      sizes.listeners, sizes.synEntries, sizes.connections, sizes.synBuckets, sizes.rxChunks,
      sizes.arpEntries, seeds[0] >>> 0, seeds[1] >>> 0, seeds[2] >>> 0, seeds[3] >>> 0,
    );
    if (r < 0) {
      const what = ['', 'init called twice', 'listeners', 'synEntries', 'connections', 'synBuckets', 'rxChunks (rxBufferBytes)', 'arpEntries'][-r] ?? `code ${r}`;
      throw new RangeError(`wtcp: the core refused its sizes (${what}): ${JSON.stringify(sizes)}`);
    }
    this.#initialised = true;
    this.refreshViews();
    this.#inPtr = this.x.inputPtr();
    this.#inCap = this.x.inputCap();
    this.#outPtr = this.x.outputPtr();
    this.#evPtr = this.x.eventsPtr();
    this.#ctrPtr = this.x.counterPtr();
    this.#scratchPtr = this.x.scratchPtr();
    this.#scratchCap = this.x.scratchCap();
  }

  /** Re-derive the memory views (memory.grow detaches the old buffer). */
  refreshViews(): void {
    this.#u8 = new Uint8Array(this.#memory.buffer);
    this.#dv = new DataView(this.#memory.buffer);
  }

  #views(): Uint8Array {
    // cheap identity check: the buffer changes only if memory grew
    if (this.#u8.buffer !== this.#memory.buffer) this.refreshViews();
    return this.#u8;
  }

  // --- input ---------------------------------------------------------------------------------------

  /** Frames written to the input area and not yet handed to input(). */
  get pendingFrames(): number {
    return this.#inCount;
  }

  /**
   * Copy one frame into the input area. Returns false if it does not fit next to what is already
   * there (flush first, then retry); a frame larger than the whole area is refused for good (-1).
   */
  pushFrame(iface: number, frame: Uint8Array): boolean | -1 {
    const len = frame.length;
    const rec = (4 + len + 3) & ~3;
    if (len > 0xffff || rec > this.#inCap) return -1;
    if (this.#inOff + rec > this.#inCap) return false;
    const u8 = this.#views();
    const p = this.#inPtr + this.#inOff;
    this.#dv.setUint16(p, len, true);
    this.#dv.setUint16(p + 2, iface, true);
    u8.set(frame, p + 4);
    this.#inOff += rec;
    this.#inCount++;
    return true;
  }

  /**
   * A view of `bytes` of the core's memory for a link that reads frames itself, laid out as input
   * records (see inputRx); undefined if the core refused (called once, while the stack is created:
   * memory does not grow afterwards, so the view stays valid).
   */
  rxArea(bytes: number): Uint8Array | undefined {
    const p = this.x.rxAreaInit(bytes);
    if (!p) return undefined;
    this.refreshViews();
    return new Uint8Array(this.#memory.buffer, p, bytes);
  }

  /**
   * Copy records (src/links/link.ts RecordLink: [u16 len][u16 reserved][frame][pad to 4]) from
   * `src[pos, end)` into the input area, as many whole records as fit, with one copy, and write
   * `iface` into each. Returns where it stopped: `end` when all fitted; otherwise the next record,
   * which did not fit next to what is already there (flush first, then call again), or which is
   * larger than the whole area (then `-(its offset) - 1`: the caller drops it and goes on after it).
   * A record whose length runs past `end` ends the batch (it is ignored).
   */
  pushRecords(iface: number, src: Uint8Array, pos: number, end: number): number {
    const cap = this.#inCap;
    const off0 = this.#inOff;
    let off = off0;
    let p = pos;
    let n = 0;
    const lo = iface & 0xff;
    const hi = iface >>> 8;
    let fix = false;
    while (p + 4 <= end) {
      const len = (src[p] as number) | ((src[p + 1] as number) << 8);
      const rec = (4 + len + 3) & ~3;
      if (src[p + 2] !== lo || src[p + 3] !== hi) fix = true;
      if (p + rec > end) { p = end; break; }
      if (rec > cap) {
        if (n === 0) return -p - 1;
        break;
      }
      if (off + rec > cap) break;
      off += rec;
      p += rec;
      n++;
    }
    if (n > 0) {
      const u8 = this.#views();
      const dst = this.#inPtr + off0;
      const bytes = off - off0;
      u8.set(pos === 0 && bytes === src.length ? src : src.subarray(pos, pos + bytes), dst);
      // the reserved field becomes the interface index (a Stack sending from the same index wrote it)
      if (fix) for (let q = dst, e = dst + bytes; q < e; q += ((4 + ((u8[q] as number) | ((u8[q + 1] as number) << 8)) + 3) & ~3)) {
        u8[q + 2] = lo;
        u8[q + 3] = hi;
      }
      this.#inOff = off;
      this.#inCount += n;
    }
    return p;
  }

  /** Hand every pending frame to the core: input(count, now). */
  flushInput(now: number): void {
    const n = this.#inCount;
    this.#inCount = 0;
    this.#inOff = 0;
    if (n > 0) this.x.input(n, now >>> 0);
  }

  // --- output and events ---------------------------------------------------------------------------

  /**
   * Send every frame of the output area through `send(iface, frame)` (the frame is a view into
   * core memory, valid during the call) and reset the area. Returns the number of frames.
   */
  drainOutput(send: (iface: number, frame: Uint8Array) => void): number {
    const count = this.x.outputCount();
    if (count <= 0) return 0;
    const u8 = this.#views();
    const dv = this.#dv;
    const end = this.#outPtr + this.x.outputLen();
    let p = this.#outPtr;
    let sent = 0;
    try {
      for (let i = 0; i < count && p + 4 <= end; i++) {
        const len = dv.getUint16(p, true);
        const iface = dv.getUint16(p + 2, true);
        send(iface, u8.subarray(p + 4, p + 4 + len));
        sent++;
        p += (4 + len + 3) & ~3;
      }
    } finally {
      this.x.outputReset();
    }
    return sent;
  }

  /**
   * Like drainOutput, but in runs of records (src/links/link.ts RecordLink) for one interface:
   * `send(iface, area, start, end, count)` gets a view of the whole of WebAssembly memory and the
   * byte range of `count` consecutive records of that interface in it (valid during the call; the
   * reserved field of each record holds the interface index). Resets the area; returns the frames.
   */
  drainOutputRecords(send: (iface: number, area: Uint8Array, start: number, end: number, count: number) => void): number {
    const count = this.x.outputCount();
    if (count <= 0) return 0;
    const u8 = this.#views();
    const end = this.#outPtr + this.x.outputLen();
    let p = this.#outPtr;
    let sent = 0;
    try {
      let runStart = p;
      let runIface = -1;
      let runCount = 0;
      for (let i = 0; i < count && p + 4 <= end; i++) {
        const len = (u8[p] as number) | ((u8[p + 1] as number) << 8);
        const iface = (u8[p + 2] as number) | ((u8[p + 3] as number) << 8);
        if (iface !== runIface) {
          if (runCount > 0) send(runIface, u8, runStart, p, runCount);
          sent += runCount;
          runStart = p;
          runIface = iface;
          runCount = 0;
        }
        runCount++;
        p += (4 + len + 3) & ~3;
      }
      if (runCount > 0) send(runIface, u8, runStart, Math.min(p, end), runCount);
      sent += runCount;
    } finally {
      this.x.outputReset();
    }
    return sent;
  }

  /**
   * takeEvents() for the Stack's loop, allocating nothing: the events are copied into a buffer this
   * Core reuses (valid until the next call), [type, a, b] × count. Returns the number of events, or
   * −1 − count when the ring overflowed (events were lost).
   */
  takeEventsReused(): number {
    let n = this.x.eventsCount();
    let lost = false;
    if (n < 0) {
      lost = true;
      n = -n - 1;
    }
    if (n === 0) return lost ? -1 : 0;
    if (this.#evBuf.length < n * 3) this.#evBuf = new Uint32Array(Math.max(n * 3, this.#evBuf.length * 2));
    const u8 = this.#views();
    const ev = this.#evBuf;
    const base = this.#evPtr;
    if ((base & 3) === 0) {
      ev.set(new Uint32Array(u8.buffer, base, n * 3));
    } else {
      for (let i = 0; i < n * 3; i++) ev[i] = this.#dv.getUint32(base + i * 4, true);
    }
    this.x.eventsReset();
    return lost ? -1 - n : n;
  }

  /** The buffer takeEventsReused() fills. */
  get eventBuffer(): Uint32Array {
    return this.#evBuf;
  }

  /**
   * Copy the event ring out and reset it, returning the events as a flat [type, a, b, ...] array and
   * whether the ring overflowed (events were lost: the host must rescan whatever waits on them).
   */
  takeEvents(): { events: Uint32Array; lost: boolean } {
    let n = this.x.eventsCount();
    let lost = false;
    if (n < 0) {
      lost = true;
      n = -n - 1;
    }
    if (n === 0 && !lost) return EMPTY_EVENTS;
    this.#views();
    const events = new Uint32Array(n * 3);
    for (let i = 0; i < n * 3; i++) events[i] = this.#dv.getUint32(this.#evPtr + i * 4, true);
    this.x.eventsReset();
    return { events, lost };
  }

  // --- counters, reading ---------------------------------------------------------------------------

  /** Every counter, in COUNTERS order (u64 read as lo + hi * 2^32: exact below 2^53). */
  counterValues(): number[] {
    this.#views();
    const out: number[] = [];
    for (let i = 0; i < COUNTERS.length; i++) {
      const p = this.#ctrPtr + i * 8;
      out.push(this.#dv.getUint32(p, true) + this.#dv.getUint32(p + 4, true) * 0x1_0000_0000);
    }
    return out;
  }

  /** One counter by name. */
  counter(name: CounterName): number {
    const i = COUNTERS.indexOf(name);
    if (i < 0) throw new RangeError(`unknown counter ${name}`);
    this.#views();
    const p = this.#ctrPtr + i * 8;
    return this.#dv.getUint32(p, true) + this.#dv.getUint32(p + 4, true) * 0x1_0000_0000;
  }

  /**
   * connRead into the scratch area and copy out: bytes (length > 0), an empty array on EOF, or the
   * core's negative errno (-11 EAGAIN, -104 ECONNRESET, ...).
   */
  read(conn: number, max: number): Uint8Array | number {
    const n = this.x.connRead(conn, this.#scratchPtr, Math.min(max, this.#scratchCap));
    if (n < 0) return n;
    if (n === 0) return new Uint8Array(0);
    const u8 = this.#views();
    return u8.slice(this.#scratchPtr, this.#scratchPtr + n);
  }

  /**
   * connRead into `dst[off, off + max)` through the scratch area, without allocating: bytes read
   * (> 0; as many as are buffered, up to max), 0 at end of stream, or the core's negative errno
   * (-11 EAGAIN, ...). Reads in scratch-sized steps until `max` is reached or the core has no more.
   */
  readInto(conn: number, dst: Uint8Array, off: number, max: number): number {
    const cap = this.#scratchCap;
    const sp = this.#scratchPtr;
    let done = 0;
    while (done < max) {
      const want = Math.min(max - done, cap);
      const n = this.x.connRead(conn, sp, want);
      if (n <= 0) return done > 0 ? done : n;
      const u8 = this.#views();
      dst.set(u8.subarray(sp, sp + n), off + done);
      done += n;
      // go on only while data is buffered: a read that finds none would take a pending error,
      // which must wait for the next call
      if (n < want || this.x.connGet(conn, ConnField.Readable) <= 0) break;
    }
    return done;
  }

  /**
   * connWrite through the scratch area: bytes taken (0 when the send buffer is full or the
   * handshake is still running), or the core's negative errno (-32 EPIPE, -104 ECONNRESET, ...).
   * Takes at most scratchCap bytes per call, and copies no more than the send buffer has room for
   * (at least one byte, so that a full buffer still answers as connWrite does: 0 and a Writable
   * event once room frees, or the connection's error): a large write into a nearly full buffer
   * would otherwise copy 64 KiB to have a few hundred bytes taken.
   */
  write(conn: number, data: Uint8Array): number {
    const room = this.x.connGet(conn, ConnField.SendSpace);
    const n = Math.min(data.length, this.#scratchCap, Math.max(room, 1));
    const u8 = this.#views();
    u8.set(n === data.length ? data : data.subarray(0, n), this.#scratchPtr);
    return this.x.connWrite(conn, this.#scratchPtr, n);
  }

  /** Largest single connRead. */
  get scratchCap(): number {
    return this.#scratchCap;
  }
}

const EMPTY_EVENTS = { events: new Uint32Array(0), lost: false };

/**
 * The imports of the raw bindings (asc --bindings raw): env.abort lifts the message and file name
 * (AssemblyScript strings: UTF-16, byte length at ptr - 4) and throws; env.seed feeds Math.random;
 * env.trace logs. Anything else the module imports is an error at call time, named.
 */
function buildImports(module: WebAssembly.Module, holder: { core?: Core; memory?: WebAssembly.Memory }): WebAssembly.Imports {
  const liftString = (ptr: number): string | null => {
    const memory = holder.memory;
    if (!ptr || !memory) return null;
    const buf = memory.buffer;
    const bytes = new Uint32Array(buf)[(ptr - 4) >>> 2] ?? 0;
    const u16 = new Uint16Array(buf, ptr, bytes >>> 1);
    let s = '';
    for (let i = 0; i < u16.length; i += 1024) s += String.fromCharCode(...u16.subarray(i, i + 1024));
    return s;
  };
  const known: Record<string, (...args: number[]) => unknown> = {
    abort(message, fileName, line, column) {
      const msg = `${liftString((message ?? 0) >>> 0) ?? 'abort'} in ${liftString((fileName ?? 0) >>> 0) ?? '?'}:${(line ?? 0) >>> 0}:${(column ?? 0) >>> 0}`;
      const err = new CoreAbortError(msg);
      if (holder.core) holder.core.aborted = err;
      throw err;
    },
    seed() {
      return Date.now() * Math.random();
    },
    trace(message, n, ...args) {
      // eslint-disable-next-line no-console
      console.log(`trace: ${liftString((message ?? 0) >>> 0) ?? ''}${n ? ' ' : ''}${args.slice(0, n ?? 0).join(', ')}`);
    },
  };
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind !== 'function') continue;
    const ns = (imports[imp.module] ??= {});
    const fn = imp.module === 'env' ? known[imp.name] : undefined;
    ns[imp.name] = fn ?? (() => {
      throw new Error(`wtcp: the core called an import the host does not provide: ${imp.module}.${imp.name}`);
    });
  }
  return imports;
}

/** Four random u32 seeds: crypto.getRandomValues, or derived from `seed` for reproducible runs. */
export function makeSeeds(seed?: number): [number, number, number, number] {
  if (seed === undefined) {
    const a = new Uint32Array(4);
    globalThis.crypto.getRandomValues(a);
    return [a[0] as number, a[1] as number, a[2] as number, a[3] as number];
  }
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new TypeError(`seed must be a finite number, got ${String(seed)}`);
  // splitmix32 over the user's seed: distinct, well-mixed words from any integer
  let s = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  const next = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return [next(), next(), next(), next()];
}

/** A small deterministic PRNG (xorshift128) for host-side choices such as autobind start ports. */
export class HostRandom {
  #s: [number, number, number, number];
  constructor(seeds: readonly [number, number, number, number]) {
    this.#s = [seeds[0] | 1, seeds[1] ^ 0x6a09e667, seeds[2] ^ 0xbb67ae85, seeds[3] ^ 0x3c6ef372];
  }
  /** uniform u32 */
  next(): number {
    const s = this.#s;
    let t = s[3];
    const x = s[0];
    s[3] = s[2];
    s[2] = s[1];
    s[1] = x;
    t ^= t << 11;
    t ^= t >>> 8;
    s[0] = (t ^ x ^ (x >>> 19)) >>> 0;
    return s[0];
  }
  /** uniform integer in 0..n-1 (n >= 1) */
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }
}
