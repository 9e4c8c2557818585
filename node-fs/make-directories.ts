/**
 * node-fs/: file-system helpers for every node-side layer (ledger, gateway, device-sim, cli, bench, scripts), which
 * each may import them; they import only node: builtins, never a module of ours, so that no layer reaches into
 * another for them (device-sim, which sees protocol only, could not import gateway/). protocol/ stays free of IO.
 *
 * `mkdir -p dir`, one level at a time from the deepest directory that exists. Not node's `mkdir(dir, { recursive:
 * true })` (sync or async): where mkdir answers ENOENT below a directory that exists (/proc, /sys), node's loop makes
 * the parent again (EEXIST, a directory), retries the child, and never ends (seen: `keys generate --out /proc/x/y`,
 * `sim onboard --out /proc/x/y`, `fetch-revocations --out /proc/x/y`, a ledger opened at /proc/x/data (LevelDB's
 * classic-level makes its directory so) and a gateway started with `--data-dir /proc/x/data` hung, strace showing
 * mkdir("/proc/x") = ENOENT forever). Here that is an error naming the directory. Every directory our code makes on
 * the way to a path is made here: no recursive mkdir of node's is left outside the tests.
 */
import { mkdirSync, statSync, type Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

function cannot(d: string, why: string, code?: string): never {
  throw Object.assign(new Error(`directory ${d} cannot be made: ${why}`), code ? { code } : {});
}

/** The directories to make for `dir`, outermost first (absolute); none when it is there. A file on the way: an error. */
function missingDirectories(dir: string): string[] {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    let st: Stats | undefined;
    try {
      st = statSync(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err; // ENOTDIR: a file on the way, found further up
    }
    if (st) {
      if (!st.isDirectory()) cannot(missing[0] ?? d, `${d} is not a directory`);
      return missing;
    }
    missing.unshift(d);
    if (dirname(d) === d) return missing;
  }
}

/** A mkdir of `d` that failed: fine when another process made it meanwhile, else the error naming it. */
function madeMeanwhile(d: string, err: unknown): void {
  if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(d).isDirectory()) return;
  cannot(d, (err as Error).message, (err as NodeJS.ErrnoException).code);
}

/** Returns the first directory made (absolute), as node's recursive mkdir does; undefined when `dir` was there. */
export function makeDirectories(dir: string): string | undefined {
  const missing = missingDirectories(dir);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (err) {
      madeMeanwhile(d, err);
    }
  }
  return missing[0];
}

/** makeDirectories through node:fs/promises. */
export async function makeDirectoriesAsync(dir: string): Promise<string | undefined> {
  const missing = missingDirectories(dir);
  for (const d of missing) await mkdir(d).catch((err: unknown) => madeMeanwhile(d, err));
  return missing[0];
}
