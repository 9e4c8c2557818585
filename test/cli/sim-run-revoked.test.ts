/**
 * A fleet device revoked during a `sim run`: its reading is rejected CERT_REVOKED and it stops sending (SPEC §8), the
 * others go on, and the run says so in its summary (`halted`, "devices told to stop sending") and its exit code (1),
 * as for a device revoked before the run, which cannot connect. Found by the simulator review: revoked during the
 * run, the device took no further part and the run exited 0. A real gateway (in process, port 0); the built CLI.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeCertificate, fromBase64 } from '../../protocol/index.js';
import { entriesOf, simGatewayFixture, until } from '../sim/helpers.js';
import { simRunChild } from './sim-run-child.js';

describe('sim run: a device revoked during the run', () => {
  const f = simGatewayFixture('op-sim-run-revoked-', { fleet: 2 });

  test('CERT_REVOKED in the summary, the device counted as stopped, exit 1; the other device unaffected', async () => {
    const { t, fleet, ids } = f;
    const run = simRunChild(['--fleet', fleet, '--rate', '20', '--duration', '3s', '--json', '--no-progress']);
    await until(async () => (await entriesOf(t, ids[0]!)).length >= 3, 20_000);
    const state = JSON.parse(readFileSync(join(fleet, `${ids[0]}.json`), 'utf8')) as { certificate: string };
    await t.agency.revoke(t.endpoint.httpUrl, decodeCertificate(fromBase64(state.certificate)), { revokedFrom: Math.floor(Date.now() / 1000) - 1, reason: 'keyCompromise' });
    expect((await run.exited)[0], run.err()).toBe(1);
    const s = JSON.parse(run.out()) as { sent: number; receipted: number; pending: number; rejected: Record<string, number>; halted: Record<string, number>; connected: number };
    expect(s.connected).toBe(2);
    expect(s.halted).toEqual({ CERT_REVOKED: 1 });
    expect(Object.keys(s.rejected)).toEqual(['CERT_REVOKED']);
    expect(s.receipted + s.rejected.CERT_REVOKED!).toBe(s.sent);
    expect(s.pending).toBe(0);
    expect(run.err()).toContain('1 of 2 devices were told to stop sending (CERT_REVOKED)');
    expect(run.err()).not.toMatch(/could not connect/);
  }, 60_000);
});
