/**
 * `wtcp bench queue`: what happens to connections when a server's listen queue is under load, per
 * OS. It drives the REAL stack (not a model): a server stack with the chosen personality, backlog,
 * sysctls and accept pattern, and a population of client stacks (each connect() is a real active
 * open of a client personality, so SYNs are retransmitted exactly as a Linux or FreeBSD client
 * does), all joined in memory on a virtual clock, so a simulated minute takes seconds.
 *
 * Per connection it records the outcome (served, refused, reset, timed out while connecting or
 * while waiting in the accept queue), the connect latency, and the SYNs the client had to send (seen
 * on its link). Over time it samples the listener's queues; at the end it reports the counters that
 * moved (ListenOverflows, ListenDrops, SyncookiesSent/Recv, TCPReqQFullDrop, FreeBSD's TcpSc*, ...).
 * Optionally a spoofed-source SYN flood runs beside the clients.
 *
 * No Node imports: it runs wherever the stack does.
 */
import { Stack } from './stack.js';
import { VirtualClock } from './clock.js';
import { MemoryHub } from './links/memory.js';
import type { Link } from './links/link.js';
import { SocketError } from './errno.js';
import { PERSONALITY_NAMES, type PersonalityName } from './personalities.js';
import { buildArp, buildEthernet, buildTcpFrame, parseArp } from './testing/frames.js';
import { formatIPv4 } from './addr.js';

export type Arrival = 'constant' | 'poisson' | 'burst';

export interface AcceptPattern {
  /** accepts per second; undefined: accept each connection as soon as it is queued; 0: never */
  rate?: number;
  /** most connections taken per wake-up (default 1); wake-ups come every batch/rate seconds */
  batch?: number;
  /** a pause of `pauseMs` every `pauseEveryMs` (the server stops accepting: a GC pause, a stall) */
  pauseEveryMs?: number;
  pauseMs?: number;
  /** time to serve one connection after accept(), before the reply and close (default 0) */
  serviceMs?: number;
}

export interface QueueBenchConfig {
  personality: PersonalityName;
  backlog: number;
  sysctls?: Record<string, string | number>;
  accept?: AcceptPattern;
  /** number of legitimate clients */
  connections: number;
  /** over how long they arrive (ms) */
  durationMs: number;
  arrival?: Arrival;
  /** burst arrivals: clients per burst (default 100); bursts are spread evenly over durationMs */
  burstSize?: number;
  /** the clients' OS: how their SYNs are retransmitted (default linux-5.4: 1, 3, 7, 15... s) */
  clientPersonality?: PersonalityName;
  /** a client gives up (closes) this long after its connect() if not served (default 30000) */
  clientTimeoutMs?: number;
  /** spoofed-source SYNs per second during the arrivals (default 0) */
  floodRate?: number;
  /** queue sampling period (default durationMs / 240, at least 1 ms) */
  sampleMs?: number;
  seed?: number;
}

export type Outcome = 'served' | 'refused' | 'reset' | 'timeout-connect' | 'timeout-queue';
export const OUTCOMES: readonly Outcome[] = ['served', 'refused', 'reset', 'timeout-connect', 'timeout-queue'];

export interface QueueBenchResult {
  config: Required<Omit<QueueBenchConfig, 'sysctls' | 'accept'>> & { sysctls: Record<string, string | number>; accept: Required<Omit<AcceptPattern, 'rate'>> & { rate: number | null } };
  /** simulated ms the run covered */
  simulatedMs: number;
  /** wall-clock ms it took */
  wallMs: number;
  outcomes: Record<Outcome, number>;
  /** connect latency (SYN sent to handshake done, client side) of the clients that connected, ms */
  connectLatencyMs: { p50: number; p90: number; p99: number; max: number; mean: number; count: number };
  /** time from connect() to being served, ms */
  serviceLatencyMs: { p50: number; p90: number; p99: number; max: number; count: number };
  /** clients by the number of SYNs they sent before connecting (index = retransmissions) */
  synRetransmissions: number[];
  /** sorted connect latencies (for CDFs), ms */
  latencies: number[];
  /** queue occupancy over time */
  samples: { t: number; acceptQueue: number; synQueue: number; incompleteQueue: number }[];
  /** server counters that moved, by nstat name */
  counters: Record<string, number>;
  accepted: number;
  floodSyns: number;
  backlogEffective: number;
}

/** Deterministic 32-bit generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Arrival times (ms) for the clients. */
export function arrivalTimes(cfg: Pick<QueueBenchConfig, 'connections' | 'durationMs' | 'arrival' | 'burstSize'>, random: () => number): number[] {
  const n = cfg.connections;
  const d = cfg.durationMs;
  const out: number[] = [];
  switch (cfg.arrival ?? 'constant') {
    case 'constant':
      for (let i = 0; i < n; i++) out.push(Math.floor((i * d) / n));
      break;
    case 'poisson': {
      // exponential gaps with mean d/n, scaled so the last arrival falls inside the window
      let t = 0;
      const gaps: number[] = [];
      for (let i = 0; i < n; i++) { const g = -Math.log(1 - random()); gaps.push(g); t += g; }
      let acc = 0;
      for (const g of gaps) { acc += g; out.push(Math.min(d - 1, Math.floor((acc / t) * d * (n / (n + 1))))); }
      break;
    }
    case 'burst': {
      const size = Math.max(1, cfg.burstSize ?? 100);
      const bursts = Math.ceil(n / size);
      for (let b = 0; b < bursts; b++) {
        const at = Math.floor((b * d) / bursts);
        for (let i = 0; i < size && out.length < n; i++) out.push(at);
      }
      break;
    }
  }
  return out;
}

const SERVER_IP = '198.18.0.1';
const GATEWAY_IP = '198.18.255.254';
const GATEWAY_MAC = '02:00:c6:12:ff:fe';
const PORT = 80;
const CLIENTS_PER_STACK = 10000; // Linux clients use even ports only: 14116 in the default range

/** A link wrapper that counts the SYNs (without ACK) each local port sends. */
class SynCountingLink implements Link {
  readonly syns = new Map<number, number>();
  constructor(readonly inner: Link) {}
  get mtu(): number { return this.inner.mtu; }
  send(f: Uint8Array): void {
    if (f.length >= 54 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 6) {
      const ihl = ((f[14] as number) & 15) * 4;
      const flags = f[14 + ihl + 13] as number;
      if ((flags & 0x12) === 0x02) {
        const sport = ((f[14 + ihl] as number) << 8) | (f[14 + ihl + 1] as number);
        this.syns.set(sport, (this.syns.get(sport) ?? 0) + 1);
      }
    }
    this.inner.send(f);
  }
  onReceive(h: ((f: Uint8Array) => void) | null): void { this.inner.onReceive(h); }
  close(): void | Promise<void> { return this.inner.close(); }
}

function validate(cfg: QueueBenchConfig): void {
  if (cfg === null || typeof cfg !== 'object') throw new TypeError('runQueueBench: the config must be an object { personality, backlog, connections, durationMs, ... }');
  if (cfg.sysctls !== undefined && (cfg.sysctls === null || typeof cfg.sysctls !== 'object')) throw new TypeError('sysctls must be an object of name: value');
  if (cfg.accept !== undefined && (cfg.accept === null || typeof cfg.accept !== 'object')) throw new TypeError('accept must be an object { rate, batch, pauseEveryMs, pauseMs, serviceMs }');
  if (cfg.burstSize !== undefined && (!Number.isInteger(cfg.burstSize) || cfg.burstSize < 1)) throw new RangeError(`burst size must be an integer >= 1, got ${cfg.burstSize}`);
  if (cfg.sampleMs !== undefined && (!Number.isFinite(cfg.sampleMs) || cfg.sampleMs < 1)) throw new RangeError(`sampleMs must be >= 1, got ${cfg.sampleMs}`);
  if (cfg.seed !== undefined && (!Number.isInteger(cfg.seed) || cfg.seed < 0 || cfg.seed > 0xffffffff)) throw new RangeError(`seed must be an integer 0..4294967295, got ${cfg.seed}`);
  if (!(PERSONALITY_NAMES as readonly string[]).includes(cfg.personality)) throw new RangeError(`unknown personality "${cfg.personality}"`);
  if (cfg.clientPersonality !== undefined && !(PERSONALITY_NAMES as readonly string[]).includes(cfg.clientPersonality)) throw new RangeError(`unknown client personality "${cfg.clientPersonality}"`);
  if (!Number.isInteger(cfg.backlog) || cfg.backlog < -(2 ** 31) || cfg.backlog >= 2 ** 31) throw new RangeError(`backlog must be a 32-bit integer, got ${cfg.backlog}`);
  if (!Number.isInteger(cfg.connections) || cfg.connections < 1 || cfg.connections > 2_000_000) throw new RangeError(`connections must be 1..2000000, got ${cfg.connections}`);
  if (!Number.isFinite(cfg.durationMs) || cfg.durationMs < 1 || cfg.durationMs > 3_600_000) throw new RangeError(`duration must be 1 ms .. 1 h, got ${cfg.durationMs} ms`);
  const a = cfg.accept ?? {};
  if (a.rate !== undefined && (!Number.isFinite(a.rate) || a.rate < 0)) throw new RangeError(`accept rate must be >= 0, got ${a.rate}`);
  if (a.batch !== undefined && (!Number.isInteger(a.batch) || a.batch < 1)) throw new RangeError(`accept batch must be an integer >= 1, got ${a.batch}`);
  if (a.serviceMs !== undefined && (!Number.isFinite(a.serviceMs) || a.serviceMs < 0)) throw new RangeError(`service time must be >= 0 ms, got ${a.serviceMs}`);
  if ((a.pauseEveryMs === undefined) !== (a.pauseMs === undefined)) throw new RangeError('give both pauseEveryMs and pauseMs, or neither');
  if (a.pauseEveryMs !== undefined && (!(a.pauseEveryMs > 0) || !(a.pauseMs! >= 0) || a.pauseMs! >= a.pauseEveryMs)) throw new RangeError('pauses need 0 <= pauseMs < pauseEveryMs');
  if (cfg.clientTimeoutMs !== undefined && !(cfg.clientTimeoutMs > 0 && Number.isFinite(cfg.clientTimeoutMs))) throw new RangeError(`client timeout must be > 0 ms, got ${cfg.clientTimeoutMs}`);
  if (cfg.floodRate !== undefined && (!Number.isFinite(cfg.floodRate) || cfg.floodRate < 0 || cfg.floodRate > 10_000_000)) throw new RangeError(`flood rate must be 0..10000000 SYN/s, got ${cfg.floodRate}`);
  if (cfg.arrival !== undefined && !['constant', 'poisson', 'burst'].includes(cfg.arrival)) throw new RangeError(`arrival must be constant, poisson or burst, got ${cfg.arrival}`);
}

/**
 * Run one load against one server configuration. `onProgress(fraction)` is called now and then
 * (for a progress bar); the promise resolves with the whole result.
 */
export async function runQueueBench(cfg: QueueBenchConfig, onProgress?: (done: number) => void): Promise<QueueBenchResult> {
  validate(cfg);
  const wall0 = Date.now();
  const accept = {
    rate: cfg.accept?.rate ?? null,
    batch: cfg.accept?.batch ?? 1,
    pauseEveryMs: cfg.accept?.pauseEveryMs ?? 0,
    pauseMs: cfg.accept?.pauseMs ?? 0,
    serviceMs: cfg.accept?.serviceMs ?? 0,
  };
  const full = {
    personality: cfg.personality, backlog: cfg.backlog, sysctls: cfg.sysctls ?? {}, accept,
    connections: cfg.connections, durationMs: cfg.durationMs, arrival: cfg.arrival ?? 'constant',
    burstSize: cfg.burstSize ?? 100, clientPersonality: cfg.clientPersonality ?? 'linux-5.4',
    clientTimeoutMs: cfg.clientTimeoutMs ?? 30_000, floodRate: cfg.floodRate ?? 0,
    sampleMs: cfg.sampleMs ?? Math.max(1, Math.floor(cfg.durationMs / 240)), seed: cfg.seed ?? 1,
  } satisfies QueueBenchResult['config'];
  const random = rng(full.seed);
  const clock = new VirtualClock();
  const hub = new MemoryHub();
  const maxConcurrent = Math.min(full.connections, 1 << 20);
  const server = new Stack({
    personality: full.personality, sysctls: full.sysctls, clock, link: hub.attach(), seed: full.seed,
    interfaces: [{ ip: `${SERVER_IP}/16`, gateway: GATEWAY_IP }],
    limits: { connections: Math.min(1 << 20, maxConcurrent + 1024), synEntries: 65536 },
  });
  const nClientStacks = Math.max(1, Math.ceil(full.connections / CLIENTS_PER_STACK));
  const clients: { stack: Stack; syns: SynCountingLink }[] = [];
  for (let i = 0; i < nClientStacks; i++) {
    const syns = new SynCountingLink(hub.attach());
    const ip = `198.18.${1 + (i >> 8)}.${(i & 255) + 1}`;
    clients.push({
      syns,
      stack: new Stack({
        personality: full.clientPersonality, clock, link: syns, seed: full.seed * 1000 + i + 1,
        interfaces: [{ ip: `${ip}/16` }], limits: { connections: CLIENTS_PER_STACK + 1024 },
      }),
    });
  }
  // the spoofed flood comes from off-link sources, through a "router" that answers ARP for the gateway
  const router = hub.attach();
  let floodSyns = 0;
  router.onReceive((f) => {
    if (f.length >= 42 && f[12] === 0x08 && f[13] === 0x06) {
      const arp = parseArp(f.subarray(14));
      if (arp && arp.op === 1 && arp.targetIp === GATEWAY_IP) {
        router.send(buildEthernet({ dst: arp.senderMac, src: GATEWAY_MAC, type: 0x0806, payload: buildArp({ op: 2, senderMac: GATEWAY_MAC, senderIp: GATEWAY_IP, targetMac: arp.senderMac, targetIp: arp.senderIp }) }));
      }
    }
  });
  const serverMac = server.interfaces[0]!.mac;

  const bsd = server.bsd;
  const lfd = bsd.socket('AF_INET', 'SOCK_STREAM');
  bsd.bind(lfd, { address: '0.0.0.0', port: PORT });
  bsd.listen(lfd, full.backlog);
  const backlogEffective = server.listeners()[0]!.backlog;
  const counters0 = server.counters() as Record<string, number>;

  // ---- the server's accept loop ----
  let accepted = 0;
  const reply = new TextEncoder().encode('ok\n');
  const serve = (fd: number) => {
    accepted++;
    const finish = () => {
      try { bsd.send(fd, reply); } catch { /* reset meanwhile */ }
      try { bsd.close(fd); } catch { /* already closed */ }
    };
    if (accept.serviceMs > 0) clock.setTimeout(finish, accept.serviceMs); else finish();
  };
  const paused = (t: number) => accept.pauseEveryMs > 0 && t % accept.pauseEveryMs < accept.pauseMs;
  let stopped = false;
  if (accept.rate === null) {
    const loop = () => {
      if (stopped) return;
      if (paused(clock.now())) { clock.setTimeout(loop, accept.pauseEveryMs - (clock.now() % accept.pauseEveryMs)); return; }
      bsd.acceptAsync(lfd).then((r) => {
        if (stopped) return;
        if (paused(clock.now())) {
          // accepted just as the pause began: hold it until the pause ends
          clock.setTimeout(() => { serve(r.fd); loop(); }, accept.pauseEveryMs - (clock.now() % accept.pauseEveryMs));
          return;
        }
        serve(r.fd);
        loop();
      }, (e: unknown) => { if (!stopped && e instanceof SocketError && e.code === 'ECONNABORTED') loop(); });
    };
    loop();
  } else if (accept.rate > 0) {
    const period = (1000 * accept.batch) / accept.rate;
    let next = 0;
    const wake = () => {
      if (stopped) return;
      if (!paused(clock.now())) {
        for (let i = 0; i < accept.batch; i++) {
          try { serve(bsd.accept(lfd).fd); } catch (e) {
            if (e instanceof SocketError && e.code === 'ECONNABORTED') continue;
            break; // EAGAIN: the queue is empty
          }
        }
      }
      next += period;
      clock.setTimeout(wake, Math.max(0, next - clock.now()));
    };
    clock.setTimeout(wake, period);
  }

  // ---- the clients ----
  const outcomes: Record<Outcome, number> = { served: 0, refused: 0, reset: 0, 'timeout-connect': 0, 'timeout-queue': 0 };
  const latencies: number[] = [];
  const serviceLat: number[] = [];
  const synHist: number[] = [];
  let pending = 0;
  const times = arrivalTimes(full, random);
  const dst = { address: SERVER_IP, port: PORT };
  const startClient = (i: number) => {
    const c = clients[i % nClientStacks]!;
    const cb = c.stack.bsd;
    const t0 = clock.now();
    let fd: number;
    try { fd = cb.socket('AF_INET', 'SOCK_STREAM'); } catch { outcomes['timeout-connect']++; return; }
    pending++;
    let done = false;
    let connected = false;
    let port = 0;
    const settle = (o: Outcome) => {
      if (done) return;
      done = true;
      pending--;
      outcomes[o]++;
      const syns = c.syns.syns.get(port) ?? 1;
      c.syns.syns.delete(port);
      if (connected || o === 'refused') { while (synHist.length < syns) synHist.push(0); synHist[syns - 1]!++; }
      clock.clearTimeout(giveUp);
      try { cb.close(fd); } catch { /* closed */ }
    };
    const giveUp = clock.setTimeout(() => settle(connected ? 'timeout-queue' : 'timeout-connect'), full.clientTimeoutMs);
    const p = cb.connectAsync(fd, dst);
    try { port = cb.getsockname(fd).port; c.syns.syns.set(port, c.syns.syns.get(port) ?? 0); } catch { /* not bound */ }
    p.then(() => {
      if (done) return;
      connected = true;
      latencies.push(clock.now() - t0);
      const read = () => cb.recvAsync(fd, 64).then((d) => {
        if (done) return;
        if (d.length > 0) { serviceLat.push(clock.now() - t0); settle('served'); } else settle('reset'); // EOF without the reply
      }, (e: unknown) => {
        if (done) return;
        settle(e instanceof SocketError && e.code === 'ECONNREFUSED' ? 'refused' : 'reset');
      });
      read();
    }, (e: unknown) => {
      if (done) return;
      const code = e instanceof SocketError ? e.code : '';
      settle(code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout-connect' : 'reset');
    });
  };

  // ---- the flood ----
  const floodEvery = full.floodRate > 0 ? 1000 / full.floodRate : 0;
  const floodFrame = (n: number) => {
    const src = formatIPv4(((198 << 24) | (19 << 16) | (Math.floor(random() * 65536) & 0xffff)) >>> 0);
    return buildTcpFrame({
      srcMac: GATEWAY_MAC, dstMac: serverMac,
      ip: { src, dst: SERVER_IP, id: n & 0xffff },
      tcp: { sport: 1024 + Math.floor(random() * 64000), dport: PORT, seq: Math.floor(random() * 2 ** 32), flags: 'S', win: 64240, options: { mss: 1460, sackOk: true, wscale: 7 } },
    });
  };

  // ---- the driver: events at each virtual instant, then let the frames settle ----
  const samples: QueueBenchResult['samples'] = [];
  const sample = () => {
    const l = server.listeners()[0];
    samples.push({ t: clock.now(), acceptQueue: l?.acceptQueue ?? 0, synQueue: l?.synQueue ?? 0, incompleteQueue: l?.incompleteQueue ?? 0 });
  };
  const settleFrames = () => new Promise<void>((r) => setImmediate(r));
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  const yieldNow = typeof g.setImmediate === 'function' ? settleFrames : () => new Promise<void>((r) => setTimeout(r, 0));
  let next = 0;
  let nextSample = 0;
  let nextFlood = floodEvery > 0 ? 0 : Infinity;
  const endArrivals = full.durationMs;
  const hardEnd = endArrivals + full.clientTimeoutMs + 1000;
  let lastProgress = 0;
  for (;;) {
    const now = clock.now();
    while (next < times.length && times[next]! <= now) startClient(next++);
    while (nextFlood <= now && nextFlood < endArrivals) { router.send(floodFrame(floodSyns++)); nextFlood += floodEvery; }
    if (now >= nextSample) { sample(); nextSample += full.sampleMs; }
    await yieldNow();
    if (onProgress && (next - lastProgress) * 50 >= times.length) { lastProgress = next; onProgress(next / times.length); }
    if (next >= times.length && pending === 0 && clock.now() >= endArrivals) break;
    if (clock.now() >= hardEnd) break;
    const due = [clock.nextDue() ?? Infinity, next < times.length ? times[next]! : Infinity, nextSample, nextFlood < endArrivals ? nextFlood : Infinity];
    const t = Math.min(...due);
    if (!Number.isFinite(t)) break;
    clock.advanceTo(Math.max(clock.now(), Math.ceil(t)));
  }
  sample();
  stopped = true;
  const counters1 = server.counters() as Record<string, number>;
  const moved: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters1)) {
    const d = v - (counters0[k] ?? 0);
    if (d !== 0 && !/^(Ip|Icmp|Wtcp(In|Out)Frames|WtcpArp)/.test(k)) moved[k] = d;
  }
  const simulatedMs = clock.now();
  onProgress?.(1);
  for (const c of clients) c.stack.close();
  server.close();
  hub.close();
  latencies.sort((a, b) => a - b);
  serviceLat.sort((a, b) => a - b);
  const mean = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0;
  return {
    config: full,
    simulatedMs,
    wallMs: Date.now() - wall0,
    outcomes,
    connectLatencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0, mean, count: latencies.length },
    serviceLatencyMs: { p50: percentile(serviceLat, 50), p90: percentile(serviceLat, 90), p99: percentile(serviceLat, 99), max: serviceLat.at(-1) ?? 0, count: serviceLat.length },
    synRetransmissions: synHist,
    latencies,
    samples,
    counters: moved,
    accepted,
    floodSyns,
    backlogEffective,
  };
}
