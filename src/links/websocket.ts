/**
 * WebSocketLink: Ethernet frames over a WebSocket, to a relay (`wtcp relay`), another stack, or an
 * existing relay or emulator.
 *
 * Framing, as the relays people already run expect it:
 * - `'frame'` (default): one raw Ethernet II frame per binary message, no FCS, no length, no
 *   header: the convention of v86, websockproxy and jor1k relays.
 * - `'qemu'`: QEMU's socket-stream framing (a 4-byte big-endian length before each frame) carried
 *   as a byte stream over the messages, message boundaries meaning nothing: container2wasm.
 *
 * Text messages are never frames: `ping:X` is answered with `pong:X` (older relays' keep-alive),
 * anything else is counted and ignored.
 *
 * Backpressure: a WebSocket has no `drain` event, so the link watches `bufferedAmount`. Above
 * `maxBufferedBytes` a frame is dropped and counted, as a full NIC transmit queue drops it; TCP
 * above retransmits. Frames sent while the socket is not open are dropped and counted the same way.
 *
 * Reconnect: when the socket closes or fails (the first connection included), the link connects
 * again after a back-off that doubles from `initialMs` up to `maxMs`, with jitter, and resets once a
 * connection has stayed open. Connections of the stack above survive a short outage: their lost
 * segments are retransmitted.
 *
 * No Node imports: in browsers it uses the native WebSocket; in Node pass `WebSocket` from `ws`, or
 * use `wtcp/ws` (`connectWebSocketLink`), which does.
 */
import type { Link } from './link.js';
import { encodeLengthPrefixed, LengthPrefixedDecoder } from './framing.js';

/** What the link needs of a WebSocket: the browser's, or `ws`'s. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type WebSocketFraming = 'frame' | 'qemu';

export interface ReconnectOptions {
  /** first delay (ms), default 250 */
  initialMs?: number;
  /** longest delay (ms), default 10000 */
  maxMs?: number;
  /** growth per failed attempt, default 2 */
  factor?: number;
  /** random spread, a fraction of the delay (0..1), default 0.2 */
  jitter?: number;
}

export interface WebSocketLinkOptions {
  /** ws:// or wss:// URL of the relay */
  url: string;
  /** the WebSocket class; default globalThis.WebSocket (browsers, Node >= 22) */
  WebSocket?: WebSocketConstructor;
  protocols?: string | string[];
  /** default 'frame' */
  framing?: WebSocketFraming;
  /** largest IP packet carried, default 1500 */
  mtu?: number;
  /** frames are dropped while more than this many bytes wait to be sent, default 4 MiB */
  maxBufferedBytes?: number;
  /** true (default) or back-off settings; false: once closed, stays closed */
  reconnect?: boolean | ReconnectOptions;
  /** for the jitter; default Math.random */
  random?: () => number;
}

export type WebSocketLinkState = 'connecting' | 'open' | 'waiting' | 'closed';

export interface WebSocketLinkStats {
  txFrames: number;
  txBytes: number;
  /** frames dropped because the socket was not open */
  txDroppedClosed: number;
  /** frames dropped because more than maxBufferedBytes were waiting */
  txDroppedBackpressure: number;
  rxFrames: number;
  rxBytes: number;
  /** binary messages that were not a frame (shorter than an Ethernet header, longer than the MTU) */
  rxMalformed: number;
  /** text messages answered (ping:) or ignored */
  rxText: number;
  /** successful opens after the first */
  reconnects: number;
  /** failed or lost connections */
  failures: number;
}

const OPEN = 1;

export class WebSocketLink implements Link {
  readonly url: string;
  readonly mtu: number;
  readonly framing: WebSocketFraming;
  readonly maxBufferedBytes: number;
  readonly stats: WebSocketLinkStats = {
    txFrames: 0, txBytes: 0, txDroppedClosed: 0, txDroppedBackpressure: 0,
    rxFrames: 0, rxBytes: 0, rxMalformed: 0, rxText: 0, reconnects: 0, failures: 0,
  };

  readonly #ctor: WebSocketConstructor;
  readonly #protocols: string | string[] | undefined;
  readonly #reconnect: Required<ReconnectOptions> | null;
  readonly #random: () => number;
  #ws: WebSocketLike | null = null;
  #state: WebSocketLinkState = 'connecting';
  #handler: ((frame: Uint8Array) => void) | null = null;
  #decoder: LengthPrefixedDecoder | null;
  #attempt = 0;
  #opened = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastProblem = '';
  #stateListeners = new Set<(state: WebSocketLinkState, detail?: string) => void>();

  constructor(opts: WebSocketLinkOptions) {
    if (typeof opts?.url !== 'string' || !/^wss?:\/\//i.test(opts.url)) {
      throw new TypeError(`WebSocketLink url must be a ws:// or wss:// URL, got ${JSON.stringify(opts?.url)}`);
    }
    const ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof ctor !== 'function') {
      throw new TypeError('WebSocketLink: no WebSocket here; pass `WebSocket` (in Node: from the ws package, or use wtcp/ws)');
    }
    const framing = opts.framing ?? 'frame';
    if (framing !== 'frame' && framing !== 'qemu') throw new TypeError(`WebSocketLink framing must be 'frame' or 'qemu', got ${String(framing)}`);
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`WebSocketLink mtu must be an integer 68..65535, got ${mtu}`);
    const maxBuf = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
    if (!Number.isInteger(maxBuf) || maxBuf < 0) throw new RangeError(`WebSocketLink maxBufferedBytes must be an integer >= 0, got ${maxBuf}`);
    this.url = opts.url;
    this.mtu = mtu;
    this.framing = framing;
    this.maxBufferedBytes = maxBuf;
    this.#ctor = ctor;
    this.#protocols = opts.protocols;
    this.#random = opts.random ?? Math.random;
    this.#decoder = framing === 'qemu' ? new LengthPrefixedDecoder(mtu + 14) : null;
    const r = opts.reconnect ?? true;
    if (r === false) this.#reconnect = null;
    else {
      const o = r === true ? {} : r;
      const rc = { initialMs: o.initialMs ?? 250, maxMs: o.maxMs ?? 10_000, factor: o.factor ?? 2, jitter: o.jitter ?? 0.2 };
      if (!(rc.initialMs > 0) || !(rc.maxMs >= rc.initialMs) || !(rc.factor >= 1) || !(rc.jitter >= 0 && rc.jitter <= 1)) {
        throw new RangeError(`WebSocketLink reconnect: need 0 < initialMs <= maxMs, factor >= 1, 0 <= jitter <= 1, got ${JSON.stringify(rc)}`);
      }
      this.#reconnect = rc;
    }
    this.#connect();
  }

  /** A link whose first connection is open (rejects if it closes first and no reconnect is set, or on timeout). */
  static async connect(opts: WebSocketLinkOptions & { timeoutMs?: number }): Promise<WebSocketLink> {
    const link = new WebSocketLink(opts);
    await link.opened(opts.timeoutMs ?? 10_000).catch((e: Error) => { link.close(); throw e; });
    return link;
  }

  get state(): WebSocketLinkState { return this.#state; }

  /** Resolves when the socket is open (now, or next time it opens). */
  opened(timeoutMs = 10_000): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`WebSocketLink: ${this.url} not open after ${timeoutMs} ms${this.#lastProblem ? ` (last: ${this.#lastProblem})` : ''}`));
      }, timeoutMs);
      const off = this.onStateChange((s, detail) => {
        if (s === 'open') { clearTimeout(timer); off(); resolve(); }
        else if (s === 'closed') { clearTimeout(timer); off(); reject(new Error(`WebSocketLink: ${this.url} closed${detail ? `: ${detail}` : ''}`)); }
      });
    });
  }

  /** Called on every state change ('connecting', 'open', 'waiting' before a reconnect, 'closed'); returns an unsubscribe function. */
  onStateChange(fn: (state: WebSocketLinkState, detail?: string) => void): () => void {
    this.#stateListeners.add(fn);
    return () => { this.#stateListeners.delete(fn); };
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void { this.#handler = handler; }

  send(frame: Uint8Array): void {
    const ws = this.#ws;
    if (this.#state !== 'open' || ws === null || ws.readyState !== OPEN) { this.stats.txDroppedClosed++; return; }
    if (ws.bufferedAmount > this.maxBufferedBytes) { this.stats.txDroppedBackpressure++; return; }
    // both WebSocket implementations copy the data before send() returns
    ws.send(this.#decoder ? encodeLengthPrefixed(frame) : frame.slice());
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
  }

  close(): void {
    if (this.#state === 'closed') return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const ws = this.#ws;
    this.#ws = null;
    this.#handler = null;
    if (ws) { detach(ws); try { ws.close(1000, 'link closed'); } catch { /* not open yet */ } }
    this.#setState('closed', 'closed by the owner');
  }

  #setState(s: WebSocketLinkState, detail?: string): void {
    this.#state = s;
    for (const fn of [...this.#stateListeners]) fn(s, detail);
  }

  #connect(): void {
    this.#setState('connecting');
    let ws: WebSocketLike;
    try {
      ws = new this.#ctor(this.url, this.#protocols);
    } catch (e) {
      this.#lost(`cannot connect: ${(e as Error).message}`);
      return;
    }
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      if (this.#opened++ > 0) this.stats.reconnects++;
      this.#attempt = 0;
      this.#decoder?.reset();
      this.#setState('open');
    };
    ws.onmessage = (ev) => { if (this.#ws === ws) this.#message(ws, ev.data); };
    ws.onerror = () => { /* onclose follows with the details */ };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      detach(ws);
      this.#lost(`closed (code ${ev.code ?? '?'}${ev.reason ? `, ${String(ev.reason)}` : ''})`);
    };
  }

  #lost(detail: string): void {
    this.stats.failures++;
    this.#lastProblem = detail;
    if (!this.#reconnect) { this.#handler = null; this.#setState('closed', detail); return; }
    const r = this.#reconnect;
    const base = Math.min(r.maxMs, r.initialMs * r.factor ** this.#attempt++);
    const delay = Math.max(1, Math.round(base * (1 + r.jitter * (2 * this.#random() - 1))));
    this.#setState('waiting', `${detail}; reconnecting in ${delay} ms`);
    this.#timer = setTimeout(() => { this.#timer = undefined; if (this.#state === 'waiting') this.#connect(); }, delay);
  }

  #message(ws: WebSocketLike, data: unknown): void {
    if (typeof data === 'string') {
      this.stats.rxText++;
      if (data.startsWith('ping:')) { try { ws.send(`pong:${data.slice(5)}`); } catch { /* closing */ } }
      return;
    }
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else if (Array.isArray(data)) { // ws's 'fragments' binary type
      const parts = data as Uint8Array[];
      bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) { bytes.set(p, o); o += p.length; }
    } else { this.stats.rxMalformed++; return; }
    if (this.#decoder) {
      if (!this.#decoder.push(bytes, (f) => this.#deliver(f))) {
        // an impossible length: the stream cannot be trusted any more; start a new connection
        this.stats.rxMalformed++;
        try { ws.close(1002, 'bad length prefix'); } catch { /* already closing */ }
      }
      return;
    }
    this.#deliver(bytes);
  }

  #deliver(frame: Uint8Array): void {
    if (frame.length < 14 || frame.length > this.mtu + 14) { this.stats.rxMalformed++; return; }
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    this.#handler?.(frame);
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => { /* ignore late errors */ };
}
