// Baseline for target 1: this machine's Linux kernel doing passive opens over loopback, both ends in
// one thread on one core (bench/kernel/passive_open.c, compiled with cc into a temporary directory).
// The kernel also does all of the client's work here, which wtcp gets for free (pre-built frames):
// the ratio is therefore generous to wtcp by up to ~2x, and is reported as such.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../lib/measure.mjs';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'kernel', 'passive_open.c');

export async function run({ runs = 7, sampleMs = 400, B = 64, cpu = 0 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'wtcp-bench-'));
  try {
    const exe = path.join(dir, 'passive_open');
    const cc = process.env.CC ?? 'cc';
    try {
      execFileSync(cc, ['-O2', '-o', exe, SRC], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return { figures: [], checks: { compiled: false }, note: `kernel baseline skipped: ${cc} failed: ${String(e.stderr ?? e.message).slice(0, 300)}` };
    }
    const argv = [String(runs), String(sampleMs), '200', String(B)];
    const out = (cpu != null ? execFileSync('taskset', ['-c', String(cpu), exe, ...argv], { encoding: 'utf8', timeout: 120_000 })
      : execFileSync(exe, argv, { encoding: 'utf8', timeout: 120_000 }))
      .trim().split('\n').pop();
    const r = JSON.parse(out);
    const rate = median(r.rates);
    return {
      figures: [{
        id: 'kernel_loopback', title: `Linux kernel, loopback, connect+accept+close, client and server in one thread (batch ${B})`,
        value: rate, unit: 'conn/s', runs, samples: r.rates.map(Math.round),
        extra: { errors: r.errors, kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), pinnedToCpu: cpu },
      }],
      checks: { compiled: true, noErrors: r.errors === 0 },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
