/**
 * Validation of `wtcp bench queue` against this machine's own kernel. Each load runs twice:
 * - for real: a Python listener in one network namespace (listen(backlog), accept() at a fixed
 *   rate or never, "ok\n" and close to each), Python clients in another, joined by a veth pair
 *   (test/kernel/queue-server.py, queue-load.py);
 * - simulated: runQueueBench with the linux-6.18 personality (this kernel's) for both ends.
 * and the per-client outcomes and connect latencies must agree within the tolerances below.
 *
 * Tolerances, and why:
 * - A load with no accept() and clients 50 ms apart has no race at all: the outcomes must be equal.
 * - With accept() at a fixed rate, which client gets a freed slot depends on timing: Python's
 *   sleep() drifts by milliseconds, the clients start a few ms late, and the kernel's SYN
 *   retransmission timers slip by up to 1/8 of their interval (timer-wheel rounding, spec section 8.5),
 *   while the simulation is exact. A client at a boundary can land on either side, so each outcome
 *   class may differ by max(3, 10 % of the clients), and the share of clients that connected
 *   without retransmitting by 0.15. The served count itself is set by the accept rate, so it
 *   must agree to max(3, 10 %) as well.
 * - Connect latencies sit on the client's SYN retransmission points (Linux 6.5+ with
 *   tcp_syn_linear_timeouts = 4: 0, 1, 2, 3, 4, 5, 7, 11 s): each kernel latency must be within
 *   300 ms of one of them, the same points the simulation produces exactly.
 *
 * Network safety: 198.18.95.0/24 only, inside the two namespaces this test creates and deletes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runQueueBench, type Outcome, type QueueBenchResult } from '../../src/queue-bench.js';
import { checkPrerequisites, createNs, deleteNs, ipNetnsExec, nextId, nsName, run, PYTHON } from '../kernel/netns.js';

const SERVER = fileURLToPath(new URL('../kernel/queue-server.py', import.meta.url));
const LOAD = fileURLToPath(new URL('../kernel/queue-load.py', import.meta.url));
const CLI_IP = '198.18.95.1';
const SRV_IP = '198.18.95.2';
let cli = '';
let srv = '';
let port = 8000;

beforeAll(async () => {
  const problems = await checkPrerequisites();
  if (problems.length) throw new Error(`queue validation cannot run: ${problems.join('; ')}`);
  const id = nextId();
  cli = nsName('qcli', id);
  srv = nsName('qsrv', id);
  await createNs(cli);
  await createNs(srv);
  await run('ip', ['link', 'add', `qc${process.pid}`.slice(0, 15), 'netns', cli, 'type', 'veth', 'peer', 'name', `qs${process.pid}`.slice(0, 15), 'netns', srv]);
  await run('ip', ['-n', cli, 'link', 'set', `qc${process.pid}`.slice(0, 15), 'name', 'c0']);
  await run('ip', ['-n', srv, 'link', 'set', `qs${process.pid}`.slice(0, 15), 'name', 's0']);
  await run('ip', ['-n', cli, 'addr', 'add', `${CLI_IP}/24`, 'dev', 'c0']);
  await run('ip', ['-n', srv, 'addr', 'add', `${SRV_IP}/24`, 'dev', 's0']);
  for (const [ns, dev] of [[cli, 'c0'], [srv, 's0'], [cli, 'lo'], [srv, 'lo']] as const) await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  await ipNetnsExec(cli, ['ping', '-c', '1', '-W', '2', SRV_IP]);
}, 60_000);

afterAll(async () => {
  if (cli) await deleteNs(cli);
  if (srv) await deleteNs(srv);
});

interface KernelRun { outcomes: Record<Outcome, number>; latencies: number[] }

async function kernelRun(load: { backlog: number; rate: number; n: number; durationS: number; giveupS: number; arrival: 'constant' | 'burst' }): Promise<KernelRun> {
  const p = ++port;
  const server: ChildProcess = spawn('ip', ['netns', 'exec', srv, PYTHON, SERVER, SRV_IP, String(p), String(load.backlog), String(load.rate)], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('kernel server did not start')), 10_000);
      server.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('listening')) { clearTimeout(t); resolve(); } });
      server.once('exit', (c) => { clearTimeout(t); reject(new Error(`kernel server exited ${c}`)); });
    });
    const out = await ipNetnsExec(cli, [PYTHON, LOAD, SRV_IP, String(p), String(load.n), String(load.durationS), String(load.giveupS), load.arrival], (load.durationS + load.giveupS + 30) * 1000);
    return JSON.parse(out) as KernelRun;
  } finally {
    server.kill('SIGKILL');
  }
}

function simRun(load: { backlog: number; rate: number; n: number; durationS: number; giveupS: number; arrival: 'constant' | 'burst' }): Promise<QueueBenchResult> {
  return runQueueBench({
    personality: 'linux-6.18', clientPersonality: 'linux-6.18', backlog: load.backlog,
    accept: { rate: load.rate }, connections: load.n, durationMs: load.durationS * 1000,
    arrival: load.arrival, burstSize: load.n, clientTimeoutMs: load.giveupS * 1000,
  });
}

// a 6.18 client's SYNs (tcp_syn_linear_timeouts = 4): 0, 1, 2, 3, 4, 5, 7, 11 s after the first
const SYN_POINTS = [0, 1000, 2000, 3000, 4000, 5000, 7000, 11000];
const noRetrans = (lat: number[], n: number) => lat.filter((l) => l < 500).length / n;

describe('wtcp bench queue agrees with this machine\'s kernel (linux-6.18)', () => {
  it('no accept(), clients 50 ms apart, backlog 4: identical outcomes (backlog+1 wait in the queue, the rest never connect)', async () => {
    const load = { backlog: 4, rate: 0, n: 20, durationS: 1, giveupS: 5, arrival: 'constant' as const };
    const [k, s] = await Promise.all([kernelRun(load), simRun(load)]);
    expect(s.outcomes).toEqual({ served: 0, refused: 0, reset: 0, 'timeout-connect': 15, 'timeout-queue': 5 });
    console.info(`kernel ${JSON.stringify(k.outcomes)}\nsimulated ${JSON.stringify(s.outcomes)}`);
    expect(k.outcomes).toEqual(s.outcomes);
  }, 60_000);

  for (const load of [
    { name: 'accept 10/s, 40 clients over 2 s, backlog 8', backlog: 8, rate: 10, n: 40, durationS: 2, giveupS: 8, arrival: 'constant' as const },
    { name: 'accept 20/s, a burst of 30, backlog 4', backlog: 4, rate: 20, n: 30, durationS: 1, giveupS: 8, arrival: 'burst' as const },
  ]) {
    it(`${load.name}: outcomes within max(3, 10 %), latencies on the SYN back-off points`, async () => {
      const [k, s] = await Promise.all([kernelRun(load), simRun(load)]);
      const tol = Math.max(3, Math.ceil(0.1 * load.n));
      const detail = `kernel ${JSON.stringify(k.outcomes)} vs simulated ${JSON.stringify(s.outcomes)}`;
      console.info(`${load.name}: ${detail}; connected without retransmission: kernel ${noRetrans(k.latencies, load.n).toFixed(2)}, simulated ${noRetrans(s.latencies, load.n).toFixed(2)}`);
      for (const o of Object.keys(s.outcomes) as Outcome[]) {
        expect(Math.abs(k.outcomes[o] - s.outcomes[o]), `${o}: ${detail}`).toBeLessThanOrEqual(tol);
      }
      expect(s.outcomes.served).toBeGreaterThan(0);
      expect(Math.abs(noRetrans(k.latencies, load.n) - noRetrans(s.latencies, load.n)), detail).toBeLessThanOrEqual(0.15);
      for (const l of k.latencies) expect(SYN_POINTS.some((p) => Math.abs(l - p) <= 300), `kernel latency ${l} ms`).toBe(true);
      for (const l of s.latencies) expect(SYN_POINTS).toContain(l);
    }, 60_000);
  }
});
