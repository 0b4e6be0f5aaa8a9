/**
 * What `npm start` (`wtcp start`) runs: a relay, a server stack on it, and a page where a stack
 * running in the browser joins them, all on this machine with no root and no network: one HTTP
 * server on 127.0.0.1 serves the page (dist/web, built by Vite at install), the WebSocket relay at
 * /relay, the core at /wtcp.wasm, /config (each page gets its own address), /stats (the server
 * stack's queues and counters) and POST /api/connect (the server stack opens connections to a page
 * so its listen queue can be watched filling up).
 *
 * As root on Linux it also bridges the relay to a TAP device whose kernel side gets 198.18.80.1/24,
 * so `curl http://198.18.80.2/` from the host reaches the server stack and
 * `curl http://198.18.80.100/` the first page's. `netns` puts that TAP in a network namespace
 * (what the tests do); `tap: false` leaves it out.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Relay } from './relay.js';
import { Served } from './serve.js';
import { createWebSocketLink } from './links/ws-node.js';
import type { Link } from './links/link.js';
import { netFor } from './net.js';
import type { Socket } from './net.js';
import { PERSONALITY_NAMES, type PersonalityName } from './personalities.js';
import { isIPv4 } from './addr.js';

const WEB_DIR = fileURLToPath(new URL('../dist/web/', import.meta.url));
const WASM = fileURLToPath(new URL('../build/wtcp.wasm', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.map': 'application/json',
};

export interface StartOptions {
  host?: string;
  /** default 8080; 0 picks a free port */
  port?: number;
  /** the server stack's personality (default linux-5.4) */
  personality?: PersonalityName;
  /** the pages' personality unless a page asks for another (?personality=), default the server's */
  pagePersonality?: PersonalityName;
  /** the pages' listen backlog, default 4 */
  pageBacklog?: number;
  /** bridge a TAP: its name (default 'wtcp0' when root on Linux), or false */
  tap?: string | false;
  /** move the TAP into this existing network namespace */
  netns?: string;
  log?: (line: string) => void;
}

export class Started {
  readonly relay: Relay;
  readonly served: Served;
  readonly tap: string | null;
  readonly #http: http.Server;
  readonly #bridge: Link | undefined;
  readonly #held = new Set<Socket>();

  private constructor(httpServer: http.Server, relay: Relay, served: Served, bridge: (Link & { name?: string }) | undefined) {
    this.#http = httpServer;
    this.relay = relay;
    this.served = served;
    this.#bridge = bridge;
    this.tap = bridge?.name ?? null;
  }

  get url(): string {
    const a = this.#http.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  static async start(o: StartOptions = {}): Promise<Started> {
    const log = o.log ?? (() => undefined);
    const personality = o.personality ?? 'linux-5.4';
    const pagePersonality = o.pagePersonality ?? personality;
    const pageBacklog = o.pageBacklog ?? 4;
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`the page is not built (${WEB_DIR}index.html missing): run npm install, or npm run build:web`);
    let nextPage = 100;
    let started: Started | undefined;
    const httpServer = http.createServer((req, res) => {
      handle(req, res).catch((e: Error) => { if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }); res.end(`${e.message}\n`); });
    });
    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      if (path === '/config') {
        const asked = url.searchParams.get('personality');
        const p = asked && (PERSONALITY_NAMES as readonly string[]).includes(asked) ? asked : pagePersonality;
        const host = req.headers.host ?? '127.0.0.1';
        const ip = `198.18.80.${nextPage}`;
        nextPage = nextPage >= 250 ? 100 : nextPage + 1;
        json(res, 200, { relayUrl: `ws://${host}/relay`, serverIp: '198.18.80.2', clientIp: ip, prefixLen: 24, personality: p, backlog: pageBacklog, tap: started?.tap ?? null });
        return;
      }
      if (path === '/stats') { json(res, 200, started!.served.snapshot()); return; }
      if (path === '/api/connect') {
        if (req.method !== 'POST') { json(res, 405, { error: 'POST a JSON body { to, port, count }' }); return; }
        let body = '';
        for await (const c of req) { body += c; if (body.length > 4096) { json(res, 413, { error: 'body too large' }); return; } }
        let to: unknown, port: unknown, count: unknown;
        try { ({ to, port, count } = JSON.parse(body) as { to: unknown; port: unknown; count: unknown }); } catch { json(res, 400, { error: 'not JSON' }); return; }
        if (typeof to !== 'string' || !isIPv4(to) || !to.startsWith('198.18.80.')) { json(res, 400, { error: 'to must be an address in 198.18.80.0/24' }); return; }
        if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) { json(res, 400, { error: 'port must be 1..65535' }); return; }
        if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > 100) { json(res, 400, { error: 'count must be 1..100' }); return; }
        started!.#openConnections(to, port as number, count as number);
        json(res, 200, { opened: count });
        return;
      }
      let file: string;
      if (path === '/wtcp.wasm') file = WASM;
      else {
        file = normalize(join(WEB_DIR, path === '/' ? 'index.html' : decodeURIComponent(path)));
        if (!file.startsWith(WEB_DIR)) { res.writeHead(403).end(); return; }
      }
      try {
        const data = await readFile(file);
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(data);
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    };
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(o.port ?? 8080, o.host ?? '127.0.0.1', () => { httpServer.off('error', reject); resolve(); });
    });

    // the TAP bridge: as root on Linux unless told otherwise
    let bridge: (Link & { name?: string }) | undefined;
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const tapName = o.tap === undefined ? (isRoot && process.platform === 'linux' ? 'wtcp0' : false) : o.tap;
    if (tapName) {
      try {
        const { TapLink } = await import('./links/tap.js');
        bridge = await TapLink.open({ name: tapName, hostAddress: '198.18.80.1/24', ...(o.netns ? { netns: o.netns } : {}) });
      } catch (e) {
        if (o.tap) { httpServer.close(); throw e; }
        log(`no TAP bridge (${(e as Error).message}); the host kernel is not on the segment`);
      }
    } else if (o.tap === undefined) log('not root on Linux: no TAP bridge, so the host kernel is not on the segment (run as root for curl from the host)');

    const relay = await Relay.start({ server: httpServer, path: '/relay', ...(bridge ? { bridge } : {}) });
    const a = httpServer.address() as AddressInfo;
    const link = createWebSocketLink({ url: `ws://127.0.0.1:${a.port}/relay` });
    await link.opened();
    const served = await Served.start({ link: { kind: 'link', link, description: 'the relay' }, ip: '198.18.80.2/24', app: 'http', personality });
    started = new Started(httpServer, relay, served, bridge);
    return started;
  }

  /** The server stack opens `count` connections to a page and holds them (they fill its queue). */
  #openConnections(to: string, port: number, count: number): void {
    const net = netFor(this.served.stack);
    for (let i = 0; i < count; i++) {
      const s = net.connect(port, to);
      this.#held.add(s);
      s.on('error', () => undefined);
      s.once('close', () => this.#held.delete(s));
      s.setTimeout(120_000, () => s.destroy());
    }
  }

  async close(): Promise<void> {
    for (const s of this.#held) s.destroy();
    await this.served.close();
    await this.relay.close();
    await new Promise<void>((r) => this.#http.close(() => r()));
    this.#http.closeAllConnections?.();
    await this.#bridge?.close();
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}
