// `npm run fuzz` runs test/fuzz/long.fuzz.ts with this config (fuzz/run.mjs sets the time limit).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: new URL('..', import.meta.url).pathname,
  test: {
    include: ['test/fuzz/long.fuzz.ts'],
    testTimeout: 0,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
