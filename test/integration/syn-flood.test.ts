/**
 * A SYN flood from spoofed sources, sent by hping3 over a TAP device, while real kernel clients
 * keep connecting: per personality, what the stack does is what its OS would do.
 *
 * Set-up per case: a network namespace created here, a TAP device moved into it (kernel side
 * 198.18.41.1/24), the stack in this process on the other end (198.18.41.2/24, gateway
 * 198.18.41.1) running an echo server on port 80 with listen(fd, 128). Four hping3 processes in the
 * namespace send SYNs to port 80, each from one fixed spoofed source in 198.19.0.0/16 (198.19.k.k)
 * with an incrementing source port, FLOOD_PER_SOURCE each, paced by `-i u…` (bounded in count and
 * time). The stack's SYN-ACKs to those sources go to its gateway, the namespace's kernel, which
 * does not forward and drops them: nobody completes or resets the spoofed handshakes. Meanwhile
 * legit_clients.py starts LEGIT kernel clients (10 ms apart, each with TIMEOUT_S for connect +
 * echo), from 198.18.41.1.
 *
 * What each personality must do (../shared/listen-behaviour.md):
 *   - linux-6.18, tcp_syncookies=1 (default): the SYN queue fills (backlog 128), then every SYN is
 *     answered with a cookie ("Possible SYN flooding ... Sending cookies"); legit clients complete
 *     on cookies: >= 99 % succeed, TcpExtSyncookiesSent and TCPReqQFullDoCookies count the flood.
 *   - linux-5.4 with tcp_syncookies=0: once the queue is full, SYNs are dropped
 *     (TcpExtTCPReqQFullDrop, ListenDrops); spoofed entries live for the whole SYN-ACK retry
 *     schedule (63 s), so legit clients lose too: fewer than half get through within their budget.
 *   - freebsd-12.1: the syncache (512 buckets x 30) holds the flood and, since every SYN-ACK
 *     carries a cookie (net.inet.tcp.syncookies=1), an entry evicted by the flood still completes
 *     from its cookie: >= 99 % succeed; TcpScAdded / TcpScSendCookie count.
 *   - freebsd-12.1 with net.inet.tcp.syncookies=0: the syncache alone: a full bucket (or the
 *     whole cache) loses its oldest entry to the new SYN, so a legit client, whose ACK follows its
 *     SYN within a millisecond, is not pushed out: >= 99 % still succeed, no cookie is sent.
 *   - 4.3bsd: embryos count against the queue (backlog capped at 5, at most 8 entries), they live
 *     45 s (TCPT_KEEP) and a SYN to a full queue is dropped silently: legit clients starve
 *     (<= 5 % succeed) and TcpExtListenOverflows counts the drops.
 * In every case the core's memory does not grow (the pools are allocated once at init): the WASM
 * memory size is the same before and after.
 *
 * Tolerances: the flood rate depends on this shared 2-core machine. hping3 offers about 26,000
 * SYN/s in all (4 x one every 150 us; its pacing is coarse); 13,000 to 19,000 SYN/s reached the
 * stack on average in our runs (alone and with three other TAP test files at once), so we require
 * 8,000 and that 90 % of the 80,000 SYNs arrived, and print the rate. ">= 99 %" allows 1 failure in 100 legit clients (a SYN lost when
 * the TAP queue overflows is retransmitted after 1 s, well within the 6-s budget).
 *
 * Network safety: 198.18.41.0/24 and spoofed sources from 198.19.0.0/16, only inside namespaces
 * created and deleted here. Without root, hping3, python3 or /dev/net/tun the test fails with a
 * message, never skips.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Stack } from '../../src/stack.js';
import { TapLink } from '../../src/links/tap.js';
import type { PersonalityName } from '../../src/personalities.js';
import {
  assertBenchmarkAddress, checkPrerequisites, cleanupOwn, createNs, deleteNs, nextId, nsName, spawnInNs, stopAllChildren,
  tapName, PYTHON,
} from '../kernel/netns.js';

const HOST = '198.18.41.1';
const STACK = '198.18.41.2';
const PORT = 80;
const SOURCES = ['198.19.1.1', '198.19.2.2', '198.19.3.3', '198.19.4.4'];
const FLOOD_PER_SOURCE = 20_000;
const FLOOD_INTERVAL = 'u150'; // per process: ~6,600/s nominal, x4 sources
const LEGIT = 100;
const LEGIT_SPACING_MS = 10;
const TIMEOUT_S = 6;
const HPING3 = '/usr/sbin/hping3';
const LEGIT_SCRIPT = fileURLToPath(new URL('../kernel/legit_clients.py', import.meta.url));

interface LegitResult {
  ok: number;
  failed: number;
  outcomes: Record<string, number>;
  latency_ms: [number | null, number | null, number | null];
}
interface FloodResult {
  legit: LegitResult;
  synsPerSecond: number;
  floodSyns: number;
  memBefore: number;
  memAfter: number;
  counters: Record<string, number>;
  synfloodEvents: number;
}

beforeAll(async () => {
  const problems = await checkPrerequisites();
  if (!existsSync(HPING3)) problems.push(`${HPING3} not found: apt-get install hping3`);
  if (problems.length) throw new Error(`SYN flood test cannot run: ${problems.join('; ')}`);
  for (const a of [HOST, STACK, ...SOURCES]) assertBenchmarkAddress(a);
}, 30_000);

afterAll(async () => {
  await stopAllChildren();
  await cleanupOwn();
}, 30_000);

/** An echo server: accept forever, echo one line per connection, close. */
function echoServer(stack: Stack): { fd: number; stop: () => void } {
  const bsd = stack.bsd;
  const fd = bsd.socket('AF_INET', 'SOCK_STREAM');
  bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
  bsd.bind(fd, { address: '0.0.0.0', port: PORT });
  bsd.listen(fd, 128);
  const ac = new AbortController();
  void (async () => {
    for (;;) {
      let c;
      try { c = await bsd.acceptAsync(fd, { signal: ac.signal }); } catch { return; }
      void (async () => {
        try {
          let got = '';
          while (!got.includes('\n')) {
            const d = await bsd.recvAsync(c.fd, 1000);
            if (d.length === 0) break;
            got += Buffer.from(d).toString();
          }
          await bsd.sendAsync(c.fd, Buffer.from(got));
        } catch { /* reset: counted by the client */ }
        try { bsd.close(c.fd); } catch { /* closed */ }
      })();
    }
  })();
  return { fd, stop: () => { ac.abort(); try { bsd.close(fd); } catch { /* closed */ } } };
}

async function flood(personality: PersonalityName, sysctls: Record<string, number> = {}): Promise<FloodResult> {
  const id = nextId();
  const ns = nsName('flood', id);
  await createNs(ns);
  let link: TapLink | undefined;
  let stack: Stack | undefined;
  try {
    link = await TapLink.open({ name: tapName(id), netns: ns, hostAddress: `${HOST}/24` });
    stack = new Stack({ personality, sysctls, interfaces: [{ ip: `${STACK}/24`, gateway: HOST }], link });
    let synfloodEvents = 0;
    stack.on('synflood', () => { synfloodEvents++; });
    const server = echoServer(stack);
    // warm up ARP both ways with one legit connection before measuring anything
    const warm = spawnInNs('warm-up client', ns, PYTHON, [LEGIT_SCRIPT, STACK, String(PORT), '1', '0', '5']);
    await warm.exited;
    expect(JSON.parse(warm.lines[0] ?? '{}').ok, `warm-up connection: ${warm.lines.join()} ${warm.stderr}`).toBe(1);
    const memBefore = stack.memoryBytes();
    const before = stack.counters() as Record<string, number>;
    const t0 = performance.now();
    const hpings = SOURCES.map((src) => spawnInNs(`hping3 from ${src}`, ns, HPING3,
      ['-q', '-S', '-p', String(PORT), '-a', src, '-c', String(FLOOD_PER_SOURCE), '-i', FLOOD_INTERVAL, STACK]));
    // legit clients start once the flood has filled the queue
    await new Promise((r) => setTimeout(r, 300));
    const legitChild = spawnInNs('legit clients', ns, PYTHON, [LEGIT_SCRIPT, STACK, String(PORT), String(LEGIT), String(LEGIT_SPACING_MS), String(TIMEOUT_S)]);
    await Promise.all(hpings.map((h) => h.exited));
    const floodMs = performance.now() - t0;
    const afterFlood = stack.counters() as Record<string, number>;
    await legitChild.exited;
    const legitLine = legitChild.lines.find((l) => l.startsWith('{'));
    expect(legitLine, `legit clients' result (stderr: ${legitChild.stderr})`).toBeDefined();
    const legit = JSON.parse(legitLine!) as LegitResult;
    const after = stack.counters() as Record<string, number>;
    const counters: Record<string, number> = {};
    for (const k of Object.keys(after)) if ((after[k] ?? 0) - (before[k] ?? 0) !== 0) counters[k] = (after[k] ?? 0) - (before[k] ?? 0);
    // SYNs that reached the core during the flood (legit clients' segments are a few hundred of these)
    const floodSyns = (afterFlood.WtcpInFrames ?? 0) - (before.WtcpInFrames ?? 0);
    const memAfter = stack.memoryBytes();
    server.stop();
    const r: FloodResult = { legit, synsPerSecond: Math.round(floodSyns / (floodMs / 1000)), floodSyns, memBefore, memAfter, counters, synfloodEvents };
    console.log(`[syn-flood] ${personality} ${JSON.stringify(sysctls)}: ${r.floodSyns} frames in ${Math.round(floodMs)} ms (${r.synsPerSecond}/s); legit ${legit.ok}/${LEGIT} ok ${JSON.stringify(legit.outcomes)} latency p50/p90/max ${legit.latency_ms.join('/')} ms; memory ${memBefore} -> ${memAfter}; ${JSON.stringify(counters)}`);
    return r;
  } finally {
    await stopAllChildren();
    stack?.close();
    link?.close();
    await deleteNs(ns);
  }
}

function commonChecks(r: FloodResult): void {
  expect(r.memAfter, 'WASM memory size after the flood').toBe(r.memBefore);
  expect(r.floodSyns, 'SYNs that reached the stack').toBeGreaterThan(0.9 * SOURCES.length * FLOOD_PER_SOURCE);
  expect(r.synsPerSecond, 'flood rate at the stack (SYN/s)').toBeGreaterThan(8_000);
}

describe('SYN flood from spoofed 198.19.0.0/16 sources (hping3 over TAP) with real kernel clients connecting', () => {
  it('linux-6.18, tcp_syncookies=1: cookies once the SYN queue is full; >= 99 % of legit clients connect', async () => {
    const r = await flood('linux-6.18');
    commonChecks(r);
    expect(r.legit.ok, JSON.stringify(r.legit)).toBeGreaterThanOrEqual(Math.ceil(0.99 * LEGIT));
    expect(r.counters.TcpExtSyncookiesSent, 'cookies sent').toBeGreaterThan(0.5 * SOURCES.length * FLOOD_PER_SOURCE);
    expect(r.counters.TcpExtTCPReqQFullDoCookies).toBeGreaterThan(0);
    expect(r.counters.TcpExtTCPReqQFullDrop ?? 0).toBe(0);
    // legit clients that arrived while the queue was full completed on cookies
    expect(r.counters.TcpExtSyncookiesRecv ?? 0).toBeGreaterThan(0);
    expect(r.synfloodEvents, 'the "Possible SYN flooding" message').toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('linux-5.4, tcp_syncookies=0: SYNs dropped once the queue is full (TCPReqQFullDrop); legit clients suffer', async () => {
    const r = await flood('linux-5.4', { 'net.ipv4.tcp_syncookies': 0 });
    commonChecks(r);
    expect(r.counters.TcpExtSyncookiesSent ?? 0).toBe(0);
    expect(r.counters.TcpExtTCPReqQFullDrop, 'SYNs dropped with the queue full').toBeGreaterThan(0.5 * SOURCES.length * FLOOD_PER_SOURCE);
    expect(r.counters.TcpExtListenDrops).toBeGreaterThanOrEqual(r.counters.TcpExtTCPReqQFullDrop!);
    expect(r.legit.ok, JSON.stringify(r.legit)).toBeLessThan(LEGIT / 2);
  }, 60_000);

  it('freebsd-12.1: syncache plus cookies on every SYN-ACK; >= 99 % of legit clients connect', async () => {
    const r = await flood('freebsd-12.1');
    commonChecks(r);
    expect(r.legit.ok, JSON.stringify(r.legit)).toBeGreaterThanOrEqual(Math.ceil(0.99 * LEGIT));
    expect(r.counters.TcpScAdded, 'syncache entries').toBeGreaterThan(0);
    expect(r.counters.TcpScSendCookie, 'cookies in SYN-ACKs').toBeGreaterThan(0.5 * SOURCES.length * FLOOD_PER_SOURCE);
  }, 60_000);

  it('freebsd-12.1, net.inet.tcp.syncookies=0: the syncache alone; a full bucket loses its oldest entry, so legit clients (ACK within a millisecond) still get in', async () => {
    const r = await flood('freebsd-12.1', { 'net.inet.tcp.syncookies': 0 });
    commonChecks(r);
    expect(r.counters.TcpScSendCookie ?? 0, 'no cookies').toBe(0);
    // 80,000 entries into 512 buckets of 30 (cachelimit 15,360): entries are evicted, oldest first
    expect((r.counters.TcpScBucketOverflow ?? 0) + (r.counters.TcpScZoneFail ?? 0), 'evictions').toBeGreaterThan(0);
    // at ~20,000 SYN/s spread over 512 buckets a bucket takes a new entry every ~25 ms, and 30 of them
    // to push one out: a legit entry, completed within a millisecond, is never the oldest in time
    expect(r.legit.ok, JSON.stringify(r.legit)).toBeGreaterThanOrEqual(Math.ceil(0.99 * LEGIT));
    expect(r.counters.TcpScCompleted).toBeGreaterThanOrEqual(r.legit.ok);
  }, 60_000);

  it('4.3bsd: embryos fill the small queue for 45 s; legit clients starve', async () => {
    const r = await flood('4.3bsd');
    commonChecks(r);
    expect(r.legit.ok, JSON.stringify(r.legit)).toBeLessThanOrEqual(Math.floor(0.05 * LEGIT));
    expect(r.counters.TcpExtListenOverflows, 'SYNs dropped on a full queue').toBeGreaterThan(0.9 * SOURCES.length * FLOOD_PER_SOURCE);
  }, 60_000);
});
