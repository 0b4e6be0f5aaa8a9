/**
 * The listen-queue scenarios of the kernel-comparison harness, and what Linux 6.13+ must do in each.
 *
 * Owns: the scenario matrix (backlog x mode x tcp_abort_on_overflow), the harness timing constants,
 * the sysctls every run sets, and `expectLinux613`: a per-connection prediction derived from
 * docs listen-behaviour.md §2.3-2.9 (6.13+ column of §2.13), used to check the real kernel side on
 * its own so that the harness is validated independently of the stack.
 * Called by: the test file, run-scenario.ts, kernel-target.ts, stack-target.ts.
 */

export type Mode = 'sequential' | 'concurrent' | 'prefilled';

export interface Scenario {
  /** e.g. "seq-b1-abort0" */
  id: string;
  backlog: number;
  mode: Mode;
  /** net.ipv4.tcp_abort_on_overflow */
  abortOnOverflow: 0 | 1;
  /** number of client connections */
  clients: number;
  /** prefilled mode: connections made one by one before the concurrent burst */
  prefill: number;
}

/** Harness timing (milliseconds). */
export const TIMING = {
  /**
   * One-way client->server delay (relay.py for the kernel, DelayLink for the stack). It must exceed
   * the time the client needs to issue a burst of connects, so that in concurrent bursts every SYN
   * reaches the server before any third ACK (checked on every run: see analyse.ts burstIsClean).
   */
  delayMs: 100,
  /** a connect that has not succeeded by then is abandoned (close() in SYN-SENT sends nothing) */
  connectTimeoutMs: 2000,
  /**
   * observation time after the last connect settled: long enough for the SYN-ACK retransmissions at
   * 1 s and 3 s (not the one at 7 s)
   */
  settleMs: 4000,
  /** port the listener uses on both targets */
  serverPort: 8080,
  /** client i binds basePort + i */
  clientBasePort: 41000,
  /** bytes each established client writes at once */
  payload: 'wtcp-kc\n',
} as const;

/**
 * Time tolerance for comparing two segment times t (ms after the connection's first SYN): Linux's
 * timer-wheel rounding makes later SYN-ACK retransmissions drift late by up to ~1/8 of the interval
 * (listen-behaviour.md, "Observed on ... Linux 6.18.44" item 5).
 */
export function timeTolerance(tMs: number): number {
  return 150 + 0.15 * Math.abs(tMs);
}

/**
 * Sysctls of the server side. The kernel target sets them in its server namespace; the stack gets
 * the ones it models. Defaults are written out so that a changed host default cannot change a run.
 */
export function serverSysctls(s: Scenario): Record<string, number> {
  return {
    'net.ipv4.tcp_abort_on_overflow': s.abortOnOverflow,
    'net.ipv4.tcp_syncookies': 1,
    'net.ipv4.tcp_synack_retries': 5,
  };
}

/** Extra server-namespace sysctls for the kernel target only (the stack has no such knobs). */
export const KERNEL_SERVER_EXTRA_SYSCTLS: Record<string, number> = {
  'net.core.somaxconn': 4096,
  'net.ipv4.tcp_timestamps': 1,
  'net.ipv4.tcp_sack': 1,
  'net.ipv4.tcp_window_scaling': 1,
  'net.ipv4.tcp_ecn': 2,
  'net.ipv4.tcp_no_metrics_save': 1,
  'net.ipv4.tcp_invalid_ratelimit': 500,
};

/**
 * Client-namespace sysctls, identical for both targets: the client kernel's behaviour (SYN
 * retransmission schedule, options offered) must not differ between the runs being compared.
 * Keys missing on the running kernel are skipped (recorded in the result).
 */
export const CLIENT_SYSCTLS: Record<string, number> = {
  'net.ipv4.tcp_syn_retries': 6,
  'net.ipv4.tcp_syn_linear_timeouts': 4,
  'net.ipv4.tcp_timestamps': 1,
  'net.ipv4.tcp_sack': 1,
  'net.ipv4.tcp_window_scaling': 1,
  'net.ipv4.tcp_ecn': 2,
  'net.ipv4.tcp_fastopen': 0,
  'net.ipv4.tcp_no_metrics_save': 1,
};

export const BACKLOGS = [0, 1, 3] as const;
export const MODES: readonly Mode[] = ['sequential', 'concurrent', 'prefilled'];
const MODE_TAG: Record<Mode, string> = { sequential: 'seq', concurrent: 'conc', prefilled: 'pre' };

/**
 * backlog x mode x abort. Each scenario has backlog + 3 clients: enough to overflow the Linux accept
 * queue (b + 1 entries) by two. Prefilled mode makes one connection first, then a burst: that is the
 * one shape in which a third ACK (not a SYN) meets a full accept queue for a non-cookie request, so
 * it is where tcp_abort_on_overflow shows.
 */
export function scenarioMatrix(): Scenario[] {
  const out: Scenario[] = [];
  for (const mode of MODES) {
    for (const backlog of BACKLOGS) {
      for (const abortOnOverflow of [0, 1] as const) {
        out.push({
          id: `${MODE_TAG[mode]}-b${backlog}-abort${abortOnOverflow}`,
          backlog,
          mode,
          abortOnOverflow,
          clients: backlog + 3,
          prefill: mode === 'prefilled' ? 1 : 0,
        });
      }
    }
  }
  return out;
}

/**
 * What Linux 6.13+ does with one connection, from the server's point of view:
 * - accepted: normal SYN-ACK, third ACK puts the child in the accept queue, the data is ACKed;
 * - syn-dropped: the accept queue was full when its SYNs came (§2.4 step 2): nothing is sent, the
 *   client's connect() times out;
 * - cookie-overflow: the SYN queue was full (qlen > backlog, §2.3 6.13+), so a syncookie SYN-ACK;
 *   its ACK found the accept queue full: silently dropped whatever tcp_abort_on_overflow says (§2.7),
 *   and so are the data segments (each re-validates the cookie and overflows again). The client
 *   believes it is connected; the server sends nothing after the SYN-ACK (no retransmission);
 * - request-overflow-keep: a real request whose third ACK met a full accept queue with
 *   tcp_abort_on_overflow=0 (§2.7): ACK dropped, request kept, SYN-ACK retransmitted at 1 s, 3 s, ...;
 * - request-overflow-reset: the same with tcp_abort_on_overflow=1: RST <SEQ=ISS+1> to the third ACK
 *   (and another to the data that was already on its way): the client gets ECONNRESET.
 */
export type Fate = 'accepted' | 'syn-dropped' | 'cookie-overflow' | 'request-overflow-keep' | 'request-overflow-reset';

/**
 * Fates by SYN arrival rank. With the client->server delay, a burst's SYNs all arrive (in order)
 * before any third ACK, and the third ACKs arrive in the same order.
 */
export function expectLinux613(s: Scenario): Fate[] {
  const b = s.backlog;
  const fates: Fate[] = [];
  if (s.mode === 'sequential') {
    // each handshake completes before the next SYN: b + 1 fit (ack_backlog > b is "full")
    for (let r = 0; r < s.clients; r++) fates.push(r <= b ? 'accepted' : 'syn-dropped');
    return fates;
  }
  let acceptq = 0;
  // prefill: sequential, all accepted while they fit
  for (let r = 0; r < s.prefill; r++) {
    if (acceptq > b) fates.push('syn-dropped');
    else {
      fates.push('accepted');
      acceptq++;
    }
  }
  // burst: every SYN first
  type Kind = 'request' | 'cookie' | 'dropped';
  const kinds: Kind[] = [];
  let qlen = 0;
  for (let r = s.prefill; r < s.clients; r++) {
    if (acceptq > b) kinds.push('dropped'); // §2.4 step 2, checked before the SYN-queue test's outcome matters
    else if (qlen > b) kinds.push('cookie'); // 6.13+: qlen > backlog is full; syncookies=1 => cookie
    else {
      kinds.push('request');
      qlen++;
    }
  }
  // then the third ACKs, in the same order
  for (const k of kinds) {
    if (k === 'dropped') fates.push('syn-dropped');
    else if (acceptq > b) {
      fates.push(k === 'cookie' ? 'cookie-overflow' : s.abortOnOverflow ? 'request-overflow-reset' : 'request-overflow-keep');
    } else {
      fates.push('accepted');
      acceptq++;
    }
  }
  return fates;
}
