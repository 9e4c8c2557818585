/**
 * A ledger's `entries/` directory (or its `committed` file) the process may not read: the gateway's start is refused
 * DATA_DIR_UNUSABLE (fix the permissions; nothing is damaged) and `ledger verify` gives no verdict (exit 2). Found by
 * review: the checks before a store is used (ledger/level-open-checks.ts) took any failure to list or stat it for
 * "not there": with LevelDB's files gone, a new store was made over the log's segment files and the gateway started a
 * log at entry 0; an empty log with an unreadable `entries/` verified "ok"; an unreadable committed-size hint was
 * ignored, and with it the check that a store is not older than its segment files.
 * Real EACCES: as root, the child runs without the capabilities that bypass file modes (setpriv), as
 * test/cli/start-unreadable-key-and-file-limit.test.ts does; as another user, as it is. Needs the built dist/ (npx tsc -b).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { gatewayWithDevices, Pki, startTestGateway, type TestGateway } from '../gateway/harness.js';
import { CLI_MAIN } from './cli-sandbox.js';

const dist = join(process.cwd(), 'dist');

/** `node ARGS` as a process that file modes bind: as root, without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. */
const unprivileged = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(
    ...((process.getuid?.() === 0 ? ['setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, ...args]] : [process.execPath, args]) as [string, string[]]),
    { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 },
  );

/** startGateway (the built one) on `dataDir`, closed at once: `started`, or its refusal as the CLI prints it. */
const START = `const { startGateway } = await import(${JSON.stringify(pathToFileURL(join(dist, 'gateway/gateway.js')).href)});
const { describeFailure } = await import(${JSON.stringify(pathToFileURL(join(dist, 'cli/failure.js')).href)});
try { await (await startGateway({ dataDir: process.env.DATA_DIR, host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent', verifyWorkers: 1 })).close(); console.log('started'); }
catch (e) { console.log(describeFailure(e)); }
process.exit(0);`;

const startOn = (dataDir: string): string => {
  const r = unprivileged(['--input-type=module', '-e', START], { DATA_DIR: dataDir });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
};

const verify = (dataDir: string, json: boolean) => unprivileged([CLI_MAIN, 'ledger', 'verify', ...(json ? ['--json'] : []), '--data', dataDir]);

/** Whether a process that file modes bind may not open `path` (chmod 000): the premise of these tests. */
const closedTo = (path: string): boolean => unprivileged(['-e', `require('node:fs').openSync(${JSON.stringify(path)}, 'r')`]).status !== 0;

describe('a ledger directory the process may not read: DATA_DIR_UNUSABLE, no verdict; never taken for a missing one', () => {
  let t: TestGateway | undefined;
  const closed: string[] = [];
  afterEach(async () => {
    for (const p of closed.splice(0)) await chmod(p, 0o755);
    await t?.stop();
    t = undefined;
  });
  const close = async (path: string) => {
    await chmod(path, 0o000);
    closed.push(path);
  };

  /** The start on `data` and `ledger verify` of it (both outputs) give no verdict: an access failure, named. */
  const refused = (data: string, what: RegExp) => {
    expect(startOn(data)).toMatch(new RegExp(`^\\[DATA_DIR_UNUSABLE\\] the log in .* cannot be opened: EACCES: permission denied, ${what.source}`));
    for (const json of [false, true]) {
      const r = verify(data, json);
      expect(r.status, r.stdout).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/EACCES/);
    }
  };

  test("LevelDB's files gone, entries/ not readable: refused, no new store made over the log's segment files", async (ctx) => {
    ({ t } = await gatewayWithDevices(1));
    await t.gw.close();
    const led = join(t.dir, 'data', 'ledger');
    const entries = join(led, 'entries');
    const segments = await readdir(entries);
    for (const name of await readdir(led)) if (name !== 'entries') await rm(join(led, name), { recursive: true });
    await close(entries);
    if (!closedTo(entries)) ctx.skip('this process reads a directory of mode 000 (capabilities it cannot drop)');
    // Was: the start went on, LevelDB made a new store and the gateway started a new log at entry 0.
    expect(startOn(join(t.dir, 'data'))).toMatch(/^\[DATA_DIR_UNUSABLE\] the log in .* cannot be opened: EACCES: permission denied, scandir '.*entries'/);
    expect(await readdir(led)).toEqual(['entries']);
    await chmod(entries, 0o755);
    expect(await readdir(entries)).toEqual(segments);
  }, 60_000);

  test('a log with no entry yet, its entries/ not readable: refused; `ledger verify` exit 2, not "ok"', async (ctx) => {
    t = await startTestGateway(await Pki.create());
    expect(t.gw.ledger.size()).toBe(0);
    await t.gw.close();
    const data = join(t.dir, 'data');
    const entries = join(data, 'ledger', 'entries');
    await mkdir(entries);
    await close(entries);
    if (!closedTo(entries)) ctx.skip('this process reads a directory of mode 000 (capabilities it cannot drop)');
    refused(data, /scandir '.*entries'/);
    await chmod(entries, 0o755);
    expect(startOn(data)).toBe('started');
  }, 60_000);

  test('a segment file it may not read (read back at start: the registry, the leaf hashes): DATA_DIR_UNUSABLE, not LEDGER_DAMAGED', async (ctx) => {
    // Found by review: the reads of the log at start (its last block, the registry, the token rows) were all "damaged",
    // whose remedy (a backup's restore) leaves the permissions as they were.
    ({ t } = await gatewayWithDevices(1));
    await t.gw.close();
    const data = join(t.dir, 'data');
    const entries = join(data, 'ledger', 'entries');
    const segmentFiles = (await readdir(entries)).filter((n) => /\.(cbor|leaves)$/.test(n));
    expect(segmentFiles.length, 'a segment and its leaf hashes at least').toBeGreaterThanOrEqual(2); // else the loop checks nothing
    for (const name of segmentFiles) {
      const path = join(entries, name);
      await close(path);
      if (!closedTo(path)) ctx.skip('this process reads a file of mode 000 (capabilities it cannot drop)');
      expect(startOn(data), name).toMatch(new RegExp(`^\\[DATA_DIR_UNUSABLE\\] the log in .* cannot be (opened|read back): EACCES: permission denied, open '.*${name}'`));
      await chmod(path, 0o644);
    }
    expect(startOn(data)).toBe('started');
  }, 60_000);

  test('its committed-size hint (entries/committed) not readable: refused; `ledger verify` exit 2, not "ok"', async (ctx) => {
    ({ t } = await gatewayWithDevices(1));
    await t.gw.close();
    const data = join(t.dir, 'data');
    const hint = join(data, 'ledger', 'entries', 'committed');
    await close(hint);
    if (!closedTo(hint)) ctx.skip('this process reads a file of mode 000 (capabilities it cannot drop)');
    refused(data, /open '.*committed'/);
    await chmod(hint, 0o644);
    expect(startOn(data)).toBe('started');
    expect(verify(data, false).status).toBe(0);
  }, 60_000);
});
