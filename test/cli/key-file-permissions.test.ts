/**
 * A secret key file that group or others may read (mode & 0o077) is warned of, naming the file and its mode, never
 * quoting the key, and used all the same: by the CLI (one line on stderr per file) and the simulator's loaders (the
 * agency's key, a device's sealed key), and by the gateway at start and at a TLS reload (a pino warning, code
 * KEY_FILE_EXPOSED). ssh refuses such a key; keys mounted from a container's secrets are often 0644, so this warns.
 * Found by the CLI review: no key file's permissions were looked at on read.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { npmStartArgs } from '../../scripts/npm-start.js';
import { cliSandbox } from './cli-sandbox.js';
import { readyBanner } from './gateway-process.js';

const { dir, p, cli } = cliSandbox('op-key-modes-');
const posix = process.platform !== 'win32';
const secretOf = (file: string) => (JSON.parse(readFileSync(p(file), 'utf8')) as { secretKey: string }).secretKey;
const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.includes('warning'));

/** Runs `code` (an ES module body) with `load` bound to the named export of the built device-sim module. */
function loadInChild(module: string, name: string, call: string): { status: number | null; stderr: string } {
  const url = pathToFileURL(join(process.cwd(), 'dist/device-sim', module)).href;
  const script = `const { ${name}: load } = await import(${JSON.stringify(url)}); ${call};`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

describe.skipIf(!posix)('the CLI and the simulator: a key file group or others may read is warned of, and used', () => {
  test('keys prove with a 0644 key file: one warning line naming it and its mode, the key not quoted; 0600: none', () => {
    expect(cli('keys', 'generate', '--alg', 'ed25519', '--out', 'dev').code).toBe(0);
    expect(statSync(p('dev.key')).mode & 0o777).toBe(0o600);
    chmodSync(p('dev.key'), 0o644);
    const exposed = cli('keys', 'prove', '--key', 'dev.key', '--agency', 'psb.example', '--out', 'a.pop');
    expect(exposed.code, exposed.out).toBe(0);
    expect(warnings(exposed.err)).toEqual([expect.stringMatching(/^originproof: warning: key file dev\.key may be read by group or others \(mode 0644\)/)]);
    expect(exposed.err).not.toContain(secretOf('dev.key'));
    chmodSync(p('dev.key'), 0o600);
    const kept = cli('keys', 'prove', '--key', 'dev.key', '--agency', 'psb.example', '--out', 'b.pop');
    expect([kept.code, kept.err]).toEqual([0, '']);
  });

  test('cert root and cert agency with a 0640 issuer key: the warning names it and its mode', () => {
    expect(cli('keys', 'generate', '--alg', 'ed25519', '--out', 'root').code).toBe(0);
    chmodSync(p('root.key'), 0o640);
    const r = cli('cert', 'root', '--key', 'root.key', '--id', 'root.example', '--days', '30', '--out', 'root.cert');
    expect(r.code, r.out).toBe(0);
    expect(warnings(r.err)).toEqual([expect.stringContaining('key file root.key may be read by group or others (mode 0640)')]);
    expect(cli('keys', 'generate', '--alg', 'es256', '--out', 'psb').code).toBe(0);
    const a = cli('cert', 'agency', '--issuer-key', 'root.key', '--issuer-cert', 'root.cert', '--subject-key', 'psb.pub.json', '--id', 'psb.example', '--days', '30', '--out', 'psb.cert');
    expect(a.code, a.out).toBe(0);
    expect(warnings(a.err)).toHaveLength(1);
  });

  test("the simulator's agency key (Agency.load): warned of at 0644, not at 0600", () => {
    chmodSync(p('psb.key'), 0o644);
    const exposed = loadInChild('agency.js', 'Agency', `load.load('psb.key', 'psb.cert')`);
    expect(exposed.status, exposed.stderr).toBe(0);
    expect(warnings(exposed.stderr)).toEqual([expect.stringContaining('key file psb.key may be read by group or others (mode 0644)')]);
    expect(exposed.stderr).not.toContain(secretOf('psb.key'));
    chmodSync(p('psb.key'), 0o600);
    const kept = loadInChild('agency.js', 'Agency', `load.load('psb.key', 'psb.cert')`);
    expect([kept.status, kept.stderr]).toEqual([0, '']);
  });

  test("a device's sealed key (loadSecureElement): warned of at 0604, not at 0600", () => {
    const seal = loadInChild('secure-element.js', 'saveSecureElement', `const m = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), 'dist/device-sim/secure-element.js')).href)}); load(m.createSecureElement(-8, 'noble'), 'dev.se.json')`);
    expect(seal.status, seal.stderr).toBe(0);
    expect(statSync(p('dev.se.json')).mode & 0o777).toBe(0o600);
    chmodSync(p('dev.se.json'), 0o604);
    const exposed = loadInChild('secure-element.js', 'loadSecureElement', `load('dev.se.json')`);
    expect(exposed.status, exposed.stderr).toBe(0);
    expect(warnings(exposed.stderr)).toEqual([expect.stringContaining('sealed key file dev.se.json may be read by group or others (mode 0604)')]);
    expect(exposed.stderr).not.toContain(secretOf('dev.se.json'));
    chmodSync(p('dev.se.json'), 0o600);
    expect(loadInChild('secure-element.js', 'loadSecureElement', `load('dev.se.json')`)).toEqual({ status: 0, stderr: '' });
  });
});

const tls = (name: string) => join(process.cwd(), 'test', 'fixtures', 'tls', name);

/** The gateway as npm start runs it, with TLS from copies of the fixtures in the sandbox; its stdout (pino) collected. */
async function startGateway(): Promise<{ child: ChildProcessWithoutNullStreams; stdout: () => string; stop: () => Promise<number | null> }> {
  const args = [...npmStartArgs(process.cwd()), '--data-dir', p('data'), '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--mqtt-tls-port', '0', '--tls-cert', p('gw-cert.pem'), '--tls-key', p('gw-key.pem'), '--log-level', 'warn'];
  const child = spawn(process.execPath, args, { cwd: dir });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  await readyBanner(child);
  const stop = () => {
    const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    child.kill('SIGTERM');
    return exit;
  };
  return { child, stdout: () => stdout, stop };
}

const exposedLogs = (stdout: string) =>
  stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.code === 'KEY_FILE_EXPOSED');

async function until(f: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!f() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe.skipIf(!posix)('the gateway: a key file group or others may read is logged as a warning at start, and it runs on', () => {
  test('its own checkpoint key is made 0600 and a 0600 TLS key: no warning', async () => {
    copyFileSync(tls('gateway.pem'), p('gw-cert.pem'));
    copyFileSync(tls('gateway.key'), p('gw-key.pem'));
    chmodSync(p('gw-key.pem'), 0o600);
    const gw = await startGateway();
    expect(statSync(p('data/gateway-checkpoint.key.json')).mode & 0o777).toBe(0o600);
    expect(await gw.stop()).toBe(0);
    expect(exposedLogs(gw.stdout())).toEqual([]);
  });

  test('checkpoint key 0644 and TLS key 0640: one warning each (level warn, code, file, mode), again for the TLS key at SIGHUP', async () => {
    chmodSync(p('data/gateway-checkpoint.key.json'), 0o644);
    chmodSync(p('gw-key.pem'), 0o640);
    const gw = await startGateway();
    await until(() => exposedLogs(gw.stdout()).length >= 2);
    const started = exposedLogs(gw.stdout());
    expect(started).toEqual([
      expect.objectContaining({ level: 40, code: 'KEY_FILE_EXPOSED', file: p('data/gateway-checkpoint.key.json'), mode: '0644', msg: expect.stringContaining('checkpoint key file') }),
      expect.objectContaining({ level: 40, code: 'KEY_FILE_EXPOSED', file: p('gw-key.pem'), mode: '0640', msg: expect.stringContaining('TLS key file (tlsKeyFile)') }),
    ]);
    expect(gw.stdout()).not.toContain(secretOf('data/gateway-checkpoint.key.json'));
    expect((await fetch(/HTTP API\s+(http:\/\/\S+)/.exec(gw.stdout())![1]! + '/healthz')).status).toBe(200);
    gw.child.kill('SIGHUP');
    await until(() => exposedLogs(gw.stdout()).length >= 3);
    expect(exposedLogs(gw.stdout())[2]).toMatchObject({ code: 'KEY_FILE_EXPOSED', file: p('gw-key.pem'), mode: '0640' });
    expect(await gw.stop()).toBe(0);
  });
});
