/**
 * Checks a real-kernel run against the Linux 6.13+ rules of listen-behaviour.md, so that the harness
 * (topology, relay, clients, capture, analysis) is validated independently of the stack: if these
 * fail, the harness or the host is wrong, not the stack.
 *
 * Owns: the segment pattern each Fate (scenarios.ts) must produce on the wire.
 * Called by: the test file.
 */
import { TCPOPT_MSS, TCPOPT_SACK_PERM, TCPOPT_TIMESTAMP, TCPOPT_WSCALE } from '../helpers/pcap.js';
import { formatSegment, type NormSegment } from './analyse.js';
import { errorClass } from './compare.js';
import type { ConnectionResult, ScenarioRun } from './run-scenario.js';
import { TIMING, expectLinux613, timeTolerance, type Fate } from './scenarios.js';

/** The client offers MSS, SACK-permitted, timestamps and window scaling; a normal SYN-ACK echoes all four. */
const FULL_SYNACK_OPTIONS = [TCPOPT_MSS, TCPOPT_WSCALE, TCPOPT_SACK_PERM, TCPOPT_TIMESTAMP];

function isSynAck(s: NormSegment | undefined): boolean {
  return (
    s !== undefined &&
    s.flags === 'S.' &&
    s.seq === 0 &&
    s.ack === 1 &&
    s.len === 0 &&
    s.optionKinds.join() === FULL_SYNACK_OPTIONS.join()
  );
}

function near(t: number, nominal: number): boolean {
  return Math.abs(t - nominal) <= timeTolerance(nominal);
}

function checkConnection(c: ConnectionResult, fate: Fate): string[] {
  const p: string[] = [];
  const r = c.report;
  const segs = c.capture.server;
  const D = TIMING.delayMs;
  const payload = TIMING.payload.length;
  const want = (cond: boolean, msg: string): void => {
    if (!cond) p.push(msg);
  };
  const established = r.outcome === 'established';
  switch (fate) {
    case 'accepted':
      want(established && errorClass(r.errorAfterWrite) === 'none', `expected established without error, got ${r.outcome}/${r.errorAfterWrite ?? '-'}`);
      want(segs.length === 2, `expected 2 server segments (SYN-ACK, ACK of the data), got ${segs.length}`);
      want(isSynAck(segs[0]), 'first server segment is not a full SYN-ACK seq 0 ack 1');
      want(segs[0] !== undefined && near(segs[0].t, D), `SYN-ACK at ${segs[0]?.t} ms, expected ~${D} ms`);
      want(
        segs[1] !== undefined && segs[1].flags === '.' && segs[1].seq === 1 && segs[1].ack === 1 + payload && segs[1].len === 0,
        `second server segment is not the ACK of the ${payload} data bytes`,
      );
      break;
    case 'syn-dropped':
      want(r.outcome === 'timeout', `expected the connect to time out, got ${r.outcome}`);
      want(segs.length === 0, `expected no server segment, got ${segs.length}`);
      break;
    case 'cookie-overflow':
      want(established && errorClass(r.errorAfterWrite) === 'none', `expected established without error, got ${r.outcome}/${r.errorAfterWrite ?? '-'}`);
      want(segs.length === 1, `expected exactly one server segment (the cookie SYN-ACK, never retransmitted), got ${segs.length}`);
      want(segs[0]?.flags === 'S.' && segs[0].seq === 0 && segs[0].ack === 1, 'the server segment is not a SYN-ACK');
      // with timestamps in the SYN a cookie SYN-ACK keeps WS and SACK-perm (encoded in TSval, §2.9)
      want(isSynAck(segs[0]), 'the cookie SYN-ACK lacks options the client offered');
      break;
    case 'request-overflow-keep': {
      want(established && errorClass(r.errorAfterWrite) === 'none', `expected established without error, got ${r.outcome}/${r.errorAfterWrite ?? '-'}`);
      want(segs.length > 0 && segs.every((s) => isSynAck(s)), 'expected only SYN-ACKs (seq 0 ack 1, full options) from the server');
      // SYN-ACK at 0, then retransmissions 1 s and 3 s later (tcp_synack_retries schedule, §2.8)
      const nominal = [D, D + 1000, D + 3000, D + 7000].filter((t) => t + timeTolerance(t) < c.horizonMs);
      want(segs.length >= nominal.length && segs.length <= nominal.length + 1, `expected ${nominal.length} SYN-ACKs within ${c.horizonMs} ms, got ${segs.length}`);
      nominal.forEach((t, i) => want(segs[i] !== undefined && near(segs[i]!.t, t), `SYN-ACK #${i} at ${segs[i]?.t} ms, expected ~${t} ms`));
      break;
    }
    case 'request-overflow-reset':
      want(established && errorClass(r.errorAfterWrite) === 'reset', `expected established then ECONNRESET, got ${r.outcome}/${r.errorAfterWrite ?? '-'}`);
      want(isSynAck(segs[0]), 'first server segment is not a full SYN-ACK');
      want(segs.length >= 2, 'expected a RST after the SYN-ACK');
      // RST <SEQ=SEG.ACK> to the third ACK (§2.7), no ACK flag; later RSTs answer data already in flight
      want(segs.slice(1).every((s) => s.flags === 'R' && s.seq === 1 && s.ack === null), 'expected only RST seq 1 (no ACK) after the SYN-ACK');
      want(segs[1] !== undefined && near(segs[1].t, 2 * D), `first RST at ${segs[1]?.t} ms, expected ~${2 * D} ms`);
      break;
  }
  return p.map((m) => `rank ${c.rank} (port ${c.localPort}, ${fate}): ${m}`);
}

/** Problems (empty = the kernel behaved as the spec says for Linux 6.13+). */
export function checkKernelRun(run: ScenarioRun): string[] {
  const problems: string[] = [];
  if (run.burst && !run.burst.clean) problems.push(`burst not clean: ${run.burst.detail}`);
  const fates = expectLinux613(run.scenario);
  if (run.connections.length !== fates.length) {
    problems.push(`expected ${fates.length} connections, got ${run.connections.length}`);
  }
  run.connections.forEach((c, i) => {
    const f = fates[i];
    if (f) problems.push(...checkConnection(c, f));
  });
  const counters = (run.diagnostics.counters ?? {}) as Record<string, number>;
  const cookies = fates.filter((f) => f === 'cookie-overflow').length;
  if (counters.TcpExtSyncookiesSent !== undefined && counters.TcpExtSyncookiesSent !== cookies) {
    problems.push(`TcpExtSyncookiesSent = ${counters.TcpExtSyncookiesSent}, expected ${cookies}`);
  }
  if (problems.length) {
    const detail = run.connections.map(
      (c) => `  rank ${c.rank} :${c.localPort} ${c.report.outcome}${c.report.errorAfterWrite ? '/' + c.report.errorAfterWrite : ''}: ` +
        (c.capture.server.map((x) => formatSegment(x)).join('; ') || '(no server segment)'),
    );
    problems.push(`kernel run ${run.scenario.id} (capture ${run.pcapPath}):\n${detail.join('\n')}\n  counters ${JSON.stringify(counters)}`);
  }
  return problems;
}
