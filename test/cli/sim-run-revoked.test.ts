/**
 * A fleet device revoked during a `sim run`: its reading is rejected CERT_REVOKED and it stops sending (SPEC §8), the
 * others go on, and the run says so in its summary (`halted`, "devices told to stop sending") and its exit code (1),
 * as for a device revoked before the run, which cannot connect. Found by the simulator review: revoked during the
 * run, the device took no further part and the run exited 0. A real gateway (in process, port 0); the built CLI.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { onboardFleet } from '../../device-sim/index.js';
import { decodeCertificate, fromBase64 } from '../../protocol/index.js';
import { entriesOf, startSimGateway, until, type SimGateway } from '../sim/helpers.js';

const main = join(process.cwd(), 'dist/cli/main.js');

describe('sim run: a device revoked during the run', () => {
  let t: SimGateway;
  let dir: string;
  let fleet: string;
  let ids: string[];
  beforeAll(async () => {
    t = await startSimGateway();
    dir = await mkdtemp(join(tmpdir(), 'op-sim-run-revoked-'));
    fleet = join(dir, 'fleet');
    const m = await onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: 2, kinds: ['water-meter'], out: fleet });
    ids = m.devices.map((f) => f.replace(/\.json$/, ''));
  });
  afterAll(async () => {
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('CERT_REVOKED in the summary, the device counted as stopped, exit 1; the other device unaffected', async () => {
    const child = spawn(process.execPath, [main, 'sim', 'run', '--fleet', fleet, '--rate', '20', '--duration', '3s', '--json', '--no-progress'], { stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    await until(async () => (await entriesOf(t, ids[0]!)).length >= 3, 20_000);
    const state = JSON.parse(readFileSync(join(fleet, `${ids[0]}.json`), 'utf8')) as { certificate: string };
    await t.agency.revoke(t.endpoint.httpUrl, decodeCertificate(fromBase64(state.certificate)), { revokedFrom: Math.floor(Date.now() / 1000) - 1, reason: 'keyCompromise' });
    expect(await exited, err).toBe(1);
    const s = JSON.parse(out) as { sent: number; receipted: number; pending: number; rejected: Record<string, number>; halted: Record<string, number>; connected: number };
    expect(s.connected).toBe(2);
    expect(s.halted).toEqual({ CERT_REVOKED: 1 });
    expect(Object.keys(s.rejected)).toEqual(['CERT_REVOKED']);
    expect(s.receipted + s.rejected.CERT_REVOKED!).toBe(s.sent);
    expect(s.pending).toBe(0);
    expect(err).toContain('1 of 2 devices were told to stop sending (CERT_REVOKED)');
    expect(err).not.toMatch(/could not connect/);
  }, 60_000);
});
