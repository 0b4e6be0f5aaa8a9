/**
 * Reports of `wtcp bench queue` runs: a terminal table (one column per run, side by side) and a
 * self-contained HTML page with its charts drawn as inline SVG (queue length over time, connect
 * latency CDF, outcomes), no script and no external resource, so it opens anywhere and can be
 * mailed around.
 */
import { OUTCOMES, type Outcome, type QueueBenchResult } from './queue-bench.js';

const OUTCOME_LABEL: Record<Outcome, string> = {
  served: 'served',
  refused: 'refused (RST to SYN)',
  reset: 'reset after connecting',
  'timeout-connect': 'timed out connecting',
  'timeout-queue': 'timed out in queue',
};
const COLORS = ['#3b6fd8', '#d8843b', '#2f9e5a', '#b43bd8', '#d83b5a', '#6b7a8f'];

export function runLabel(r: QueueBenchResult, all: readonly QueueBenchResult[]): string {
  const parts: string[] = [];
  const differ = <K extends keyof QueueBenchResult['config']>(k: K) => all.some((o) => JSON.stringify(o.config[k]) !== JSON.stringify(r.config[k]));
  if (all.length === 1 || differ('personality')) parts.push(r.config.personality);
  if (all.length === 1 || differ('backlog')) parts.push(`backlog ${r.config.backlog}`);
  if (differ('accept')) parts.push(`accept ${r.config.accept.rate ?? 'all'}/s`);
  if (differ('sysctls')) parts.push(Object.entries(r.config.sysctls).map(([k, v]) => `${k}=${v}`).join(' '));
  return parts.join(', ') || r.config.personality;
}

const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(1)}%` : '-');

/** The side-by-side terminal table. */
export function formatQueueTable(results: readonly QueueBenchResult[]): string {
  const first = results[0]!;
  const c = first.config;
  const acc = c.accept;
  let head = `${c.connections} clients (${c.clientPersonality}, give up after ${fmtMs(c.clientTimeoutMs)}) arriving ${c.arrival}` +
    `${c.arrival === 'burst' ? ` in bursts of ${c.burstSize}` : ''} over ${fmtMs(c.durationMs)}` +
    `${c.floodRate > 0 ? `, plus a spoofed SYN flood of ${c.floodRate}/s` : ''}; server accepts ` +
    `${acc.rate === null ? 'as fast as connections come' : acc.rate === 0 ? 'never' : `${acc.rate}/s in batches of ${acc.batch}`}` +
    `${acc.pauseEveryMs > 0 ? `, pausing ${fmtMs(acc.pauseMs)} every ${fmtMs(acc.pauseEveryMs)}` : ''}` +
    `${acc.serviceMs > 0 ? `, ${fmtMs(acc.serviceMs)} per connection` : ''}\n\n`;
  const rows: [string, ...string[]][] = [];
  const col = (label: string, f: (r: QueueBenchResult) => string) => rows.push([label, ...results.map(f)]);
  col('', (r) => runLabel(r, results));
  col('effective backlog', (r) => String(r.backlogEffective));
  for (const o of OUTCOMES) col(OUTCOME_LABEL[o], (r) => `${r.outcomes[o]} (${pct(r.outcomes[o], r.config.connections)})`);
  col('connect p50 / p90 / p99', (r) => (r.connectLatencyMs.count ? `${fmtMs(r.connectLatencyMs.p50)} / ${fmtMs(r.connectLatencyMs.p90)} / ${fmtMs(r.connectLatencyMs.p99)}` : '-'));
  col('connect max', (r) => (r.connectLatencyMs.count ? fmtMs(r.connectLatencyMs.max) : '-'));
  col('served p50 / p99 (from connect)', (r) => (r.serviceLatencyMs.count ? `${fmtMs(r.serviceLatencyMs.p50)} / ${fmtMs(r.serviceLatencyMs.p99)}` : '-'));
  col('needed 0 / 1 / 2 / 3+ SYN retransmissions', (r) => {
    const h = r.synRetransmissions;
    return `${h[0] ?? 0} / ${h[1] ?? 0} / ${h[2] ?? 0} / ${h.slice(3).reduce((a, b) => a + b, 0)}`;
  });
  col('accept queue max / mean', (r) => {
    const a = r.samples.map((s) => s.acceptQueue);
    return `${Math.max(0, ...a)} / ${(a.reduce((x, y) => x + y, 0) / Math.max(1, a.length)).toFixed(1)}`;
  });
  col('SYN queue max', (r) => String(Math.max(0, ...r.samples.map((s) => s.synQueue))));
  const names = [...new Set(results.flatMap((r) => Object.keys(r.counters)))].sort(counterOrder);
  for (const n of names) col(n, (r) => String(r.counters[n] ?? 0));
  col('simulated / wall clock', (r) => `${fmtMs(r.simulatedMs)} / ${fmtMs(r.wallMs)}`);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[i]!))).join('   '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('   '));
  return head + lines.join('\n') + '\n';
}

function counterOrder(a: string, b: string): number {
  const rank = (n: string) => (/ListenOverflows|ListenDrops/.test(n) ? 0 : /Syncookies|ReqQ/.test(n) ? 1 : /^TcpSc/.test(n) ? 2 : /^TcpExt/.test(n) ? 3 : 4);
  return rank(a) - rank(b) || a.localeCompare(b);
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

interface Series { label: string; color: string; points: [number, number][] }

/** A line chart as an SVG string. */
function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], opts: { step?: boolean; xMax?: number; yMax?: number; id: string }): string {
  const W = 640, H = 260, L = 56, R = 12, T = 28, B = 40;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = opts.xMax ?? Math.max(1, ...xs);
  const yMax = opts.yMax ?? niceCeil(Math.max(1, ...ys));
  const sx = (x: number) => L + ((W - L - R) * x) / xMax;
  const sy = (y: number) => H - B - ((H - T - B) * y) / yMax;
  let svg = `<svg id="${opts.id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`;
  svg += `<text x="${L}" y="16" class="title">${esc(title)}</text>`;
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    svg += `<line x1="${L}" x2="${W - R}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" class="grid"/>`;
    svg += `<text x="${L - 6}" y="${(sy(y) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmtNum(y)}</text>`;
    const x = (xMax * i) / 4;
    svg += `<text x="${sx(x).toFixed(1)}" y="${H - B + 16}" class="tick" text-anchor="middle">${fmtNum(x)}</text>`;
  }
  svg += `<text x="${(L + W - R) / 2}" y="${H - 6}" class="axis" text-anchor="middle">${esc(xLabel)}</text>`;
  svg += `<text x="12" y="${(T + H - B) / 2}" class="axis" transform="rotate(-90 12 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    let d = '';
    s.points.forEach(([x, y], j) => {
      if (j === 0) d += `M${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      else if (opts.step) d += `H${sx(x).toFixed(1)}V${sy(y).toFixed(1)}`;
      else d += `L${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
    });
    svg += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" class="series"/>`;
    svg += `<rect x="${W - R - 190}" y="${T + 4 + i * 16}" width="10" height="10" fill="${s.color}"/><text x="${W - R - 175}" y="${T + 13 + i * 16}" class="legend">${esc(s.label)}</text>`;
  });
  return `${svg}</svg>`;
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
function fmtNum(v: number): string {
  return Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toFixed(2)}`;
}

/** Stacked horizontal bars of the outcomes, one bar per run. */
function outcomeChart(results: readonly QueueBenchResult[]): string {
  const W = 640, rowH = 26, L = 170, T = 28;
  const H = T + results.length * rowH + 58;
  const colors: Record<Outcome, string> = { served: '#2f9e5a', refused: '#d8843b', reset: '#d83b5a', 'timeout-connect': '#6b7a8f', 'timeout-queue': '#b43bd8' };
  let svg = `<svg id="outcomes" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="outcomes">`;
  svg += `<text x="8" y="16" class="title">What happened to each client</text>`;
  results.forEach((r, i) => {
    const y = T + i * rowH;
    svg += `<text x="${L - 8}" y="${y + 15}" class="tick" text-anchor="end">${esc(runLabel(r, results))}</text>`;
    let x = L;
    for (const o of OUTCOMES) {
      const w = ((W - L - 12) * r.outcomes[o]) / r.config.connections;
      if (w > 0) svg += `<rect class="bar" data-outcome="${o}" x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colors[o]}"><title>${OUTCOME_LABEL[o]}: ${r.outcomes[o]}</title></rect>`;
      x += w;
    }
  });
  let lx = 8;
  let ly = H - 40;
  for (const o of OUTCOMES) {
    const w = 14 + OUTCOME_LABEL[o].length * 6.4 + 14;
    if (lx + w > W) { lx = 8; ly += 18; }
    svg += `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${colors[o]}"/><text x="${lx + 14}" y="${ly + 9}" class="legend">${OUTCOME_LABEL[o]}</text>`;
    lx += w;
  }
  return `${svg}</svg>`;
}

/** The self-contained HTML report. */
export function formatQueueHtml(results: readonly QueueBenchResult[], opts: { title?: string; generatedAt?: string } = {}): string {
  const title = opts.title ?? 'wtcp bench queue';
  const queueSeries: Series[] = results.map((r, i) => ({
    label: runLabel(r, results), color: COLORS[i % COLORS.length]!, points: r.samples.map((s) => [s.t / 1000, s.acceptQueue] as [number, number]),
  }));
  const synSeries: Series[] = results.map((r, i) => ({
    label: runLabel(r, results), color: COLORS[i % COLORS.length]!, points: r.samples.map((s) => [s.t / 1000, s.synQueue] as [number, number]),
  }));
  const cdf: Series[] = results.map((r, i) => {
    const n = r.config.connections;
    const pts: [number, number][] = [[0, 0]];
    const L = r.latencies;
    const step = Math.max(1, Math.floor(L.length / 400));
    for (let j = 0; j < L.length; j += step) pts.push([L[j]! / 1000, (j + 1) / n]);
    if (L.length) pts.push([L.at(-1)! / 1000, L.length / n]);
    return { label: runLabel(r, results), color: COLORS[i % COLORS.length]!, points: pts };
  });
  const xMax = Math.max(...results.map((r) => r.simulatedMs)) / 1000;
  const table = formatQueueTable(results);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:62rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.35rem} h2{font-size:1.05rem;margin-top:1.6rem}
pre{background:#f4f6fa;padding:.7rem;border-radius:4px;overflow:auto;font-size:12.5px}
svg.chart{display:block;margin:.6rem 0;max-width:100%;height:auto;background:#fff;border:1px solid #e1e4ec;border-radius:4px}
.title{font-size:13px;font-weight:600;fill:#1d2330} .tick{font-size:11px;fill:#5a6275} .axis{font-size:11.5px;fill:#1d2330}
.legend{font-size:11px;fill:#1d2330} .grid{stroke:#e8eaf0;stroke-width:1}
.meta{color:#5a6275}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="meta">The real wtcp stack on a virtual clock: a server per column, the same clients for each. Generated ${esc(opts.generatedAt ?? new Date().toISOString())}.</p>
${outcomeChart(results)}
<h2>Accept queue over time</h2>
${lineChart('Accept queue length (Recv-Q)', 'simulated time (s)', 'connections', queueSeries, { step: true, xMax, id: 'accept-queue' })}
<h2>SYN queue over time</h2>
${lineChart('SYN queue length (half-open)', 'simulated time (s)', 'entries', synSeries, { step: true, xMax, id: 'syn-queue' })}
<h2>Connect latency</h2>
${lineChart('Connect latency CDF (clients that never connected keep the curve below 1)', 'latency (s)', 'fraction of clients', cdf, { yMax: 1, id: 'latency-cdf' })}
<h2>Numbers</h2>
<pre id="table">${esc(table)}</pre>
<h2>Configuration</h2>
<pre id="config">${esc(JSON.stringify(results.map((r) => r.config), null, 2))}</pre>
</body></html>
`;
}
