// Issue 5: how the per-frame work scales with the connections an instance holds. N idle ESTABLISHED
// connections are set up between two cores (bench/lib/pair.mjs, bench/lib/conncycle.mjs) and held
// on B while B takes, in alternation with a reference pair holding none (same process, so the
// ratio isolates what the N connections cost):
//  - flood: SYNs to a listener with tcp_syncookies = 2 (a cookie SYN-ACK each, no state);
//  - closed: SYNs to a port nobody listens on (three lookups miss, a RST|ACK goes out);
//  - bulk: one bulk transfer (MTU 1500) between two instances that also hold the N connections;
// and reports B's WebAssembly memory per held connection. Together with `connscale`
// (connect/accept/close with N held), `scaling` (passive opens with N queued) and `idle`, this gives
// the scaling curves BENCHMARKS.md charts (bench/chart.mjs).
import { makePair } from '../lib/pair.mjs';
import { establishIdle } from '../lib/conncycle.mjs';
import { idleEstablished } from './connect.mjs';
import { measurePaired, nowS } from '../lib/measure.mjs';
import { writeTcpRecord, synOptions, tcpRecordSize, tupleAddr, tuplePort, tupleIsn, CLIENT_TSVAL, TH_SYN, ip4 } from '../lib/frames.mjs';
import { counterDelta } from '../lib/wtcp.mjs';
import { makeBulk } from '../lib/bulk.mjs';

const REC = tcpRecordSize(20);
const IDLE_PORT0 = 1000;
const T0 = performance.now();
const clock = () => (1000 + (performance.now() - T0)) >>> 0;

function synFrames(F, dport, base) {
  const buf = new Uint8Array(F * REC);
  const opts = synOptions(CLIENT_TSVAL);
  for (let t = 0; t < F; t++) {
    writeTcpRecord(buf, t * REC, { src: tupleAddr(base, t), sport: tuplePort(t), seq: tupleIsn(t), flags: TH_SYN, win: 64240, opts, dport });
  }
  return buf;
}

async function setup(N) {
  const idlePorts = Array.from({ length: Math.ceil(N / 64512) }, (_, i) => IDLE_PORT0 + i);
  const pair = await makePair({
    maxConnA: N + 4096, maxConnB: N + 4096, maxSyn: 4096, rxChunks: 1024,
    maxListeners: idlePorts.length + 2, ports: [80, ...idlePorts], now: 1000,
    knobs: { tcp_syncookies: 2 },
  });
  const idle = N > 0 ? establishIdle(pair, N, idlePorts, 1000) : null;
  return { pair, idle };
}

export async function run({ N = 1000, runs = 7, sampleMs = 150, B = 256 } = {}) {
  const t0 = nowS();
  const main = await setup(N);
  const setupS = nowS() - t0;
  const ref = await setup(0);
  const F = 4096;
  const flood = synFrames(F, 80, ip4('12.0.0.0'));
  const closed = synFrames(F, 81, ip4('13.0.0.0'));
  const mk = (stack, buf) => {
    let cur = 0;
    const w = stack.w, inPtr = w.inputPtr();
    return (iters) => {
      for (let i = 0; i < iters; i++) {
        stack.mem().set(buf.subarray(cur * REC, (cur + B) * REC), inPtr);
        cur = (cur + B) % F;
        w.input(B, clock());
        w.outputReset(); w.eventsReset();
      }
      return iters * B;
    };
  };
  const b0 = main.pair.b.counters();
  const mem0 = [main.pair.b.memorySize(), ref.pair.b.memorySize()];
  // bulk transfer on one connection between two instances that hold N others (MTU 1500)
  const bulk = await makeBulk({ held: N });
  const bulkRef = await makeBulk({});
  const res = measurePaired([
    { name: 'flood', fn: mk(main.pair.b, flood) },
    { name: 'floodRef', fn: mk(ref.pair.b, flood) },
    { name: 'closed', fn: mk(main.pair.b, closed) },
    { name: 'closedRef', fn: mk(ref.pair.b, closed) },
    { name: 'bulk', fn: (it) => 8 * bulk.run(it * 8) },
    { name: 'bulkRef', fn: (it) => 8 * bulkRef.run(it * 8) },
  ], { runs, sampleMs });
  const d = counterDelta(b0, main.pair.b.counters());
  const mem1 = [main.pair.b.memorySize(), ref.pair.b.memorySize()];
  const checks = {
    cookiesSent: d.TcpExtSyncookiesSent > 0,
    rstsForClosedPort: d.TcpOutRsts > 0,
    noSynQueueGrowth: main.pair.b.w.listenerGet(main.pair.listeners.get(80), 2) === 0,
    idleStillEstablished: !main.idle || idleEstablished(main.pair, main.idle),
    memoryFlat: mem0.every((m, i) => m === mem1[i]),
    bulkMoved: bulk.recvd > 0 && bulkRef.recvd > 0 && bulk.errors === 0 && bulkRef.errors === 0,
  };
  const perConn = N > 0 ? (mem1[0] - mem1[1]) / N : null;
  const fig = (id, title, main_, refName, unit = 'frames/s') => ({
    id: `${id}_held_${N}`, title: `${title} with ${N.toLocaleString('en-US')} established connections held`,
    value: res[main_].rate, unit, runs, samples: res[main_].samples,
    baseline: { title: 'same, no connections held (paired)', value: res[refName].rate, unit },
    extra: { kind: 'heldscale', what: id, N, nsPerFrame: 1e9 / res[main_].rate, setupSeconds: setupS, wasmMemoryB: mem1[0], wasmBytesPerHeldConn: perConn },
  });
  return {
    figures: [
      fig('flood', 'SYN flood, a cookie SYN-ACK each (tcp_syncookies = 2)', 'flood', 'floodRef'),
      fig('closed', 'SYN to a closed port, RST|ACK each', 'closed', 'closedRef'),
      fig('bulk', 'Bulk transfer, MTU 1500, one connection', 'bulk', 'bulkRef', 'bit/s'),
    ],
    checks,
    counters: d,
  };
}
