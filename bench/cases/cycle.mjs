// Target 1: server-side passive opens per second on one core, from pre-built frames.
// Variants measured in alternation in this process: the core cycle (FIN close), the core cycle with
// connAbort(), and the host-only loop over the same frames (copies + RFC 1624 patches, no core).
import { makeStack, counterDelta } from '../lib/wtcp.mjs';
import { buildRing, Cycle } from '../lib/cycle.mjs';
import { measurePaired } from '../lib/measure.mjs';

export async function run({ runs = 7, sampleMs = 200, B = 64, variants = null } = {}) {
  const ring = buildRing(16384);
  const sFin = await makeStack({ maxSyn: 4096, maxConn: 4096 });
  const sAbort = await makeStack({ maxSyn: 4096, maxConn: 4096 });
  const sTimers = await makeStack({ maxSyn: 4096, maxConn: 4096 });
  const fin = new Cycle(sFin, ring, { B, close: 'fin', clock: 'real' });
  const abort = new Cycle(sAbort, ring, { B, close: 'abort', clock: 'real' });
  const timers = new Cycle(sTimers, ring, { B, close: 'fin', clock: 'real', hostTimers: true });
  const host = new Cycle(sFin, ring, { B, close: 'fin', clock: 'real' });
  const c0 = sFin.counters(), a0 = sAbort.counters();
  const mem0 = [sFin.memorySize(), sAbort.memorySize()];
  // `variants` (e.g. ["fin"]) narrows the run for profiling (bench/profile.mjs); figures then lack the rest
  const all = [
    { name: 'fin', fn: (it) => fin.run(it) },
    { name: 'abort', fn: (it) => abort.run(it) },
    { name: 'timers', fn: (it) => timers.run(it) },
    { name: 'host', fn: (it) => host.run(it, false) },
  ];
  const res = measurePaired(variants ? all.filter((v) => variants.includes(v.name)) : all, { runs, sampleMs });
  if (variants) return { figures: [], checks: {}, rates: Object.fromEntries(Object.entries(res).map(([k, v]) => [k, v.rate])) };
  const dFin = counterDelta(c0, sFin.counters());
  const dAbort = counterDelta(a0, sAbort.counters());
  // consistency: every accepted connection was a real passive open, closed cleanly, no cookies, no RSTs
  const checks = {
    finPassiveOpensEqualsCycles: dFin.TcpPassiveOpens >= fin.cycles && dFin.TcpPassiveOpens - fin.cycles <= 2 * B,
    finNoRsts: !dFin.TcpOutRsts,
    finNoCookies: !dFin.TcpExtSyncookiesSent,
    finNoDrops: !dFin.TcpExtListenDrops && !dFin.WtcpNoMemory && !dFin.WtcpOutOverflow,
    finNoChecksumErrors: !dFin.TcpInCsumErrors && !dFin.TcpInErrs,
    abortRstsEqualCycles: dAbort.TcpOutRsts === abort.cycles,
    memoryFlat: sFin.memorySize() === mem0[0] && sAbort.memorySize() === mem0[1],
  };
  const framesPerCall = 4 * B;
  return {
    figures: [
      {
        id: 'passive_open_fin', title: `Passive opens, FIN close (SYN, SYN-ACK, ACK, accept, FIN, close, ACK; ${framesPerCall} frames/input())`,
        value: res.fin.rate, unit: 'conn/s', runs, samples: res.fin.samples,
        target: { text: '>= 1,000,000 conn/s', min: 1e6 },
        baselineRef: 'kernel_loopback',
        extra: { nsPerConn: 1e9 / res.fin.rate, hostOnlyNsPerConn: 1e9 / res.host.rate, hostShare: res.fin.rate / res.host.rate },
      },
      {
        id: 'passive_open_abort', title: 'Passive opens, connAbort() close (SYN, SYN-ACK, ACK, accept, RST)',
        value: res.abort.rate, unit: 'conn/s', runs, samples: res.abort.samples,
        target: { text: '>= 1,000,000 conn/s', min: 1e6 },
        baselineRef: 'kernel_loopback',
      },
      {
        id: 'passive_open_fin_nexttimer', title: 'Passive opens, FIN close, + 2 nextTimer() per batch (as src/stack.ts)',
        value: res.timers.rate, unit: 'conn/s', runs, samples: res.timers.samples,
        target: { text: '>= 1,000,000 conn/s', min: 1e6 },
        baselineRef: 'kernel_loopback',
      },
      {
        id: 'passive_open_host_only', title: 'Host-only loop over the same frames (copy + patch, no core)',
        value: res.host.rate, unit: 'conn/s', runs, samples: res.host.samples,
        baseline: null, note: 'the share of the cycle that is JS copy/patch work: see passive_open_fin.extra.hostShare',
      },
    ],
    checks, counters: { fin: dFin, abort: dAbort },
  };
}
