import { defineConfig } from 'vitest/config';

// .ci/run sets ORIGINPROOF_TEST_JSON so that `npm test`, unchanged, also writes vitest's JSON report.
const jsonReport = process.env.ORIGINPROOF_TEST_JSON;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // No fresh module graph per file: each file otherwise re-imported the gateway (fastify, TypeBox, aedes, ~0.7 s),
    // 180 s of the suite's 500 s on two cores; without isolation the whole suite took 314 s. Files share a worker's
    // module state and handles, so the setup file below fails any file that leaves a server listening or a child
    // process unreaped. Our modules keep only pure caches (keyed by their input) at module level, and no test mocks a
    // module or stubs a global; the one that sets process.env.TZ restores it.
    isolate: false,
    setupFiles: ['test/setup/no-leaked-servers.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: integration suites bind real ports and LevelDB dirs; keep parallelism modest.
    maxWorkers: 2,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
