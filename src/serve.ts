/**
 * What `wtcp serve` runs: one stack on a real link (a TAP device or a WebSocket relay), a listener
 * with the chosen personality, backlog and sysctls, an application on each accepted connection
 * (`http`, `echo`, `discard`), an accept pace (`acceptRate`: accepts per second; 0 never accepts,
 * so connections stay queued and the personality's overflow rules show), an optional pcap capture,
 * and an optional control endpoint: a small HTTP server on the host that returns the listeners'
 * queues and the counters as JSON (`wtcp stats` reads it).
 *
 * Node-only (TAP, files, node:http); the command line is in cli.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Stack } from './stack.js';
import type { Link } from './links/link.js';
import { Socket } from './net.js';
import { SocketError } from './errno.js';
import type { PersonalityName } from './personalities.js';
import { capturePcapFile } from './links/pcap-file.js';
import type { PcapFileWriter } from './links/pcap-file.js';

export type ServeApp = 'http' | 'echo' | 'discard';
export const SERVE_APPS: readonly ServeApp[] = ['http', 'echo', 'discard'];
export const DEFAULT_APP_PORT: Record<ServeApp, number> = { http: 80, echo: 7, discard: 9 };

export type ServeLink =
  | { kind: 'tap'; name: string; hostIp?: string; netns?: string }
  | { kind: 'ws'; url: string; framing?: 'frame' | 'qemu' }
  | { kind: 'link'; link: Link; description: string };

export interface ServeOptions {
  link: ServeLink;
  /** the stack's address, CIDR (198.18.0.2/24) */
  ip: string;
  gateway?: string;
  mac?: string;
  app?: ServeApp;
  /** default: the app's well-known port */
  port?: number;
  personality?: PersonalityName;
  backlog?: number;
  sysctls?: Record<string, string | number>;
  /** accepts per second; 0 = never accept; undefined = accept as fast as connections come */
  acceptRate?: number;
  pcap?: string;
  /** host:port of the control endpoint (on the host's own network: use 127.0.0.1) */
  control?: { host: string; port: number };
  log?: (line: string) => void;
}

export interface ServeSnapshot {
  personality: string;
  family: string;
  address: string;
  app: ServeApp;
  port: number;
  backlog: number;
  acceptRate: number | null;
  link: string;
  uptimeMs: number;
  accepted: number;
  active: number;
  listeners: ReturnType<Stack['listeners']>;
  counters: Record<string, number>;
}

export class Served {
  readonly stack: Stack;
  readonly link: Link;
  readonly app: ServeApp;
  readonly port: number;
  readonly backlog: number;
  readonly acceptRate: number | undefined;
  readonly linkDescription: string;
  accepted = 0;
  readonly #sockets = new Set<Socket>();
  readonly #t0 = Date.now();
  #fd = -1;
  #control: http.Server | undefined;
  #pcap: PcapFileWriter | undefined;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #httpServer: http.Server | undefined;
  #log: (line: string) => void;

  private constructor(stack: Stack, link: Link, o: ServeOptions, desc: string) {
    this.stack = stack;
    this.link = link;
    this.app = o.app ?? 'http';
    this.port = o.port ?? DEFAULT_APP_PORT[this.app];
    this.backlog = o.backlog ?? 128;
    this.acceptRate = o.acceptRate;
    this.linkDescription = desc;
    this.#log = o.log ?? (() => undefined);
  }

  static async start(o: ServeOptions): Promise<Served> {
    const app = o.app ?? 'http';
    if (!SERVE_APPS.includes(app)) throw new TypeError(`unknown app "${String(app)}"; one of: ${SERVE_APPS.join(', ')}`);
    const port = o.port ?? DEFAULT_APP_PORT[app];
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1..65535, got ${port}`);
    if (o.acceptRate !== undefined && (!Number.isFinite(o.acceptRate) || o.acceptRate < 0)) {
      throw new RangeError(`accept rate must be >= 0 accepts per second, got ${o.acceptRate}`);
    }
    let link: Link;
    let desc: string;
    if (o.link.kind === 'tap') {
      const { TapLink } = await import('./links/tap.js');
      const tap = await TapLink.open({
        name: o.link.name,
        ...(o.link.hostIp ? { hostAddress: o.link.hostIp } : {}),
        ...(o.link.netns ? { netns: o.link.netns } : {}),
      });
      link = tap;
      desc = `tap ${tap.name}${o.link.netns ? ` (in netns ${o.link.netns})` : ''}${o.link.hostIp ? `, host side ${o.link.hostIp}` : ''}`;
    } else if (o.link.kind === 'ws') {
      const { connectWebSocketLink } = await import('./links/ws-node.js');
      link = await connectWebSocketLink({ url: o.link.url, framing: o.link.framing ?? 'frame' });
      desc = `websocket ${o.link.url}${o.link.framing === 'qemu' ? ' (qemu framing)' : ''}`;
    } else {
      link = o.link.link;
      desc = o.link.description;
    }
    let pcap: PcapFileWriter | undefined;
    if (o.pcap) {
      const cap = capturePcapFile(link, o.pcap);
      pcap = cap.file;
      link = cap.link;
    }
    let stack: Stack;
    try {
      stack = new Stack({
        link,
        interfaces: [{ ip: o.ip, ...(o.gateway ? { gateway: o.gateway } : {}), ...(o.mac ? { mac: o.mac } : {}) }],
        ...(o.personality ? { personality: o.personality } : {}),
        ...(o.sysctls ? { sysctls: o.sysctls } : {}),
      });
    } catch (e) {
      await link.close();
      pcap?.close();
      throw e;
    }
    const s = new Served(stack, link, { ...o, app, port }, desc);
    s.#pcap = pcap;
    try {
      s.#listen();
      if (o.control) await s.#startControl(o.control.host, o.control.port);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** the control endpoint's address, if any */
  controlAddress(): AddressInfo | undefined {
    const a = this.#control?.address();
    return a && typeof a !== 'string' ? a : undefined;
  }

  snapshot(): ServeSnapshot {
    return {
      personality: this.stack.personality,
      family: this.stack.family,
      address: this.stack.interfaces[0]!.address,
      app: this.app,
      port: this.port,
      backlog: this.backlog,
      acceptRate: this.acceptRate ?? null,
      link: this.linkDescription,
      uptimeMs: Date.now() - this.#t0,
      accepted: this.accepted,
      active: this.#sockets.size,
      listeners: this.stack.listeners(),
      counters: this.stack.counters(),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const s of this.#sockets) s.destroy();
    if (this.#control) await new Promise<void>((r) => this.#control!.close(() => r()));
    this.stack.close();
    await this.link.close();
    this.#pcap?.close();
  }

  #listen(): void {
    const bsd = this.stack.bsd;
    const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
    bsd.bind(fd, { address: '0.0.0.0', port: this.port });
    bsd.listen(fd, this.backlog);
    this.#fd = fd;
    if (this.app === 'http') {
      this.#httpServer = http.createServer((req, res) => this.#httpHandler(req, res));
      this.#httpServer.keepAliveTimeout = 5000;
    }
    if (this.acceptRate !== 0) this.#acceptNext();
  }

  #acceptNext(): void {
    if (this.#closed) return;
    this.stack.bsd.acceptAsync(this.#fd).then(
      (r) => {
        if (this.#closed) return;
        this.accepted++;
        this.#adopt(r.fd);
        if (this.acceptRate === undefined) this.#acceptNext();
        else this.#timer = setTimeout(() => { this.#timer = undefined; this.#acceptNext(); }, 1000 / this.acceptRate);
      },
      (e: unknown) => {
        if (this.#closed) return;
        if (e instanceof SocketError && e.code === 'ECONNABORTED') { this.#acceptNext(); return; }
        this.#log(`accept failed: ${(e as Error).message}`);
      },
    );
  }

  #adopt(fd: number): void {
    const s = new Socket(this.stack, { fd, allowHalfOpen: this.app !== 'http' });
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
    s.on('error', () => { /* a reset by the peer: nothing to report to anyone */ });
    switch (this.app) {
      case 'echo': s.pipe(s); break;
      case 'discard': s.on('end', () => s.end()); s.resume(); break;
      case 'http':
        // Node's http server turns Nagle off on the sockets it accepts (its noDelay option, on by
        // default), at the handle, which a socket handed over with emit('connection') never sees
        s.setNoDelay(true);
        this.#httpServer!.emit('connection', s);
        break;
    }
  }

  #httpHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const bytes = /^\/bytes\/(\d{1,10})$/.exec(url.pathname);
    if (bytes) {
      // a body of N bytes, for downloads and throughput runs
      const n = Number(bytes[1]);
      if (n > 1 << 30) { res.writeHead(400).end('at most 1 GiB\n'); return; }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
      const chunk = Buffer.alloc(Math.min(n, 65536), 0x61);
      let left = n;
      const pump = () => {
        while (left > 0) {
          const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= c.length;
          if (!res.write(c)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(this.snapshot(), null, 2)}\n`);
      return;
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      // reads the body and answers with its length (uploads)
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; });
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`received ${n} bytes\n`));
      return;
    }
    const sock = req.socket as unknown as Socket;
    const body = Buffer.from(
      `hello from wtcp (${this.stack.personality}) at ${this.stack.interfaces[0]!.address}:${this.port}\n` +
      `you are ${sock.remoteAddress}:${sock.remotePort}; you asked for ${req.method} ${req.url}\n`,
    );
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) });
    res.end(body);
  }

  async #startControl(host: string, port: number): Promise<void> {
    const srv = http.createServer((req, res) => {
      if (req.method !== 'GET') { res.writeHead(405).end(); return; }
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/' && path !== '/stats') { res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /stats\n'); return; }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${JSON.stringify(this.snapshot())}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => { srv.off('error', reject); resolve(); });
    });
    this.#control = srv;
  }
}
