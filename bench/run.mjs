// `npm run bench`: the listen engine's and the data path's benchmarks. Each case runs in its own Node process
// (bench/worker.mjs), pinned to one CPU with taskset when available, against the RELEASE build
// (build/wtcp.wasm). Prints a table and writes bench/results/latest.json.
//
// Options: --runs=N (samples per figure, default 7), --quick (runs=3, shorter samples, no 1M cases),
//          --only=memory,kernel,cycle,flood,parse,scaling,bulk,bulkstack,connect,idle,connscale,heldscale (comma
//          list; bulk brings its baselines kernelbulk, bulkstack brings bulk, connect and connscale
//          bring kernel), --no-pin, --out=FILE. bulkstack runs the TypeScript host from dist/ (npm run build);
//          bulknet: the same through wtcp/net Sockets. --base-dist=DIR adds bulkstack and bulknet on an
//          earlier build's dist/ (next to its build/), each in its own process: before/after in one run.
//          (partial runs write bench/results/partial.json unless --out is given)
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, statSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wasmInfo } from './lib/wtcp.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = a.match(/^--([^=]+)(?:=(.*))?$/);
  return m ? [m[1], m[2] ?? true] : [a, true];
}));
const quick = !!args.quick;
const runs = Number(args.runs ?? (quick ? 3 : 7));
const only = args.only ? new Set(String(args.only).split(',')) : null;
// the data-path cases bring their same-run baselines with them
if (only?.has('bulk')) only.add('kernelbulk');
if (only?.has('bulkstack') || only?.has('bulknet')) { only.add('bulk'); only.add('kernelbulk'); }
if (only?.has('connect') || only?.has('connscale')) only.add('kernel');
const want = (k) => !only || only.has(k);
const sampleMs = quick ? 80 : undefined;
const pinCpu = args['no-pin'] ? null : pickCpu();

function pickCpu() {
  try { execFileSync('taskset', ['-c', '0', 'true']); return os.cpus().length > 1 ? 1 : 0; } catch { return null; }
}

// ---- build freshness: the benchmark measures whatever build/ holds ----
function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}
const wasm = wasmInfo();
const buildTime = statSync(path.join(ROOT, 'build', 'wtcp.wasm')).mtimeMs;
const srcTime = newestMtime(path.join(ROOT, 'assembly'));
const stale = srcTime > buildTime;
if (stale) console.warn('WARNING: assembly/ is newer than build/wtcp.wasm: run `npm run build:wasm` first for current figures.\n');

// ---- cases ----
const jobs = [];
if (want('memory')) jobs.push({ name: 'memory', opts: {} });
if (want('kernel')) jobs.push({ name: 'kernel', opts: { runs, cpu: pinCpu } });
if (want('cycle')) jobs.push({ name: 'cycle', opts: { runs, sampleMs } });
if (want('flood')) jobs.push({ name: 'flood', opts: { runs, sampleMs } });
if (want('parse')) jobs.push({ name: 'parse', opts: { runs, sampleMs } });
if (want('kernelbulk')) jobs.push({ name: 'kernelbulk', opts: { runs, cpu: pinCpu, sampleMs: quick ? 150 : 300 } });
if (want('bulk')) jobs.push({ name: 'bulk', opts: { runs, sampleMs } });
const baseDist = args['base-dist'] ? path.resolve(String(args['base-dist'])) : undefined;
if (want('bulkstack')) {
  jobs.push({ name: 'bulkstack', opts: { runs, sampleMs } });
  if (baseDist) jobs.push({ name: 'bulkstack', opts: { runs, sampleMs, baseDist, which: 'base' } });
}
if (want('bulknet')) {
  jobs.push({ name: 'bulknet', opts: { runs, ...(quick ? { sampleBytes: 16 << 20 } : {}) } });
  if (baseDist) jobs.push({ name: 'bulknet', opts: { runs, ...(quick ? { sampleBytes: 16 << 20 } : {}), baseDist, which: 'base' } });
}
if (want('connect')) jobs.push({ name: 'connect', opts: { N: 0, runs, sampleMs } });
if (want('idle')) jobs.push({ name: 'idle', opts: { N: quick ? 100000 : 1000000 } });
if (want('connscale')) {
  for (const N of quick ? [1000, 100000] : [1000, 100000, 1000000]) jobs.push({ name: 'connect', opts: { N, runs, sampleMs } });
}
if (want('heldscale')) {
  for (const N of quick ? [1000, 100000] : [1000, 10000, 100000, 1000000]) jobs.push({ name: 'heldscale', opts: { N, runs, sampleMs } });
}
if (want('scaling')) {
  const Ns = quick ? [1000, 100000] : [1000, 100000, 1000000];
  for (const kind of ['accept', 'halfopen']) for (const N of Ns) jobs.push({ name: 'scaling', opts: { kind, N, runs, sampleMs } });
}

const results = [];
const t0 = Date.now();
for (const job of jobs) {
  const label = `${job.name}${job.opts.which ? ` ${job.opts.which}` : ''}${job.opts.kind ? ` ${job.opts.kind}` : ''}${job.opts.N != null ? ` N=${job.opts.N}` : ''}`;
  process.stderr.write(`running ${label} ... `);
  const t = Date.now();
  const cmd = pinCpu != null ? 'taskset' : process.execPath;
  const argv = [...(pinCpu != null ? ['-c', String(pinCpu), process.execPath] : []),
    path.join(HERE, 'worker.mjs'), job.name, JSON.stringify(job.opts)];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, env: process.env });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('@@RESULT@@'));
  if (r.status !== 0 || !line) {
    process.stderr.write(`FAILED\n${r.stderr}\n`);
    results.push({ job, error: (r.stderr || `exit ${r.status}`).slice(0, 2000) });
    continue;
  }
  process.stderr.write(`${((Date.now() - t) / 1000).toFixed(1)} s\n`);
  results.push({ job, ...JSON.parse(line.slice('@@RESULT@@'.length)) });
}

// ---- figures, baselines, ratios, targets ----
const figures = results.flatMap((r) => (r.figures ?? []).map((f) => ({ ...f, case: r.job.name })));
const byId = Object.fromEntries(figures.map((f) => [f.id, f]));
for (const f of figures) {
  if (f.baselineRef && byId[f.baselineRef]) {
    const b = byId[f.baselineRef];
    f.baseline = { title: b.title, value: b.value, unit: b.unit, id: b.id };
  }
  if (f.baseline && f.baseline.value) f.ratio = f.value / f.baseline.value;
  if (f.target) {
    if (f.target.min != null) f.met = f.value >= f.target.min;
    if (f.target.max != null) f.met = f.value <= f.target.max;
  }
}
// target 2 also needs memory flat and the SYN queue at 0 / bounded
const flood = results.find((r) => r.job.name === 'flood');
for (const id of ['synflood_cookies2', 'synflood_cookies_synq_full']) {
  const f = byId[id];
  if (f && flood) f.met = f.met && Object.values(flood.checks).every(Boolean);
}
// target 3b: per-operation cost at N = 1M (or the largest N) against N = 1,000, from the same run
const summary = [];
for (const kind of ['accept', 'halfopen']) {
  const rows = figures.filter((f) => f.extra?.kind === kind).sort((a, b) => a.extra.N - b.extra.N);
  if (rows.length >= 2) {
    const lo = rows[0], hi = rows[rows.length - 1];
    const growth = (1e9 / hi.value) / (1e9 / lo.value);
    summary.push({
      id: `o1_${kind}`, kind, nLow: lo.extra.N, nHigh: hi.extra.N,
      nsPerConnLow: 1e9 / lo.value, nsPerConnHigh: 1e9 / hi.value, growth,
      occupancyRatioHigh: hi.ratio,
      // an operation that walked its queue would grow ~N-fold (1000x here); growth from cache misses
      // (the work per connection is the same: see bench/callgrind.mjs) stays a small constant factor
      boundedGrowth: growth < 10,
    });
  }
  const nt = figures.filter((f) => f.extra?.kind === 'nextTimer').sort((a, b) => a.extra.N - b.extra.N);
  if (kind === 'halfopen' && nt.length >= 2) {
    const lo = nt[0], hi = nt[nt.length - 1];
    summary.push({ id: 'o1_nextTimer', kind: 'nextTimer', nLow: lo.extra.N, nHigh: hi.extra.N, nsLow: lo.value, nsHigh: hi.value, growth: hi.value / lo.value, boundedGrowth: hi.value / lo.value < 10 });
  }
}

const checks = Object.fromEntries(results.map((r, i) => [`${r.job.name}${r.job.opts.kind ? `_${r.job.opts.kind}` : ''}${r.job.opts.N != null ? `_${r.job.opts.N}` : ''}#${i}`, r.error ? { error: r.error } : r.checks]));
const failedChecks = Object.entries(checks).flatMap(([k, v]) => (v.error ? [`${k}: error`] : Object.entries(v ?? {}).filter(([, ok]) => !ok).map(([n]) => `${k}: ${n}`)));

const machine = {
  cpu: os.cpus()[0].model, cpus: os.cpus().length, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  os: `${os.type()} ${os.release()}`, node: process.version, date: new Date().toISOString(),
  pinnedCpu: pinCpu, wasm, buildStale: stale,
};
try { machine.gitHead = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(); } catch { /* not a repo */ }
const report = { machine, runsPerFigure: runs, quick, seconds: (Date.now() - t0) / 1000, figures, summary, checks, failedChecks,
  notes: results.filter((r) => r.note).map((r) => r.note) };
// partial runs (--only, --quick) do not overwrite the full run's latest.json
const out = args.out ? path.resolve(String(args.out)) : path.join(HERE, 'results', only || quick ? 'partial.json' : 'latest.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

// ---- table ----
const fmt = (v, unit) => {
  if (v == null || Number.isNaN(v)) return '-';
  if (unit === 'bytes') return v.toFixed(1);
  if (unit === 'Gbit/s') return v.toFixed(2);
  if (unit === 'GiB') return v.toFixed(3);
  if (unit === 'conns') return v.toFixed(0);
  if (unit === 'ns/call') return v >= 1000 ? `${(v / 1000).toFixed(1)} µs` : `${v.toFixed(0)} ns`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(1);
};
const rows = [['Figure', 'Median', 'Unit', 'n', 'Baseline', 'Ratio', 'Target', 'Met']];
for (const f of figures) {
  rows.push([
    f.title.length > 78 ? `${f.title.slice(0, 77)}…` : f.title,
    fmt(f.value, f.unit), f.unit, String(f.runs ?? ''),
    f.baseline ? `${fmt(f.baseline.value, f.baseline.unit)} (${f.baseline.id ?? 'paired'})` : '-',
    f.ratio != null ? `${f.ratio.toFixed(f.ratio < 0.1 ? 4 : 2)}x` : '-',
    f.target?.text ?? '', f.met == null ? '' : f.met ? 'yes' : 'NO',
  ]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`\nwtcp benchmarks — ${machine.cpu} x${machine.cpus}, ${machine.os}, Node ${machine.node}, ${machine.date}`);
console.log(`build ${wasm.path} (${wasm.bytes} B, sha256 ${wasm.sha256}${stale ? ', STALE' : ''}); medians of ${runs} runs; one core${pinCpu != null ? ` (taskset -c ${pinCpu})` : ''}\n`);
console.log(line(rows[0]));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows.slice(1)) console.log(line(r));
if (summary.length) {
  console.log('\nO(1) check (per-operation time at the largest N against N = 1,000, same run):');
  for (const s of summary) {
    if (s.kind === 'nextTimer') console.log(`  nextTimer() with N half-open timers in one slot: ${fmt(s.nsLow, 'ns/call')} at N=${s.nLow} -> ${fmt(s.nsHigh, 'ns/call')} at N=${s.nHigh}: ${s.growth.toFixed(0)}x  ${s.boundedGrowth ? 'bounded' : 'GROWS WITH N'}`);
    else console.log(`  ${s.kind === 'accept' ? 'accept queue' : 'SYN queue   '}: ${s.nsPerConnLow.toFixed(0)} ns/conn at N=${s.nLow} -> ${s.nsPerConnHigh.toFixed(0)} ns/conn at N=${s.nHigh}: x${s.growth.toFixed(2)}  ${s.boundedGrowth ? 'no N-proportional growth (< 10x for 1000x N; cache misses)' : 'GROWS WITH N'}`);
  }
}
const scale = figures.filter((f) => f.extra?.kind === 'connscale' || f.id === 'connect_e2e').sort((a, b) => a.extra.N - b.extra.N);
if (scale.length > 1 || scale.some((f) => f.extra.N > 0)) {
  console.log('\nConnect+accept+close with N idle established connections held by both stacks (same run):');
  console.log('  N            conn/s    no-idle ref (paired)  ratio   WASM memory A / B     heap A / B (MiB)    B bytes/idle conn: WASM/N, heap/N, heap added per conn');
  for (const f of scale) {
    const e = f.extra;
    console.log(`  ${String(e.N).padEnd(10)} ${fmt(f.value, f.unit).padStart(9)}  ${(f.baseline && e.N > 0 ? fmt(f.baseline.value, 'conn/s') : '-').padStart(20)}  ${(e.N > 0 && f.ratio != null ? `${f.ratio.toFixed(2)}x` : '-').padStart(6)}   ${(e.wasmMemoryA / 2 ** 20).toFixed(0).padStart(6)} / ${(e.wasmMemoryB / 2 ** 20).toFixed(0).padStart(6)} MiB  ${e.heapA != null ? `${(e.heapA / 2 ** 20).toFixed(1).padStart(7)} / ${(e.heapB / 2 ** 20).toFixed(1).padStart(7)}` : '-'}   ${e.wasmBytesPerIdleConnB != null ? `${e.wasmBytesPerIdleConnB.toFixed(0)}, ${e.heapBytesPerIdleConnB != null ? e.heapBytesPerIdleConnB.toFixed(0) : '-'}, ${e.heapMarginalBytesPerConnB != null ? e.heapMarginalBytesPerConnB.toFixed(1) : '-'}` : '-'}`);
  }
}
for (const n of report.notes) console.log(`\nnote: ${n}`);
console.log(failedChecks.length ? `\nFAILED consistency checks:\n  ${failedChecks.join('\n  ')}` : '\nall consistency checks passed');
console.log(`\nwrote ${path.relative(process.cwd(), out)} (${report.seconds.toFixed(0)} s)`);
process.exitCode = results.some((r) => r.error) ? 1 : 0;
