/**
 * Review of the registry (adversarial): conflicting registry writes in flight at once. Each ends as one of its
 * serial orders would (registry.ts serializes writes per subject, and a revocation is in force from when it is
 * taken), with the statuses and codes of that order, and the registry rebuilt from the log after a restart is the
 * one the answers described. Coverage only: no defect was found here.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { certify, nowS, Pki, postCert, postRevocation, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

const statusOf = async (t: TestGateway, d: Device) => (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json();

describe('review: conflicting registry writes at once', () => {
  let t: TestGateway;
  let a: Party;
  let b: Party;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 });
    a = await t.pki.agency('ra.example');
    b = await t.pki.agency('rb.example');
    await register(t.gw, a, []);
    await register(t.gw, b, []);
  });
  afterAll(() => t.stop());

  test('two agencies register the same device key at once: one 201, the other 403 ROLE_VIOLATION; the same owner after a restart', async () => {
    const d = await t.pki.device(a);
    const [byA, byB] = await Promise.all([postCert(t, 'devices', d.cert), postCert(t, 'devices', await certify(b, d, 'device', nowS()))]);
    const answers = [[byA.status, byA.body.code], [byB.status, byB.body.code]];
    expect(answers.filter(([s]) => s === 201)).toHaveLength(1);
    expect(answers.filter(([s]) => s !== 201)).toEqual([[403, 'ROLE_VIOLATION']]);
    const owner = byA.status === 201 ? 'ra.example' : 'rb.example';
    expect(await statusOf(t, d)).toMatchObject({ agency: owner, status: 'active' });
    await t.restart();
    expect(await statusOf(t, d)).toMatchObject({ agency: owner, status: 'active' });
  });

  test("a release racing the other agency's registration: 403 before it, 201 after; a later try is then taken; rebuilt the same", async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const [release, take] = await Promise.all([
      postRevocation(t, a, d.cert, nowS() - 1, 'affiliationChanged'),
      postCert(t, 'devices', await certify(b, d, 'device', nowS())),
    ]);
    expect(release.status).toBe(201);
    expect([201, 403]).toContain(take.status);
    if (take.status === 403) {
      expect(take.body.code).toBe('ROLE_VIOLATION');
      expect((await postCert(t, 'devices', await certify(b, d, 'device', nowS() + 1))).status).toBe(201);
    }
    expect(await statusOf(t, d)).toMatchObject({ agency: 'rb.example', status: 'active' });
    await t.restart();
    expect(await statusOf(t, d)).toMatchObject({ agency: 'rb.example', status: 'active' });
  });

  test("an agency key compromise racing the agency's back-dated revocation of its device: taken before it (201) or refused (422 CERT_REVOKED); rebuilt the same", async () => {
    const g = await t.pki.agency('rc.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const [compromise, revocation] = await Promise.all([
      postRevocation(t, t.pki.root, g.cert, nowS() - 60, 'keyCompromise'),
      postRevocation(t, g, d.cert, nowS() - 3600, 'decommissioned'),
    ]);
    expect(compromise.status).toBe(201);
    if (revocation.status !== 201) expect([revocation.status, revocation.body.code]).toEqual([422, 'CERT_REVOKED']);
    const before = await statusOf(t, d);
    expect(before.status).toBe(revocation.status === 201 ? 'revoked' : 'agency-revoked');
    await t.restart();
    expect(await statusOf(t, d)).toEqual(before);
  });
});
