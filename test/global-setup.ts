/**
 * Before any suite runs: build dist/ once (some suites run the built CLI, `node dist/cli/main.js`, and no suite may
 * rebuild it while another executes it), then type-check the tests themselves (TypeScript strict applies to them
 * too; vitest only strips types). Incremental, so an up-to-date tree costs a few seconds.
 */
import { spawnSync } from 'node:child_process';

function tsc(project: string): void {
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc -p ${project} failed before the tests (see above)`);
}

export default function setup(): void {
  tsc('tsconfig.json');
  tsc('tsconfig.test.json');
}
