/**
 * The CLI tests' common setup: a temp dir for one test file (removed after it) and the built CLI
 * (`node dist/cli/main.js`) run in it, synchronously or, for commands that talk to a server in the test's own
 * process, asynchronously. `out` is stdout and stderr together, `err` stderr alone.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export const CLI_MAIN = join(process.cwd(), 'dist/cli/main.js');

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

export function cliSandbox(prefix: string): {
  dir: string;
  p: (name: string) => string;
  cli: (...args: string[]) => CliRun;
  cliAsync: (...args: string[]) => Promise<CliRun>;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    p: (name) => join(dir, name),
    cli: (...args) => {
      const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { cwd: dir, encoding: 'utf8' });
      return { code: r.status, out: r.stdout + r.stderr, err: r.stderr };
    },
    cliAsync: (...args) =>
      new Promise((resolve) => {
        execFile(process.execPath, [CLI_MAIN, ...args], { cwd: dir, encoding: 'utf8' }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr, err: stderr }));
      }),
  };
}
