/**
 * Runs around every test file (vitest `setupFiles`). The suite runs without per-file isolation (vitest.config.ts):
 * a file's module state and handles stay in the worker for the files after it. A file must therefore close every
 * server it listens on and reap every child process it spawns; this check fails the file that does not. Timers are
 * not counted: a pending timeout (a bounded wait's deadline) is harmless and ends by itself.
 */
import { afterAll, beforeAll } from 'vitest';

const WATCHED = ['TCPServerWrap', 'ProcessWrap'] as const;
type Counts = Record<(typeof WATCHED)[number], number>;

function countOpen(): Counts {
  const open = process.getActiveResourcesInfo();
  return Object.fromEntries(WATCHED.map((w) => [w, open.filter((r) => r === w).length])) as Counts;
}

const leaked = (before: Counts, now: Counts) => WATCHED.filter((w) => now[w] > before[w]).map((w) => `${w} +${now[w] - before[w]}`);

let before: Counts;
beforeAll(() => {
  before = countOpen();
});

afterAll(async () => {
  // Closing is asynchronous (a server's close callback, a killed child's exit): give what the file closed time to go.
  const deadline = Date.now() + 3_000;
  let extra = leaked(before, countOpen());
  while (extra.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    extra = leaked(before, countOpen());
  }
  if (extra.length > 0) throw new Error(`this test file left open: ${extra.join(', ')} (close every server and reap every child process it starts)`);
});
