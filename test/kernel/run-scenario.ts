/**
 * Runs one scenario against one target: the same clients and the same capture for both targets, only
 * the server side differs.
 *
 * Owns: the run sequence (target setup -> tcpdump in the client namespace -> clients -> wait for
 * their report -> stop capture -> diagnostics -> teardown, teardown always) and the per-connection
 * result that compare.ts and the kernel checks read.
 * Called by: the test file, with a Target from kernel-target.ts or stack-target.ts.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPcapFile } from '../helpers/pcap.js';
import { burstIsClean, splitConnections, synRanks, type ConnectionCapture } from './analyse.js';
import { Capture } from './capture.js';
import { spawnInNs, type Child } from './netns.js';
import { TIMING, type Scenario } from './scenarios.js';

export const CLIENT_SCRIPT = fileURLToPath(new URL('./clients.mjs', import.meta.url));

/** The server side of one run, set up by a target. */
export interface ServerSide {
  /** namespace the clients run in, and the interface there that leads to the server */
  cliNs: string;
  clientIface: string;
  clientIp: string;
  serverIp: string;
  serverPort: number;
  /** what the run really used (sysctls read back, presets), recorded in the result */
  settings: Record<string, unknown>;
  /** called after the clients reported and the capture stopped, before teardown */
  diagnostics(): Promise<Record<string, unknown>>;
  /** removes everything the setup made; never throws */
  teardown(): Promise<void>;
}

export interface Target {
  readonly name: 'kernel' | 'stack';
  /** `dir` is a private temp dir for this run */
  setup(scenario: Scenario, dir: string): Promise<ServerSide>;
}

/** What clients.mjs prints per connection. */
export interface ClientReport {
  index: number;
  localPort: number;
  outcome: 'established' | 'timeout' | 'refused' | 'reset' | 'error' | 'pending';
  connectMs: number;
  startMs: number;
  connectError?: string;
  errorAfterWrite?: string;
  errorMs?: number;
  bytesReceived?: number;
  peerFinMs?: number;
}

export interface ConnectionResult {
  index: number;
  localPort: number;
  /** order of this connection's first SYN in the capture (0 = first) */
  rank: number;
  report: ClientReport;
  capture: ConnectionCapture;
  /** ms after this connection's first SYN at which the clients reported: segments later are not kept */
  horizonMs: number;
  /** server segments captured after the horizon (dropped from capture.server) */
  lateServerSegments: number;
}

export interface ScenarioRun {
  target: 'kernel' | 'stack';
  scenario: Scenario;
  /** sorted by rank */
  connections: ConnectionResult[];
  /** concurrent/prefilled: did every burst SYN precede the first server reply to the burst? */
  burst: { clean: boolean; detail: string } | null;
  settings: Record<string, unknown>;
  diagnostics: Record<string, unknown>;
  pcapPath: string;
  durationMs: number;
  clientStderr: string;
  /**
   * Stalls the host imposed on the user-space parts of the run (ms; all measured, none inferred):
   * the client process's worst event-loop delay, how late the delay element (relay.py / DelayLink)
   * released a frame at worst, and for the stack the worst event-loop delay of the process running it.
   */
  disturbance: { clientLoopMs: number; delayLateMs: number; stackLoopMs: number };
}

/** A run is disturbed if any user-space part of it stalled for longer than this (ms). */
export const DISTURBANCE_THRESHOLD_MS = 50;

/** The stalls of a run that exceed DISTURBANCE_THRESHOLD_MS, as text; empty if none. */
export function disturbances(run: ScenarioRun): string[] {
  const d = run.disturbance;
  const out: string[] = [];
  if (d.clientLoopMs > DISTURBANCE_THRESHOLD_MS) out.push(`client event loop stalled ${d.clientLoopMs} ms`);
  if (d.delayLateMs > DISTURBANCE_THRESHOLD_MS) out.push(`delay line released a frame ${d.delayLateMs} ms late`);
  if (d.stackLoopMs > DISTURBANCE_THRESHOLD_MS) out.push(`the stack's event loop stalled ${d.stackLoopMs} ms`);
  return out.map((x) => `${run.target} ${run.scenario.id}: ${x}`);
}

export async function runScenario(target: Target, scenario: Scenario, workDir: string): Promise<ScenarioRun> {
  const started = Date.now();
  const dir = join(workDir, `${target.name}-${scenario.id}`);
  await mkdir(dir, { recursive: true });
  const pcapPath = join(dir, 'client-side.pcap');
  let side: ServerSide | undefined;
  let capture: Capture | undefined;
  let client: Child | undefined;
  let diagnostics: Record<string, unknown> = {};
  let lines: string[] = [];
  let clientStderr = '';
  try {
    side = await target.setup(scenario, dir);
    capture = await Capture.start(side.cliNs, side.clientIface, pcapPath);
    const cfg = {
      host: side.serverIp,
      port: side.serverPort,
      localAddress: side.clientIp,
      basePort: TIMING.clientBasePort,
      count: scenario.clients,
      mode: scenario.mode,
      prefill: scenario.prefill,
      connectTimeoutMs: TIMING.connectTimeoutMs,
      settleMs: TIMING.settleMs,
      payload: TIMING.payload,
    };
    client = spawnInNs(`clients(${scenario.id}@${target.name})`, side.cliNs, process.execPath, [
      CLIENT_SCRIPT,
      JSON.stringify(cfg),
    ]);
    const budget = scenario.clients * (TIMING.connectTimeoutMs + 500) + TIMING.settleMs + 15_000;
    const c = client;
    await c.waitForLine('the clients report', (l) => l.includes('"done":true') || l.includes('"fatal"'), budget);
    const fatal = c.lines.find((l) => l.includes('"fatal"'));
    if (fatal) throw new Error(`clients failed: ${fatal}`);
    await capture.stop();
    capture = undefined;
    diagnostics = await side.diagnostics();
    lines = [...c.lines];
    clientStderr = c.stderr;
  } catch (e) {
    const err = e as Error;
    err.message = `[${target.name} ${scenario.id}] ${err.message}`;
    throw err;
  } finally {
    await client?.stop('SIGTERM', 2000);
    await capture?.stop();
    await side?.teardown();
  }

  const reports: ClientReport[] = [];
  let doneAt = Date.now();
  let clientLoopMs = 0;
  for (const l of lines) {
    const o = JSON.parse(l) as ClientReport & { done?: boolean; doneAtEpochMs?: number; eventLoopDelayMaxMs?: number };
    if (o.done) {
      doneAt = o.doneAtEpochMs ?? doneAt;
      clientLoopMs = o.eventLoopDelayMaxMs ?? 0;
    } else reports.push(o);
  }
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const loop = diagnostics.eventLoopDelayMs as { max?: number } | undefined;
  const disturbance = {
    clientLoopMs,
    delayLateMs: num(diagnostics.delayMaxLateMs),
    stackLoopMs: num(loop?.max),
  };
  const pcap = readPcapFile(pcapPath);
  const caps = splitConnections(
    pcap,
    side.clientIp,
    side.serverIp,
    side.serverPort,
    reports.map((r) => r.localPort),
  );
  const ranks = synRanks([...caps.values()]);
  const connections: ConnectionResult[] = reports.map((report) => {
    const capture = caps.get(report.localPort)!;
    const horizonMs = capture.firstSynEpochMs === undefined ? 0 : doneAt - capture.firstSynEpochMs;
    const kept = capture.server.filter((s) => s.t <= horizonMs);
    const late = capture.server.length - kept.length;
    capture.server = kept;
    capture.client = capture.client.filter((s) => s.t <= horizonMs);
    return {
      index: report.index,
      localPort: report.localPort,
      rank: ranks.get(report.localPort) ?? report.index,
      report,
      capture,
      horizonMs: Math.round(horizonMs),
      lateServerSegments: late,
    };
  });
  connections.sort((a, b) => a.rank - b.rank);
  const burstConns = connections.filter((c) => scenario.mode !== 'sequential' && c.index >= scenario.prefill);
  return {
    target: target.name,
    scenario,
    connections,
    burst: burstConns.length ? burstIsClean(burstConns.map((c) => c.capture)) : null,
    settings: side.settings,
    diagnostics,
    pcapPath,
    durationMs: Date.now() - started,
    clientStderr,
    disturbance,
  };
}

/** A small counting semaphore: runs at most `limit` tasks at once. */
export class Pool {
  #active = 0;
  #queue: Array<() => void> = [];
  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((r) => this.#queue.push(r));
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
    }
  }
}
