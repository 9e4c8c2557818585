import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateKeys, proveKey } from '../../cli/commands/keys.js';
import { certAgency, certDevice, certRevoke, certRoot, certVerify, showFile } from '../../cli/commands/cert.js';

const FW = 'ab'.repeat(32);
const NOW = 1_767_225_600;

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'NO_ERROR';
  } catch (e) {
    return (e as { code?: string }).code ?? 'NON_OP_ERROR';
  }
}

describe('cli functions: keys + cert', () => {
  it('creates a root -> agency -> device chain, shows, verifies and revokes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'op-cli-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const root = generateKeys({ alg: 'ed25519', out: join(dir, 'root') });
    const agency = generateKeys({ alg: 'es256', out: join(dir, 'agency') });
    const dev = generateKeys({ alg: 'es256', out: join(dir, 'dev') });
    expect(statSync(root.keyPath).mode & 0o777).toBe(0o600);
    expect(dev.pub.deviceId).toMatch(/^01[0-9a-f]{32}$/);
    const p = (n: string) => join(dir, n);
    await certRoot({ key: root.keyPath, id: 'root.example', days: 3650, out: p('root.cert'), now: NOW });
    await certAgency({ issuerKey: root.keyPath, issuerCert: p('root.cert'), subjectKey: agency.pubPath, id: 'psb.example', days: 365, out: p('agency.cert'), now: NOW });
    await proveKey({ key: dev.keyPath, agency: 'psb.example', out: p('dev.pop'), now: NOW });
    const d = await certDevice({
      issuerKey: agency.keyPath, issuerCert: p('agency.cert'), subjectKey: dev.pubPath, pop: p('dev.pop'), kind: 'temperature-sensor',
      types: 'temperature,humidity', firmware: FW, days: 365, out: p('dev.cert'), now: NOW,
    });
    expect(d.claims.sub).toBe(dev.pub.deviceId);
    expect(showFile(p('dev.cert'))).toMatchObject({ role: 'device', iss: 'psb.example', profile: { readingTypes: ['temperature', 'humidity'], firmware: FW } });
    expect(certVerify({ root: p('root.cert'), chain: [p('dev.cert'), p('agency.cert')], at: NOW + 10 })).toMatchObject({ valid: true, anchor: 'root.example' });
    expect(codeOf(() => certVerify({ root: p('root.cert'), chain: [p('dev.cert'), p('agency.cert')], at: NOW + 366 * 86_400 }))).toBe('CERT_EXPIRED');
    const rev = await certRevoke({ issuerKey: agency.keyPath, cert: p('dev.cert'), reason: 'keyCompromise', from: NOW + 100, out: p('dev.rev'), now: NOW + 200 });
    expect(rev).toMatchObject({ type: 'revocation', reason: 'keyCompromise', revokedFrom: NOW + 100 });
    expect(codeOf(() => certVerify({ root: p('root.cert'), chain: [p('dev.cert'), p('agency.cert')], at: NOW + 150, revocations: [p('dev.rev')] }))).toBe('CERT_REVOKED');
    expect(certVerify({ root: p('root.cert'), chain: [p('dev.cert'), p('agency.cert')], at: NOW + 50, revocations: [p('dev.rev')] }).valid).toBe(true);
    // a device key cannot issue: the agency command refuses a non-root issuer chain at verification time
    await certAgency({ issuerKey: agency.keyPath, issuerCert: p('agency.cert'), subjectKey: dev.pubPath, id: 'rogue.example', days: 1, out: p('rogue.cert'), now: NOW });
    expect(codeOf(() => certVerify({ root: p('root.cert'), chain: [p('rogue.cert'), p('agency.cert')], at: NOW + 1 }))).toBe('ROLE_VIOLATION');
    await expect(certRevoke({ issuerKey: root.keyPath, cert: p('dev.cert'), reason: 'keyCompromise', out: p('x.rev') })).rejects.toMatchObject({ code: 'ROLE_VIOLATION' });
    expect(codeOf(() => generateKeys({ alg: 'rsa', out: p('x') }))).toBe('ALG_NOT_ALLOWED');
  });
});

describe('cli binary (built)', () => {
  const main = join(process.cwd(), 'dist/cli/main.js');
  // dist/ is built once by test/global-setup.ts before any suite runs.

  it('end to end: keys generate, cert root/agency/device, show, verify', async () => {
    expect(existsSync(main)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'op-bin-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // The CLI as a child process: its exit code, stdout and stderr. Runs that do not need each other's files go at once.
    const exec = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile('node', [main, ...args], { cwd: dir, encoding: 'utf8' }, (err, stdout, stderr) =>
          resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
      });
    /** execFileSync's contract: stdout of a run that exits 0, else a failure. */
    const run = async (...args: string[]) => {
      const r = await exec(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    await Promise.all([
      run('keys', 'generate', '--alg', 'ed25519', '--out', 'k/root'),
      run('keys', 'generate', '--alg', 'es256', '--out', 'k/agency'),
      run('keys', 'generate', '--alg', 'ed25519', '--out', 'k/dev'),
    ]);
    await run('cert', 'root', '--key', 'k/root.key', '--id', 'root.example', '--days', '30', '--out', 'root.cert');
    await Promise.all([
      run('cert', 'agency', '--issuer-key', 'k/root.key', '--issuer-cert', 'root.cert', '--subject-key', 'k/agency.pub.json', '--id', 'psb.example', '--days', '30', '--out', 'agency.cert'),
      run('keys', 'prove', '--key', 'k/dev.key', '--agency', 'psb.example', '--out', 'dev.pop'),
    ]);
    await run('cert', 'device', '--issuer-key', 'k/agency.key', '--issuer-cert', 'agency.cert', '--subject-key', 'k/dev.pub.json', '--pop', 'dev.pop', '--kind', 'water-meter', '--types', 'volume', '--firmware', FW, '--days', '30', '--out', 'dev.cert');
    const [shownOut, verifiedOut, bad, missing] = await Promise.all([
      run('cert', 'show', 'dev.cert'),
      run('cert', 'verify', '--root', 'root.cert', 'dev.cert', 'agency.cert'),
      exec('cert', 'verify', '--root', 'root.cert', 'agency.cert', 'dev.cert'),
      exec('cert', 'verify', '--root', 'root.cert', 'none.cert'),
    ]);
    const shown = JSON.parse(shownOut) as { role: string; sub: string };
    expect(shown.role).toBe('device');
    expect(shown.sub).toBe((JSON.parse(readFileSync(join(dir, 'k/dev.pub.json'), 'utf8')) as { deviceId: string }).deviceId);
    expect((JSON.parse(verifiedOut) as { valid: boolean }).valid).toBe(true);
    // a chain that does not hold is a verdict (exit 1); a file that cannot be used gives none (exit 2)
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('[CHAIN_INVALID]');
    expect(missing.status).toBe(2);
  }, 90_000); // eleven CLI processes, five steps of them (~1 s each alone; up to 3 s each with the whole suite running)
});
