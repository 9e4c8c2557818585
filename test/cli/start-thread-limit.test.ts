/**
 * A verify worker whose thread cannot be made: `new Worker` throws at once (node's ERR_WORKER_INIT_FAILED, `EAGAIN` at
 * the process's thread limit), here for the 2nd of 3 workers. Found by review: the pool's constructor threw with its
 * 1st worker running, in a pool nobody held to close: the thread stayed for the life of the process (unreferenced once
 * it said ready, it did not keep the process alive, but a caller starting again in-process left one more each time),
 * and the start's refusal had no code (`EAGAIN (ERR_WORKER_INIT_FAILED)`). Now the pool ends the workers it made
 * (the threads back to as many as before it) and the start is refused THREADS_UNAVAILABLE.
 * A real limit: a child of the built dist/ that, once the start reaches the pool (GatewayRuntime's verifyPool, making
 * the real VerifyPool), takes a user id no other process has (RLIMIT_NPROC binds no root and counts a user's threads)
 * and lowers its own limit to one thread more than it has. No process.exit: the child must end by itself.
 * Needs root (setuid) and util-linux's prlimit; dist/ is built by the tests' global setup.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';

const dist = join(process.cwd(), 'dist');
const url = (m: string) => JSON.stringify(pathToFileURL(join(dist, m)).href);

/** The child's tools: the user to become and the limit of one more thread, its threads counted before and after. */
const LIMIT = `const { spawnSync } = await import('node:child_process');
const { readFileSync, readdirSync } = await import('node:fs');
const { VerifyPool } = await import(${url('gateway/crypto/verify-pool.js')});
const { describeFailure } = await import(${url('cli/failure.js')});
const threads = () => Number(/^Threads:\\s+(\\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
/** Threads of every process of this user (what RLIMIT_NPROC counts): this one's alone, its id being used by no other. */
const userThreads = () => {
  let n = 0;
  for (const p of readdirSync('/proc').filter((d) => /^\\d+$/.test(d))) {
    try {
      const s = readFileSync('/proc/' + p + '/status', 'utf8');
      if (/^Uid:\\s+(\\d+)/m.exec(s)[1] === String(process.getuid())) n += Number(/^Threads:\\s+(\\d+)$/m.exec(s)[1]);
    } catch {}
  }
  return n;
};
let before = -1;
const limitToOneMoreThread = () => {
  const uid = Number(process.env.THREAD_UID);
  process.setgid(uid);
  process.setuid(uid);
  before = threads();
  const r = spawnSync('prlimit', ['--pid', String(process.pid), '--nproc=' + (userThreads() + 1) + ':'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('prlimit: ' + r.stderr);
};
/** Threads back to as many as before the pool (terminate() ends them asynchronously): polled for up to 2 s. */
const threadsAfter = async () => {
  for (let i = 0; i < 100 && threads() > before; i++) await new Promise((r) => setTimeout(r, 20));
  return threads();
};
`;

/** The pool alone: its constructor's error, and the threads it leaves. */
const POOL = `${LIMIT}
limitToOneMoreThread();
try {
  new VerifyPool(3);
  console.log(JSON.stringify({ made: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, before, after: await threadsAfter() }));
}`;

/** startGateway (the built one) with verifyWorkers 3: its refusal as the CLI prints it, and the threads it leaves. */
const START = `${LIMIT}
const { startGateway } = await import(${url('gateway/gateway.js')});
try {
  const gw = await startGateway(
    { dataDir: process.env.DATA_DIR, host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent', verifyWorkers: 3, ed25519Library: 'node' },
    { verifyPool: (workers, sodium) => (limitToOneMoreThread(), new VerifyPool(workers, undefined, undefined, sodium)) },
  );
  await gw.close();
  console.log(JSON.stringify({ started: true }));
} catch (e) {
  console.log(JSON.stringify({ refusal: describeFailure(e), before, after: await threadsAfter() }));
}`;

const root = process.getuid?.() === 0 && spawnSync('prlimit', ['--version']).status === 0;

describe.skipIf(!root)('a verify worker thread that cannot be made (the thread limit): no thread left, THREADS_UNAVAILABLE', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  /**
   * `script` in a child; its one line of JSON, once it has ended by itself. From a file: with `-e` and
   * `--input-type=module`, which workers inherit, the pool's eval'd worker source is read as a module and dies at
   * once (`require` is not defined), and with it the thread this test looks for.
   */
  const run = async (script: string, env: Record<string, string> = {}) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-thread-limit-'));
    dirs.push(dir);
    const file = join(dir, 'child.mjs');
    await writeFile(file, script);
    // A user id no process has (a high one, by this process's pid): the limit counts only the child's threads.
    const uid = 3_000_000_000 + (process.pid % 1_000_000);
    const r = spawnSync(process.execPath, [file], { env: { ...process.env, ...env, DATA_DIR: join(dir, 'data'), THREAD_UID: String(uid) }, encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, `the child did not end by itself (a thread left running?): ${r.stdout} ${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  };

  test('the pool: the 2nd worker throws ERR_WORKER_INIT_FAILED, the 1st is ended', async () => {
    const out = await run(POOL);
    expect(out.code).toBe('ERR_WORKER_INIT_FAILED');
    expect(out.after).toBe(out.before);
  }, 60_000);

  test('the start: refused THREADS_UNAVAILABLE naming verifyWorkers, no thread left, the process ends', async () => {
    const out = await run(START);
    expect(out.refusal).toMatch(/^\[THREADS_UNAVAILABLE\] verifyWorkers 3: .*EAGAIN/);
    expect(out.after).toBe(out.before);
  }, 60_000);
});
