/**
 * The HTML report of `wtcp bench queue` renders in Chromium: a self-contained file opened from
 * disk, no page error, every chart drawn with the runs' series and outcome bars, and the numbers
 * table present.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runQueueBench } from '../../src/queue-bench.js';
import { formatQueueHtml } from '../../src/queue-report.js';
import { launchChromium, type LaunchedBrowser } from '../helpers/chromium.js';

let dir = '';
let chromium: LaunchedBrowser | undefined;
beforeAll(async () => { dir = mkdtempSync(join(tmpdir(), 'wtcp-report-')); chromium = await launchChromium(); }, 60_000);
afterAll(async () => { await chromium?.close(); if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('wtcp bench queue --html', () => {
  it('renders its charts in Chromium', async () => {
    const base = { backlog: 8, accept: { rate: 40 }, connections: 400, durationMs: 3000 } as const;
    const results = [
      await runQueueBench({ ...base, personality: 'linux-5.4' }),
      await runQueueBench({ ...base, personality: 'freebsd-12.1' }),
      await runQueueBench({ ...base, personality: '4.3bsd' }),
    ];
    const file = join(dir, 'report.html');
    writeFileSync(file, formatQueueHtml(results));
    const page = await chromium!.browser.newPage({ viewport: { width: 1000, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    const info = await page.evaluate(() => {
      const box = (id: string) => { const el = document.getElementById(id); const r = el?.getBoundingClientRect(); return r ? { w: r.width, h: r.height } : null; };
      return {
        charts: ['outcomes', 'accept-queue', 'syn-queue', 'latency-cdf'].map(box),
        queueSeries: document.querySelectorAll('#accept-queue path.series').length,
        cdfSeries: document.querySelectorAll('#latency-cdf path.series').length,
        bars: [...document.querySelectorAll('#outcomes rect.bar')].map((r) => r.getAttribute('data-outcome')),
        pathLengths: [...document.querySelectorAll('#accept-queue path.series')].map((p) => (p as SVGPathElement).getTotalLength()),
        table: document.getElementById('table')?.textContent ?? '',
      };
    });
    const shot = await page.screenshot({ fullPage: true });
    await page.close();
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]); // self-contained
    for (const c of info.charts) { expect(c).not.toBeNull(); expect(c!.w).toBeGreaterThan(300); expect(c!.h).toBeGreaterThan(100); }
    expect(info.queueSeries).toBe(3);
    expect(info.cdfSeries).toBe(3);
    for (const len of info.pathLengths) expect(len).toBeGreaterThan(100);
    // every run has served clients; FreeBSD resets the overflow, Linux and 4.3BSD leave it to time out
    expect(info.bars.filter((b) => b === 'served').length).toBe(3);
    expect(info.bars).toContain('reset');
    expect(info.table).toMatch(/linux-5\.4\s+freebsd-12\.1\s+4\.3bsd/);
    expect(shot.length).toBeGreaterThan(30_000);
  }, 60_000);
});
