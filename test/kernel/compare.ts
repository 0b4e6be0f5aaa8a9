/**
 * Kernel run vs stack run of one scenario: per-connection outcomes and the segments the server sent.
 *
 * Owns: the comparison rules and the readable diff.
 * - Connections are paired by SYN arrival rank, in every mode. In sequential mode that is the
 *   client's order. In burst modes the client->server delay makes arrival order = send order and
 *   puts every SYN before any third ACK, so the rank decides each connection's fate exactly: pairing
 *   by rank is stricter than comparing outcome multisets, and just as race-free (a run whose burst
 *   was not clean is reported as a harness problem, not compared).
 * - Outcomes: the client's connect outcome, and whether an error (ECONNRESET/EPIPE, one class: which
 *   of the two a client sees depends only on whether it wrote before the RST came) followed.
 * - Server segments: flags, seq/ack relative to the ISNs, payload length and the set of option kinds
 *   must be equal, in order; times (ms after the connection's first SYN) within timeTolerance.
 *   Segments closer to the end of observation than the tolerance may be present in one run only.
 * Called by: the test file.
 */
import { formatSegment, type NormSegment } from './analyse.js';
import { DISTURBANCE_THRESHOLD_MS, type ConnectionResult, type ScenarioRun } from './run-scenario.js';
import { timeTolerance } from './scenarios.js';

export function errorClass(code: string | undefined): string {
  if (code === undefined) return 'none';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  return code;
}

export function sameShape(a: NormSegment, b: NormSegment): boolean {
  return (
    a.flags === b.flags &&
    a.seq === b.seq &&
    a.ack === b.ack &&
    a.len === b.len &&
    a.optionKinds.length === b.optionKinds.length &&
    a.optionKinds.every((k, i) => k === b.optionKinds[i])
  );
}

export function sameTime(a: NormSegment, b: NormSegment): boolean {
  return Math.abs(a.t - b.t) <= timeTolerance(Math.max(a.t, b.t));
}

/** Number of leading segments that lie certainly inside the horizon (not within tolerance of it). */
function certainPrefix(list: NormSegment[], horizon: number): number {
  let n = 0;
  while (n < list.length && list[n]!.t < horizon - timeTolerance(list[n]!.t)) n++;
  return n;
}

export interface SegmentDiff {
  equal: boolean;
  /** index of the first bad row, if any */
  firstBad: number;
  rows: Array<{ k?: NormSegment; s?: NormSegment; bad: boolean; why?: string }>;
}

export function compareSegments(k: NormSegment[], s: NormSegment[], horizon: number): SegmentDiff {
  const must = Math.max(certainPrefix(k, horizon), certainPrefix(s, horizon));
  const rows: SegmentDiff['rows'] = [];
  let firstBad = -1;
  const n = Math.max(k.length, s.length);
  for (let i = 0; i < n; i++) {
    const a = k[i];
    const b = s[i];
    let bad = false;
    let why: string | undefined;
    if (a && b) {
      if (!sameShape(a, b)) {
        bad = true;
        why = 'different segment';
      } else if (!sameTime(a, b)) {
        bad = true;
        why = `time differs by ${Math.abs(a.t - b.t).toFixed(1)} ms (tolerance ${timeTolerance(Math.max(a.t, b.t)).toFixed(0)} ms)`;
      }
    } else if (i < must) {
      bad = true;
      why = a ? 'missing from the stack' : 'not sent by the kernel';
    } else {
      why = 'near the end of observation: not compared';
    }
    if (bad && firstBad < 0) firstBad = i;
    const row: SegmentDiff['rows'][number] = { bad };
    if (a) row.k = a;
    if (b) row.s = b;
    if (why) row.why = why;
    rows.push(row);
  }
  return { equal: firstBad < 0, firstBad, rows };
}

export interface ConnectionDiff {
  rank: number;
  outcomeEqual: boolean;
  segments: SegmentDiff;
  kernel: ConnectionResult;
  stack: ConnectionResult;
}

export interface RunDiff {
  scenario: string;
  equal: boolean;
  /** harness-level problems (a burst that was not clean, connection counts) */
  problems: string[];
  connections: ConnectionDiff[];
}

function outcomeText(c: ConnectionResult): string {
  const r = c.report;
  const after = r.errorAfterWrite ? ` then ${r.errorAfterWrite} after ${r.errorMs} ms` : '';
  return `${r.outcome}${r.connectError ? ` (${r.connectError})` : ''}${after}`;
}

export function compareRuns(kernel: ScenarioRun, stack: ScenarioRun): RunDiff {
  const problems: string[] = [];
  for (const r of [kernel, stack]) {
    if (r.burst && !r.burst.clean) {
      problems.push(`${r.target} run: the burst was not clean (${r.burst.detail}); the run cannot be compared`);
    }
  }
  if (kernel.connections.length !== stack.connections.length) {
    problems.push(`connection count: kernel ${kernel.connections.length}, stack ${stack.connections.length}`);
  }
  const connections: ConnectionDiff[] = [];
  const n = Math.min(kernel.connections.length, stack.connections.length);
  for (let i = 0; i < n; i++) {
    const k = kernel.connections[i]!;
    const s = stack.connections[i]!;
    const outcomeEqual =
      k.report.outcome === s.report.outcome && errorClass(k.report.errorAfterWrite) === errorClass(s.report.errorAfterWrite);
    const horizon = Math.min(k.horizonMs, s.horizonMs);
    connections.push({
      rank: i,
      outcomeEqual,
      segments: compareSegments(k.capture.server, s.capture.server, horizon),
      kernel: k,
      stack: s,
    });
  }
  const equal = problems.length === 0 && connections.every((c) => c.outcomeEqual && c.segments.equal);
  return { scenario: kernel.scenario.id, equal, problems, connections };
}

const COL = 80;

function nonZero(counters: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (counters && typeof counters === 'object') {
    for (const [k, v] of Object.entries(counters as Record<string, unknown>)) if (typeof v === 'number' && v !== 0) out[k] = v;
  }
  return out;
}
function pad(s: string, w: number): string {
  return s.length >= w ? s : s + ' '.repeat(w - s.length);
}

/** A readable report of a RunDiff: only the connections that differ, side by side. */
export function formatRunDiff(
  d: RunDiff,
  kernel: ScenarioRun,
  stack: ScenarioRun,
  labels: [string, string] = ['kernel', stack.target === 'stack' ? 'stack' : `${stack.target} (2nd run)`],
): string {
  const out: string[] = [];
  const sc = kernel.scenario;
  const [L, R] = labels;
  out.push(
    `=== scenario ${sc.id}: backlog ${sc.backlog}, ${sc.mode}${sc.prefill ? ` (prefill ${sc.prefill})` : ''}, ` +
      `tcp_abort_on_overflow=${sc.abortOnOverflow}, ${sc.clients} clients — ${L} vs ${R} DIFFER`,
  );
  for (const p of d.problems) out.push(`  ! ${p}`);
  for (const c of d.connections) {
    if (c.outcomeEqual && c.segments.equal) continue;
    out.push(
      `  connection rank ${c.rank} (client port ${L} ${c.kernel.localPort} / ${R} ${c.stack.localPort}, ` +
        `observed ${Math.min(c.kernel.horizonMs, c.stack.horizonMs)} ms):`,
    );
    out.push(`    outcome: ${L} ${outcomeText(c.kernel)} | ${R} ${outcomeText(c.stack)}${c.outcomeEqual ? '' : '   <-- differs'}`);
    out.push(`    server segments (time after the client's first SYN; tolerance 150 ms + 15 %; win/mss/ws shown, not compared):`);
    out.push(`       ${pad(L, COL)} | ${R}`);
    if (c.segments.rows.length === 0) out.push(`       ${pad('(none)', COL)} | (none)`);
    c.segments.rows.forEach((row, i) => {
      out.push(
        `    ${row.bad ? '!' : ' '}${String(i).padStart(2)} ${pad(row.k ? formatSegment(row.k, true) : '-', COL)} | ${
          row.s ? formatSegment(row.s, true) : '-'
        }${row.bad || row.why?.startsWith('near') ? `   <-- ${row.why}` : ''}`,
      );
    });
    out.push(`    client sent (${L} run): ${c.kernel.capture.client.map((x) => formatSegment(x)).join('; ') || '(nothing)'}`);
    out.push(`    client sent (${R} run): ${c.stack.capture.client.map((x) => formatSegment(x)).join('; ') || '(nothing)'}`);
  }
  for (const [label, r] of [[L, kernel], [R, stack]] as const) {
    const listeners = r.diagnostics.listeners;
    out.push(`  ${label} listeners: ${typeof listeners === 'string' ? listeners.replace(/\n/g, ' / ') : JSON.stringify(listeners)}`);
    out.push(`  ${label} counters (non-zero): ${JSON.stringify(nonZero(r.diagnostics.counters))}`);
    if (r.diagnostics.eventLoopDelayMs) {
      out.push(`  ${label} event-loop delay of the process running the stack: ${JSON.stringify(r.diagnostics.eventLoopDelayMs)} ms`);
    }
  }
  out.push(
    `  host stalls (ms; runs over ${DISTURBANCE_THRESHOLD_MS} ms count as disturbed): ${L} ${JSON.stringify(kernel.disturbance)}, ${R} ${JSON.stringify(stack.disturbance)}`,
  );
  out.push(`  captures: ${kernel.pcapPath} , ${stack.pcapPath}`);
  return out.join('\n');
}

/** One line per connection: "r0 :41000 established  S.@100 .@101" — the reference table. */
export function summariseRun(r: ScenarioRun): string[] {
  return r.connections.map((c) => {
    const segs = c.capture.server
      .map((s) => `${s.flags}${s.seq !== 0 && s.flags !== 'S.' ? `(seq ${s.seq})` : ''}@${Math.round(s.t)}`)
      .join(' ');
    return `    r${c.rank} :${c.localPort} ${pad(outcomeText(c), 38)} ${segs || '(no segment)'}`;
  });
}

/** One line naming what differed first in each differing connection (for retry warnings). */
export function shortDiff(d: RunDiff): string {
  const parts = [...d.problems];
  for (const c of d.connections) {
    if (!c.outcomeEqual) parts.push(`rank ${c.rank}: outcome ${c.kernel.report.outcome}/${errorClass(c.kernel.report.errorAfterWrite)} vs ${c.stack.report.outcome}/${errorClass(c.stack.report.errorAfterWrite)}`);
    else if (!c.segments.equal) parts.push(`rank ${c.rank} segment ${c.segments.firstBad}: ${c.segments.rows[c.segments.firstBad]?.why ?? 'differs'}`);
  }
  return parts.join('; ');
}
