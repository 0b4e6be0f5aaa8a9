#!/usr/bin/env node
// npm run fuzz -- [--seconds N] [--personality NAME[,NAME]] [--seed N] [--max-frames N] [--out DIR] [--capture] [--self-test]
//
// Runs the frame-input fuzzer (test/fuzz/long.fuzz.ts, fast-check) for N seconds in all (default
// 60), shared among the personalities (linux-5.4, linux-6.18-cookies2, freebsd-12.1, 4.3bsd, or
// those named). A failure is shrunk to the smallest failing batch and saved as
// test/fuzz/corpus/failure-<personality>-<hash>.pcap (+ .txt); the exit status is then 1.
// --capture re-captures the seed corpus (test/fuzz/corpus/*.pcap) from two stacks talking.
// --out DIR saves failures there instead. --self-test plants a bug (any frame over 1000 bytes
// fails) to show that a failure is shrunk and saved (use it with --out).
// Exit status 2 for a bad argument.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const usage = 'usage: npm run fuzz -- [--seconds N] [--personality NAME[,NAME]] [--seed N] [--max-frames N] [--out DIR] [--capture] [--self-test]';
const env = { ...process.env };
const args = process.argv.slice(2);
function fail(msg) {
  console.error(`wtcp fuzz: ${msg}\n${usage}`);
  process.exit(2);
}
function intArg(name, v, min, max) {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max) fail(`${name} needs an integer from ${min} to ${max}, got ${v ?? 'nothing'}`);
  return String(n);
}
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
  const value = () => inline ?? args[++i];
  switch (flag) {
    case '--seconds': env.WTCP_FUZZ_SECONDS = intArg('--seconds', value(), 1, 30 * 86400); break;
    case '--seed': env.WTCP_FUZZ_SEED = intArg('--seed', value(), 0, 0x7fffffff); break;
    case '--max-frames': env.WTCP_FUZZ_MAX_FRAMES = intArg('--max-frames', value(), 1, 1000); break;
    case '--personality': {
      const v = value();
      if (!v) fail('--personality needs a name');
      // FUZZ_CONFIGS of test/fuzz/harness.ts: config names, or the personalities they use
      const known = ['linux-5.4', 'linux-6.18-cookies2', 'linux-6.18', 'freebsd-12.1', '4.3bsd'];
      for (const n of v.split(',')) if (!known.includes(n)) fail(`unknown personality "${n}"; one of: ${known.join(', ')}`);
      env.WTCP_FUZZ_PERSONALITY = v;
      break;
    }
    case '--capture': env.WTCP_FUZZ_CAPTURE = '1'; break;
    case '--self-test': env.WTCP_FUZZ_SELFTEST = '1'; break;
    case '--out': {
      const v = value();
      if (!v) fail('--out needs a directory');
      env.WTCP_FUZZ_OUT = v;
      break;
    }
    case '-h': case '--help': console.log(usage); process.exit(0); break;
    default: fail(`unknown argument ${a}`);
  }
}
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', '--config', join(root, 'fuzz', 'vitest.config.ts')], { cwd: root, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
