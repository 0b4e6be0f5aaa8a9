// `wtcp bench queue`'s engine (src/queue-bench.ts) and reports (src/queue-report.ts): known loads
// whose outcomes follow from each personality's rules (spec section 6.2), accept patterns, the
// flood, determinism, and the command line.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runQueueBench, arrivalTimes, type QueueBenchConfig } from '../../src/queue-bench.js';
import { formatQueueTable, formatQueueHtml } from '../../src/queue-report.js';

// six clients one after another, 200 ms apart; the server never accepts; clients give up after 20 s
const sequential = (over: Partial<QueueBenchConfig>): QueueBenchConfig => ({
  personality: 'linux-6.13', backlog: 2, accept: { rate: 0 }, connections: 6, durationMs: 1200,
  arrival: 'constant', clientTimeoutMs: 20_000, ...over,
});

describe('outcomes follow each personality\'s queue rules', () => {
  it('linux-6.13, backlog 2, never accepting: backlog+1 = 3 connect and wait; the rest never get a SYN-ACK', async () => {
    const r = await runQueueBench(sequential({}));
    expect(r.backlogEffective).toBe(2);
    expect(r.outcomes).toEqual({ served: 0, refused: 0, reset: 0, 'timeout-connect': 3, 'timeout-queue': 3 });
    expect(r.connectLatencyMs.count).toBe(3);
    expect(r.connectLatencyMs.max).toBe(0); // no retransmission needed for the three
    expect(r.synRetransmissions).toEqual([3]);
    expect(Math.max(...r.samples.map((s) => s.acceptQueue))).toBe(3);
    expect(r.counters.TcpExtListenOverflows).toBeGreaterThanOrEqual(3);
    expect(r.counters.TcpExtListenDrops).toBe(r.counters.TcpExtListenOverflows);
    expect(r.accepted).toBe(0);
  });

  it('freebsd-12.1, backlog 2: floor(3b/2)+1 = 4 queue, the rest are reset at their ACK', async () => {
    const r = await runQueueBench(sequential({ personality: 'freebsd-12.1' }));
    expect(r.outcomes).toEqual({ served: 0, refused: 0, reset: 2, 'timeout-connect': 0, 'timeout-queue': 4 });
    expect(Math.max(...r.samples.map((s) => s.acceptQueue))).toBe(4);
    expect(r.counters.TcpScAborted).toBe(2);
    expect(r.counters.TcpOutRsts).toBe(2);
  });

  it('4.3bsd, backlog 2: half-open connections count too; 4 in all, the rest unanswered', async () => {
    const r = await runQueueBench(sequential({ personality: '4.3bsd' }));
    expect(r.outcomes).toEqual({ served: 0, refused: 0, reset: 0, 'timeout-connect': 2, 'timeout-queue': 4 });
  });

  it('a server that accepts as fast as connections come serves everyone at once, no retransmission', async () => {
    const r = await runQueueBench({ personality: 'linux-5.4', backlog: 16, connections: 2000, durationMs: 10_000 });
    expect(r.outcomes.served).toBe(2000);
    expect(r.accepted).toBe(2000);
    expect(r.synRetransmissions).toEqual([2000]);
    expect(r.connectLatencyMs.p99).toBe(0);
    expect(r.counters.TcpExtListenOverflows ?? 0).toBe(0);
    expect(r.counters.TcpPassiveOpens).toBe(2000);
  });
});

describe('accept patterns and load shapes', () => {
  it('an accept rate below the arrival rate overflows the queue; Linux clients retransmit SYNs at 1, 3, 7 s', async () => {
    const r = await runQueueBench({ personality: 'linux-5.4', backlog: 8, accept: { rate: 50 }, connections: 600, durationMs: 3000, clientTimeoutMs: 60_000 });
    expect(r.outcomes.served + r.outcomes['timeout-queue'] + r.outcomes['timeout-connect']).toBe(600);
    expect(r.outcomes.served).toBeGreaterThan(500);
    expect(r.counters.TcpExtListenOverflows).toBeGreaterThan(0);
    // latencies of retransmitted SYNs sit at Linux's back-off points: 1 s, 3 s, 7 s, 15 s after the first SYN
    const retransLat = r.latencies.filter((l) => l > 0);
    expect(retransLat.length).toBeGreaterThan(0);
    for (const l of retransLat) expect([1000, 3000, 7000, 15000, 31000]).toContain(l);
    expect(r.synRetransmissions.length).toBeGreaterThan(1);
    // the accept queue never holds more than backlog + 1
    expect(Math.max(...r.samples.map((s) => s.acceptQueue))).toBe(9);
  });

  it('FreeBSD clients retransmit on FreeBSD\'s schedule (1 s RTO x tcp_syn_backoff 1,1,1,1,1,2,4,8,16...)', async () => {
    const r = await runQueueBench({ personality: 'linux-5.4', backlog: 1, accept: { rate: 5 }, connections: 40, durationMs: 500, clientPersonality: 'freebsd-12.1', clientTimeoutMs: 60_000 });
    const retransLat = [...new Set(r.latencies.filter((l) => l > 0))];
    expect(retransLat.length).toBeGreaterThan(3);
    for (const l of retransLat) expect([1000, 2000, 3000, 4000, 5000, 7000, 11000, 19000, 35000]).toContain(l);
    expect(retransLat).toContain(2000); // a Linux client never connects 2 s after its first SYN
  });

  it('service time keeps accepted connections busy; pauses stop accepting for a while', async () => {
    const base = { personality: 'linux-5.4' as const, backlog: 64, connections: 300, durationMs: 3000 };
    const quick = await runQueueBench({ ...base, accept: { rate: 200 } });
    const slow = await runQueueBench({ ...base, accept: { rate: 200, serviceMs: 500 } });
    expect(slow.serviceLatencyMs.p50).toBeGreaterThanOrEqual(quick.serviceLatencyMs.p50 + 500);
    const paused = await runQueueBench({ ...base, accept: { rate: 200, pauseEveryMs: 1000, pauseMs: 600 } });
    const maxQ = (r: typeof quick) => Math.max(...r.samples.map((s) => s.acceptQueue));
    expect(maxQ(paused)).toBeGreaterThan(maxQ(quick));
  });

  it('arrivals: constant spreads evenly, bursts arrive together, Poisson stays in the window', () => {
    let x = 1;
    const rnd = () => { x = (x * 48271) % 2147483647; return x / 2147483647; };
    expect(arrivalTimes({ connections: 4, durationMs: 1000, arrival: 'constant' }, rnd)).toEqual([0, 250, 500, 750]);
    expect(arrivalTimes({ connections: 5, durationMs: 1000, arrival: 'burst', burstSize: 2 }, rnd)).toEqual([0, 0, 333, 333, 666]);
    const p = arrivalTimes({ connections: 1000, durationMs: 10_000, arrival: 'poisson' }, rnd);
    expect(p.length).toBe(1000);
    expect(Math.min(...p)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...p)).toBeLessThan(10_000);
    expect([...p].sort((a, b) => a - b)).toEqual(p);
  });

  it('a spoofed SYN flood: Linux answers with cookies and legitimate clients still get through', async () => {
    const r = await runQueueBench({ personality: 'linux-5.4', backlog: 64, connections: 500, durationMs: 2000, floodRate: 20_000 });
    expect(r.floodSyns).toBeGreaterThanOrEqual(39_000);
    expect(r.counters.TcpExtSyncookiesSent).toBeGreaterThan(30_000);
    expect(r.outcomes.served / 500).toBeGreaterThanOrEqual(0.99);
    expect(Math.max(...r.samples.map((s) => s.synQueue))).toBeLessThanOrEqual(64);
  });

  it('is deterministic for a seed', async () => {
    const cfg: QueueBenchConfig = { personality: 'freebsd-12.1', backlog: 4, accept: { rate: 30 }, connections: 200, durationMs: 2000, arrival: 'poisson', seed: 7 };
    const a = await runQueueBench(cfg);
    const b = await runQueueBench(cfg);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(b.latencies).toEqual(a.latencies);
    expect(b.samples).toEqual(a.samples);
  });

  it('refuses bad configurations with a message', async () => {
    await expect(runQueueBench(sequential({ connections: 0 }))).rejects.toThrow(/connections/);
    await expect(runQueueBench(sequential({ personality: 'linux-9' as never }))).rejects.toThrow(/unknown personality/);
    await expect(runQueueBench(sequential({ accept: { rate: -1 } }))).rejects.toThrow(/accept rate/);
    await expect(runQueueBench(sequential({ accept: { pauseEveryMs: 100 } }))).rejects.toThrow(/pause/);
    await expect(runQueueBench(sequential({ arrival: 'weekly' as never }))).rejects.toThrow(/arrival/);
  });
});

describe('reports', () => {
  it('the table puts runs side by side with outcomes, latencies and the counters that moved', async () => {
    const rs = [await runQueueBench(sequential({})), await runQueueBench(sequential({ personality: 'freebsd-12.1' }))];
    const t = formatQueueTable(rs);
    expect(t).toMatch(/^6 clients \(linux-5\.4, give up after 20\.0 s\) arriving constant over 1\.20 s; server accepts never/);
    expect(t).toMatch(/\s+linux-6\.13\s+freebsd-12\.1\n/);
    expect(t).toMatch(/timed out in queue\s+3 \(50\.0%\)\s+4 \(66\.7%\)/);
    expect(t).toMatch(/TcpScAborted\s+0\s+2/);
    const html = formatQueueHtml(rs, { generatedAt: 'now' });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
    expect((html.match(/<svg /g) ?? []).length).toBe(4);
  });
});

describe('wtcp bench queue (the command)', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const cli = `${root}dist/cli.js`;
  const wtcp = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm install`);
    execFile(process.execPath, [cli, ...args], { cwd: root, timeout: 60_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? -1) : 0, stdout, stderr }));
  });

  it('compares personalities and backlogs, writes JSON and an HTML report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wtcp-bq-'));
    try {
      const r = await wtcp(['bench', 'queue', '--personality', 'linux-5.4,freebsd-12.1', '--backlog', '4', '--backlog', '8',
        '--connections', '300', '--duration', '2', '--accept-rate', '40', '--json', '--html', join(dir, 'r.html')]);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as { config: { personality: string; backlog: number }; outcomes: Record<string, number> }[];
      expect(j.map((x) => `${x.config.personality}/${x.config.backlog}`)).toEqual(['linux-5.4/4', 'linux-5.4/8', 'freebsd-12.1/4', 'freebsd-12.1/8']);
      for (const x of j) expect(Object.values(x.outcomes).reduce((a, b) => a + b, 0)).toBe(300);
      expect(readFileSync(join(dir, 'r.html'), 'utf8')).toMatch(/linux-5\.4, backlog 4/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('bad flags: status 2 and a message; --help', async () => {
    expect((await wtcp(['bench', 'queue', '--arrival', 'x'])).stderr).toMatch(/--arrival must be constant, poisson or burst/);
    expect((await wtcp(['bench', 'queue', '--personality', 'linux-9'])).code).toBe(2);
    expect((await wtcp(['bench', 'queue', '--pause', '5'])).stderr).toMatch(/go together/);
    expect((await wtcp(['bench', 'nothing'])).code).toBe(2);
    const h = await wtcp(['bench', 'queue', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^usage: wtcp bench queue/);
  });
});
