/**
 * Two start failures that are not the key's or the log's fault, and whose remedy is not a backup's restore (found by
 * review: they were named CHECKPOINT_KEY_UNUSABLE and LEDGER_DAMAGED, both "restore it from a backup"):
 *  - a checkpoint key file the gateway may not read (EACCES): DATA_DIR_UNUSABLE, fix its permissions. The built CLI
 *    runs as root without its capabilities (setpriv), as test/cli/checkpoint-key-unlistable.test.ts does, not as
 *    `nobody` (a clone under a 0700 temp directory is closed to that user);
 *  - the process out of file descriptors (its open-files limit) when it reads the key or opens the store:
 *    DATA_DIR_UNUSABLE, saying to raise the limit (ulimit -n). Real EMFILEs: a child under `prlimit --nofile` whose
 *    preload loads the start's modules, then takes every descriptor but a few, so that the start (the built CLI's,
 *    or startGateway's from dist/ for the key read, which comes before anything the CLI could still load) runs out.
 * Nothing is written by either refusal: the log then starts as it was. Needs the built dist/ (npx tsc -b).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE, loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { Pki, startTestGateway } from '../gateway/harness.js';

const dist = join(process.cwd(), 'dist');
const main = join(dist, 'cli/main.js');

/** A preload: the start's modules loaded (they open files), then every file descriptor taken but FREE_FDS. */
const FILL_FDS = `import { closeSync, openSync } from 'node:fs';
for (const m of ['cli/commands/index.js', 'cli/failure.js', 'protocol/printable.js', 'gateway/gateway.js']) await import(${JSON.stringify(pathToFileURL(dist).href)} + '/' + m);
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
for (let i = 0; i < Number(process.env.FREE_FDS); i++) closeSync(held.pop());
`;

describe('start failures of the process, not of the key or the log: DATA_DIR_UNUSABLE', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'op-start-process-'));
    dirs.push(d);
    return d;
  };
  const gatewayEnv = (data: string) => ({ ...process.env, ORIGINPROOF_DATA_DIR: data, ORIGINPROOF_HTTP_PORT: '0', ORIGINPROOF_MQTT_PORT: '0', ORIGINPROOF_HOST: '127.0.0.1', ORIGINPROOF_LOG_LEVEL: 'silent' });

  test('a key file the gateway may not read (EACCES): DATA_DIR_UNUSABLE, exit 2, nothing written', async () => {
    const root = await tempDir();
    const data = join(root, 'data');
    const key = await loadOrCreateCheckpointKey(data, { logDir: join(data, 'ledger') });
    const text = await readFile(key.path, 'utf8');
    await chmod(key.path, 0o000);
    // As this user, without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (root's, which read any file).
    const r = spawnSync('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, main, 'gateway'], { env: gatewayEnv(data), encoding: 'utf8', timeout: 30_000 });
    await chmod(key.path, 0o600);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^\[DATA_DIR_UNUSABLE\] checkpoint key file .* cannot be read: EACCES/);
    expect(await readFile(key.path, 'utf8')).toBe(text);
    expect(await readdir(join(data, 'ledger'))).toEqual([]);
  }, 40_000);

  test('no file descriptor left, reading the key or opening the store: DATA_DIR_UNUSABLE (ulimit -n); the log then starts as it was', async () => {
    const root = await tempDir();
    const pki = await Pki.create();
    const first = await startTestGateway(pki, {}, root);
    const size = first.gw.ledger.size();
    const checkpoint = first.gw.ledger.latestCheckpoint();
    await first.gw.close();
    const data = join(root, 'data');
    const preload = join(root, 'fill-fds.mjs');
    await writeFile(preload, FILL_FDS);
    const underLimit = (freeFds: number, args: string[]) =>
      spawnSync('prlimit', ['--nofile=256', process.execPath, '--import', pathToFileURL(preload).href, ...args], { env: { ...gatewayEnv(data), FREE_FDS: String(freeFds) }, encoding: 'utf8', timeout: 30_000 });

    // The built CLI, two descriptors left: the key is read, LevelDB's open runs out (`IO error: ...: Too many open files`).
    const cli = underLimit(2, [main, 'gateway']);
    expect(cli.status, cli.stderr).toBe(2);
    expect(cli.stderr).toMatch(/^\[DATA_DIR_UNUSABLE\] the log in .* Too many open files/);
    expect(cli.stderr).toMatch(/ulimit -n/);

    // None left: the key's read fails (node's EMFILE). Printed as the CLI prints it.
    const start = `const { startGateway } = await import(${JSON.stringify(pathToFileURL(join(dist, 'gateway/gateway.js')).href)});
const { describeFailure } = await import(${JSON.stringify(pathToFileURL(join(dist, 'cli/failure.js')).href)});
try { await (await startGateway({ dataDir: process.env.ORIGINPROOF_DATA_DIR, host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent', verifyWorkers: 1 })).close(); console.log('started'); }
catch (e) { console.log(describeFailure(e)); }
process.exit(0);`;
    const keyRead = underLimit(0, ['--input-type=module', '-e', start]);
    expect(keyRead.status, keyRead.stderr).toBe(0);
    expect(keyRead.stdout).toMatch(/^\[DATA_DIR_UNUSABLE\] checkpoint key file .*gateway-checkpoint\.key\.json cannot be read: EMFILE/);
    expect(keyRead.stdout).toMatch(/ulimit -n/);

    const again = await startTestGateway(pki, {}, root);
    expect([again.gw.ledger.size(), again.gw.ledger.latestCheckpoint()]).toEqual([size, checkpoint]);
    await again.gw.close();
    expect((await readdir(data)).filter((n) => n.startsWith(CHECKPOINT_KEY_FILE))).toEqual([CHECKPOINT_KEY_FILE]);
  }, 60_000);
});
