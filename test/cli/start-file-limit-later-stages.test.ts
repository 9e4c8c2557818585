/**
 * The process out of file descriptors (its open-files limit) at a start stage after the store is open: the log's
 * read back (its segment files), the HTTP API's build (its modules and files), a listener, a verify worker. Each is
 * refused DATA_DIR_UNUSABLE saying to raise the limit (ulimit -n), as the key's read and the store's open are
 * (test/cli/start-unreadable-key-and-file-limit.test.ts). Found by review: they failed with LEDGER_DAMAGED ("restore the
 * whole data directory from a backup"), node's bare EMFILE without a start code, or LISTEN_FAILED ("free the port").
 * Real EMFILEs: a child under `prlimit --nofile` whose preload loads the start's modules, then takes every descriptor
 * but FREE_FDS; which stage runs out depends on how many are left, so the start runs for each count from 1 up to
 * one that starts, and every refusal must be one of ours. Needs the built dist/ (npx tsc -b).
 * A module @fastify/swagger requires as it registers, whose read fails, is the HTTP API's build refusal too (it was an
 * uncaught exception thrown out of Fastify's loader): test/gateway/http-plugin-guard.test.ts makes it every time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { gatewayWithDevices, startTestGateway, type TestGateway } from '../gateway/harness.js';

const dist = join(process.cwd(), 'dist');
const url = (m: string) => JSON.stringify(pathToFileURL(join(dist, m)).href);

/** A preload: the start's modules loaded (they open files), then every file descriptor taken but FREE_FDS. */
const FILL_FDS = `import { closeSync, openSync } from 'node:fs';
for (const m of ['cli/failure.js', 'gateway/gateway.js', 'gateway/crypto/verify-pool.js', 'gateway/start-refusal.js']) await import(${JSON.stringify(pathToFileURL(dist).href)} + '/' + m);
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
for (let i = 0; i < Number(process.env.FREE_FDS); i++) closeSync(held.pop());
`;

/** startGateway (the built one) closed at once: `started`, or its refusal as the CLI prints it. */
const START = `const { startGateway } = await import(${url('gateway/gateway.js')});
const { describeFailure } = await import(${url('cli/failure.js')});
try { await (await startGateway({ dataDir: process.env.DATA_DIR, host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent', verifyWorkers: 0 })).close(); console.log('started'); }
catch (e) { console.log(describeFailure(e)); }
process.exit(0);`;

/** A verify pool of one worker, no descriptor left: why its worker could not start, and whether that is the limit. */
const POOL = `const { VerifyPool } = await import(${url('gateway/crypto/verify-pool.js')});
const { isOpenFilesLimit } = await import(${url('gateway/start-refusal.js')});
const pool = new VerifyPool(1);
const failure = await pool.started();
await pool.close();
console.log(JSON.stringify({ code: failure?.code, limit: isOpenFilesLimit(failure) }));
process.exit(0);`;

describe('no file descriptor left after the store is open: DATA_DIR_UNUSABLE (ulimit -n), never another code', () => {
  let t: TestGateway | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  const underLimit = async (freeFds: number, args: string[], env: Record<string, string> = {}) => {
    const dir = await mkdtemp(join(tmpdir(), 'op-file-limit-'));
    dirs.push(dir);
    const preload = join(dir, 'fill-fds.mjs');
    await writeFile(preload, FILL_FDS);
    const r = spawnSync('prlimit', ['--nofile=256', process.execPath, '--import', pathToFileURL(preload).href, ...args], { env: { ...process.env, ...env, FREE_FDS: String(freeFds) }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, `${freeFds} free: ${r.stderr}`).toBe(0);
    return r.stdout.trim();
  };

  test('each stage the start runs out at is refused DATA_DIR_UNUSABLE, the read back and the listeners included; the log then starts as it was', async () => {
    ({ t } = await gatewayWithDevices(1)); // entries in segment files: the read back opens them
    const size = t.gw.ledger.size();
    const checkpoint = t.gw.ledger.latestCheckpoint();
    await t.gw.close();
    const data = join(t.dir, 'data');
    const seen: string[] = [];
    for (let free = 1; free <= 40; free++) {
      const out = await underLimit(free, ['--input-type=module', '-e', START], { DATA_DIR: data });
      if (out === 'started') break;
      seen.push(out);
    }
    expect(seen.length).toBeLessThan(40); // it started at last
    for (const out of seen) {
      expect(out).toMatch(/^\[DATA_DIR_UNUSABLE\] /);
      expect(out).toMatch(/ulimit -n/);
    }
    // Past the store's open: its segment files read back (LEDGER_DAMAGED before), the HTTP API's build (node's bare
    // EMFILE) and a listener (LISTEN_FAILED).
    expect(seen.some((o) => /^\[DATA_DIR_UNUSABLE\] the log in .* cannot be read back: EMFILE/.test(o)), seen.join('\n')).toBe(true);
    expect(seen.some((o) => /^\[DATA_DIR_UNUSABLE\] the HTTP API cannot be built .*EMFILE/.test(o)), seen.join('\n')).toBe(true);
    expect(seen.some((o) => /^\[DATA_DIR_UNUSABLE\] (mqttPort|httpPort) 0: cannot listen on .*EMFILE/.test(o)), seen.join('\n')).toBe(true);
    const again = await startTestGateway(t.pki, {}, t.dir);
    expect([again.gw.ledger.size(), again.gw.ledger.latestCheckpoint()]).toEqual([size, checkpoint]);
    await again.gw.close();
  }, 180_000);

  test('a verify worker that cannot start for want of a descriptor: VerifyPool.started names it, the limit', async () => {
    // What the start waits for before it listens (gateway.ts): node's ERR_WORKER_INIT_FAILED names the errno in its
    // text only (`Worker initialization failure: EMFILE`), read by ledger/errno.ts errnoOf.
    expect(JSON.parse(await underLimit(0, ['--input-type=module', '-e', POOL]))).toEqual({ code: 'ERR_WORKER_INIT_FAILED', limit: true });
  }, 60_000);
});
