/**
 * README's agency walkthrough, run with the built CLI exactly as a user types it: keys, certificates, a trust file,
 * a gateway started with it, registration, revocation, and a trust file with the gateway's checkpoint key.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const main = join(process.cwd(), 'dist/cli/main.js');

function run(cwd: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { cwd, timeout: 30_000 }, (err, out, errOut) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });
}

describe('agency walkthrough with the built CLI', () => {
  let dir: string;
  let gateway: ChildProcess;
  let url = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-walk-'));
    for (const [name, alg] of [['root', 'ed25519'], ['psb', 'es256'], ['reader1', 'ed25519']]) {
      expect((await run(dir, 'keys', 'generate', '--alg', alg!, '--out', `keys/${name}`)).code).toBe(0);
    }
    expect((await run(dir, 'cert', 'root', '--key', 'keys/root.key', '--id', 'root.example', '--days', '3650', '--out', 'root.cert')).code).toBe(0);
    expect((await run(dir, 'trust', '--root', 'root.cert', '--out', 'trust.json')).code).toBe(0);
    gateway = spawn(process.execPath, [main, 'gateway', '--trust', 'trust.json', '--data-dir', 'data', '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--log-level', 'warn'], { cwd: dir });
    url = await new Promise<string>((resolve, reject) => {
      let text = '';
      gateway.stdout!.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /HTTP API\s+(http:\/\/\S+)/.exec(text);
        if (m) resolve(m[1]!);
      });
      gateway.on('exit', (c) => reject(new Error(`gateway exited ${c}: ${text}`)));
    });
  });
  afterAll(async () => {
    const exited = new Promise((r) => gateway.once('exit', r));
    gateway.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });

  test('issue and register an agency and a device, then revoke the device', async () => {
    const agency = await run(dir, 'cert', 'agency', '--issuer-key', 'keys/root.key', '--issuer-cert', 'root.cert', '--subject-key', 'keys/psb.pub.json', '--id', 'psb.example', '--days', '365', '--out', 'psb.cert');
    expect(agency.code).toBe(0);
    const firmware = 'ab'.repeat(32);
    // the device's proof of possession for psb.example, over the agency's challenge (SPEC §2)
    const nonce = '5a'.repeat(16);
    expect((await run(dir, 'keys', 'prove', '--key', 'keys/reader1.key', '--agency', 'psb.example', '--nonce', nonce, '--out', 'reader1.pop')).code).toBe(0);
    const device = await run(dir, 'cert', 'device', '--issuer-key', 'keys/psb.key', '--issuer-cert', 'psb.cert', '--subject-key', 'keys/reader1.pub.json', '--pop', 'reader1.pop', '--nonce', nonce, '--kind', 'fingerprint-reader', '--types', 'biometric', '--firmware', firmware, '--days', '365', '--out', 'reader1.cert');
    expect(device.code).toBe(0);
    const reg = await run(dir, 'register', '--gateway', url, 'psb.cert', 'reader1.cert');
    expect(reg.code).toBe(0);
    expect(reg.out).toMatch(/registered: agency psb.example/);
    expect(reg.out).toMatch(/registered: device [0-9a-f]{34}/);
    const again = await run(dir, 'register', '--gateway', url, 'psb.cert');
    expect(again.out).toMatch(/already registered/);

    const rev = await run(dir, 'cert', 'revoke', '--issuer-key', 'keys/psb.key', '--cert', 'reader1.cert', '--reason', 'decommissioned', '--out', 'reader1.rev');
    expect(rev.code).toBe(0);
    expect((await run(dir, 'register', '--gateway', url, 'reader1.rev')).out).toMatch(/registered: revocation of/);
    const id = (JSON.parse(await readFile(join(dir, 'keys/reader1.pub.json'), 'utf8')) as { deviceId?: string }).deviceId;
    const list = (await (await fetch(`${url}/v1/agencies/psb.example/devices`)).json()) as { deviceId: string; status: string }[];
    expect(list).toHaveLength(1);
    if (id) expect(list[0]!.deviceId).toBe(id);
    expect(list[0]!.status).toBe('revoked');
  }, 60_000); // seven CLI processes and three registrations one after another: ~20 s on this machine with the whole suite running

  test("a refused registration exits 1 with the gateway's error code; no verdict (not registrable, gateway unreachable) exits 2", async () => {
    // a later, less strict revocation of the revoked device: the gateway checks it and says no
    const later = await run(dir, 'cert', 'revoke', '--issuer-key', 'keys/psb.key', '--cert', 'reader1.cert', '--reason', 'decommissioned', '--from', String(Math.floor(Date.now() / 1000) + 86_400), '--out', 'later.rev');
    expect(later.code).toBe(0);
    const refused = await run(dir, 'register', '--gateway', url, 'later.rev');
    expect([refused.code, /\[CONFLICT\]/.test(refused.err)]).toEqual([1, true]);
    // the root certificate is not something the registry takes: refused before any request
    const root = await run(dir, 'register', '--gateway', url, 'root.cert');
    expect([root.code, /\[ROLE_VIOLATION\]/.test(root.err)]).toEqual([2, true]);
    const unreachable = await run(dir, 'register', '--gateway', 'http://127.0.0.1:1', 'psb.cert');
    expect(unreachable.code).toBe(2);
  });

  test('a verifier trust file gets the checkpoint key and origin from the gateway', async () => {
    const r = await run(dir, 'trust', '--root', 'root.cert', '--gateway', url);
    const trust = JSON.parse(r.out) as { checkpointKeys: { key: string }[]; origin: string };
    expect(trust.origin).toBe('originproof.local/log');
    expect(trust.checkpointKeys[0]!.key).toMatch(/^originproof\.local\/log\+[0-9a-f]{8}\+/);
  });
});
