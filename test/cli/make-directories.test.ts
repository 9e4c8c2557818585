/**
 * The CLI's, the simulator's, the gateway's and the ledger's paths make their directories, and fail at once, naming the
 * directory, where one cannot be made (node-fs/make-directories.ts). Found by review: `keys generate --out /proc/x/y`
 * hung for good, and so did a gateway started with `--data-dir /proc/x/data` (node's recursive mkdir retries
 * mkdir("/proc/x"), ENOENT under the existing /proc, forever); then `sim onboard --out /proc/x/y`, `fetch-revocations
 * --out /proc/x/y` and a ledger opened at /proc/x/data (LevelDB's open makes its directory so), each hung as well.
 * Each run is a child process with a timeout: a hang fails the test instead of holding it (or, in this process, leaving
 * a mkdir loop spinning under the next test files).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/gateway.js';
import { npmStartArgs } from '../../scripts/npm-start.js';
import { CLI_MAIN, cliSandbox } from './cli-sandbox.js';

const { dir, p, cli } = cliSandbox('op-keys-dirs-');
/** /proc answers mkdir with ENOENT below itself; without it (not Linux) the hang these tests catch cannot happen. */
const NO_PROC = 'no /proc here (not Linux): mkdir under it is what hung';
const hasProc = existsSync('/proc/self');

function generate(out: string): { code: number | null; signal: NodeJS.Signals | null; err: string } {
  const r = spawnSync(process.execPath, [CLI_MAIN, 'keys', 'generate', '--alg', 'ed25519', '--out', out], { cwd: dir, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, signal: r.signal, err: r.stderr };
}

describe('keys generate: the directories of --out', () => {
  test('under /proc, where mkdir answers ENOENT below a directory that exists: exit 2 at once, naming it', (ctx) => {
    ctx.skip(!hasProc, NO_PROC);
    const r = generate('/proc/op-no-such-dir/key');
    expect(r.signal, 'killed by the timeout: keys generate hung').toBeNull();
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('directory /proc/op-no-such-dir cannot be made');
  });

  test('a file on the way: exit 2 naming it as not a directory', () => {
    writeFileSync(p('plain'), 'x');
    const r = generate('plain/sub/key');
    expect(r.signal).toBeNull();
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('plain is not a directory');
  });

  test('directories that are not there yet are made (control)', () => {
    const r = generate('a/b/c/key');
    expect([r.code, r.signal], r.err).toEqual([0, null]);
    expect(lstatSync(p('a/b/c/key.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(p('a/b/c/key.pub.json'))).toBe(true);
  });
});

describe("the gateway's --data-dir", () => {
  test('under /proc: the start is refused at once, DATA_DIR_UNUSABLE naming the directory, exit 2', (ctx) => {
    ctx.skip(!hasProc, NO_PROC);
    const args = [...npmStartArgs(process.cwd()), '--data-dir', '/proc/op-no-such-dir/data', '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0'];
    const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(r.signal, 'killed by the timeout: the start hung').toBeNull();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^\[DATA_DIR_UNUSABLE\] data directory \/proc\/op-no-such-dir\/data is unusable \(dataDir\): directory \/proc\/op-no-such-dir cannot be made/);
  });
});

/** The built CLI in a child process, this process free meanwhile (the gateway it asks runs here): killed after 15 s. */
function cliTimed(...args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' }, (err, _out, stderr) => {
      const e = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, err: stderr });
    });
  });
}

describe('sim onboard --out and fetch-revocations --out, against a gateway', () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    // A root, the gateway's trust in it, and an agency it certified, as README's Agencies section makes them.
    for (const args of [
      ['keys', 'generate', '--alg', 'ed25519', '--out', 'keys/root'],
      ['cert', 'root', '--key', 'keys/root.key', '--id', 'root.example', '--days', '30', '--out', 'root.cert'],
      ['trust', '--root', 'root.cert', '--out', 'trust.json'],
      ['keys', 'generate', '--alg', 'es256', '--out', 'keys/env'],
      ['cert', 'agency', '--issuer-key', 'keys/root.key', '--issuer-cert', 'root.cert', '--subject-key', 'keys/env.pub.json', '--id', 'env.example', '--days', '30', '--out', 'env.cert'],
    ]) expect(cli(...args).code, args.join(' ')).toBe(0);
    gw = await startGateway({ dataDir: p('gateway-data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: p('trust.json'), logLevel: 'silent', verifyWorkers: 1 });
  });
  afterAll(async () => {
    await gw?.close();
  });
  const onboard = (out: string) => cliTimed('sim', 'onboard', '--gateway', gw.httpUrl, '--agency-key', 'keys/env.key', '--agency-cert', 'env.cert', '--count', '1', '--out', out);
  const agencies = async () => (await fetch(`${gw.httpUrl}/v1/agencies`)).json();

  test('sim onboard under /proc: exit 2 at once, naming the directory, before the agency or a device is registered', async (ctx) => {
    ctx.skip(!hasProc, NO_PROC);
    const r = await onboard('/proc/op-no-such-dir/fleet');
    expect(r.signal, 'killed by the timeout: sim onboard hung').toBeNull();
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('directory /proc/op-no-such-dir cannot be made');
    expect(await agencies()).toEqual([]);
  });

  test('fetch-revocations under /proc: exit 2 at once, naming the directory', async (ctx) => {
    ctx.skip(!hasProc, NO_PROC);
    const r = await cliTimed('fetch-revocations', '--gateway', gw.httpUrl, '--out', '/proc/op-no-such-dir/revocations');
    expect(r.signal, 'killed by the timeout: fetch-revocations hung').toBeNull();
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('directory /proc/op-no-such-dir cannot be made');
  });

  test('directories that are not there yet are made (control)', async () => {
    const fleet = await onboard('fleets/a/b');
    expect([fleet.code, fleet.signal], fleet.err).toEqual([0, null]);
    expect((JSON.parse(readFileSync(p('fleets/a/b/fleet.json'), 'utf8')) as { devices: string[] }).devices).toHaveLength(1);
    const revocations = await cliTimed('fetch-revocations', '--gateway', gw.httpUrl, '--out', 'revocations/a/b');
    expect([revocations.code, revocations.signal], revocations.err).toEqual([0, null]);
    expect(existsSync(p('revocations/a/b/checkpoint'))).toBe(true);
  });
});

describe('a ledger opened at a directory that cannot be made', () => {
  /** Ledger.open (the package's ./ledger export, built) in a child process: its outcome, or the timeout's signal. */
  function openLedger(at: string): { signal: NodeJS.Signals | null; status: number | null; out: { opened?: true; code?: unknown; message?: string } | undefined; err: string } {
    const ledgerModule = join(process.cwd(), 'dist/ledger/index.js');
    const script = `import { Ledger, nodeNoteSigner } from ${JSON.stringify(ledgerModule)};
const origin = 'test.originproof/log';
try { const l = await Ledger.open({ dir: ${JSON.stringify(at)}, origin, signer: nodeNoteSigner(origin, new Uint8Array(32).fill(3)) }); await l.close(); console.log(JSON.stringify({ opened: true })); }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
    return { signal: r.signal, status: r.status, out: r.stdout.trim() ? (JSON.parse(r.stdout.trim()) as { code?: unknown; message?: string }) : undefined, err: r.stderr };
  }

  test('under /proc: Ledger.open rejects at once, ENOENT, naming the directory', (ctx) => {
    ctx.skip(!hasProc, NO_PROC);
    const r = openLedger('/proc/op-no-such-dir/ledger');
    expect(r.signal, 'killed by the timeout: the open hung').toBeNull();
    expect(r.status, r.err).toBe(0);
    expect(r.out?.code).toBe('ENOENT');
    expect(r.out?.message).toContain('directory /proc/op-no-such-dir cannot be made');
  });

  test('directories that are not there yet are made (control)', () => {
    const r = openLedger(p('ledgers/a/b'));
    expect(r.out, r.err).toEqual({ opened: true });
    expect(existsSync(p('ledgers/a/b/CURRENT'))).toBe(true);
  });
});
