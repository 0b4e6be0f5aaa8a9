// Issue 3, target 2 (and the scaling table of target 4): connect + accept + close end to end
// between two in-process stacks (bench/lib/conncycle.mjs), per second on one core. Both sides are
// the stack: A connects (active open), B listens and accepts, A closes first, B closes second.
//
// With N > 0, N idle ESTABLISHED connections are set up first between the same two instances (on
// other ports of B) and kept while the cycle runs; the figure is then paired, in alternation in this
// process, with a reference pair of instances with no idle connections, so the ratio isolates what
// the N connections cost. Bytes per connection: the WebAssembly memory of the instance holding them
// divided by N, and the heap per connection record (bench/cases/memory.mjs's measure).
//
// Baseline: bench/cases/kernel.mjs (the kernel doing the same cycle over loopback, client and server
// in one thread, bench/kernel/passive_open.c), measured in the same `npm run bench` run.
import { makePair } from '../lib/pair.mjs';
import { ConnCycle, establishIdle } from '../lib/conncycle.mjs';
import { measurePaired, nowS } from '../lib/measure.mjs';
import { counterDelta } from '../lib/wtcp.mjs';
import { heapProbe } from './memory.mjs';

const CYCLE_PORTS = [80, 81, 82, 83, 84, 85, 86, 87];
const IDLE_PORT0 = 1000;
const DT_MS = 30;
const TW_MAX = Math.ceil(60000 / DT_MS + 2) * 64;   // TIME-WAIT population on A at DT_MS per step

/** every idle connection is still ESTABLISHED (state 4) on both sides */
export function idleEstablished(pair, idle) {
  const A = pair.a.w, B = pair.b.w;
  for (let i = 0; i < idle.aHandles.length; i++) {
    if (A.connGet(idle.aHandles[i], 0) !== 4 || B.connGet(idle.bHandles[i], 0) !== 4) return false;
  }
  return true;
}

async function setup(N) {
  const idlePorts = Array.from({ length: Math.ceil(N / 64512) }, (_, i) => IDLE_PORT0 + i);
  const sizes = {
    maxConnA: N + TW_MAX + 4096, maxConnB: N + 4096, maxSyn: 4096, rxChunks: 1024,
    maxListeners: CYCLE_PORTS.length + idlePorts.length + 1,
  };
  const pair = await makePair({ ...sizes, ports: [...CYCLE_PORTS, ...idlePorts], now: 1000 });
  let idle = null;
  if (N > 0) idle = establishIdle(pair, N, idlePorts, 1000);
  return { sizes, pair, idle, cycle: new ConnCycle(pair, { ports: CYCLE_PORTS, dtMs: DT_MS, now0: 1000 }) };
}

export async function run({ N = 0, runs = 7, sampleMs = 200 } = {}) {
  const t0 = nowS();
  const main = await setup(N);
  const setupS = nowS() - t0;
  const ref = N > 0 ? await setup(0) : null;
  const { pair, cycle } = main;
  const a0 = pair.a.counters(), b0 = pair.b.counters();
  const estab0 = { a: pair.a.counter('TcpCurrEstab'), b: pair.b.counter('TcpCurrEstab') };
  const mem0 = [pair.a.memorySize(), pair.b.memorySize(), ...(ref ? [ref.pair.a.memorySize(), ref.pair.b.memorySize()] : [])];
  const variants = [{ name: 'main', fn: (it) => cycle.run(it) }];
  if (ref) variants.push({ name: 'ref', fn: (it) => ref.cycle.run(it) });
  const res = measurePaired(variants, { runs, sampleMs });
  const dA = counterDelta(a0, pair.a.counters()), dB = counterDelta(b0, pair.b.counters());
  const mem1 = [pair.a.memorySize(), pair.b.memorySize(), ...(ref ? [ref.pair.a.memorySize(), ref.pair.b.memorySize()] : [])];
  // the N idle connections are all still established on both sides
  const idleOk = !main.idle || idleEstablished(pair, main.idle);
  const clean = (d) => !d.TcpOutRsts && !d.TcpRetransSegs && !d.WtcpNoMemory && !d.WtcpOutOverflow && !d.TcpInCsumErrors && !d.TcpInErrs && !d.TcpAttemptFails;
  const checks = {
    activeEqualsPassive: dA.TcpActiveOpens === dB.TcpPassiveOpens,
    cyclesCompleted: dB.TcpPassiveOpens >= cycle.cycles && dB.TcpPassiveOpens - cycle.cycles <= 2 * 64,
    noRstNoRetransNoDrops: clean(dA) && clean(dB),
    idleStillEstablished: idleOk && Number(estab0.b) >= N,
    memoryFlat: mem0.every((m, i) => m === mem1[i]),
  };
  // the heap the core took at init (stub allocator pointer; the WASM memory above it is the
  // allocator's doubling, reserved but never touched)
  const probe = await heapProbe();
  const z = main.sizes;
  const heapA = probe ? await probe(z.maxSyn, z.maxConnA, z.maxListeners, z.rxChunks) : null;
  const heapB = probe ? await probe(z.maxSyn, z.maxConnB, z.maxListeners, z.rxChunks) : null;
  // what the N connections add: against the same instance sized for none (the reference's sizes)
  const heapB0 = probe && N > 0 ? await probe(z.maxSyn, 4096, z.maxListeners, z.rxChunks) : null;
  const segsPerConn = (dA.TcpOutSegs + dB.TcpOutSegs) / Math.max(1, dB.TcpPassiveOpens);
  const fig = {
    id: N === 0 ? 'connect_e2e' : `connect_e2e_idle_${N}`,
    title: N === 0
      ? 'Connect+accept+close end to end, two stacks in one process (7 segments/conn)'
      : `Connect+accept+close with ${N.toLocaleString('en-US')} idle established connections held`,
    value: res.main.rate, unit: 'conn/s', runs, samples: res.main.samples,
    extra: {
      N, nsPerConn: 1e9 / res.main.rate, setupSeconds: setupS, segmentsPerConn: segsPerConn,
      wasmMemoryA: mem1[0], wasmMemoryB: mem1[1],
      wasmBytesPerIdleConnB: N > 0 ? mem1[1] / N : null,
      heapA, heapB, heapBytesPerIdleConnB: N > 0 && heapB != null ? heapB / N : null,
      heapMarginalBytesPerConnB: heapB0 != null ? (heapB - heapB0) / N : null, sizes: z,
      timeWaitMaxA: TW_MAX, clockMsPerStep: DT_MS,
    },
  };
  if (N === 0) {
    fig.baselineRef = 'kernel_loopback';
    fig.target = { text: '>= 300,000 conn/s', min: 3e5 };
  } else {
    fig.baseline = { title: 'same cycle, no idle connections (paired)', value: res.ref.rate, unit: 'conn/s' };
    fig.extra.kind = 'connscale';
  }
  return { figures: [fig], checks, counters: { a: dA, b: dB } };
}
