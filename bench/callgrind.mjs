// Instructions per passive-open cycle, independent of the clock: runs the cycle of bench/lib/cycle.mjs
// (FIN close, B = 64, clock frozen) with N completed connections kept in the accept queue, under
// `valgrind --tool=callgrind`, twice (K = 0 and K = 3,000 measured steps after the same setup), and
// prints (Ir(K) - Ir(0)) / (K * 64): JS host work + WASM core, per connection. Equal figures for
// N = 1,000 / 100,000 / 1,000,000 mean the work per operation does not depend on the queue depth;
// any wall-clock growth is then memory stalls. Slow (about 1 min per N below 1M, 6 min at 1M).
//
// Usage: node bench/callgrind.mjs [N ...]          (default: 1000 100000)
//        node bench/callgrind.mjs --child N K       (internal)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const B = 64;

if (process.argv[2] === '--child') {
  const { makeStack } = await import('./lib/wtcp.mjs');
  const { buildRing, Cycle } = await import('./lib/cycle.mjs');
  const N = Number(process.argv[3]), K = Number(process.argv[4]);
  const R = Math.max(16384, Math.ceil((N + 16 * B) / B) * B);
  const ring = buildRing(R);
  const s = await makeStack({ maxSyn: 4096, maxConn: N + 16 * B + 64, backlog: N + 8192, now: 1000 });
  const c = new Cycle(s, ring, { B, queued: N, clock: 'frozen', now0: 1000 });
  c.prefill();
  c.run(200);
  c.run(K);
  process.stdout.write(`cycles ${c.cycles}\n`);
} else {
  const Ns = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const K = 3000;
  const dir = mkdtempSync(path.join(tmpdir(), 'wtcp-cg-'));
  try {
    for (const N of Ns.length ? Ns : [1000, 100000]) {
      const ir = [];
      for (const k of [0, K]) {
        const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${path.join(dir, `cg.${N}.${k}`)}`,
          '--smc-check=all-non-file', process.execPath, '--single-threaded', '--no-liftoff', SELF, '--child', String(N), String(k)],
        { encoding: 'utf8', maxBuffer: 64 << 20 });
        const m = (r.stderr ?? '').match(/Collected : (\d+)/);
        if (!m) throw new Error(`valgrind failed: ${(r.stderr ?? '').slice(-500)}`);
        ir.push(Number(m[1]));
      }
      console.log(`N = ${N.toLocaleString('en-US')} queued: ${((ir[1] - ir[0]) / (K * B)).toFixed(0)} instructions per connection`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
