// Target 3b: queue operations are O(1). The passive-open cycle of cycle.mjs (FIN close, B = 64) is
// run on a listener that already holds N entries:
//  - kind 'accept':   N completed connections in its accept queue. The queue is FIFO, so each
//    accept() takes a connection completed N connections earlier (cold in cache) and the new ones
//    join at the tail; the queue stays at N.
//  - kind 'halfopen': N half-open connections in its SYN queue (SYNs never completed, from another
//    address range), beside the cycle's own insertions, lookups and removals.
// Each figure is paired with a reference measured in alternation in the same process: an instance
// with the same init sizes (same tables, same ring of client frames) but nothing queued, so the
// ratio isolates what occupancy costs. The clock is frozen in both (now = 1000 ms) so that the
// N half-open entries' SYN-ACK timers never fire during the measurement.
import { makeStack, counterDelta } from '../lib/wtcp.mjs';
import { buildRing, Cycle, fillHalfOpen } from '../lib/cycle.mjs';
import { measurePaired, nowS } from '../lib/measure.mjs';

export async function run({ kind = 'accept', N = 1000, runs = 7, sampleMs = 150, B = 64 } = {}) {
  const now0 = 1000;
  const t0 = nowS();
  const R = Math.max(16384, Math.ceil((kind === 'accept' ? N + 16 * B : 0) / B) * B);
  const ring = buildRing(R);
  const sizes = kind === 'accept'
    ? { maxSyn: 4096, maxConn: N + 16 * B + 64, backlog: N + 8192 }
    : { maxSyn: N + 4096, maxConn: 4096, backlog: N + 8192 };
  const sN = await makeStack({ ...sizes, now: now0 });
  const s0 = await makeStack({ ...sizes, now: now0 });
  const cN = new Cycle(sN, ring, { B, queued: kind === 'accept' ? N : 0, clock: 'frozen', now0 });
  const c0 = new Cycle(s0, ring, { B, queued: 0, clock: 'frozen', now0 });
  if (kind === 'accept') cN.prefill(); else fillHalfOpen(sN, N, now0);
  const setupS = nowS() - t0;
  const L = sN.listener;
  const before = { acceptq: sN.w.listenerGet(L, 1), synq: sN.w.listenerGet(L, 2) };
  const k0 = sN.counters();
  const mem = [sN.memorySize(), s0.memorySize()];
  const res = measurePaired([
    { name: 'queued', fn: (it) => cN.run(it) },
    { name: 'empty', fn: (it) => c0.run(it) },
  ], { runs, sampleMs });
  // nextTimer(): what the host (src/stack.ts #service / #armTimer) asks after every batch. With the
  // clock frozen, every armed SYN-ACK timer of the N half-open entries is in one 8-ms wheel slot.
  let nextTimer = null;
  if (kind === 'halfopen') {
    const nt = (s) => (it) => { let x = 0; for (let i = 0; i < it; i++) x |= s.w.nextTimer(now0); if (x < 0) throw new Error('no timer'); return it; };
    nextTimer = measurePaired([{ name: 'queued', fn: nt(sN) }, { name: 'empty', fn: nt(s0) }], { runs, sampleMs: Math.min(sampleMs, 100), warmupMs: 50 });
  }
  const d = counterDelta(k0, sN.counters());
  const after = { acceptq: sN.w.listenerGet(L, 1), synq: sN.w.listenerGet(L, 2) };
  const checks = {
    // the cycle accepts in groups of B, so the accept queue holds N .. N+B-1 between steps
    queueHeldAtN: kind === 'accept'
      ? before.acceptq >= N && before.acceptq < N + B && after.acceptq >= N && after.acceptq < N + B
      : before.synq === N && after.synq === N + B,
    cleanCycles: !d.TcpOutRsts && !d.TcpExtSyncookiesSent && !d.TcpExtListenDrops && !d.WtcpNoMemory && !d.TcpInCsumErrors,
    passiveOpensMatch: d.TcpPassiveOpens >= cN.cycles - N,
    memoryFlat: sN.memorySize() === mem[0] && s0.memorySize() === mem[1],
  };
  const label = kind === 'accept' ? 'accept queue' : 'SYN queue';
  const what = kind === 'accept' ? 'completed' : 'half-open';
  const extraFigures = nextTimer ? [{
    id: `next_timer_halfopen_${N}`,
    title: `nextTimer() with ${N.toLocaleString('en-US')} half-open SYN-ACK timers due in one 8-ms slot`,
    value: 1e9 / nextTimer.queued.rate, unit: 'ns/call', runs, samples: nextTimer.queued.samples.map((r) => 1e9 / r),
    baseline: { title: `same tables, ${B} timers armed (paired)`, value: 1e9 / nextTimer.empty.rate, unit: 'ns/call' },
    lowerIsBetter: true,
    extra: { kind: 'nextTimer', N },
  }] : [];
  return {
    figures: [...extraFigures, {
      id: `scaling_${kind}_${N}`,
      title: `Passive opens with ${N.toLocaleString('en-US')} ${what} connections in the ${label}`,
      value: res.queued.rate, unit: 'conn/s', runs, samples: res.queued.samples,
      baseline: { title: `same tables, ${label} empty (paired)`, value: res.empty.rate, unit: 'conn/s' },
      extra: { kind, N, nsPerConn: 1e9 / res.queued.rate, nsPerConnEmpty: 1e9 / res.empty.rate, setupSeconds: setupS, ringTuples: R, sizes, acceptq: after.acceptq, synq: after.synq },
    }],
    checks, counters: d,
  };
}
