/**
 * `wtcp relay` (and `wtcp/relay`): a WebSocket server that switches Ethernet frames between its
 * clients, a learning switch (src/links/switch.ts) with broadcast and unknown destinations flooded,
 * and optionally bridges them to any other Link, a TAP device above all, so that browser stacks,
 * Node stacks, emulators and the host kernel share one Ethernet segment.
 *
 * Clients speak the v86 / websockproxy convention (one frame per binary message) by default; a
 * client whose URL has `?framing=qemu` speaks QEMU's length-prefixed stream (container2wasm).
 * Text messages `ping:X` are answered `pong:X`; other text is ignored. A client that cannot keep up
 * (more than `maxBufferedBytes` waiting) loses frames, counted, rather than stalling the others.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Link } from './links/link.js';
import { LearningSwitch, type SwitchStats } from './links/switch.js';
import { encodeLengthPrefixed, LengthPrefixedDecoder } from './links/framing.js';

export interface RelayOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 0 (any free port) */
  port?: number;
  /** attach to an existing HTTP server instead of listening (host/port ignored) */
  server?: Server;
  /** WebSocket path, default: any */
  path?: string;
  /** a link bridged as one more switch port (a TapLink for the host kernel) */
  bridge?: Link;
  /** per-client output limit before frames to it are dropped, default 4 MiB */
  maxBufferedBytes?: number;
  /** largest frame accepted, default 65535 + 14 */
  maxFrame?: number;
  /** MAC table ageing (ms), default 300000 */
  ageingMs?: number;
  /** clock for ageing, default Date.now */
  now?: () => number;
}

interface Port {
  id: number;
  kind: 'ws' | 'bridge';
  remote: string;
  framing: 'frame' | 'qemu';
  send(frame: Uint8Array): void;
  rxFrames: number;
  txFrames: number;
  txDropped: number;
  malformed: number;
}

export interface RelayStats extends SwitchStats {
  clients: number;
  /** binary messages that were not a frame */
  malformed: number;
  /** frames dropped because a client's output was full */
  txDropped: number;
  /** text messages received */
  text: number;
  ports: { id: number; kind: 'ws' | 'bridge'; remote: string; framing: string; rxFrames: number; txFrames: number; txDropped: number; malformed: number }[];
  macs: { mac: string; port: number; ageMs: number }[];
}

export class Relay {
  readonly #http: Server;
  readonly #ownsHttp: boolean;
  readonly #wss: WebSocketServer;
  readonly #switch: LearningSwitch<Port>;
  readonly #maxBuffered: number;
  readonly #maxFrame: number;
  readonly #now: () => number;
  readonly #bridge: Link | undefined;
  #nextId = 1;
  #malformed = 0;
  #text = 0;
  #closed = false;

  private constructor(http: Server, ownsHttp: boolean, opts: RelayOptions) {
    this.#http = http;
    this.#ownsHttp = ownsHttp;
    this.#maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#maxFrame = opts.maxFrame ?? 65535 + 14;
    this.#now = opts.now ?? Date.now;
    this.#switch = new LearningSwitch<Port>({ ageingMs: opts.ageingMs ?? 300_000 });
    this.#wss = new WebSocketServer({ server: http, path: opts.path, perMessageDeflate: false, maxPayload: this.#maxFrame + 4 });
    this.#wss.on('connection', (ws, req) => this.#client(ws, req));
    this.#bridge = opts.bridge;
    if (opts.bridge) {
      const link = opts.bridge;
      const port = this.#port('bridge', 'bridge', 'frame', (f) => link.send(f));
      // the link's frame is a view into its reused read area: the relay queues it on sockets, so copy
      link.onReceive((f) => { port.rxFrames++; this.#forward(port, f.slice()); });
    }
  }

  /** Start a relay: listening on host:port (default 127.0.0.1, any free port) or on `server`. */
  static async start(opts: RelayOptions = {}): Promise<Relay> {
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`relay port must be an integer 0..65535, got ${port}`);
    if (opts.server) return new Relay(opts.server, false, opts);
    const http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('wtcp relay: connect with a WebSocket (one Ethernet frame per binary message)\n');
    });
    const relay = new Relay(http, true, opts);
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, opts.host ?? '127.0.0.1', () => { http.off('error', reject); resolve(); });
    });
    return relay;
  }

  /** the address the relay listens on */
  address(): AddressInfo {
    const a = this.#http.address();
    if (a === null || typeof a === 'string') throw new Error('relay: not listening on a TCP port');
    return a;
  }

  /** ws://host:port/ for clients */
  get url(): string {
    const a = this.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `ws://${host}:${a.port}/`;
  }

  stats(): RelayStats {
    const ports = this.#switch.ports;
    return {
      ...this.#switch.stats,
      clients: ports.filter((p) => p.kind === 'ws').length,
      malformed: this.#malformed,
      txDropped: ports.reduce((n, p) => n + p.txDropped, 0),
      text: this.#text,
      ports: ports.map((p) => ({ id: p.id, kind: p.kind, remote: p.remote, framing: p.framing, rxFrames: p.rxFrames, txFrames: p.txFrames, txDropped: p.txDropped, malformed: p.malformed })),
      macs: this.#switch.table(this.#now()).map((e) => ({ mac: e.mac, port: e.port.id, ageMs: e.ageMs })),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#bridge?.onReceive(null);
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    if (this.#ownsHttp) await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #port(kind: Port['kind'], remote: string, framing: Port['framing'], send: (f: Uint8Array) => void): Port {
    const port: Port = { id: this.#nextId++, kind, remote, framing, send, rxFrames: 0, txFrames: 0, txDropped: 0, malformed: 0 };
    this.#switch.addPort(port);
    return port;
  }

  #client(ws: WebSocket, req: IncomingMessage): void {
    const framing = /[?&]framing=qemu(&|$)/.test(req.url ?? '') ? 'qemu' : 'frame';
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const decoder = framing === 'qemu' ? new LengthPrefixedDecoder(this.#maxFrame) : null;
    const port = this.#port('ws', remote, framing, (f) => {
      if (ws.readyState !== ws.OPEN || ws.bufferedAmount > this.#maxBuffered) { port.txDropped++; return; }
      port.txFrames++;
      ws.send(decoder ? encodeLengthPrefixed(f) : f, { binary: true });
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.#text++;
        const s = data.toString();
        if (s.startsWith('ping:')) ws.send(`pong:${s.slice(5)}`);
        return;
      }
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      const frame = (f: Uint8Array) => {
        if (f.length < 14 || f.length > this.#maxFrame) { port.malformed++; this.#malformed++; return; }
        port.rxFrames++;
        this.#forward(port, f);
      };
      if (!decoder) { frame(bytes); return; }
      if (!decoder.push(bytes, frame)) { port.malformed++; this.#malformed++; ws.close(1002, 'bad length prefix'); }
    });
    ws.on('close', () => this.#switch.removePort(port));
    ws.on('error', () => { /* close follows */ });
  }

  #forward(from: Port, frame: Uint8Array): void {
    for (const p of this.#switch.forward(from, frame, this.#now())) p.send(frame);
  }
}
