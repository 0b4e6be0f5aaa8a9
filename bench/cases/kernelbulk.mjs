// Baselines for bench/cases/bulk.mjs: this machine's kernel doing a bulk TCP transfer over loopback,
// and C memcpy (bench/kernel/bulk.c, compiled with cc -O2 into a temporary directory).
//  - kernel_bulk_1cpu: sender and receiver in one thread (non-blocking), so on the one CPU this
//    process is pinned to; loopback MTU 65536 (MSS 65483), GSO, no checksums computed (loopback
//    marks them unnecessary), one copy in (send) and one out (recv).
//  - kernel_bulk_1cpu_mss1448: the same with TCP_MAXSEG 1448 on both ends (the segments of a
//    1500-byte MTU; loopback still carries them in GSO bundles).
//  - kernel_bulk_2cpu: sender and receiver in two processes, each on its own CPU (2 CPUs, not 1).
//  - memcpy_c: memcpy of 64 KiB blocks between cache-resident buffers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../lib/measure.mjs';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'kernel', 'bulk.c');

export async function run({ runs = 7, sampleMs = 300, cpu = null } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'wtcp-bench-'));
  try {
    const exe = path.join(dir, 'bulk');
    const cc = process.env.CC ?? 'cc';
    try {
      execFileSync(cc, ['-O2', '-o', exe, SRC], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return { figures: [], checks: { compiled: false }, note: `kernel bulk baseline skipped: ${cc} failed: ${String(e.stderr ?? e.message).slice(0, 300)}` };
    }
    const go = (argv, pin = true) => {
      const out = (pin && cpu != null ? execFileSync('taskset', ['-c', String(cpu), exe, ...argv], { encoding: 'utf8', timeout: 120_000 })
        : execFileSync(exe, argv, { encoding: 'utf8', timeout: 120_000 })).trim().split('\n').pop();
      return JSON.parse(out);
    };
    const figs = [];
    let errors = 0;
    const add = (id, title, r, extra = {}) => {
      errors += r.errors;
      const G = r.rates.map((x) => x / 1e9);
      figs.push({ id, title, value: median(G), unit: 'Gbit/s', runs, samples: G.map((x) => +x.toFixed(3)), extra });
    };
    // alternate the kernel variants too, one sample each per round
    const rounds = { one: [], mss: [], two: [], mem: [] };
    for (let i = 0; i < runs; i++) {
      rounds.one.push(go(['tcp1', '1', String(sampleMs), '200', '0']));
      rounds.mss.push(go(['tcp1', '1', String(sampleMs), '200', '1448']));
      rounds.two.push(go(['tcp2', '1', String(sampleMs), '200', '0'], false));
      rounds.mem.push(go(['memcpy', '1', String(sampleMs), '50', '65536']));
    }
    const merge = (xs) => ({ rates: xs.flatMap((x) => x.rates), errors: xs.reduce((a, x) => a + x.errors, 0) });
    add('kernel_bulk_1cpu', 'Linux kernel, loopback bulk TCP (MTU 65536), sender+receiver in one thread, one CPU', merge(rounds.one), { pinnedToCpu: cpu });
    add('kernel_bulk_1cpu_mss1448', 'Linux kernel, loopback bulk TCP, TCP_MAXSEG 1448, one thread, one CPU', merge(rounds.mss), { pinnedToCpu: cpu });
    add('kernel_bulk_2cpu', `Linux kernel, loopback bulk TCP, sender and receiver processes on ${Math.min(2, cpus().length)} CPUs`, merge(rounds.two));
    add('memcpy_c', 'C memcpy, 64 KiB blocks, cache-resident, one CPU', merge(rounds.mem), { pinnedToCpu: cpu });
    return { figures: figs, checks: { compiled: true, noErrors: errors === 0 } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
