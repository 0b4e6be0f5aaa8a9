// Instructions per byte of the bulk transfer (bench/lib/bulk.mjs), independent of the clock and of
// the machine's load: runs K turns of the bulk loop under `valgrind --tool=callgrind`, twice (K = 0
// and K = 2,000 after the same setup and warm-up), and prints (Ir(K) - Ir(0)) / bytes received,
// JS host work + WASM core (both stacks, the link copy, both applications' copies). Slow: about a
// minute per MTU.
//
// Usage: node bench/callgrind-bulk.mjs [MTU ...]      (default: 1500 65521)
//        node bench/callgrind-bulk.mjs --child MTU K  (internal)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  const { makeBulk } = await import('./lib/bulk.mjs');
  const mtu = Number(process.argv[3]), K = Number(process.argv[4]);
  const b = await makeBulk({ mtu, sndbuf: 384 << 10, rcvbuf: 1 << 20 });
  b.run(300);
  const n = b.run(K);
  process.stdout.write(`bytes ${n} retrans ${b.pair.a.counter('TcpRetransSegs')}\n`);
} else {
  const mtus = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const K = 2000;
  const dir = mkdtempSync(path.join(tmpdir(), 'wtcp-cg-'));
  try {
    for (const mtu of mtus.length ? mtus : [1500, 65521]) {
      const ir = [];
      let bytes = 0, out = '';
      for (const k of [0, K]) {
        const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${path.join(dir, `cg.${mtu}.${k}`)}`,
          '--smc-check=all-non-file', process.execPath, '--single-threaded', '--no-liftoff', SELF, '--child', String(mtu), String(k)],
        { encoding: 'utf8', maxBuffer: 64 << 20 });
        const m = (r.stderr ?? '').match(/Collected : (\d+)/);
        if (!m) throw new Error(`valgrind failed: ${(r.stderr ?? '').slice(-500)}`);
        ir.push(Number(m[1]));
        if (k === K) { out = r.stdout.trim(); bytes = Number((out.match(/bytes (\d+)/) ?? [])[1]); }
      }
      console.log(`MTU ${mtu}: ${((ir[1] - ir[0]) / bytes).toFixed(3)} instructions per byte (${bytes.toLocaleString('en-US')} bytes in ${K} turns; ${out})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
