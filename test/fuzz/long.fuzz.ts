// What `npm run fuzz` runs (fuzz/run.mjs, through fuzz/vitest.config.ts): the frame-input property of
// frames.test.ts for as long as asked, per personality, and on a failure the smallest failing batch
// fast-check found, saved into test/fuzz/corpus/ as a pcap plus a .txt saying what broke (every
// corpus file is replayed by frames.test.ts from then on). `--capture` re-captures the seed corpus.
//
// Environment (set by fuzz/run.mjs): WTCP_FUZZ_SECONDS (total, shared among the personalities),
// WTCP_FUZZ_PERSONALITY (comma-separated config names, default all), WTCP_FUZZ_SEED,
// WTCP_FUZZ_MAX_FRAMES (frames per batch, default 32), WTCP_FUZZ_CAPTURE=1, WTCP_FUZZ_OUT (where
// failures are saved, default the corpus), WTCP_FUZZ_SELFTEST=1 (a planted bug: any frame longer
// than 1000 bytes counts as a failure, to show the save-and-shrink path works).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { it, expect } from 'vitest';
import { captureCorpus } from './capture.js';
import { fuzzTotals, runArb, CORPUS_DIR, FUZZ_CONFIGS, loadCorpus, pcapBytes, runSpecBatch } from './harness.js';

const env = process.env;

if (env.WTCP_FUZZ_CAPTURE === '1') {
  it('captures the seed corpus', async () => {
    mkdirSync(CORPUS_DIR, { recursive: true });
    for (const [name, frames] of await captureCorpus()) {
      writeFileSync(join(CORPUS_DIR, name), pcapBytes(frames));
      console.log(`wtcp fuzz: wrote ${join(CORPUS_DIR, name)} (${frames.length} frames)`);
    }
  });
} else {
  const seconds = Number(env.WTCP_FUZZ_SECONDS ?? 60);
  const wanted = (env.WTCP_FUZZ_PERSONALITY ?? '').split(',').filter((s) => s !== '');
  const configs = wanted.length === 0 ? FUZZ_CONFIGS : FUZZ_CONFIGS.filter((c) => wanted.includes(c.name) || wanted.includes(c.personality));
  const seed = env.WTCP_FUZZ_SEED !== undefined ? Number(env.WTCP_FUZZ_SEED) : (Date.now() % 0x7fffffff);
  const maxFrames = Number(env.WTCP_FUZZ_MAX_FRAMES ?? 32);
  const corpus = loadCorpus().map((f) => f.frames);
  const selfTest = env.WTCP_FUZZ_SELFTEST === '1';
  const outDir = env.WTCP_FUZZ_OUT ?? CORPUS_DIR;

  it('personalities to fuzz', () => {
    expect(configs.length, `no personality matches ${wanted.join(',')}; known: ${FUZZ_CONFIGS.map((c) => c.name).join(', ')}`).toBeGreaterThan(0);
  });

  for (const config of configs) {
    it(`fuzz ${config.name} for ${(seconds / configs.length).toFixed(0)} s (seed ${seed})`, async () => {
      let failing: { frames: Uint8Array[]; times: number[] } = { frames: [], times: [] };
      let current: { frames: Uint8Array[]; times: number[] } = { frames: [], times: [] };
      let runs = 0;
      fuzzTotals.clear();
      const started = Date.now();
      const details = await fc.check(
        fc.asyncProperty(runArb({ maxFrames, corpus: corpus.length > 0, maxRounds: 4 }), async (rounds) => {
          runs++;
          try {
            await runSpecBatch(config, corpus, rounds, (frames, times) => {
              current = { frames, times };
              if (selfTest && frames.some((x) => x.length > 1000)) throw new Error('self-test: a frame longer than 1000 bytes (the planted bug)');
            });
          } catch (e) {
            failing = current; // the last failing run is fast-check's smallest counterexample
            throw e;
          }
        }),
        { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: (seconds * 1000) / configs.length, markInterruptAsFailure: false, endOnFailure: false },
      );
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (!details.failed) {
        const totals = [...fuzzTotals].filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
        console.log(`wtcp fuzz: ${config.name}: ${runs} runs in ${secs} s, no failure (seed ${seed})\n  counters over all runs: ${totals}`);
        fuzzTotals.clear();
        return;
      }
      const bytes = pcapBytes(failing.frames, failing.times);
      const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
      mkdirSync(outDir, { recursive: true });
      const base = join(outDir, `failure-${config.name}-${hash}`);
      writeFileSync(`${base}.pcap`, bytes);
      const message = String((details.errorInstance as Error | undefined)?.message ?? 'unknown');
      writeFileSync(`${base}.txt`, [
        `personality: ${config.name}`, `seed: ${seed}`, `path: ${details.counterexamplePath ?? ''}`,
        `frames: ${failing.frames.length} (shrunk ${details.numShrinks} times; pcap timestamps are the virtual clock's, which the replay keeps)`, `failure: ${message}`, '',
        'reproduce: npm run fuzz -- --seconds 10 --personality ' + config.name + ' --seed ' + seed,
        'replayed by test/fuzz/frames.test.ts ("corpus replay") as every corpus file is', '',
      ].join('\n'));
      console.error(`wtcp fuzz: ${config.name}: FAILURE after ${runs} runs (seed ${seed}): ${message}\n` +
        `  the ${failing.frames.length} frame(s) of the smallest failing batch are in ${base}.pcap (what broke: ${base}.txt)`);
      expect.fail(`${config.name}: ${message} (saved ${base}.pcap)`);
    }, (seconds / configs.length + 600) * 1000);
  }
}
