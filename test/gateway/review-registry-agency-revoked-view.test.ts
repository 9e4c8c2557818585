/**
 * Review (registry routes): an agency's `revoked` (GET /v1/agencies, and the answer to POST /v1/agencies) was true as
 * soon as a revocation was registered, also one only scheduled (revokedFrom ahead), while the agency still acted
 * (its devices `active`, its new devices taken) and the web explorer showed it "revoked since" a time to come. It now
 * says whether the revocation is in effect, as a device's status does; `revokedFrom` still shows a scheduled one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toBase64 } from '../../protocol/index.js';
import { nowS, Pki, post, postRevocation, register, startTestGateway, type TestGateway } from './harness.js';

const DAY = 86_400;

describe('review: an agency whose revocation is only scheduled', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, blockMaxMs: 5 });
  });
  afterAll(() => t.stop());

  const listed = async (id: string) => (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json().find((x: { id: string }) => x.id === id);

  test('is not shown revoked until revokedFrom (shown beside it), as its devices are active and it registers new ones', async () => {
    const g = await t.pki.agency('later.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const from = nowS() + DAY;
    expect((await postRevocation(t, t.pki.root, g.cert, from, 'cessationOfOperation')).status).toBe(201);
    expect(await listed('later.example')).toMatchObject({ revoked: false, revokedFrom: from });
    const again = await post(t.gw, '/v1/agencies', { certificate: toBase64(g.cert.bytes) });
    expect([again.status, again.body.revoked, again.body.revokedFrom]).toEqual([200, false, from]);
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('active');
    expect((await post(t.gw, '/v1/devices', { certificate: toBase64((await t.pki.device(g)).cert.bytes) })).status).toBe(201);
    // in effect: revoked
    const now = nowS() - 1;
    expect((await postRevocation(t, t.pki.root, g.cert, now, 'cessationOfOperation')).status).toBe(201);
    expect(await listed('later.example')).toMatchObject({ revoked: true, revokedFrom: now });
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('agency-revoked');
  });
});
