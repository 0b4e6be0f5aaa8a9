// The scaling curves of a benchmark run as an SVG chart (no dependency): for each figure measured
// with N connections held or queued (cases scaling, connscale, heldscale), the rate relative to the
// same work on an empty instance measured in alternation in the same process (1.0 = no slowdown),
// against N on a log scale; and the rates themselves. BENCHMARKS.md shows the file it writes.
//
//   node bench/chart.mjs [--in=bench/results/latest.json] [--out=bench/scaling.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).map((a) => { const m = a.match(/^--([^=]+)(?:=(.*))?$/); return m ? [m[1], m[2] ?? true] : [a, true]; }));
const input = String(args.in ?? path.join(HERE, 'results', 'latest.json'));
const output = String(args.out ?? path.join(HERE, 'scaling.svg'));

const run = JSON.parse(readFileSync(input, 'utf8'));
const figs = run.figures ?? run.results?.flatMap((r) => r.figures ?? []) ?? [];

/** series name -> [{ N, rate, ratio }] */
const series = new Map();
const add = (name, N, f) => {
  if (!f?.baseline?.value || !(N > 0)) return;
  const list = series.get(name) ?? [];
  list.push({ N, rate: f.value, ratio: f.value / f.baseline.value, unit: f.unit });
  series.set(name, list);
};
for (const f of figs) {
  const x = f.extra ?? {};
  if (x.kind === 'accept') add('passive opens, N in the accept queue', x.N, f);
  else if (x.kind === 'halfopen') add('passive opens, N in the SYN queue', x.N, f);
  else if (x.kind === 'connscale') add('connect + accept + close, N established held', x.N, f);
  else if (x.kind === 'heldscale' && x.what === 'flood') add('SYN flood (cookies), N established held', x.N, f);
  else if (x.kind === 'heldscale' && x.what === 'closed') add('SYN to a closed port (RST), N established held', x.N, f);
  else if (x.kind === 'heldscale' && x.what === 'bulk') add('bulk transfer (bit/s), N established held', x.N, f);
}
if (series.size === 0) {
  console.error(`bench/chart: no scaling figures in ${input}; run npm run bench -- --only=scaling,connscale,heldscale`);
  process.exit(1);
}
for (const l of series.values()) l.sort((a, b) => a.N - b.N);

const COLORS = ['#3b6fd8', '#d8843b', '#2f9e5a', '#b43bd8', '#d83b5a', '#6b7a8f'];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const Ns = [...new Set([...series.values()].flatMap((l) => l.map((p) => p.N)))].sort((a, b) => a - b);
const xMin = Math.log10(Math.min(...Ns)), xMax = Math.log10(Math.max(...Ns));

function panel(x0, title, yLabel, yMin, yMax, value, fmt, log) {
  const W = 460, H = 300, L = 62, R = 14, T = 30, B = 44;
  const sx = (N) => x0 + L + ((W - L - R) * (Math.log10(N) - xMin)) / Math.max(1e-9, xMax - xMin);
  const ty = (v) => (log ? Math.log10(v) : v);
  const sy = (v) => H - B - ((H - T - B) * (ty(v) - ty(yMin))) / (ty(yMax) - ty(yMin));
  let s = `<text x="${x0 + L}" y="18" class="t">${esc(title)}</text>`;
  const ticks = log ? Array.from({ length: Math.round(Math.log10(yMax / yMin)) + 1 }, (_, i) => yMin * 10 ** i) : [0, 0.25, 0.5, 0.75, 1, 1.25].filter((v) => v >= yMin && v <= yMax);
  for (const v of ticks) {
    s += `<line x1="${x0 + L}" x2="${x0 + W - R}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" class="g"/>`;
    s += `<text x="${x0 + L - 6}" y="${(sy(v) + 4).toFixed(1)}" class="k" text-anchor="end">${fmt(v)}</text>`;
  }
  for (const N of Ns) s += `<text x="${sx(N).toFixed(1)}" y="${H - B + 16}" class="k" text-anchor="middle">${N >= 1e6 ? `${N / 1e6}M` : N >= 1e3 ? `${N / 1e3}k` : N}</text>`;
  s += `<text x="${x0 + (L + W - R) / 2}" y="${H - 8}" class="a" text-anchor="middle">N connections held or queued (log)</text>`;
  s += `<text x="${x0 + 14}" y="${(T + H - B) / 2}" class="a" transform="rotate(-90 ${x0 + 14} ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  [...series.entries()].forEach(([, l], i) => {
    const d = l.map((p, j) => `${j ? 'L' : 'M'}${sx(p.N).toFixed(1)},${sy(Math.max(yMin, Math.min(yMax, value(p)))).toFixed(1)}`).join('');
    s += `<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`;
    for (const p of l) s += `<circle cx="${sx(p.N).toFixed(1)}" cy="${sy(Math.max(yMin, Math.min(yMax, value(p)))).toFixed(1)}" r="3" fill="${COLORS[i % COLORS.length]}"/>`;
  });
  return s;
}

const rates = [...series.values()].flatMap((l) => l.map((p) => p.rate));
const rMin = 10 ** Math.floor(Math.log10(Math.min(...rates)));
const rMax = 10 ** Math.ceil(Math.log10(Math.max(...rates)));
const legendH = 18 * series.size + 10;
let svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 940 ${300 + legendH + 30}" width="940" height="${300 + legendH + 30}" font-family="system-ui, sans-serif">`;
svg += '<style>.t{font-size:13px;font-weight:600;fill:#1d2330}.k{font-size:11px;fill:#5a6275}.a{font-size:11.5px;fill:#1d2330}.g{stroke:#e8eaf0}.l{font-size:12px;fill:#1d2330}</style>';
svg += '<rect width="100%" height="100%" fill="#fff"/>';
svg += panel(0, 'Rate relative to an empty instance (paired)', 'ratio (1 = no slowdown)', 0, 1.25, (p) => p.ratio, (v) => v.toFixed(2), false);
svg += panel(470, 'Rate (frames, connections or bits per second)', 'per second (log)', rMin, rMax, (p) => p.rate, (v) => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}k` : `${v}`), true);
[...series.keys()].forEach((name, i) => {
  const y = 318 + i * 18;
  svg += `<rect x="62" y="${y - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="80" y="${y}" class="l">${esc(name)}</text>`;
});
const m = run.machine ?? {};
svg += `<text x="62" y="${318 + series.size * 18 + 10}" class="k">${esc(`${m.cpu ?? ''} ${m.cpus ? `x${m.cpus}` : ''}, ${m.date ?? ''}; medians; one core`)}</text>`;
svg += '</svg>\n';
writeFileSync(output, svg);
console.log(`wrote ${path.relative(process.cwd(), output)}: ${[...series.entries()].map(([k, l]) => `${k} (${l.map((p) => `${p.N}: ${p.ratio.toFixed(2)}x`).join(', ')})`).join('; ')}`);
