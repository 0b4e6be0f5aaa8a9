// The page `npm start` (wtcp start) serves: a whole stack in the browser, on the relay next to the
// Node server stack (and, when the host bridged a TAP, next to the host kernel). It serves HTTP on
// port 80 with a small backlog, shows its listen queue live, fetches from the Node server over
// TCP, and can ask the Node stack to open connections to it to fill the queue.
//
// Uses the package's browser-safe surface only: the main entry and wtcp/net.
import { Stack, WebSocketLink, loadCoreModule } from '../src/index.js';
import { netFor, Socket as NetSocket } from '../src/net.js';
import type { Socket } from '../src/net.js';

interface Config {
  relayUrl: string;
  serverIp: string;
  clientIp: string;
  prefixLen: number;
  personality: string;
  backlog: number;
  tap: string | null;
}

const $ = (id: string) => document.getElementById(id)!;
const logLines: string[] = [];
function log(line: string): void {
  logLines.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
  if (logLines.length > 200) logLines.shift();
  $('log').textContent = logLines.join('\n');
}

/** A minimal HTTP/1.1 response for one request on a net.Socket of this page's stack. */
function serveHttp(sock: Socket, cfg: Config, counter: () => number): void {
  let head = '';
  sock.setEncoding('latin1');
  sock.on('data', (chunk: string) => {
    if (head.includes('\r\n\r\n')) return;
    head += chunk;
    if (!head.includes('\r\n\r\n')) { if (head.length > 16384) sock.destroy(); return; }
    const [method = '?', path = '?'] = head.split('\r\n')[0]!.split(' ');
    const n = counter();
    const body =
      `hello from the browser stack (${cfg.personality}) at ${cfg.clientIp}:80\n` +
      `you are ${sock.remoteAddress}:${sock.remotePort}; you asked for ${method} ${path}; request ${n}\n`;
    sock.end(
      `HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${new TextEncoder().encode(body).length}\r\n` +
      `connection: close\r\n\r\n${body}`,
    );
  });
  sock.on('error', () => { /* the peer went away */ });
}

/** GET http://ip/path over this page's stack; resolves with the whole response text. */
function httpGet(stack: Stack, ip: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netFor(stack).connect(80, ip);
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => { text += c; });
    sock.once('end', () => resolve(text));
    sock.once('error', reject);
    sock.setTimeout(10_000, () => sock.destroy(new Error('timed out after 10 s')));
    sock.write(`GET ${path} HTTP/1.1\r\nhost: ${ip}\r\nuser-agent: wtcp-in-the-browser\r\nconnection: close\r\n\r\n`);
  });
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const cfgUrl = new URL('/config', location.href);
  if (params.get('personality')) cfgUrl.searchParams.set('personality', params.get('personality')!);
  const cfg = (await (await fetch(cfgUrl)).json()) as Config;
  $('personality').textContent = cfg.personality;
  $('ip').textContent = `${cfg.clientIp}/${cfg.prefixLen}`;
  $('relay').textContent = cfg.relayUrl;
  $('server-ip').textContent = cfg.serverIp;

  const module = await loadCoreModule({ module: await (await fetch('/wtcp.wasm')).arrayBuffer() });
  const link = await WebSocketLink.connect({ url: cfg.relayUrl });
  link.onStateChange((s, detail) => log(`relay link ${s}${detail ? `: ${detail}` : ''}`));
  const stack = new Stack({
    link,
    personality: cfg.personality as never,
    interfaces: [{ ip: `${cfg.clientIp}/${cfg.prefixLen}` }],
    core: { module },
  });
  stack.on('synflood', (e: { message: string }) => log(`kernel: ${e.message}`));
  log(`stack up: ${stack.personality} at ${cfg.clientIp}, relay ${cfg.relayUrl}${cfg.tap ? `, host kernel on tap ${cfg.tap}` : ''}`);

  // the page's server: port 80, backlog from the config, accept() switchable
  const bsd = stack.bsd;
  const lfd = bsd.socket('AF_INET', 'SOCK_STREAM');
  bsd.bind(lfd, { address: '0.0.0.0', port: 80 });
  bsd.listen(lfd, cfg.backlog);
  $('listen').textContent = `0.0.0.0:80, listen(fd, ${cfg.backlog})`;
  let served = 0;
  let accepting = true;
  const acceptLoop = async () => {
    while (accepting) {
      let r;
      try { r = await bsd.acceptAsync(lfd); } catch (e) { log(`accept: ${(e as Error).message}`); continue; }
      const s = new NetSocket(stack, { fd: r.fd });
      serveHttp(s, cfg, () => ++served);
      s.once('close', () => { $('served').textContent = String(served); });
    }
  };
  void acceptLoop();
  ($('accepting') as HTMLInputElement).addEventListener('change', (ev) => {
    accepting = (ev.target as HTMLInputElement).checked;
    log(accepting ? 'accept() resumed' : 'accept() paused: new connections wait in the queue');
    if (accepting) void acceptLoop();
  });

  $('fetch').addEventListener('click', () => {
    $('fetched').textContent = '…';
    httpGet(stack, cfg.serverIp, '/').then(
      (t) => { $('fetched').textContent = t; log(`fetched ${t.length} bytes from ${cfg.serverIp}`); },
      (e: Error) => { $('fetched').textContent = `failed: ${e.message}`; log(`fetch failed: ${e.message}`); },
    );
  });
  $('flood').addEventListener('click', () => {
    fetch('/api/connect', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: cfg.clientIp, port: 80, count: 10 }) })
      .then((r) => r.json())
      .then((j: { opened?: number; error?: string }) => log(j.error ? `connect request failed: ${j.error}` : `the Node stack is opening ${j.opened} connections`))
      .catch((e: Error) => log(`connect request failed: ${e.message}`));
  });

  const refresh = () => {
    const l = stack.listeners()[0];
    if (l) {
      $('q-accept').textContent = String(l.acceptQueue);
      $('q-syn').textContent = String(l.synQueue);
      $('q-backlog').textContent = String(l.backlog);
      $('q-overflows').textContent = String(l.overflows);
      $('q-drops').textContent = String(l.drops);
      const bar = $('q-bar');
      bar.style.width = `${Math.min(20, l.acceptQueue) * 1.2}rem`;
      bar.classList.toggle('full', l.acceptQueue > l.backlog);
    }
    const c = stack.counters() as Record<string, number>;
    $('counters').textContent = Object.entries(c).filter(([, v]) => v !== 0).map(([k, v]) => `${k.padEnd(32)}${v}`).join('\n');
  };
  setInterval(refresh, 250);
  refresh();
  $('status').textContent = 'ready';
  $('status').className = 'ok';
  (window as unknown as { wtcp: unknown }).wtcp = { stack, cfg, httpGet: (ip: string, p: string) => httpGet(stack, ip, p), setAccepting: (v: boolean) => { const cb = $('accepting') as HTMLInputElement; cb.checked = v; cb.dispatchEvent(new Event('change')); } };
}

main().catch((e: Error) => {
  $('status').textContent = `failed: ${e.message}`;
  $('status').className = 'bad';
  log(`${e.name}: ${e.message}`);
});
