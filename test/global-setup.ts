/**
 * Before any suite runs: build dist/ once (some suites run the built CLI, `node dist/cli/main.js`, and no suite may
 * rebuild it while another executes it), build the verifier web page into dist/web (the browser tests load it from a
 * running gateway), then type-check the tests and the page (TypeScript strict applies to them too; vitest only strips
 * types). Incremental where it can be, so an up-to-date tree costs a few seconds.
 */
import { spawnSync } from 'node:child_process';

function run(what: string, args: string[]): void {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${what} failed before the tests (see above)`);
}

const tsc = (project: string) => run(`tsc -p ${project}`, ['node_modules/typescript/bin/tsc', '-p', project]);

export default function setup(): void {
  tsc('tsconfig.json');
  run('vite build web', ['node_modules/vite/bin/vite.js', 'build', 'web']);
  tsc('tsconfig.test.json');
  tsc('web/tsconfig.json');
}
