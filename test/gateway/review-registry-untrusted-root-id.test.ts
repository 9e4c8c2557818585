/**
 * Review (registry writes): the id of an agency whose root was taken out of the trust file could not be given to a new
 * key: a trusted root's certificate for it was refused 403 ROLE_VIOLATION, "revoke it first", where nothing here can
 * revoke it (its root's statements are UNKNOWN_KEY: review-registry-untrusted-root.test.ts). Its key could move to the
 * trusted root (the old root can release nothing any more: registry-rules.ts assertMayReplace), its id not. Now the
 * id is free as the key is; while the old root is trusted, the id stays taken until that agency is revoked.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { issueCertificate, toBase64 } from '../../protocol/index.js';
import { kidOf, nowS, Pki, postCert, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

describe("review: an agency id whose root is no longer trusted", () => {
  let t: TestGateway;
  let pki: Pki;
  let other: Pki;
  let g: Party;
  let d: Device;
  beforeAll(async () => {
    pki = await Pki.create();
    other = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
    const both = JSON.stringify({ roots: [{ certificate: toBase64(pki.root.cert.bytes) }, { certificate: toBase64(other.root.cert.bytes) }] });
    await t.restart(() => writeFile(join(t.dir, 'trust.json'), both));
    g = await other.agency('moved.example');
    d = await other.device(g);
    await register(t.gw, g, [d]);
  });
  afterAll(() => t.stop());

  test('while its root is trusted: another key for the id is 403 ROLE_VIOLATION (revoke it first)', async () => {
    const newKey = await pki.agency('moved.example');
    const early = await postCert(t, 'agencies', newKey.cert);
    expect([early.status, early.body.code]).toEqual([403, 'ROLE_VIOLATION']);
  });

  test("once its root is out of the trust file: a trusted root's certificate of the id for a new key is taken (201); the old key's device stays untrusted", async () => {
    await t.restart(() => writeFile(join(t.dir, 'trust.json'), pki.trustJson()));
    const successor = await pki.agency('moved.example');
    const taken = await postCert(t, 'agencies', successor.cert);
    expect([taken.status, taken.body.code]).toEqual([201, undefined]);
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json().find((x: { id: string }) => x.id === 'moved.example');
    expect(listed).toMatchObject({ kid: Buffer.from(successor.cert.holderKid).toString('hex'), issuer: 'root.example' });
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('untrusted');
    // the id's new key is another agency to the old key's devices: not theirs with the proofs they gave the old key
    const withOldProof = await issueCertificate(successor.signer, kidOf(successor.signer), {
      iss: 'moved.example', sub: d.id, role: 'device', holderKey: d.cert.holderKey, iat: nowS(), nbf: nowS() - 60, exp: nowS() + 86_400,
      profile: d.cert.claims.profile!, proofOfPossession: d.cert.claims.proofOfPossession!,
    });
    const reused = await postCert(t, 'devices', withOldProof);
    expect([reused.status, reused.body.code, reused.body.path]).toEqual([422, 'CLAIM_INVALID', 'claims.pop']);
    // its new devices register under it; the same after a restart
    const fresh = await pki.device(successor);
    expect((await postCert(t, 'devices', fresh.cert)).status).toBe(201);
    await t.restart();
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${fresh.id}` })).json()).toMatchObject({ agency: 'moved.example', status: 'active' });
  });
});
