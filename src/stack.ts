/**
 * A Stack: one WebAssembly core instance with its interfaces, links, sysctls, clock and BSD socket
 * layer. The host's main loop lives here.
 *
 * Data flow: frames from a link are copied into the core's input area and handed over in batches
 * (all frames that arrive in the same tick: the flush runs on a microtask, or earlier when the area
 * fills); a link with the RecordLink methods (MemoryLink) gives and takes whole batches of records
 * in the areas' own layout, one copy per batch; after every core call the output area is drained to
 * the links (by interface index, in runs of records), the
 * event ring is dispatched (accept/recv readiness to src/bsd.ts, SYN-flood warnings to listeners),
 * and exactly one clock timer is armed for the core's next deadline (nextTimer).
 *
 * Time: `now` for the core is whole milliseconds since the stack was created, as a wrapping u32.
 *
 * Who calls it: users (`new Stack(...)`), tests (with a VirtualClock and MemoryLinks).
 */

import { formatIPv4, formatMac, isIPv4, isMac, macFromIp, macParts, parseCidr, parseIPv4, parseMac } from './addr.js';
import { BsdSockets, type BsdHost } from './bsd.js';
import { RealClock, type Clock, type TimerHandle } from './clock.js';
import { COUNTERS, CoreEvent, KNOB, ListenerField, type CounterName } from './core-abi.js';
import {
  Core, getCoreModule, HostRandom, loadCoreModule, makeSeeds, type CoreOptions,
} from './core.js';
import { canReceiveRecords, canSendRecords, countRecords, recordSize, type Link, type RecordLink } from './links/link.js';
import { Sysctls, type FamilyName, type PersonalityName, type SysctlOverrides } from './sysctl.js';

/** One network interface. */
export interface InterfaceOptions {
  /** address and prefix in CIDR form, e.g. '198.18.0.2/24' */
  ip: string;
  /** default: a locally administered MAC derived from the address (02:00 + its four bytes) */
  mac?: string;
  /** default route through this interface (dotted quad), if any */
  gateway?: string;
  /** the link carrying this interface's frames; `StackOptions.link` serves interface 0 */
  link?: Link;
}

/**
 * Pool sizes: everything is allocated once at creation, exhaustion is counted (WtcpNoMemory), never
 * a crash. Defaults in brackets.
 */
export interface StackLimits {
  /** listening sockets [256] */
  listeners?: number;
  /** half-open (SYN-RECEIVED) entries, all listeners together [16384; FreeBSD: net.inet.tcp.syncache.cachelimit] */
  synEntries?: number;
  /** connection records: queued, accepted and TIME-WAIT connections together [4096] */
  connections?: number;
  /**
   * buffer memory shared by all connections, in bytes, rounded up to 2 KiB chunks [8 MiB]: receive
   * buffers, out-of-order segments and send buffers all take chunks from it, only while they hold
   * data (an idle connection holds none)
   */
  rxBufferBytes?: number;
  /** ARP cache entries [256] */
  arpEntries?: number;
  /** open descriptors, stdin/stdout/stderr included (RLIMIT_NOFILE) [connections + listeners + 3] */
  fds?: number;
}

export interface StackOptions {
  /** which OS to imitate [linux-5.4] */
  personality?: PersonalityName | 'linux' | 'freebsd';
  /** sysctl overrides in the OS's own spelling, e.g. { 'net.core.somaxconn': 128 } */
  sysctls?: SysctlOverrides;
  /** up to 8 interfaces [none] */
  interfaces?: InterfaceOptions[];
  /** the link of interfaces[0] */
  link?: Link;
  /** [RealClock] */
  clock?: Clock;
  limits?: StackLimits;
  /** seed for reproducible runs (ISNs, secrets, autobind ports); default: crypto.getRandomValues */
  seed?: number;
  /** which build of the core, or a compiled module / bytes */
  core?: CoreOptions;
}

/** The receive-buffer chunk size of the core (assembly/tcp/conn.ts CHUNK). */
export const RX_CHUNK_BYTES = 2048;
/** The core's interface limit. */
export const MAX_INTERFACES = 8;

export const DEFAULT_LIMITS = {
  listeners: 256,
  synEntries: 16384,
  connections: 4096,
  rxBufferBytes: 8 * 1024 * 1024,
  arpEntries: 256,
} as const;

/** One row of `listeners()`: what `ss -lnt` and FreeBSD's `netstat -L` show. */
export interface ListenerInfo {
  fd: number;
  address: string;
  port: number;
  state: 'LISTEN';
  /** completed connections waiting for accept() (ss Recv-Q, netstat qlen) */
  acceptQueue: number;
  /** half-open entries of this listener (Linux request socks; 4.3BSD q0) */
  synQueue: number;
  /** FreeBSD: connections waiting for their accept filter (netstat incqlen) */
  incompleteQueue: number;
  /** effective backlog (ss Send-Q, netstat maxqlen) */
  backlog: number;
  /** SYNs/ACKs dropped because the accept queue was full (this listener) */
  overflows: number;
  drops: number;
}

/** "Possible SYN flooding on port P. Sending cookies." */
export interface SynFloodEvent {
  port: number;
  action: 'cookies' | 'drop';
  /** the kernel log line, as dmesg shows it */
  message: string;
}

export interface LogEvent {
  level: 'info' | 'warn';
  message: string;
}

interface StackEvents {
  synflood: [SynFloodEvent];
  log: [LogEvent];
  /** the core aborted (a bug in the core): the stack is unusable */
  error: [Error];
  close: [];
}
type Listener<K extends keyof StackEvents> = (...args: StackEvents[K]) => void;

export interface InterfaceInfo {
  index: number;
  address: string;
  prefixLen: number;
  mac: string;
  gateway: string | undefined;
  link: Link | undefined;
}

/** What a link offers to read frames itself into a buffer it is given (TapLink). */
interface BatchReceiveLink {
  readonly maxFrame: number;
  setReceiveBuffer(data: Uint8Array, meta: Uint32Array, opts: { recordIface?: number }): void;
  onReceiveBatch(handler: ((data: Uint8Array, meta: Uint32Array, count: number) => void) | null): void;
}
function isBatchReceiveLink(l: unknown): l is BatchReceiveLink {
  const x = l as Partial<BatchReceiveLink> | undefined;
  return typeof x?.setReceiveBuffer === 'function' && typeof x.onReceiveBatch === 'function' && typeof x.maxFrame === 'number';
}

export class Stack {
  /** batches (and their frames) a link read straight into the core's memory (TAP links) */
  zeroCopyBatches = 0;
  zeroCopyFrames = 0;
  /** the BSD socket layer */
  readonly bsd: BsdSockets;
  /** the sysctls (get / set / list), in the personality's spelling */
  readonly sysctl: Sysctls;
  readonly clock: Clock;
  readonly family: FamilyName;
  /** the preset name, e.g. 'linux-5.4' */
  readonly personality: string;
  readonly interfaces: readonly InterfaceInfo[];
  /** the core instance (for tools and tests) */
  readonly core: Core;
  /** frames lost on the way in (input area full during processing, or larger than the area) */
  rxDropped = 0;
  /** frames for an interface that has no link */
  txNoLink = 0;

  readonly #epoch: number;
  readonly #links: (Link | undefined)[];
  /** per interface: its link, if that link takes batches of records */
  readonly #recordLinks: (RecordLink | undefined)[];
  readonly #listeners = new Map<keyof StackEvents, Set<(...args: never[]) => void>>();
  readonly #unsubscribeSysctl: () => void;
  #timer: TimerHandle | undefined;
  #timerDue = Number.NaN;
  #flushScheduled = false;
  #servicing = false;
  #again = false;
  #closing = false;
  #closed = false;

  constructor(opts: StackOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('Stack options must be an object');
    this.sysctl = new Sysctls(opts.personality ?? 'linux-5.4', opts.sysctls ?? {});
    this.family = this.sysctl.family;
    this.personality = this.sysctl.personality.name;
    this.clock = opts.clock ?? new RealClock();
    if (typeof this.clock?.now !== 'function' || typeof this.clock.setTimeout !== 'function') throw new TypeError('clock must be a Clock (now, setTimeout, clearTimeout): a RealClock or a VirtualClock');
    this.#epoch = this.clock.now();

    const ifaces = this.#parseInterfaces(opts);
    this.interfaces = ifaces;
    this.#links = ifaces.map((i) => i.link);
    this.#recordLinks = ifaces.map((i) => (i.link && canSendRecords(i.link) ? (i.link as RecordLink) : undefined));

    const limits = this.#limits(opts.limits ?? {});
    const seeds = makeSeeds(opts.seed);
    const module = getCoreModule(opts.core);
    this.core = Core.instantiate(module);
    this.core.init(
      {
        listeners: limits.listeners,
        synEntries: limits.synEntries,
        connections: limits.connections,
        synBuckets: this.family === 'freebsd' ? Number(this.sysctl.get('net.inet.tcp.syncache.hashsize')) : 0,
        rxChunks: Math.max(1, Math.ceil(limits.rxBufferBytes / RX_CHUNK_BYTES)),
        arpEntries: limits.arpEntries,
      },
      seeds,
    );
    const x = this.core.x;
    this.sysctl.knobValues().forEach((v, id) => x.setKnob(id, v));
    // the MSS the stack offers follows its links' MTU (the smallest, so that it fits each of them;
    // an Ethernet link says 1500; a MemoryLink may declare up to 65535, of which the core uses up
    // to 65521: its frame records carry a 16-bit length)
    const mtus = ifaces.flatMap((i) => (i.link ? [i.link.mtu] : []));
    if (mtus.length > 0) x.setKnob(KNOB.link_mtu, Math.min(...mtus) === 1500 ? 0 : Math.min(...mtus));
    this.#unsubscribeSysctl = this.sysctl.onChange((change) => {
      if (this.#closed || this.core.aborted) return;
      for (const k of change.knobs) x.setKnob(k.id, k.value);
      this.#service();
    });
    for (const i of ifaces) {
      const mac = macParts(parseMac(i.mac));
      const r = x.ifaceSet(i.index, mac.hi, mac.lo, parseIPv4(i.address), i.prefixLen, i.gateway ? parseIPv4(i.gateway) : 0);
      if (r < 0) throw new RangeError(`the core refused interface ${i.index} (${i.address}/${i.prefixLen}): code ${r}`);
    }

    const stack = this;
    const host: BsdHost = {
      core: this.core,
      sysctl: this.sysctl,
      family: this.family,
      random: new HostRandom([seeds[3], seeds[2], seeds[1], seeds[0]]),
      interfaces: ifaces.map((i) => ({ ip: parseIPv4(i.address), prefixLen: i.prefixLen, gateway: i.gateway ? parseIPv4(i.gateway) : 0 })),
      service: () => this.#service(),
      sync: () => {
        if (!this.core.aborted) this.core.x.poll(this.now());
      },
      get closed() {
        return stack.#closed || stack.#closing;
      },
    };
    this.bsd = new BsdSockets(host, { maxFds: limits.fds });

    // attach last: from here on frames flow. Links with the record methods (MemoryLink) take and give
    // whole batches; onReceive stays installed for what no record can carry.
    ifaces.forEach((i) => {
      const link = i.link;
      if (!link) return;
      link.onReceive((frame) => this.#receive(i.index, frame));
      if (canReceiveRecords(link)) {
        link.onReceiveRecords(
          (data, start, end, count) => this.#receiveRecords(i.index, data, start, end, count),
          (data, start, end) => this.#takeRecords(i.index, data, start, end),
        );
      }
    });
    // A link that reads its frames in batches (the TAP link) reads them straight into the core's
    // memory, laid out as input records, and the batch is input where it lies: no copy per frame.
    // One such link per stack (the core has one receive area); others take the per-frame path.
    const batchIface = ifaces.find((i) => isBatchReceiveLink(i.link));
    if (batchIface) {
      const link = batchIface.link as unknown as BatchReceiveLink;
      const frames = 256;
      const area = this.core.rxArea(Math.max(64 * 1024, frames * ((link.maxFrame + 4 + 3) & ~3)));
      if (area) {
        link.onReceiveBatch((_data, _meta, count) => this.#receiveBatch(count));
        link.setReceiveBuffer(area, new Uint32Array(2 * frames), { recordIface: batchIface.index });
      }
    }
    this.#armTimer();
  }

  /** A batch the link read into the receive area: frames already queued go first, then the batch. */
  #receiveBatch(count: number): void {
    if (this.#closed || this.#closing || this.core.aborted) return;
    this.zeroCopyBatches++;
    this.zeroCopyFrames += count;
    this.#guard(() => {
      const now = this.now();
      if (this.core.pendingFrames > 0) this.core.flushInput(now);
      this.core.x.inputRx(count, now >>> 0);
      this.#service();
    });
  }

  /** Create a stack after loading the core asynchronously (browsers; works everywhere). */
  static async create(opts: StackOptions = {}): Promise<Stack> {
    const module = await loadCoreModule(opts.core);
    return new Stack({ ...opts, core: { ...opts.core, module } });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Milliseconds since the stack was created, as the core sees them (wrapping u32). */
  now(): number {
    return Math.floor(this.clock.now() - this.#epoch) >>> 0;
  }

  // --- counters and introspection ----------------------------------------------------------------

  /** Every counter by name (Linux nstat names, FreeBSD TcpSc* syncache names, Wtcp* for the stack's own). */
  counters(): Record<CounterName, number> {
    const v = this.core.counterValues();
    const out = {} as Record<CounterName, number>;
    COUNTERS.forEach((name, i) => {
      out[name] = v[i] ?? 0;
    });
    return out;
  }

  /**
   * The counters as `nstat -a` prints them ("#kernel", then `%-32s%-16llu%6.1f` lines); zero values
   * only with `zeros` (nstat -z). The rate column is always 0.0 (no history is kept).
   */
  formatNstat(opts: { zeros?: boolean } = {}): string {
    return formatNstatCounters(this.counters(), opts);
  }

  /** Listening sockets with their queues (in descriptor order). */
  listeners(): ListenerInfo[] {
    const x = this.core.x;
    return this.bsd.listening().map((s) => ({
      fd: s.fd,
      address: formatIPv4(s.laddr),
      port: s.lport,
      state: 'LISTEN' as const,
      acceptQueue: x.listenerGet(s.listener, ListenerField.AcceptQueue),
      synQueue: x.listenerGet(s.listener, ListenerField.SynQueue),
      incompleteQueue: x.listenerGet(s.listener, ListenerField.IncompleteQueue),
      backlog: x.listenerGet(s.listener, ListenerField.Backlog),
      overflows: x.listenerGet(s.listener, ListenerField.Overflows) >>> 0,
      drops: x.listenerGet(s.listener, ListenerField.Drops) >>> 0,
    }));
  }

  /**
   * `ss -lnt` output (iproute2 6.1, stdout not a terminal): columns sized to their widest entry,
   * addresses right-aligned, Recv-Q = accept queue, Send-Q = backlog.
   */
  formatSs(): string {
    return formatSsListeners(this.listeners());
  }

  /**
   * FreeBSD 12 `netstat -Lan -p tcp` output: qlen/incqlen/maxqlen per listening socket, newest
   * first; listeners with a backlog of 0 are not shown (netstat skips so_qlimit == 0); nothing at
   * all without TCP sockets.
   */
  formatNetstatL(): string {
    const seqs = new Map(this.bsd.listening().map((s) => [s.fd, s.seq]));
    const rows = this.listeners().sort((a, b) => (seqs.get(b.fd) ?? 0) - (seqs.get(a.fd) ?? 0));
    return formatNetstatListeners(rows, this.bsd.tcpSocketCount() > 0);
  }

  /** Bytes of WebAssembly memory the core's pools take. */
  memoryBytes(): number {
    return this.core.x.memoryBytes();
  }

  // --- events ---------------------------------------------------------------------------------------

  on<K extends keyof StackEvents>(event: K, fn: Listener<K>): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(fn as (...args: never[]) => void);
    return this;
  }

  off<K extends keyof StackEvents>(event: K, fn: Listener<K>): this {
    this.#listeners.get(event)?.delete(fn as (...args: never[]) => void);
    return this;
  }

  once<K extends keyof StackEvents>(event: K, fn: Listener<K>): this {
    const wrap = ((...args: StackEvents[K]) => {
      this.off(event, wrap);
      fn(...args);
    }) as Listener<K>;
    return this.on(event, wrap);
  }

  #emit<K extends keyof StackEvents>(event: K, ...args: StackEvents[K]): boolean {
    const set = this.#listeners.get(event) as Set<Listener<K>> | undefined;
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        // a listener's exception must not break the stack's loop: report it like an uncaught one
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    return true;
  }

  // --- lifecycle ------------------------------------------------------------------------------------

  /**
   * Close every socket (what the family does for each: RST/FIN frames go out on the links), stop the
   * timer and detach from the links (the links themselves stay open). Idempotent.
   */
  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    try {
      if (!this.core.aborted) {
        this.bsd.closeAll();
        this.#service();
      }
    } finally {
      this.#closed = true;
      this.#closing = false;
      this.#cancelTimer();
      for (const l of this.#links) {
        if (!l) continue;
        l.onReceive(null);
        if (canReceiveRecords(l)) l.onReceiveRecords(null);
      }
      this.#unsubscribeSysctl();
      this.#emit('close');
    }
  }

  // --- the loop -------------------------------------------------------------------------------------

  #receive(iface: number, frame: Uint8Array): void {
    if (this.#closed || this.#closing || this.core.aborted) return;
    let r = this.core.pushFrame(iface, frame);
    if (r === false) {
      // the input area is full: hand it over now, unless the core is busy (then the frame is lost,
      // as with a full receive ring)
      if (this.#servicing) {
        this.rxDropped++;
        return;
      }
      this.#flush();
      r = this.core.pushFrame(iface, frame);
    }
    if (r !== true) {
      this.rxDropped++;
      return;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** A batch of records from a link (RecordLink): straight into the input area, whole runs at a time. */
  #receiveRecords(iface: number, data: Uint8Array, start: number, end: number, count: number): void {
    if (this.#closed || this.#closing || this.core.aborted || count <= 0) return;
    let p = start;
    while (p < end) {
      const q = this.core.pushRecords(iface, data, p, end);
      if (q >= end) break;
      if (q < 0) {
        // one frame larger than the whole input area: lost, as in #receive
        const at = -q - 1;
        this.rxDropped++;
        p = at + recordSize((data[at] as number) | ((data[at + 1] as number) << 8));
        continue;
      }
      // the input area is full: hand it over now, unless the core is busy (then the rest is lost, as
      // with a full receive ring)
      if (this.#servicing || q === p && this.core.pendingFrames === 0) {
        this.rxDropped += countRecords(data, q, end);
        break;
      }
      this.#flush();
      if (this.#closed || this.core.aborted) return;
      p = q;
    }
    if (!this.#flushScheduled && this.core.pendingFrames > 0) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /**
   * A link's `take` (RecordLink): copy what fits of a batch into the input area now, without
   * processing it (that happens on the flush microtask, after the sender's call). Returns where it
   * stopped.
   */
  #takeRecords(iface: number, data: Uint8Array, start: number, end: number): number {
    if (this.#closed || this.#closing || this.core.aborted) return start;
    const q = this.core.pushRecords(iface, data, start, end);
    if (q < 0) return start;
    if (q > start && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
    return q;
  }

  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#closed || this.core.pendingFrames === 0 || this.core.aborted) return;
    this.#guard(() => {
      this.core.flushInput(this.now());
      this.#service();
    });
  }

  readonly #onTimerFn = (): void => this.#onTimer();

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerDue = Number.NaN;
    if (this.#closed || this.core.aborted) return;
    this.#guard(() => {
      if (this.core.pendingFrames > 0) this.core.flushInput(this.now());
      this.core.x.poll(this.now());
      this.#service();
    });
  }

  /** Run a core-driving step from the event loop; a core abort becomes an 'error' event. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (this.core.aborted) {
        this.#cancelTimer();
        if (!this.#emit('error', e as Error)) throw e;
        return;
      }
      throw e;
    }
  }

  /**
   * After any core call: send the output frames, dispatch the events (which may call the core again:
   * handled by looping, never by recursion), run timers that are already due, re-arm the timer.
   */
  #service(): void {
    if (this.#closed || this.core.aborted) return;
    if (this.#servicing) {
      this.#again = true;
      return;
    }
    this.#servicing = true;
    try {
      let rounds = 0;
      do {
        this.#again = false;
        this.core.drainOutputRecords(this.#sendRun);
        // connections that stopped because the transmit area was full go on now that it is empty
        if (this.core.x.outputBlocked() > 0) {
          this.core.x.outputResume();
          this.#again = true;
        }
        const r = this.core.takeEventsReused();
        const n = r < 0 ? -1 - r : r;
        // the reused buffer stays as it is while we read it: whatever a dispatch calls into reaches
        // #service only as #again (never nested), the one caller of takeEventsReused
        const events = this.core.eventBuffer;
        for (let i = 0; i < n * 3; i += 3) this.#dispatch(events[i] as number, events[i + 1] as number, events[i + 2] as number);
        if (r < 0) this.bsd.onEventsLost();
        if (!this.#again && rounds < 16) {
          const now = this.now();
          if (this.core.x.nextTimer(now) === 0) {
            this.core.x.poll(now);
            this.#again = true;
          }
        }
        rounds++;
      } while (this.#again && rounds < 10_000);
    } finally {
      this.#servicing = false;
    }
    this.#armTimer();
  }

  /** A run of output records for one interface: one copy into a record link, else frame by frame. */
  readonly #sendRun = (iface: number, area: Uint8Array, start: number, end: number, count: number): void => {
    const rl = this.#recordLinks[iface];
    if (rl) {
      rl.sendRecords(area, start, end, count);
      return;
    }
    const link = this.#links[iface];
    if (!link) {
      this.txNoLink += count;
      return;
    }
    let p = start;
    for (let i = 0; i < count && p + 4 <= end; i++) {
      const len = (area[p] as number) | ((area[p + 1] as number) << 8);
      link.send(area.subarray(p + 4, p + 4 + len));
      p += recordSize(len);
    }
  };

  #dispatch(type: number, a: number, b: number): void {
    switch (type) {
      case CoreEvent.AcceptReady:
        this.bsd.onAcceptReady(a);
        break;
      case CoreEvent.Readable:
      case CoreEvent.ConnError:
      case CoreEvent.ConnClosed:
      case CoreEvent.Connected:
      case CoreEvent.Writable:
        this.bsd.onConnEvent(a);
        break;
      case CoreEvent.SynFloodWarning: {
        // 6.2+ names the listener's address
        const modern = /^linux-6\./.test(this.personality);
        const addr = modern ? this.listeners().find((l) => l.port === a)?.address ?? '0.0.0.0' : undefined;
        const ev: SynFloodEvent = { port: a, action: b ? 'cookies' : 'drop', message: synFloodMessage(a, b !== 0, addr) };
        this.#emit('synflood', ev);
        this.#emit('log', { level: 'info', message: ev.message });
        break;
      }
      default:
        break;
    }
  }

  #armTimer(): void {
    if (this.#closed || this.core.aborted) return;
    const wall = this.clock.now();
    const elapsed = Math.floor(wall - this.#epoch);
    const t = this.core.x.nextTimer(elapsed >>> 0);
    if (t < 0) {
      this.#cancelTimer();
      return;
    }
    // the unwrapped time: `now` wraps at 2^32 ms, and a due time built from it would then lie in the past
    const due = this.#epoch + elapsed + t;
    if (this.#timer !== undefined && due === this.#timerDue) return;
    this.#cancelTimer();
    this.#timerDue = due;
    this.#timer = this.clock.setTimeout(this.#onTimerFn, Math.max(0, due - wall));
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = Number.NaN;
  }

  // --- configuration --------------------------------------------------------------------------------

  #parseInterfaces(opts: StackOptions): InterfaceInfo[] {
    const list = opts.interfaces ?? [];
    if (!Array.isArray(list)) throw new TypeError('interfaces must be an array');
    if (list.length > MAX_INTERFACES) throw new RangeError(`at most ${MAX_INTERFACES} interfaces, got ${list.length}`);
    if (opts.link && list.length === 0) {
      throw new TypeError('a link needs an interface address: pass interfaces: [{ ip: "198.18.0.2/24" }]');
    }
    return list.map((i, index) => {
      if (i === null || typeof i !== 'object') throw new TypeError(`interfaces[${index}] must be an object`);
      const { ip, prefixLen } = parseCidr(i.ip, `interfaces[${index}].ip`);
      if (ip === 0) throw new RangeError(`interfaces[${index}].ip cannot be 0.0.0.0`);
      if (i.mac !== undefined && !isMac(i.mac)) parseMac(i.mac, `interfaces[${index}].mac`);
      if (i.gateway !== undefined && !isIPv4(i.gateway)) parseIPv4(i.gateway, `interfaces[${index}].gateway`);
      const link = i.link ?? (index === 0 ? opts.link : undefined);
      if (link !== undefined && (link === null || typeof link.send !== 'function' || typeof link.onReceive !== 'function')) {
        throw new TypeError(`interfaces[${index}]: the link must be a Link (send, onReceive, close, mtu)`);
      }
      return {
        index,
        address: formatIPv4(ip),
        prefixLen,
        mac: i.mac !== undefined ? formatMac(parseMac(i.mac)) : macFromIp(ip),
        gateway: i.gateway,
        link,
      };
    });
  }

  #limits(l: StackLimits): Required<StackLimits> {
    const pick = (name: keyof StackLimits, dflt: number, min: number, max: number): number => {
      const v = l[name] ?? dflt;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw new RangeError(`limits.${name} must be an integer ${min}..${max}, got ${String(v)}`);
      }
      return v;
    };
    const synDefault = this.family === 'freebsd'
      ? Number(this.sysctl.get('net.inet.tcp.syncache.cachelimit'))
      : DEFAULT_LIMITS.synEntries;
    const listeners = pick('listeners', DEFAULT_LIMITS.listeners, 1, 65535);
    const connections = pick('connections', DEFAULT_LIMITS.connections, 1, 1 << 24);
    return {
      listeners,
      synEntries: pick('synEntries', synDefault, 1, 1 << 26),
      connections,
      rxBufferBytes: pick('rxBufferBytes', DEFAULT_LIMITS.rxBufferBytes, RX_CHUNK_BYTES, RX_CHUNK_BYTES * (1 << 24)),
      arpEntries: pick('arpEntries', DEFAULT_LIMITS.arpEntries, 4, 65536),
      fds: pick('fds', connections + listeners + 3, 4, 1 << 26),
    };
  }
}

/** The Linux kernel's SYN-flood log line (tcp_syn_flood_action; pr_fmt "TCP: ", proto "request_sock_TCP"). */
/**
 * The kernel's log line (tcp_syn_flood_action). Linux 6.2 added the listening address and dropped
 * "Check SNMP counters" ("tcp: Add listening address to SYN flood message"); older kernels print
 * the port alone.
 */
export function synFloodMessage(port: number, cookies: boolean, address?: string): string {
  const action = cookies ? 'Sending cookies' : 'Dropping request';
  if (address !== undefined) return `TCP: request_sock_TCP: Possible SYN flooding on port ${address}:${port}. ${action}.`;
  return `TCP: request_sock_TCP: Possible SYN flooding on port ${port}. ${action}.  Check SNMP counters.`;
}

// ------------------------------------------------------------------------------------------------
// ss and netstat layouts
// ------------------------------------------------------------------------------------------------

interface SsColumn {
  header: string;
  ldelim: string;
  align: 'left' | 'right';
}

/** iproute2 misc/ss.c columns (Netid hidden for a single table), in order. */
const SS_COLUMNS: readonly SsColumn[] = [
  { header: 'State', ldelim: ' ', align: 'left' },
  { header: 'Recv-Q', ldelim: ' ', align: 'left' },
  { header: 'Send-Q', ldelim: ' ', align: 'left' },
  { header: 'Local Address:', ldelim: ' ', align: 'right' },
  { header: 'Port', ldelim: '', align: 'left' },
  { header: 'Peer Address:', ldelim: ' ', align: 'right' },
  { header: 'Port', ldelim: '', align: 'left' },
  { header: 'Process', ldelim: '', align: 'left' },
];

/**
 * Counters as `nstat -a` prints them: "#kernel", then `%-32s%-16llu%6.1f` lines in the order given;
 * zero values only with `zeros` (nstat -z). The rate column is always 0.0 (no history is kept).
 */
export function formatNstatCounters(counters: Readonly<Record<string, number>>, opts: { zeros?: boolean } = {}): string {
  let out = '#kernel\n';
  for (const [name, n] of Object.entries(counters)) {
    if (n === 0 && !opts.zeros) continue;
    out += `${name.padEnd(32)}${String(n).padEnd(16)}${(0).toFixed(1).padStart(6)}\n`;
  }
  return out;
}

/**
 * Render rows the way ss's render() does when stdout is not a terminal (render_calc_width's
 * compact mode): each column as wide as its widest field plus its left delimiter (except the
 * first), right-aligned fields padded on the left, left-aligned ones on the right.
 */
export function formatSsListeners(rows: readonly Pick<ListenerInfo, 'address' | 'port' | 'acceptQueue' | 'backlog'>[]): string {
  const lines: string[][] = [SS_COLUMNS.map((c) => c.header)];
  for (const r of rows) {
    lines.push([
      'LISTEN',
      String(r.acceptQueue).padEnd(6),
      String(r.backlog).padEnd(6),
      `${r.address}:`,
      r.port === 0 ? '*' : String(r.port),
      '0.0.0.0:',
      '*',
      '',
    ]);
  }
  const widths = SS_COLUMNS.map((c, i) => {
    const max = Math.max(...lines.map((l) => (l[i] as string).length));
    return i > 0 && max > 0 ? max + c.ldelim.length : max;
  });
  let out = '';
  for (const l of lines) {
    let line = '';
    l.forEach((field, i) => {
      const col = SS_COLUMNS[i] as SsColumn;
      const width = widths[i] as number;
      let printed = 0;
      if (i > 0) {
        line += col.ldelim;
        printed = col.ldelim.length;
      }
      if (width > 0 && col.align === 'right') {
        const s = width - field.length - printed;
        if (s > 0) {
          line += ' '.repeat(s);
          printed += s;
        }
      }
      line += field;
      printed += field.length;
      if (width > 0 && col.align === 'left') {
        const s = width - printed;
        if (s > 0) line += ' '.repeat(s);
      }
    });
    out += `${line}\n`;
  }
  return out;
}

/**
 * FreeBSD 12 netstat/inet.c protopr() with -L -a -n: the header, then per listening socket
 * `%-3.3s%-2.2s ` ("tcp4 "), `%-32.32s ` (qlen/incqlen/maxqlen), and the local address as
 * inetprint() writes it (`*.port` for the wildcard, `a.b.c.d.port`, a space, padded to 22).
 */
export function formatNetstatListeners(
  rows: readonly Pick<ListenerInfo, 'address' | 'port' | 'acceptQueue' | 'incompleteQueue' | 'backlog'>[],
  anyTcpSocket: boolean,
): string {
  if (!anyTcpSocket && rows.length === 0) return '';
  const fit = (s: string, w: number) => s.slice(0, w).padEnd(w);
  let out = 'Current listen queue sizes (qlen/incqlen/maxqlen)\n';
  out += `${fit('Proto', 5)} ${fit('Listen', 32)} ${fit('Local Address', 22)}\n`;
  for (const r of rows) {
    if (r.backlog === 0) continue; // `if (Lflag && so->so_qlimit == 0) continue;`
    const host = r.address === '0.0.0.0' ? '*' : r.address;
    const local = `${host.slice(0, 16)}.${r.port === 0 ? '*' : r.port} `;
    out += `${fit('tcp', 3)}${fit('4', 2)} ${fit(`${r.acceptQueue}/${r.incompleteQueue}/${r.backlog}`, 32)} ${fit(local, 22)} \n`;
  }
  return out;
}
