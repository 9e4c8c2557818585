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
import { toBase64 } from '../../protocol/index.js';
import { nowS, Pki, postRevocation, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

describe('review: an agency whose root is no longer trusted', () => {
  let t: TestGateway;
  let other: Pki;
  let g: Party;
  let d: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    other = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    // first trusted beside the gateway's own root: an agency of it registers a device
    const both = JSON.stringify({ roots: [{ certificate: toBase64(pki.root.cert.bytes) }, { certificate: toBase64(other.root.cert.bytes) }] });
    await t.restart(() => writeFile(join(t.dir, 'trust.json'), both));
    g = await other.agency('gone.example');
    d = await other.device(g);
    await register(t.gw, g, [d]);
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
});
