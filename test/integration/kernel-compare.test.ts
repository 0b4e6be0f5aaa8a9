/**
 * Against a real kernel: the same listen-queue scenarios on this machine's own Linux (a listener in a
 * network namespace) and on a wtcp stack with the linux-6.13 preset (behind a TAP device), with the
 * same kernel clients and the same client-side capture. Per-connection outcomes and the segments the
 * server sent must agree.
 *
 * Two blocks:
 * - "this machine's kernel": every scenario's kernel run, checked against the Linux 6.13+ rules of
 *   listen-behaviour.md (validates the harness independently of the stack);
 * - "wtcp linux-6.13 vs this kernel": the comparison, one test per scenario.
 * All runs start at once in beforeAll (a pool of WTCP_KC_PARALLEL, default 6, runs at a time); each
 * test waits for its own. Needs root, iproute2, tcpdump and python3; fails (never skips) without them.
 *
 * Env: WTCP_KC_PARALLEL=n runs at a time; WTCP_KC_ONLY=regex scenario ids to run;
 *      WTCP_KC_REPORT=1 prints the per-connection table of every run; WTCP_KC_KEEP=1 keeps the captures;
 *      WTCP_KC_SELFCHECK=1 adds a second kernel run of every scenario, compared with the first by the
 *      same rules as the stack (checks that the comparison itself is deterministic on this machine);
 *      WTCP_KC_RETRIES=n re-runs allowed for a failure during measured host stalls (default 2);
 *      WTCP_KC_STACK_PERSONALITY=linux-5.4 (etc.) compares another preset with this kernel (exploration).
 * Determinism: every run puts a 100 ms one-way delay on client->server frames (relay.py / DelayLink),
 * so a burst's SYNs all reach the server, in order, before any third ACK; connections are then paired
 * by SYN arrival rank (stricter than comparing outcome multisets). See test/kernel/scenarios.ts.
 * Network safety: every address (198.18.0.0/15 only) lives in namespaces the harness creates and deletes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareRuns, formatRunDiff, shortDiff, summariseRun } from '../kernel/compare.js';
import { checkKernelRun } from '../kernel/kernel-checks.js';
import { KernelTarget } from '../kernel/kernel-target.js';
import { checkPrerequisites, cleanupOwn, cleanupStale, stopAllChildren } from '../kernel/netns.js';
import { Pool, disturbances, runScenario, type ScenarioRun, type Target } from '../kernel/run-scenario.js';
import { expectLinux613, scenarioMatrix, type Scenario } from '../kernel/scenarios.js';

const only = process.env.WTCP_KC_ONLY ? new RegExp(process.env.WTCP_KC_ONLY) : undefined;
const scenarios = scenarioMatrix().filter((s) => !only || only.test(s.id));
const parallel = Math.max(1, Number(process.env.WTCP_KC_PARALLEL ?? 6));
const TEST_TIMEOUT = 300_000;
/**
 * A run whose check or comparison fails while the host measurably stalled one of its user-space
 * parts (client, delay line, stack event loop: see run-scenario.ts disturbances) is run again, at
 * most this many times. A failure without a measured stall fails at once, and so does the last retry.
 */
const MAX_RETRIES = Math.max(0, Number(process.env.WTCP_KC_RETRIES ?? 2));

type Outcome = ScenarioRun | Error;
let setupError: Error | undefined;
let workDir: string | undefined;
let failures = 0;
const kernelRuns = new Map<string, Promise<Outcome>>();
const stackRuns = new Map<string, Promise<Outcome>>();
const selfCheck = Boolean(process.env.WTCP_KC_SELFCHECK);
const kernelRuns2 = new Map<string, Promise<Outcome>>();
let stackLoad: Promise<Target | Error> | undefined;
let pool: Pool | undefined;
let kernelTarget: Target | undefined;
/** the kernel run of each scenario that passed its checks (possibly a retry): what the comparison uses */
const kernelAccepted = new Map<string, ScenarioRun>();

function startRuns(pool: Pool, target: Target, into: Map<string, Promise<Outcome>>): void {
  for (const s of scenarios) {
    into.set(
      s.id,
      pool.run(() => runScenario(target, s, workDir!)).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
    );
  }
}

beforeAll(async () => {
  const problems = await checkPrerequisites();
  if (problems.length) {
    setupError = new Error(`kernel-compare cannot run on this machine:\n  - ${problems.join('\n  - ')}`);
    return;
  }
  const stale = await cleanupStale();
  if (stale.length) console.warn(`kernel-compare: removed stale namespaces/devices of a crashed run: ${stale.join(', ')}`);
  workDir = await mkdtemp(join(tmpdir(), 'wtcp-kc-'));
  pool = new Pool(parallel);
  kernelTarget = new KernelTarget();
  startRuns(pool, kernelTarget, kernelRuns);
  if (selfCheck) startRuns(pool, kernelTarget, kernelRuns2);
  // The stack target is imported dynamically: if src/stack.ts is not there (or does not load), the
  // comparison tests fail with this reason and the kernel-only tests still run.
  stackLoad = import('../kernel/stack-target.js').then(
    (m) => {
      const t = new m.StackTarget();
      startRuns(pool!, t, stackRuns);
      return t;
    },
    (e: unknown) =>
      new Error(
        `the stack target cannot be loaded (src/stack.ts with Stack, src/links/tap.ts with TapLink): ${
          e instanceof Error ? e.message : String(e)
        }`,
      ),
  );
  await stackLoad;
}, 120_000);

afterAll(async () => {
  // wait for runs still in flight (a test that timed out), then make sure nothing is left running
  const all = [...kernelRuns.values(), ...stackRuns.values(), ...kernelRuns2.values()];
  await Promise.race([Promise.allSettled(all), new Promise((r) => setTimeout(r, 60_000))]);
  await stopAllChildren();
  const leftover = await cleanupOwn();
  if (leftover.length) console.warn(`kernel-compare: removed namespaces/devices a run left behind: ${leftover.join(', ')}`);
  if (process.env.WTCP_KC_REPORT) {
    const lines: string[] = [];
    for (const s of scenarios) {
      for (const [label, m] of [['kernel', kernelRuns], ['stack', stackRuns]] as const) {
        const r = await m.get(s.id);
        if (!r) continue;
        if (r instanceof Error) lines.push(`  ${s.id} [${label}]: ERROR ${r.message}`);
        else {
          const lag = r.diagnostics.eventLoopDelayMs ? `, event-loop delay ${JSON.stringify(r.diagnostics.eventLoopDelayMs)}` : '';
          lines.push(`  ${s.id} [${label}] (${(r.durationMs / 1000).toFixed(1)} s${lag}):`, ...summariseRun(r));
        }
      }
    }
    console.log(`kernel-compare per-connection table (rank, client port, outcome, server segments @ms):\n${lines.join('\n')}`);
  }
  if (workDir) {
    if (failures === 0 && !process.env.WTCP_KC_KEEP) await rm(workDir, { recursive: true, force: true });
    else console.warn(`kernel-compare: captures kept in ${workDir}`);
  }
}, 180_000);

async function kernelRun(s: Scenario): Promise<ScenarioRun> {
  if (setupError) throw setupError;
  const r = await kernelRuns.get(s.id);
  if (!r) throw new Error(`no kernel run was started for ${s.id}`);
  if (r instanceof Error) throw r;
  return r;
}

/** A fresh run of `s` on `target` (a retry). */
function rerun(target: Target, s: Scenario): Promise<ScenarioRun> {
  return pool!.run(() => runScenario(target, s, workDir!));
}

async function stackRun(s: Scenario): Promise<ScenarioRun> {
  if (setupError) throw setupError;
  const t = await stackLoad;
  if (!t) throw new Error('the stack target was never loaded');
  if (t instanceof Error) throw t;
  const r = await stackRuns.get(s.id);
  if (!r) throw new Error(`no stack run was started for ${s.id}`);
  if (r instanceof Error) throw r;
  return r;
}

function describeScenario(s: Scenario): string {
  return `${s.id}: backlog ${s.backlog}, ${s.mode}${s.prefill ? ` (1 then a burst)` : ''}, abort_on_overflow ${s.abortOnOverflow}, ${s.clients} clients => ${expectLinux613(s).join(' ')}`;
}

describe("listen queues on this machine's kernel (checked against the Linux 6.13+ rules)", () => {
  it('has root, network namespaces, ip, tcpdump and python3', () => {
    if (setupError) throw setupError;
    expect(scenarios.length).toBeGreaterThan(0);
  });

  for (const s of scenarios) {
    it(
      describeScenario(s),
      async () => {
        try {
          let run = await kernelRun(s);
          for (let attempt = 0; ; attempt++) {
            const problems = checkKernelRun(run);
            const stalls = disturbances(run);
            if (problems.length === 0 || stalls.length === 0 || attempt >= MAX_RETRIES) {
              const note = attempt ? ` (attempt ${attempt + 1}; earlier attempts ran during host stalls)` : '';
              const stallNote = stalls.length ? `\nhost stalls during this run: ${stalls.join('; ')}` : '';
              expect(
                problems,
                `the kernel did not behave as listen-behaviour.md says${note}:\n${problems.join('\n')}${stallNote}`,
              ).toEqual([]);
              break;
            }
            console.warn(
              `kernel-compare: ${s.id}: the kernel run failed its checks (${problems[0]}) during host stalls (${stalls.join('; ')}); running it again`,
            );
            run = await rerun(kernelTarget!, s);
          }
          kernelAccepted.set(s.id, run);
        } catch (e) {
          failures++;
          throw e;
        }
      },
      TEST_TIMEOUT,
    );
  }
});

describe('wtcp linux-6.13 vs this kernel: per-connection outcomes and server segments agree', () => {
  for (const s of scenarios) {
    it(
      describeScenario(s),
      async () => {
        try {
          let [k, st] = await Promise.all([kernelRun(s), stackRun(s)]);
          k = kernelAccepted.get(s.id) ?? k;
          const stack = (await stackLoad) as Target;
          for (let attempt = 0; ; attempt++) {
            const d = compareRuns(k, st);
            const stalls = [...disturbances(k), ...disturbances(st)];
            if (d.equal || stalls.length === 0 || attempt >= MAX_RETRIES) {
              const note = attempt ? `\n(attempt ${attempt + 1}: earlier attempts differed during host stalls)` : '';
              expect(d.equal, formatRunDiff(d, k, st) + note).toBe(true);
              break;
            }
            console.warn(
              `kernel-compare: ${s.id}: kernel and stack differed (${shortDiff(d)}) during host stalls (${stalls.join('; ')}); running the disturbed side again`,
            );
            const [k2, st2] = await Promise.all([
              disturbances(k).length ? rerun(kernelTarget!, s) : k,
              disturbances(st).length ? rerun(stack, s) : st,
            ]);
            k = k2;
            st = st2;
          }
        } catch (e) {
          failures++;
          throw e;
        }
      },
      TEST_TIMEOUT,
    );
  }
});

if (selfCheck) {
  describe('harness self-check: two kernel runs of each scenario agree by the comparison rules', () => {
    for (const s of scenarios) {
      it(
        s.id,
        async () => {
          try {
            const a = await kernelRun(s);
            const b = await kernelRuns2.get(s.id);
            if (!b) throw new Error(`no second kernel run for ${s.id}`);
            if (b instanceof Error) throw b;
            const d = compareRuns(a, b);
            const stalls = [...disturbances(a), ...disturbances(b)];
            expect(d.equal, formatRunDiff(d, a, b) + (stalls.length ? `\nhost stalls: ${stalls.join('; ')}` : '')).toBe(true);
          } catch (e) {
            failures++;
            throw e;
          }
        },
        TEST_TIMEOUT,
      );
    }
  });
}
