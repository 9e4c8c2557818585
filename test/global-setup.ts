/**
 * Some suites run the built CLI (`node dist/cli/main.js`): build once before any test runs, so no suite rebuilds
 * dist/ while another is executing it. Incremental, so an up-to-date tree costs a second or two.
 */
import { spawnSync } from 'node:child_process';

export default function setup(): void {
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('tsc build failed before the tests (see above)');
}
