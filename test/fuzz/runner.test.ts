// `npm run fuzz` end to end (fuzz/run.mjs → test/fuzz/long.fuzz.ts): with a planted bug
// (--self-test: any frame over 1000 bytes fails) it must find a failure, save the failing batch as a
// pcap with a .txt saying what broke, and exit 1; bad arguments exit 2.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it, expect } from 'vitest';
import { parsePcap } from '../helpers/pcap.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

async function fuzz(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [join(root, 'fuzz', 'run.mjs'), ...args], { cwd: root, timeout: 120_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: (err.stdout ?? '') + (err.stderr ?? '') };
  }
}

describe('npm run fuzz', () => {
  it('finds the planted bug, saves the failing batch as pcap + txt, exits 1', async () => {
    const out = mkdtempSync(join(tmpdir(), 'wtcp-fuzz-'));
    try {
      const r = await fuzz('--seconds', '3', '--personality', 'linux-5.4', '--seed', '7', '--self-test', '--out', out);
      expect(r.code, r.out).toBe(1);
      expect(r.out).toMatch(/wtcp fuzz: linux-5\.4: FAILURE after \d+ runs \(seed 7\)/);
      const files = readdirSync(out).sort();
      expect(files).toHaveLength(2);
      expect(files[0]).toMatch(/^failure-linux-5\.4-[0-9a-f]{12}\.pcap$/);
      expect(files[1]).toBe(files[0]!.replace(/\.pcap$/, '.txt'));
      const frames = parsePcap(readFileSync(join(out, files[0]!))).records.map((x) => x.frame);
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.some((f) => f.length > 1000)).toBe(true);
      const txt = readFileSync(join(out, files[1]!), 'utf8');
      expect(txt).toMatch(/^personality: linux-5\.4$/m);
      expect(txt).toMatch(/^seed: 7$/m);
      expect(txt).toMatch(/planted bug/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses bad arguments with status 2', async () => {
    for (const args of [['--seconds', 'x'], ['--seconds', '0'], ['--nope'], ['--personality'], ['--personality', 'windows'], ['--seed', '-1']]) {
      const r = await fuzz(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out).toMatch(/^wtcp fuzz: /);
    }
  });
});
