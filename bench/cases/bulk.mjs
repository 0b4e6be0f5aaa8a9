// Issue 3, target 1: bulk transfer between two in-process stacks on one core, checksums on
// (computed on output, verified on input), the receiving application reading the bytes out
// (bench/lib/bulk.mjs). Variants, sampled in alternation in this process, each its own pair of
// instances and one connection:
//   mtu1500, mtu9000, mtu65521: the links' IP MTU (knob link_mtu; 65521 is the largest whose
//     Ethernet frame fits the 16-bit record length; Linux's loopback declares 65536);
//   mtu1500_verify, mtu65521_verify: the same, the receiver comparing every byte with the pattern;
//   copy: the host copying 64 KiB blocks inside WebAssembly memory (Uint8Array.copyWithin), this
//     runtime's memcpy speed.
// Baselines from bench/cases/kernelbulk.mjs in the same run (the kernel over loopback, C memcpy).
import { makeBulk } from '../lib/bulk.mjs';
import { measurePaired } from '../lib/measure.mjs';
import { counterDelta } from '../lib/wtcp.mjs';

const SNDBUF = 384 << 10;   // in flight stays below the 512-KiB output area (every byte at most once)
const RCVBUF = 1 << 20;

export async function run({ runs = 7, sampleMs = 200, variants = null } = {}) {
  const mtus = [1500, 9000, 65521];
  const bulks = {};
  for (const m of mtus) bulks[m] = await makeBulk({ mtu: m, sndbuf: SNDBUF, rcvbuf: RCVBUF });
  const v1500 = await makeBulk({ mtu: 1500, sndbuf: SNDBUF, rcvbuf: RCVBUF });
  const v65521 = await makeBulk({ mtu: 65521, sndbuf: SNDBUF, rcvbuf: RCVBUF });
  // this runtime's copy speed, inside the same kind of memory
  const mem = new WebAssembly.Memory({ initial: 32 });
  const u8 = new Uint8Array(mem.buffer);
  let co = 0;
  const copy = (it) => { for (let i = 0; i < it; i++) { u8.copyWithin(1048576 + co, co, co + 65536); co = (co + 65536) & 1048575; } return it * 65536; };
  const all = [
    ...mtus.map((m) => ({ name: `mtu${m}`, fn: (it) => bulks[m].run(it) })),
    { name: 'mtu1500_verify', fn: (it) => v1500.run(it, true) },
    { name: 'mtu65521_verify', fn: (it) => v65521.run(it, true) },
    { name: 'copy', fn: copy },
  ];
  const every = [...Object.values(bulks), v1500, v65521];
  const c0 = every.map((b) => [b.pair.a.counters(), b.pair.b.counters()]);
  const m0 = every.map((b) => [b.pair.a.memorySize(), b.pair.b.memorySize()]);
  const res = measurePaired(variants ? all.filter((v) => variants.includes(v.name)) : all, { runs, sampleMs });
  if (variants) return { figures: [], checks: {}, rates: Object.fromEntries(Object.entries(res).map(([k, v]) => [k, v.rate * 8 / 1e9])) };
  const d = every.map((b, i) => [counterDelta(c0[i][0], b.pair.a.counters()), counterDelta(c0[i][1], b.pair.b.counters())]);
  const clean = (x) => !x.TcpOutRsts && !x.TcpRetransSegs && !x.WtcpNoMemory && !x.WtcpOutOverflow && !x.TcpInCsumErrors && !x.TcpInErrs && !x.IpInHdrErrors;
  const checks = {
    noRetransNoDropsNoErrors: d.every(([a, b]) => clean(a) && clean(b)),
    everyByteVerified: v1500.errors === 0 && v65521.errors === 0 && v1500.recvd > 0 && v65521.recvd > 0,
    memoryFlat: every.every((b, i) => b.pair.a.memorySize() === m0[i][0] && b.pair.b.memorySize() === m0[i][1]),
    receivedEqualsSentMinusInFlight: every.every((b) => b.sent - b.recvd <= SNDBUF),
  };
  const G = (r) => r * 8 / 1e9;
  const fig = (name, title, extra = {}) => ({
    id: `bulk_${name}`, title, value: G(res[name].rate), unit: 'Gbit/s', runs, samples: res[name].samples.map((x) => +G(x).toFixed(3)), ...extra,
  });
  const target = { text: '>= 20 Gbit/s', min: 20 };
  const segInfo = (b) => ({ mss: b.pair.a.w.connGet(b.c, 14), cwnd: b.pair.a.w.connGet(b.c, 10), sndWnd: b.pair.a.w.connGet(b.c, 13) });
  return {
    figures: [
      fig('mtu1500', 'Bulk A->B, two stacks, one core, MTU 1500 (MSS 1448 with TS), checksums on, app reads', { target, baselineRef: 'kernel_bulk_1cpu_mss1448', extra: segInfo(bulks[1500]) }),
      fig('mtu9000', 'Bulk, MTU 9000 (MSS 8948)', { target, baselineRef: 'kernel_bulk_1cpu', extra: segInfo(bulks[9000]) }),
      fig('mtu65521', 'Bulk, MTU 65521 (MSS 65469; Linux lo: 65536)', { target, baselineRef: 'kernel_bulk_1cpu', extra: segInfo(bulks[65521]) }),
      fig('mtu1500_verify', 'Bulk, MTU 1500, receiver checks every byte', { target, baselineRef: 'kernel_bulk_1cpu_mss1448' }),
      fig('mtu65521_verify', 'Bulk, MTU 65521, receiver checks every byte', { target, baselineRef: 'kernel_bulk_1cpu' }),
      fig('copy', 'Host copy in WASM memory, 64 KiB blocks (copyWithin): memcpy speed', { baselineRef: 'memcpy_c' }),
    ],
    checks, counters: Object.fromEntries(d.map(([a, b], i) => [i, { a, b }])),
  };
}
