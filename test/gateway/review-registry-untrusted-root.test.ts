/**
 * Review of the registry (adversarial): statements of an agency whose root this gateway no longer trusts (taken out of
 * the trust file). The gateway refuses the root's own revocation of such an agency (UNKNOWN_KEY: its root is not
 * trusted here), as the offline verifier fails a revocation entry whose issuer does not chain to a trusted root. Before
 * the fix it took the agency's revocation of one of its devices (201), and the entry's bundle then failed offline with
 * the gateway's own trust (chain UNKNOWN_KEY). Now 422 UNKNOWN_KEY, as for the root's.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toBase64, verifyBundle } from '../../protocol/index.js';
import { certify, entryBundle, gatewayTrust, nowS, Pki, postCert, postRevocation, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

/** The failed checks of entry `index`'s bundle, verified with the gateway's own trust material. */
async function entryFailures(t: TestGateway, index: number): Promise<(string | undefined)[][]> {
  return verifyBundle(await entryBundle(t, index), await gatewayTrust(t)).checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]);
}

describe('review: an agency whose root is no longer trusted', () => {
  let t: TestGateway;
  let other: Pki;
  let g: Party;
  let d: Device;
  let d2: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    other = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    // first trusted beside the gateway's own root: an agency of it registers a device
    const both = JSON.stringify({ roots: [{ certificate: toBase64(pki.root.cert.bytes) }, { certificate: toBase64(other.root.cert.bytes) }] });
    await t.restart(() => writeFile(join(t.dir, 'trust.json'), both));
    g = await other.agency('gone.example');
    d = await other.device(g);
    d2 = await other.device(g);
    await register(t.gw, g, [d, d2]);
    // then the root is taken out of the trust file
    await t.restart(() => writeFile(join(t.dir, 'trust.json'), pki.trustJson()));
  });
  afterAll(() => t.stop());

  test('its device is untrusted; the root revoking the agency: 422 UNKNOWN_KEY', async () => {
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('untrusted');
    const byRoot = await postRevocation(t, other.root, g.cert, nowS() - 60, 'cessationOfOperation');
    expect([byRoot.status, byRoot.body.code]).toEqual([422, 'UNKNOWN_KEY']);
  });

  test('the agency revoking its device: 422 UNKNOWN_KEY as well (was 201, an entry failing offline)', async () => {
    const byAgency = await postRevocation(t, g, d.cert, nowS() - 60, 'decommissioned');
    expect([byAgency.status, byAgency.body.code]).toEqual([422, 'UNKNOWN_KEY']);
  });

  // Its root can release nothing any more: what it certified may move to another issuer without a release (before:
  // 403 ROLE_VIOLATION, registered for good unless the old root was put back in the trust file).
  test("another agency takes one of its devices: 201 (was 403 ROLE_VIOLATION); the device is active under it", async () => {
    const h = await t.pki.agency('successor.example');
    await register(t.gw, h, []);
    const taken = await postCert(t, 'devices', await certify(h, d2, 'device', nowS()));
    expect(taken.status).toBe(201);
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d2.id}` })).json()).toMatchObject({ agency: 'successor.example', status: 'active' });
    expect(await entryFailures(t, taken.body.registeredAt as number)).toEqual([]); // the entry verifies offline
  });

  test('a trusted root certifies the agency key again, same subject: 201 (was 403 ROLE_VIOLATION); its devices follow', async () => {
    const again = await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS()));
    expect(again.status).toBe(201);
    expect(await entryFailures(t, again.body.registeredAt as number)).toEqual([]);
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('active');
    // its root trusted now: another agency may no longer take its devices without a release
    const h2 = await t.pki.agency('latecomer.example');
    await register(t.gw, h2, []);
    const refused = await postCert(t, 'devices', await certify(h2, d, 'device', nowS()));
    expect([refused.status, refused.body.code]).toEqual([403, 'ROLE_VIOLATION']);
  });
});
