// Issue 3, target 3: 1,000,000 idle established connections in one instance within 1 GiB of
// WebAssembly memory. Two in-process stacks (bench/lib/pair.mjs): A opens N connections to B's
// listeners (B's ports 1000.., A's ports 1024..65535 on each), B accepts them all; both instances
// then hold N established connections. Reported: each instance's WebAssembly memory and bytes per
// connection, the heap the core took at init (the stub allocator's pointer, as memory.mjs measures
// it; the memory above it is the allocator's doubling, reserved but never touched), and the time to
// set them up. Then, after an idle pause, a sample of connections is checked alive: one byte each
// way on every `N / sample`-th connection, read out by the other side's application.
import { makePair } from '../lib/pair.mjs';
import { establishIdle } from '../lib/conncycle.mjs';
import { nowS } from '../lib/measure.mjs';
import { counterDelta } from '../lib/wtcp.mjs';
import { heapProbe } from './memory.mjs';
import { idleEstablished } from './connect.mjs';

const GiB = 2 ** 30;

export async function run({ N = 1000000, sample = 1000, idleMs = 65000 } = {}) {
  const ports = Array.from({ length: Math.ceil(N / 64512) }, (_, i) => 1000 + i);
  const sizes = { maxConn: N + 64, maxSyn: 4096, rxChunks: 2048, maxListeners: ports.length + 1 };
  const rss0 = process.memoryUsage().rss;
  const t0 = nowS();
  const pair = await makePair({ ...sizes, ports, backlog: 65535, now: 1000 });
  const mem0 = [pair.a.memorySize(), pair.b.memorySize()];
  const initS = nowS() - t0;
  const t1 = nowS();
  const idle = establishIdle(pair, N, ports, 1000);
  const setupS = nowS() - t1;
  const memAfter = [pair.a.memorySize(), pair.b.memorySize()];
  // resident memory the process gained for both instances with their N connections each (pages of
  // WASM memory never touched are reserved address space, not resident)
  const rssGrowth = process.memoryUsage().rss - rss0;
  const estab = Number(pair.b.counter('TcpCurrEstab'));
  const a0 = pair.a.counters(), b0 = pair.b.counters();
  // idle: the clock moves on by idleMs (beyond a TIME-WAIT, every RTO and the delayed-ACK timer)
  const later = 1000 + idleMs;
  pair.a.w.poll(later); pair.b.w.poll(later); pair.pump(later);
  const A = pair.a.w, B = pair.b.w;
  const step = Math.max(1, Math.floor(N / sample));
  let alive = 0, tried = 0;
  const am = () => pair.a.mem(), bm = () => pair.b.mem();
  for (let i = 0; i < N; i += step) {
    tried++;
    const ca = idle.aHandles[i], cb = idle.bHandles[i];
    am()[A.scratchPtr()] = i & 255;
    bm()[B.scratchPtr()] = (i * 7) & 255;
    const wa = A.connWrite(ca, 0, 1), wb = B.connWrite(cb, 0, 1);
    pair.pump(later);
    const rb = B.connRead(cb, 0, 16), gotB = bm()[B.scratchPtr()];
    const ra = A.connRead(ca, 0, 16), gotA = am()[A.scratchPtr()];
    if (wa === 1 && wb === 1 && rb === 1 && ra === 1 && gotB === (i & 255) && gotA === ((i * 7) & 255)) alive++;
  }
  pair.pump(later + 1000);
  const dA = counterDelta(a0, pair.a.counters()), dB = counterDelta(b0, pair.b.counters());
  const probe = await heapProbe();
  const heap = probe ? await probe(sizes.maxSyn, sizes.maxConn, sizes.maxListeners, sizes.rxChunks) : null;
  const allEstablished = idleEstablished(pair, idle);
  const memB = pair.b.memorySize();
  return {
    figures: [
      {
        id: 'idle_conns_wasm_memory', title: `${N.toLocaleString('en-US')} idle established connections: WASM memory of the instance (B, the listener side)`,
        value: memB / GiB, unit: 'GiB', runs: 1, samples: [memB / GiB],
        target: { text: '<= 1 GiB', max: 1 },
        extra: {
          N, wasmMemoryA: pair.a.memorySize(), wasmMemoryB: memB, wasmMemoryBeforeB: mem0[1], wasmMemoryAfterInitB: memAfter[1],
          heapBytesAtInit: heap, setupSeconds: setupS, initSeconds: initS, connectsPerSecondSetup: N / setupS,
          establishedB: estab, sizes, rssGrowthBothInstances: rssGrowth, rssBytesPerConnPerInstance: rssGrowth / (2 * N),
        },
      },
      {
        id: 'idle_bytes_per_conn_wasm', title: 'Bytes per idle connection: WASM memory / N (B)',
        value: memB / N, unit: 'bytes', runs: 1, samples: [memB / N],
      },
      ...(heap ? [{
        id: 'idle_bytes_per_conn_heap', title: 'Bytes per idle connection: heap taken at init / N (B; every pool and table)',
        value: heap / N, unit: 'bytes', runs: 1, samples: [heap / N],
      }] : []),
      {
        id: 'idle_alive_sample', title: `Sample alive after ${idleMs / 1000} s idle: 1 byte each way on ${tried} connections`,
        value: alive, unit: 'conns', runs: 1, samples: [alive],
        target: { text: `all ${tried}`, min: tried },
      },
    ],
    checks: {
      allEstablishedBothSides: allEstablished && estab >= N,
      sampleAlive: alive === tried,
      memoryFlatAfterInit: memAfter[0] === mem0[0] && memAfter[1] === mem0[1] && pair.b.memorySize() === mem0[1],
      noRstNoRetrans: !dA.TcpOutRsts && !dB.TcpOutRsts && !dA.TcpRetransSegs && !dB.TcpRetransSegs && !dA.WtcpNoMemory && !dB.WtcpNoMemory,
      heapProbeAvailable: heap != null,
    },
    counters: { a: dA, b: dB },
  };
}
