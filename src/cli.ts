#!/usr/bin/env node
/**
 * The `wtcp` command. Each subcommand is a small function over the public API; argument parsing is
 * strict: an unknown flag or a bad value prints a clear error and exits with status 2.
 *
 *   wtcp start    a relay, a server stack and a page with a stack in the browser (npm start)
 *   wtcp demo     a listen queue overflowing, per personality, on a virtual clock
 *   wtcp sysctl   a personality's sysctls, like `sysctl -a` (and `name=value` to try a setting)
 *   wtcp presets  the personalities and what sets them apart
 *   wtcp serve    an app (http, echo, discard) on a stack attached to a TAP device or a relay
 *   wtcp relay    a WebSocket relay: a learning switch between stacks, browsers and a TAP device
 *   wtcp stats    what a running `wtcp serve --control` reports: ss -lnt (or netstat -L) and counters
 */
import { pathToFileURL } from 'node:url';
import { Stack } from './stack.js';
import { VirtualClock } from './clock.js';
import { MemoryLink } from './links/memory.js';
import { Peer } from './testing/peer.js';
import { PERSONALITY_NAMES, PRESETS, resolvePersonality, type PersonalityName } from './personalities.js';
import { Sysctls } from './sysctl.js';
import { formatNetstatListeners, formatNstatCounters, formatSsListeners } from './stack.js';
import { parseCidr } from './addr.js';
import type { ServeApp, ServeLink, ServeSnapshot } from './serve.js';

export class UsageError extends Error {}

type FlagSpec = { [name: string]: 'string' | 'number' | 'boolean' | 'list' };
type Parsed = { flags: Record<string, string | number | boolean | string[]>; rest: string[] };

/** Strict `--name value` / `--name=value` parsing against a spec. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): Parsed {
  const flags: Parsed['flags'] = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) { rest.push(a); continue; }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let v: string | undefined = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined || (eq < 0 && v.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (kind === 'number') {
      if (!/^-?\d+$/.test(v)) throw new UsageError(`--${name} must be an integer, got "${v}"`);
      flags[name] = Number(v);
    } else if (kind === 'list') {
      const prev = (flags[name] as string[] | undefined) ?? [];
      flags[name] = [...prev, v];
    } else flags[name] = v;
  }
  return { flags, rest };
}

function personalityArg(v: unknown): PersonalityName {
  const name = String(v);
  try {
    return resolvePersonality(name).name as PersonalityName;
  } catch {
    throw new UsageError(`unknown personality "${name}"; one of: ${PERSONALITY_NAMES.join(', ')}`);
  }
}

function sysctlArgs(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (list as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--sysctl wants name=value, got "${kv}"`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/**
 * A bad --sysctl value is a bad argument (status 2), as an unknown name is: try each name=value on
 * a fresh Sysctls of every personality that has the name (at creation, so creation-only ones pass).
 */
function checkSysctlValues(sysctls: Record<string, string>, personalities: readonly PersonalityName[]): void {
  for (const [k, v] of Object.entries(sysctls)) {
    for (const p of personalities) {
      if (!new Sysctls(p).has(k)) continue;
      try {
        new Sysctls(p, { [k]: v });
      } catch (e) {
        throw new UsageError(`--sysctl ${k}=${v}: ${(e as Error).message}`);
      }
    }
  }
}

// ---- wtcp demo ----------------------------------------------------------------------------------

const DEMO_HELP = `usage: wtcp demo [--personality NAME]... [--backlog N] [--clients N] [--sysctl name=value]... [--json]

Runs a listen-queue overflow on the real stack, on a virtual clock: a server listens with the given
backlog and never calls accept(); clients connect one after another (each retransmits its SYN at
1, 3 and 7 s, like a Linux client, then gives up). Prints what each client saw, the listener's
queues (ss -lnt or netstat -L) and the counters that moved. Without --personality it compares
linux-5.4, freebsd-12.1 and 4.3bsd.

  --personality NAME   ${PERSONALITY_NAMES.join(', ')} (repeatable)
  --backlog N          listen() backlog [3]
  --clients N          clients that connect [backlog + 4]
  --sysctl name=value  a sysctl in the personality's own spelling (repeatable)
  --json               machine-readable output
`;

export interface DemoClient {
  index: number;
  port: number;
  /** what the client saw */
  outcome: 'established' | 'reset' | 'no answer';
  /** SYNs the client sent */
  syns: number;
  /** ms from the first SYN to the SYN-ACK */
  connectMs: number | null;
  /** segments the server sent this client, tcpdump style */
  server: string[];
}

export interface DemoResult {
  personality: string;
  backlog: number;
  clients: DemoClient[];
  queues: { acceptQueue: number; synQueue: number; backlog: number };
  table: string;
  counters: Record<string, number>;
  log: string[];
}

/** One demo run: `clients` sequential connects to a listener that never accepts. */
export async function runDemo(opts: { personality: PersonalityName; backlog: number; clients: number; sysctls?: Record<string, string> }): Promise<DemoResult> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({
    personality: opts.personality, sysctls: opts.sysctls ?? {}, clock, link: a,
    interfaces: [{ ip: '198.18.0.2/24' }], seed: 1,
  });
  const log: string[] = [];
  stack.on('synflood', (e) => log.push(e.message));
  const peer = new Peer({ link: b, clock, ip: '198.18.0.99', stackIp: '198.18.0.2' });
  const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(fd, { address: '0.0.0.0', port: 80 });
  stack.bsd.listen(fd, opts.backlog);
  const before = stack.counters();
  const clients: DemoClient[] = [];
  for (let i = 0; i < opts.clients; i++) {
    const port = 40000 + i;
    const flow = peer.flow({ sport: port, dport: 80, isn: 1000 * (i + 1) });
    const c: DemoClient = { index: i, port, outcome: 'no answer', syns: 0, connectMs: null, server: [] };
    const start = clock.now();
    const note = (s: { text: string; time: number }) => c.server.push(`+${Math.round(s.time - start)}ms ${s.text}`);
    // SYN at 0, 1, 3, 7 s (Linux tcp_syn_retries schedule, shortened), give up at 15 s; a 10-ms RTT
    const schedule = [0, 1000, 3000, 7000, 15000];
    for (let k = 0; k < schedule.length - 1 && c.connectMs === null; k++) {
      if (clock.now() < start + schedule[k]!) await clock.advanceAsync(start + schedule[k]! - clock.now());
      flow.send({ flags: 'S', seq: flow.isn, options: { mss: 1460, sackOk: true, wscale: 7, ts: [1, 0] } });
      c.syns++;
      while (c.connectMs === null && clock.now() < start + schedule[k + 1]!) {
        for (const s of await collect(peer, clock, 10)) {
          note(s);
          if (s.flags === 'S.' && c.connectMs === null) {
            c.connectMs = Math.round(s.time - start);
            flow.iss = s.seq;
            flow.rcvNxt = (s.seq + 1) >>> 0;
            flow.sndNxt = (flow.isn + 1) >>> 0;
            flow.send({ flags: '.', options: { ts: [2, s.options.ts?.[0] ?? 0] } });
            c.outcome = 'established';
          }
        }
      }
    }
    if (c.connectMs !== null) {
      // watch a second longer: a RST now means the server threw the connection away
      for (const s of await collect(peer, clock, 1000)) {
        note(s);
        if (s.flags.startsWith('R')) c.outcome = 'reset';
      }
    }
    clients.push(c);
  }
  const after = stack.counters();
  const moved: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k as keyof typeof before] ?? 0);
    if (d !== 0 && !k.startsWith('Wtcp') && !k.startsWith('Ip') && !k.startsWith('Icmp')) moved[k] = d;
  }
  const l = stack.listeners()[0]!;
  const table = stack.family === 'freebsd' ? stack.formatNetstatL() : stack.formatSs();
  stack.close();
  peer.close();
  return {
    personality: opts.personality, backlog: opts.backlog, clients,
    queues: { acceptQueue: l.acceptQueue, synQueue: l.synQueue, backlog: l.backlog },
    table, counters: moved, log,
  };
}

async function collect(peer: Peer, clock: VirtualClock, ms: number) {
  await clock.advanceAsync(ms);
  return (await peer.drain()).map((s) => ({ text: s.text, time: s.time, flags: s.flags, seq: s.seq, options: s.options }));
}

function printDemo(r: DemoResult): string {
  const est = r.clients.filter((c) => c.outcome === 'established').length;
  let out = `\n== ${r.personality}: listen(fd, ${r.backlog}), ${r.clients.length} clients, no accept() ==\n`;
  out += `${est} of ${r.clients.length} clients got a connection`;
  out += `; the rest: ${r.clients.filter((c) => c.outcome === 'reset').length} reset, ${r.clients.filter((c) => c.outcome === 'no answer').length} never answered\n\n`;
  out += 'client  port   outcome      SYNs  connect   server sent\n';
  for (const c of r.clients) {
    out += `${String(c.index + 1).padEnd(8)}${String(c.port).padEnd(7)}${c.outcome.padEnd(13)}${String(c.syns).padEnd(6)}${(c.connectMs === null ? '-' : `${c.connectMs} ms`).padEnd(10)}${c.server.map((s) => s.replace(/^\+(\d+)ms (\S+ > \S+: )?/, '+$1ms ')).join('; ') || '-'}\n`;
  }
  out += `\n${r.table.trimEnd()}\n`;
  if (r.log.length) out += `\nkernel log: ${r.log.join(' | ')}\n`;
  out += `\ncounters: ${Object.entries(r.counters).map(([k, v]) => `${k} +${v}`).join(', ')}\n`;
  return out;
}

async function cmdDemo(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, { personality: 'list', backlog: 'number', clients: 'number', sysctl: 'list', json: 'boolean', help: 'boolean' });
  if (flags.help) { process.stdout.write(DEMO_HELP); return 0; }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const names = ((flags.personality as string[] | undefined) ?? ['linux-5.4', 'freebsd-12.1', '4.3bsd']).map(personalityArg);
  const backlog = (flags.backlog as number | undefined) ?? 3;
  if (backlog < -1000000 || backlog > 100000) throw new UsageError('--backlog out of range');
  const clients = (flags.clients as number | undefined) ?? Math.max(backlog, 0) + 4;
  if (clients < 1 || clients > 1000) throw new UsageError('--clients must be 1..1000');
  const sysctls = sysctlArgs(flags.sysctl);
  const results: DemoResult[] = [];
  for (const p of names) {
    // sysctls belong to one family: apply each only where it exists
    const mine = Object.fromEntries(Object.entries(sysctls).filter(([k]) => new Sysctls(p).has(k)));
    for (const k of Object.keys(sysctls)) {
      if (!names.some((n) => new Sysctls(n).has(k))) throw new UsageError(`unknown sysctl ${k} for ${names.join(', ')}`);
    }
    checkSysctlValues(sysctls, names);
    results.push(await runDemo({ personality: p, backlog, clients, sysctls: mine }));
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    for (const r of results) process.stdout.write(printDemo(r));
    process.stdout.write('\nRun `wtcp demo --help` for options; `wtcp sysctl --personality NAME` lists the knobs.\n');
  }
  return 0;
}

// ---- wtcp sysctl / presets ------------------------------------------------------------------------

const SYSCTL_HELP = `usage: wtcp sysctl [--personality NAME] [name[=value]]...

Prints every sysctl of a personality with its default (like sysctl -a), or the ones named;
name=value checks and applies a value (to a throwaway copy) and prints the result, or the error
the stack would give.
`;

function cmdSysctl(argv: string[]): number {
  const { flags, rest } = parseFlags(argv, { personality: 'string', help: 'boolean' });
  if (flags.help) { process.stdout.write(SYSCTL_HELP); return 0; }
  const p = personalityArg(flags.personality ?? 'linux-5.4');
  const s = new Sysctls(p);
  if (rest.length === 0) {
    for (const e of s.list()) process.stdout.write(`${e.name} = ${e.text}\n`);
    return 0;
  }
  for (const arg of rest) {
    const eq = arg.indexOf('=');
    if (eq > 0) {
      const name = arg.slice(0, eq);
      s.set(name, arg.slice(eq + 1));
      process.stdout.write(`${name} = ${s.getText(name)}\n`);
    } else process.stdout.write(`${arg} = ${s.getText(arg)}\n`);
  }
  return 0;
}

function cmdPresets(argv: string[]): number {
  const { flags } = parseFlags(argv, { help: 'boolean' });
  if (flags.help) { process.stdout.write('usage: wtcp presets\n\nLists the personalities.\n'); return 0; }
  for (const name of PERSONALITY_NAMES) process.stdout.write(`${name.padEnd(14)}${PRESETS[name].description}\n`);
  return 0;
}


// ---- wtcp serve -----------------------------------------------------------------------------------

const SERVE_HELP = `usage: wtcp serve (--tap NAME | --ws URL) --ip CIDR [options]

Runs an application on a stack attached to a real link until interrupted (Ctrl-C).

link (one of):
  --tap NAME            a TAP device (created if absent; Linux, root)
  --host-ip CIDR        give the kernel's side of the TAP this address (e.g. 198.18.0.1/24)
  --netns NS            move the TAP into this existing network namespace first
  --ws URL              a WebSocket relay (ws://host:port/), one frame per message
  --qemu-framing        with --ws: QEMU's length-prefixed stream instead (container2wasm)
stack:
  --ip CIDR             the stack's address (required), e.g. 198.18.0.2/24
  --gateway ADDR        default route
  --personality NAME    ${PERSONALITY_NAMES.join(', ')} (default linux-5.4)
  --sysctl name=value   repeatable, in the OS's own spelling
application:
  --app NAME            http (default), echo or discard
  --port N              default 80 (http), 7 (echo), 9 (discard)
  --backlog N           listen(2) backlog (default 128)
  --accept-rate N       accepts per second; 0 never accepts (connections stay queued)
observing:
  --pcap FILE           capture the link (classic libpcap, tshark/Wireshark read it)
  --control HOST:PORT   JSON of the queues and counters at http://HOST:PORT/stats (wtcp stats reads it;
                        port 0 picks a free one, printed at start)
  --quiet               no start-up lines

http serves: / (a greeting naming your address), /bytes/N (N bytes), /stats (the same JSON).
`;

/** Resolves on Ctrl-C or SIGTERM: the long-running commands then close what they opened. */
function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function hostPort(v: string, flag: string, minPort = 1): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || port < minPort || port > 65535) throw new UsageError(`${flag} wants HOST:PORT, got "${v}"`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function cidrArg(v: string, flag: string): string {
  try { parseCidr(v); } catch { throw new UsageError(`${flag} wants an IPv4 address with a prefix (198.18.0.2/24), got "${v}"`); }
  return v;
}

async function cmdServe(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, {
    tap: 'string', 'host-ip': 'string', netns: 'string', ws: 'string', 'qemu-framing': 'boolean',
    ip: 'string', gateway: 'string', personality: 'string', sysctl: 'list',
    app: 'string', port: 'number', backlog: 'number', 'accept-rate': 'number',
    pcap: 'string', control: 'string', quiet: 'boolean', help: 'boolean',
  });
  if (flags.help) { process.stdout.write(SERVE_HELP); return 0; }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (!flags.tap === !flags.ws) throw new UsageError('give exactly one link: --tap NAME or --ws URL');
  if (flags.ip === undefined) throw new UsageError('--ip CIDR is required (the stack\'s address, e.g. 198.18.0.2/24)');
  if (flags.ws && (flags['host-ip'] || flags.netns)) throw new UsageError('--host-ip and --netns go with --tap');
  if (flags['qemu-framing'] && !flags.ws) throw new UsageError('--qemu-framing goes with --ws');
  let link: ServeLink;
  if (flags.tap) {
    link = { kind: 'tap', name: String(flags.tap) };
    if (flags['host-ip']) link.hostIp = cidrArg(String(flags['host-ip']), '--host-ip');
    if (flags.netns) link.netns = String(flags.netns);
  } else {
    const url = String(flags.ws);
    if (!/^wss?:\/\/./i.test(url)) throw new UsageError(`--ws wants a ws:// or wss:// URL, got "${url}"`);
    link = { kind: 'ws', url, framing: flags['qemu-framing'] ? 'qemu' : 'frame' };
  }
  const app = String(flags.app ?? 'http');
  const { SERVE_APPS, Served } = await import('./serve.js');
  if (!SERVE_APPS.includes(app as ServeApp)) throw new UsageError(`--app must be one of ${SERVE_APPS.join(', ')}, got "${app}"`);
  const port = flags.port as number | undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError('--port must be 1..65535');
  const rate = flags['accept-rate'] as number | undefined;
  if (rate !== undefined && rate < 0) throw new UsageError('--accept-rate must be >= 0 (0 never accepts)');
  const backlog = flags.backlog as number | undefined;
  if (backlog !== undefined && (backlog < -2147483648 || backlog > 2147483647)) throw new UsageError('--backlog must be a 32-bit integer');
  const personality = personalityArg(flags.personality ?? 'linux-5.4');
  const sysctls = sysctlArgs(flags.sysctl);
  const probe = new Sysctls(personality);
  for (const k of Object.keys(sysctls)) if (!probe.has(k)) throw new UsageError(`unknown sysctl ${k} for ${personality}`);
  checkSysctlValues(sysctls, [personality]);
  const served = await Served.start({
    link,
    ip: cidrArg(String(flags.ip), '--ip'),
    ...(flags.gateway ? { gateway: String(flags.gateway) } : {}),
    app: app as ServeApp,
    ...(port !== undefined ? { port } : {}),
    ...(backlog !== undefined ? { backlog } : {}),
    ...(rate !== undefined ? { acceptRate: rate } : {}),
    personality,
    sysctls,
    ...(flags.pcap ? { pcap: String(flags.pcap) } : {}),
    ...(flags.control ? { control: hostPort(String(flags.control), '--control', 0) } : {}),
    log: (l) => process.stderr.write(`wtcp serve: ${l}\n`),
  });
  if (!flags.quiet) {
    const ctl = served.controlAddress();
    process.stdout.write(
      `wtcp serve: ${served.app} on ${served.stack.interfaces[0]!.address}:${served.port} (${served.stack.personality}, backlog ${served.backlog}` +
      `${served.acceptRate !== undefined ? `, ${served.acceptRate} accepts/s` : ''}) over ${served.linkDescription}\n` +
      (ctl ? `wtcp serve: control at http://${ctl.address}:${ctl.port}/stats (wtcp stats --control ${ctl.address}:${ctl.port})\n` : '') +
      (flags.pcap ? `wtcp serve: capturing to ${String(flags.pcap)}\n` : ''),
    );
  }
  await untilInterrupted();
  await served.close();
  return 0;
}

// ---- wtcp relay -----------------------------------------------------------------------------------

const RELAY_HELP = `usage: wtcp relay [--host ADDR] [--port N] [--tap NAME [--host-ip CIDR] [--netns NS]] [--quiet]

A WebSocket relay: a learning Ethernet switch between its clients (one frame per binary message,
as v86 and websockproxy relays do; clients whose URL ends in ?framing=qemu use QEMU's
length-prefixed stream). With --tap it also bridges a TAP device, so the host kernel is on the
same segment. Runs until interrupted.

  --host ADDR    listen address (default 127.0.0.1)
  --port N       listen port (default 8086; 0 picks a free one)
  --tap NAME     bridge this TAP device (created if absent; Linux, root)
  --host-ip CIDR give the kernel's side of the TAP this address
  --netns NS     move the TAP into this existing network namespace first
  --quiet        no start-up line
`;

async function cmdRelay(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, { host: 'string', port: 'number', tap: 'string', 'host-ip': 'string', netns: 'string', quiet: 'boolean', help: 'boolean' });
  if (flags.help) { process.stdout.write(RELAY_HELP); return 0; }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const port = (flags.port as number | undefined) ?? 8086;
  if (port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
  if (!flags.tap && (flags['host-ip'] || flags.netns)) throw new UsageError('--host-ip and --netns go with --tap');
  const { Relay } = await import('./relay.js');
  let bridge;
  if (flags.tap) {
    const { TapLink } = await import('./links/tap.js');
    bridge = await TapLink.open({
      name: String(flags.tap),
      ...(flags['host-ip'] ? { hostAddress: cidrArg(String(flags['host-ip']), '--host-ip') } : {}),
      ...(flags.netns ? { netns: String(flags.netns) } : {}),
    });
  }
  const relay = await Relay.start({ host: String(flags.host ?? '127.0.0.1'), port, ...(bridge ? { bridge } : {}) });
  if (!flags.quiet) process.stdout.write(`wtcp relay: ${relay.url}${bridge ? ` bridged to tap ${bridge.name}` : ''}\n`);
  await untilInterrupted();
  await relay.close();
  await bridge?.close();
  return 0;
}

// ---- wtcp stats -----------------------------------------------------------------------------------

const STATS_HELP = `usage: wtcp stats [--control HOST:PORT] [--json] [--zeros] [--watch SECONDS]

Reads the control endpoint of a running \`wtcp serve --control HOST:PORT\` (default 127.0.0.1:9100)
and prints the listeners as \`ss -lnt\` does (FreeBSD personalities: \`netstat -Lan\`), then the
counters that are not zero as \`nstat -a\` does.

  --json           the endpoint's JSON as it is
  --zeros          counters that are zero too
  --watch SECONDS  print again every SECONDS until interrupted
`;

export function formatStats(s: ServeSnapshot, opts: { zeros?: boolean } = {}): string {
  let out = `${s.app} on ${s.address}:${s.port}, ${s.personality}, backlog ${s.backlog}` +
    `${s.acceptRate !== null ? `, ${s.acceptRate} accepts/s` : ''}, over ${s.link}; ` +
    `${s.accepted} accepted, ${s.active} open, up ${(s.uptimeMs / 1000).toFixed(1)} s\n\n`;
  out += s.family === 'freebsd' ? formatNetstatListeners(s.listeners, true) : formatSsListeners(s.listeners);
  return `${out}\n${formatNstatCounters(s.counters, opts)}`;
}

async function cmdStats(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, { control: 'string', json: 'boolean', zeros: 'boolean', watch: 'number', help: 'boolean' });
  if (flags.help) { process.stdout.write(STATS_HELP); return 0; }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const { host, port } = hostPort(String(flags.control ?? '127.0.0.1:9100'), '--control');
  const watch = flags.watch as number | undefined;
  if (watch !== undefined && watch < 1) throw new UsageError('--watch must be at least 1 second');
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/stats`;
  for (;;) {
    let text: string;
    try {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } catch (e) {
      process.stderr.write(`wtcp stats: cannot read ${url}: ${(e as Error).cause ? String((e as { cause: Error }).cause.message ?? (e as Error).cause) : (e as Error).message} (is \`wtcp serve --control ${host}:${port}\` running?)\n`);
      return 1;
    }
    if (flags.json) process.stdout.write(text);
    else process.stdout.write(formatStats(JSON.parse(text) as ServeSnapshot, { zeros: flags.zeros === true }));
    if (watch === undefined) return 0;
    await new Promise((r) => setTimeout(r, watch * 1000));
    process.stdout.write('\n');
  }
}

// ---- wtcp start (npm start) -----------------------------------------------------------------------

const START_HELP = `usage: wtcp start [--port N] [--host ADDR] [--personality NAME] [--page-personality NAME]
                  [--page-backlog N] [--tap NAME | --no-tap] [--netns NS]

What npm start runs: on this machine, with no network needed, a WebSocket relay, a server stack
(http on 198.18.80.2) on it, and a page at the printed URL where a stack running in your browser
joins them (each page gets 198.18.80.100 and up), serves HTTP itself with a small backlog, shows
its listen queue live and fetches from the server stack. As root on Linux the relay is also
bridged to a TAP device (wtcp0, host side 198.18.80.1/24), so curl on this host reaches the
server stack and the pages: curl http://198.18.80.2/ . Runs until interrupted.

  --port N                 the page and relay port on 127.0.0.1 (default 8080; 0 picks one)
  --host ADDR              listen address (default 127.0.0.1)
  --personality NAME       the server stack's (default linux-5.4)
  --page-personality NAME  the pages' (default: the server's; a page may ask ?personality=NAME)
  --page-backlog N         the pages' listen backlog (default 4)
  --tap NAME               bridge this TAP device (default wtcp0 when root on Linux)
  --no-tap                 no TAP bridge
  --netns NS               move the TAP into this existing network namespace
`;

async function cmdStart(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, {
    port: 'number', host: 'string', personality: 'string', 'page-personality': 'string', 'page-backlog': 'number',
    tap: 'string', 'no-tap': 'boolean', netns: 'string', help: 'boolean',
  });
  if (flags.help) { process.stdout.write(START_HELP); return 0; }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (flags.tap && flags['no-tap']) throw new UsageError('--tap and --no-tap exclude each other');
  if (flags['no-tap'] && flags.netns) throw new UsageError('--netns goes with the TAP bridge');
  const port = (flags.port as number | undefined) ?? 8080;
  if (port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
  const pageBacklog = (flags['page-backlog'] as number | undefined) ?? 4;
  if (pageBacklog < 0 || pageBacklog > 65535) throw new UsageError('--page-backlog must be 0..65535');
  const personality = personalityArg(flags.personality ?? 'linux-5.4');
  const pagePersonality = flags['page-personality'] !== undefined ? personalityArg(flags['page-personality']) : personality;
  const { Started } = await import('./start.js');
  const s = await Started.start({
    port, host: String(flags.host ?? '127.0.0.1'), personality, pagePersonality, pageBacklog,
    ...(flags['no-tap'] ? { tap: false as const } : flags.tap ? { tap: String(flags.tap) } : {}),
    ...(flags.netns ? { netns: String(flags.netns) } : {}),
    log: (l) => process.stdout.write(`wtcp start: ${l}\n`),
  });
  process.stdout.write(
    `wtcp start: open ${s.url} in a browser: a stack runs in the page and joins this one\n` +
    `wtcp start: relay ${s.url.replace(/^http/, 'ws')}relay; server stack http://198.18.80.2/ (${s.served.stack.personality}); queues and counters at ${s.url}stats\n` +
    (s.tap ? `wtcp start: bridged to tap ${s.tap}${flags.netns ? ` in netns ${String(flags.netns)}` : ''} (host side 198.18.80.1/24): curl http://198.18.80.2/\n` : ''),
  );
  await untilInterrupted();
  await s.close();
  return 0;
}

// ---- wtcp bench queue -----------------------------------------------------------------------------

const BENCH_QUEUE_HELP = `usage: wtcp bench queue [options]

Drives the real stack on a virtual clock: clients connect to a server with the chosen personality,
backlog and accept pattern; reports what happened to each (served, refused, reset, timed out),
connect latency, SYN retransmissions needed, the queues over time and the counters that moved.
Give several --personality or --backlog values (comma-separated or repeated) to compare them side by
side on the same load.

server:
  --personality NAME[,NAME]  default linux-5.4 (${PERSONALITY_NAMES.join(', ')})
  --backlog N[,N]            listen(2) backlog (default 128)
  --sysctl name=value        repeatable; applied to the personalities that have it
  --accept-rate N            accepts per second (default: as fast as connections come; 0: never)
  --accept-batch N           connections taken per wake-up (default 1)
  --pause-every MS --pause MS  the server stops accepting for MS every MS (a GC pause, a stall)
  --service-ms MS            time to serve a connection before replying and closing (default 0)
load:
  --connections N            clients (default 10000)
  --duration S               seconds over which they arrive (default 60)
  --arrival KIND             constant (default), poisson or burst
  --burst-size N             clients per burst with --arrival burst (default 100)
  --client NAME              the clients' personality: how they retransmit SYNs (default linux-5.4)
  --client-timeout S         a client gives up after S seconds if not served (default 30)
  --flood N                  spoofed-source SYNs per second while clients arrive (default 0)
  --seed N                   random seed (default 1)
output:
  --json                     the results as JSON on stdout
  --html FILE                a self-contained HTML report with charts
  --quiet                    no progress bar
`;

function listArg(v: unknown): string[] {
  const raw = Array.isArray(v) ? v : v === undefined ? [] : [String(v)];
  return raw.flatMap((x: string) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '');
}

async function cmdBench(argv: string[]): Promise<number> {
  const [sub, ...rest0] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write('usage: wtcp bench queue [options]\n\nRun `wtcp bench queue --help` for the options. (The stack\'s own benchmarks: npm run bench.)\n');
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'queue') throw new UsageError(`unknown bench "${sub}"; try: wtcp bench queue`);
  const { flags, rest } = parseFlags(rest0, {
    personality: 'list', backlog: 'list', sysctl: 'list', 'accept-rate': 'string', 'accept-batch': 'number',
    'pause-every': 'number', pause: 'number', 'service-ms': 'number', connections: 'number', duration: 'string',
    arrival: 'string', 'burst-size': 'number', client: 'string', 'client-timeout': 'string', flood: 'number', seed: 'number',
    json: 'boolean', html: 'string', quiet: 'boolean', help: 'boolean',
  });
  if (flags.help) { process.stdout.write(BENCH_QUEUE_HELP); return 0; }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const personalities = listArg(flags.personality ?? 'linux-5.4').map(personalityArg);
  const backlogs = listArg(flags.backlog ?? '128').map((b) => {
    if (!/^-?\d+$/.test(b)) throw new UsageError(`--backlog must be integers, got "${b}"`);
    if (Number(b) < -(2 ** 31) || Number(b) >= 2 ** 31) throw new UsageError(`--backlog must be 32-bit integers, got "${b}"`);
    return Number(b);
  });
  const num = (name: string, v: unknown, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number ${min}..${max}, got "${String(v)}"`);
    return n;
  };
  const rate = num('accept-rate', flags['accept-rate'], 0, 1e9);
  const batch = num('accept-batch', flags['accept-batch'], 1, 1e6);
  const pauseEvery = num('pause-every', flags['pause-every'], 1, 3.6e6);
  const pause = num('pause', flags.pause, 0, 3.6e6);
  if ((pauseEvery === undefined) !== (pause === undefined)) throw new UsageError('--pause-every and --pause go together');
  if (pauseEvery !== undefined && pause! >= pauseEvery) throw new UsageError('--pause must be shorter than --pause-every');
  const serviceMs = num('service-ms', flags['service-ms'], 0, 3.6e6);
  const connections = num('connections', flags.connections, 1, 2_000_000) ?? 10_000;
  const durationS = num('duration', flags.duration, 0.001, 3600) ?? 60;
  const arrival = String(flags.arrival ?? 'constant');
  if (!['constant', 'poisson', 'burst'].includes(arrival)) throw new UsageError(`--arrival must be constant, poisson or burst, got "${arrival}"`);
  const burstSize = num('burst-size', flags['burst-size'], 1, 1e6);
  const client = personalityArg(flags.client ?? 'linux-5.4');
  const clientTimeoutS = num('client-timeout', flags['client-timeout'], 0.001, 3600) ?? 30;
  const flood = num('flood', flags.flood, 0, 10_000_000);
  const seed = num('seed', flags.seed, 0, 2 ** 32 - 1) ?? 1;
  const sysctls = sysctlArgs(flags.sysctl);
  for (const k of Object.keys(sysctls)) {
    if (!personalities.some((p) => new Sysctls(p).has(k))) throw new UsageError(`unknown sysctl ${k} for ${personalities.join(', ')}`);
  }
  checkSysctlValues(sysctls, personalities);
  const { runQueueBench } = await import('./queue-bench.js');
  const { formatQueueTable, formatQueueHtml } = await import('./queue-report.js');
  const runs = personalities.flatMap((p) => backlogs.map((b) => ({ p, b })));
  const results = [];
  const tty = process.stderr.isTTY && !flags.quiet && !flags.json;
  for (const [i, { p, b }] of runs.entries()) {
    const label = `${p}, backlog ${b}`;
    const bar = (f: number) => {
      if (!tty) return;
      const w = 30;
      const n = Math.round(f * w);
      process.stderr.write(`\r[${i + 1}/${runs.length}] ${label.padEnd(28)} [${'#'.repeat(n)}${'.'.repeat(w - n)}] ${Math.round(f * 100)}%`);
    };
    const mine = Object.fromEntries(Object.entries(sysctls).filter(([k]) => new Sysctls(p).has(k)));
    const r = await runQueueBench({
      personality: p, backlog: b, sysctls: mine,
      accept: { ...(rate !== undefined ? { rate } : {}), ...(batch !== undefined ? { batch } : {}), ...(pauseEvery !== undefined ? { pauseEveryMs: pauseEvery, pauseMs: pause! } : {}), ...(serviceMs !== undefined ? { serviceMs } : {}) },
      connections, durationMs: Math.round(durationS * 1000), arrival: arrival as 'constant', ...(burstSize !== undefined ? { burstSize } : {}),
      clientPersonality: client, clientTimeoutMs: Math.round(clientTimeoutS * 1000), ...(flood !== undefined ? { floodRate: flood } : {}), seed,
    }, bar);
    if (tty) process.stderr.write('\n');
    else if (!flags.quiet && !flags.json) process.stderr.write(`done: ${label} (${(r.wallMs / 1000).toFixed(1)} s)\n`);
    results.push(r);
  }
  if (flags.html) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(String(flags.html), formatQueueHtml(results));
    if (!flags.json) process.stderr.write(`report: ${String(flags.html)}\n`);
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(results.map(({ latencies, ...r }) => ({ ...r, latencyCount: latencies.length })), null, 2)}\n`);
  else process.stdout.write(formatQueueTable(results));
  return 0;
}

const HELP = `wtcp: a user-space TCP/IP stack with exact Linux, FreeBSD and 4.3BSD listen/accept queues

usage: wtcp <command> [options]

commands:
  start     a relay, a server stack and a page with a stack in your browser (what npm start runs)
  bench     wtcp bench queue: a load of clients against a server's listen queue, per OS, with reports
  demo      watch a listen queue overflow, per personality, on a virtual clock
  sysctl    list or try a personality's sysctls
  presets   list the personalities
  serve     run http, echo or discard on a stack over a TAP device or a WebSocket relay
  relay     a WebSocket relay (learning switch), optionally bridged to a TAP device
  stats     the queues and counters of a running \`wtcp serve --control\`

Run \`wtcp <command> --help\` for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(HELP); return 0; }
    if (cmd === 'demo') return await cmdDemo(rest);
    if (cmd === 'sysctl') return cmdSysctl(rest);
    if (cmd === 'presets') return cmdPresets(rest);
    if (cmd === 'start') return await cmdStart(rest);
    if (cmd === 'bench') return await cmdBench(rest);
    if (cmd === 'serve') return await cmdServe(rest);
    if (cmd === 'relay') return await cmdRelay(rest);
    if (cmd === 'stats') return await cmdStats(rest);
    throw new UsageError(`unknown command "${cmd}"`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`wtcp: ${e.message}\nRun \`wtcp --help\` for usage.\n`);
      return 2;
    }
    const err = e as { code?: string; message?: string };
    if (err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) {
      process.stderr.write(`wtcp: ${err.message}\n`);
      return 1;
    }
    if (e instanceof Error && (cmd === 'start' || cmd === 'serve' || cmd === 'relay' || cmd === 'stats')) {
      // set-up failures (no root for the TAP, a relay that is not there, a port in use): one line
      process.stderr.write(`wtcp ${cmd}: ${e.message}\n`);
      if (process.env.WTCP_DEBUG) process.stderr.write(`${e.stack ?? ''}\n`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
