import { defineConfig } from 'vitest/config';

// .ci/run sets ORIGINPROOF_TEST_JSON so that `npm test`, unchanged, also writes vitest's JSON report.
const jsonReport = process.env.ORIGINPROOF_TEST_JSON;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: integration suites bind real ports and LevelDB dirs; keep parallelism modest.
    maxWorkers: 2,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
