import { defineConfig } from 'vitest/config';

// The fast tier: real workflows on a Temporal dev server of its own, stub activities; no Postgres,
// no MinIO, no stack (test/fast/globalSetup.ts starts the server and bundles the workflows once).
export default defineConfig({
  test: {
    include: ['test/fast/**/*.test.ts'],
    globalSetup: ['test/fast/globalSetup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Files share their fork's imports (the SDK is slow to load); each still runs its own worker.
    isolate: false,
    testTimeout: 60_000,
    hookTimeout: 240_000,
    reporters: ['default'],
  },
});
