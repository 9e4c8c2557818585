/**
 * Review (registry writes): a renewal its issuer signed before revoking the registered certificate, posted after the
 * revocation, undid it (201, the device or agency active again). Certificates are public (a renewal registered at
 * another gateway, one kept by a device or an operator), so whoever held such a renewal brought back a device its
 * agency had decommissioned, or an agency its root had revoked, the revocation being the issuer's later word.
 * registry-rules.ts assertMayReplace: a renewal by the revoking issuer must be issued no earlier than the
 * revocation (409 CONFLICT), unless that says `superseded` (it announces a replacement).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { certify, nowS, Pki, postCert, postRevocation, register, startTestGateway, type Party, type TestGateway } from './harness.js';

const DAY = 86_400;

describe('review: a renewal signed before its certificate was revoked, posted after', () => {
  let t: TestGateway;
  let a: Party;
  let b: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
    a = await pki.agency('a.example');
    b = await pki.agency('b.example');
    await register(t.gw, a, []);
    await register(t.gw, b, []);
  });
  afterAll(() => t.stop());

  const device = async (id: string) => (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${id}` })).json();
  const agency = async (id: string) => (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json().find((x: { id: string }) => x.id === id);

  test('a decommissioned device: the earlier renewal is 409 CONFLICT and the device stays revoked; one issued since is taken', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const preissued = await certify(a, d, 'device', nowS() - 100);
    expect((await postRevocation(t, a, d.cert, nowS() - 10, 'decommissioned')).status).toBe(201);
    const replay = await postCert(t, 'devices', preissued);
    expect([replay.status, replay.body.code]).toEqual([409, 'CONFLICT']);
    expect(await device(d.id)).toMatchObject({ status: 'revoked', certRef: Buffer.from(d.cert.certRef).toString('hex') });
    // the agency's own later word still brings it back
    expect((await postCert(t, 'devices', await certify(a, d, 'device', nowS()))).status).toBe(201);
    expect((await device(d.id)).status).toBe('active');
  });

  test('a decommissioning only scheduled: the earlier renewal does not drop it either (409 CONFLICT)', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const preissued = await certify(a, d, 'device', nowS() - 100);
    expect((await postRevocation(t, a, d.cert, nowS() + DAY, 'decommissioned')).status).toBe(201);
    const replay = await postCert(t, 'devices', preissued);
    expect([replay.status, replay.body.code]).toEqual([409, 'CONFLICT']);
    expect(await device(d.id)).toMatchObject({ status: 'active', revocationReason: 'decommissioned' });
  });

  test('a released device (affiliationChanged): its agency takes it back only with a certificate issued since (409 CONFLICT); another agency is not bound by the release time', async () => {
    const d = await t.pki.device(a);
    const e = await t.pki.device(a);
    await register(t.gw, a, [d, e]);
    const [backA, toB] = [await certify(a, d, 'device', nowS() - 100), await certify(b, e, 'device', nowS() - 100)];
    expect((await postRevocation(t, a, d.cert, nowS() - 10, 'affiliationChanged')).status).toBe(201);
    expect((await postRevocation(t, a, e.cert, nowS() - 10, 'affiliationChanged')).status).toBe(201);
    const back = await postCert(t, 'devices', backA);
    expect([back.status, back.body.code]).toEqual([409, 'CONFLICT']);
    expect((await postCert(t, 'devices', toB)).status).toBe(201);
    expect(await device(e.id)).toMatchObject({ agency: 'b.example', status: 'active' });
  });

  test('superseded announces a replacement: the renewal signed before it is taken', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const renewal = await certify(a, d, 'device', nowS() - 100);
    expect((await postRevocation(t, a, d.cert, nowS() - 10, 'superseded')).status).toBe(201);
    expect((await postCert(t, 'devices', renewal)).status).toBe(201);
    expect((await device(d.id)).status).toBe('active');
  });

  test("an agency revoked by its root: the root's earlier renewal is 409 CONFLICT, its devices stay agency-revoked; the same after a restart", async () => {
    const g = await t.pki.agency('gone.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const preissued = await certify(t.pki.root, g, 'agency', nowS() - 100);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 10, 'cessationOfOperation')).status).toBe(201);
    const replay = await postCert(t, 'agencies', preissued);
    expect([replay.status, replay.body.code]).toEqual([409, 'CONFLICT']);
    expect((await agency('gone.example')).revoked).toBe(true);
    expect((await device(d.id)).status).toBe('agency-revoked');
    await t.restart();
    expect((await agency('gone.example')).revoked).toBe(true);
    expect((await device(d.id)).status).toBe('agency-revoked');
  });
});
