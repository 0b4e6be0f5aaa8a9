import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests create network namespaces and TAP devices: keep them out of each other's way.
    fileParallelism: true,
    pool: 'forks',
  },
});
