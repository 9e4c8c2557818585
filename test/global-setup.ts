/**
 * Before any suite runs: build dist/ once (some suites run the built CLI, `node dist/cli/main.js`, and no suite may
 * rebuild it while another executes it), build the verifier web page into dist/web (the browser tests load it from a
 * running gateway), then type-check the tests and the page (TypeScript strict applies to them too; vitest only strips
 * types). Nothing else runs yet, so the independent steps run side by side (two cores: the long one is the tests'
 * type-check). dist/ is built with `tsc -b`: when `npm ci`'s prepare build (or an earlier run) left it up to date, that
 * is a look at file times (under a second), where `tsc -p` re-reads and re-hashes every source (about 5 s); a changed
 * source is rebuilt either way. The type-check of the tests is never skipped: tsconfig.test.json is not incremental.
 */
import { spawn } from 'node:child_process';

function run(what: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${what} failed before the tests (${signal ?? `exit ${code}`}; see above)`))));
  });
}

const TSC = 'node_modules/typescript/bin/tsc';

export default async function setup(): Promise<void> {
  // dist/ (tsc emits everything outside dist/web) and dist/web (vite empties only that) do not overlap; the two
  // type-checks emit nothing. All four must succeed before any test starts.
  const results = await Promise.allSettled([
    run('tsc -b tsconfig.json', [TSC, '-b', 'tsconfig.json']),
    run('vite build web', ['node_modules/vite/bin/vite.js', 'build', 'web']),
    run('tsc -p tsconfig.test.json', [TSC, '-p', 'tsconfig.test.json']),
    run('tsc -p web/tsconfig.json', [TSC, '-p', 'web/tsconfig.json']),
  ]);
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (failed.length) throw new Error(failed.join('\n'));
}
