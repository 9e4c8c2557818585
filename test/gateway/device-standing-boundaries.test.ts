/**
 * The boundaries of Registry.deviceStatus / assertDeviceUsableAt (gateway/device-standing.ts, registry-rules.ts
 * inEffect): a certificate is in force from its nbf (inclusive) to its exp (exclusive), a revocation from its
 * revokedFrom (inclusive). Found by hand mutation testing: each of those comparisons could be moved by one second
 * (mutants DS2-DS5) and no test noticed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nowS, Pki, register, revoke, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

const DAY = 86_400;

describe('device standing at the edges of its windows', () => {
  let t: TestGateway;
  let a: Party;
  let shortAgency: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
    a = await pki.agency('a.example');
    shortAgency = await pki.agency('short.example', { exp: nowS() + 100 * DAY });
    await register(t.gw, a, []);
    await register(t.gw, shortAgency, []);
  });
  afterAll(() => t.stop());

  const record = (d: Device) => t.gw.registry.deviceById(d.id)!;

  // DS3: `at < cert.nbf` -> `at <= cert.nbf`. DS4: `at >= cert.exp` -> `at > cert.exp`.
  test('the device certificate: active at its nbf and one second before its exp; not yet valid before, expired at exp', async () => {
    const d = await t.pki.device(a, { nbf: nowS() - 3600, exp: nowS() + 30 * DAY });
    await register(t.gw, a, [d]);
    const r = record(d);
    const { nbf, exp } = d.cert.claims;
    expect(t.gw.registry.deviceStatus(r, nbf)).toBe('active');
    expect(t.gw.registry.deviceStatus(r, nbf - 1)).toBe('not-yet-valid');
    expect(t.gw.registry.deviceStatus(r, exp - 1)).toBe('active');
    expect(t.gw.registry.deviceStatus(r, exp)).toBe('expired');
    expect(() => t.gw.registry.assertDeviceUsableAt(r, exp)).toThrow(expect.objectContaining({ code: 'CERT_EXPIRED' }));
  });

  // DS5: `at >= agencyCert.exp` -> `at > agencyCert.exp`.
  test('the agency certificate: its device is expired from the agency\'s exp on', async () => {
    const d = await t.pki.device(shortAgency);
    await register(t.gw, shortAgency, [d]);
    const r = record(d);
    const exp = shortAgency.cert.claims.exp;
    expect(d.cert.claims.exp).toBeGreaterThan(exp);
    expect(t.gw.registry.deviceStatus(r, exp - 1)).toBe('active');
    expect(t.gw.registry.deviceStatus(r, exp)).toBe('expired');
  });

  // DS2 (registry-rules.ts inEffect `now >= revokedFrom` -> `now > revokedFrom`).
  test('a revocation is in effect from exactly its revokedFrom', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const from = nowS() + 10 * DAY;
    expect((await revoke(t.gw, a, d.cert, from, 'decommissioned')).status).toBe(201);
    const r = record(d);
    expect(t.gw.registry.deviceStatus(r, from - 1)).toBe('active');
    expect(t.gw.registry.deviceStatus(r, from)).toBe('revoked');
    expect(() => t.gw.registry.assertDeviceUsableAt(r, from)).toThrow(expect.objectContaining({ code: 'CERT_REVOKED' }));
  });
});
