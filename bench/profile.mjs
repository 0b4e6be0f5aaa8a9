// Where the time goes: builds the release target WITH a name section (asc --target release --debug,
// same -O3 optimisation) into a temporary directory, runs one benchmark case under `node --cpu-prof`
// against it, and prints the functions with the most self time (WASM functions by their AS names).
//
// Usage: node bench/profile.mjs [case] ['<json options>'] [--top=N]
//   node bench/profile.mjs cycle
//   node bench/profile.mjs scaling '{"kind":"halfopen","N":100000}'
//   node bench/profile.mjs flood
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const pos = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const top = Number((process.argv.find((a) => a.startsWith('--top=')) ?? '--top=25').slice(6));
const name = pos[0] ?? 'cycle';
const opts = pos[1] ?? '{"runs":5}';

const dir = mkdtempSync(path.join(tmpdir(), 'wtcp-prof-'));
try {
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'asc'), ['assembly/index.ts', '--target', 'release', '--debug',
    '--outFile', path.join(dir, 'wtcp.wasm'), '--bindings', 'raw'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, path.join(HERE, 'worker.mjs'), name, opts], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, WTCP_WASM: path.join(dir, 'wtcp.wasm'), WTCP_BINDINGS: path.join(dir, 'wtcp.js') },
  });
  const prof = JSON.parse(readFileSync(path.join(dir, readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))), 'utf8'));
  // self time per node from the sample stream
  const self = new Map();
  const dt = prof.timeDeltas;
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)));
  const byFn = new Map();
  let total = 0;
  for (const n of prof.nodes) {
    const t = self.get(n.id) ?? 0;
    total += t;
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'}  ${cf.url ? path.basename(cf.url) : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
  }
  const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`self time, case ${name} ${opts} (total ${(total / 1e6).toFixed(2)} s)`);
  for (const [k, t] of rows) console.log(`${((100 * t) / total).toFixed(1).padStart(6)} %  ${k}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
