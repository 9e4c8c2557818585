/**
 * Review (review-pop): a takeover with a stale proof of possession. SPEC §2 and the README say "another agency taking
 * the device over needs a new one", but the gateway only checked the proof's aud against the new issuer: an agency the
 * device had left kept the proof it was given at an earlier onboarding (it is public besides, in that registration's
 * log entry), and when the device's current agency released it to move on, that former agency re-registered it with
 * its stale proof before the agency the device now consents to (which was then refused, 403 ROLE_VIOLATION: the
 * squatting symptom). A takeover by another agency now needs a proof made no earlier than the one the registered
 * certificate carries (422 CLAIM_INVALID, claims.pop.claims.iat). Every registration entry the log holds verifies
 * offline, before and after a restart.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createProofOfPossession, decodeCertificate, issueCertificate, type DecodedCertificate } from '../../protocol/index.js';
import {
  FIRMWARE, kidOf, nobleDevice, nowS, Pki, postCert, postRevocation, pubOf, register, startTestGateway, unverifiableEntries,
  type Device, type Party, type TestGateway,
} from './review-pop-helpers.js';

const DAY = 86_400;
/** A release in effect from now, a second after the registration it ends (else it covers that entry's own time). */
const releaseNow = async (t: TestGateway, by: Party, c: DecodedCertificate) => {
  await new Promise((r) => setTimeout(r, 1100));
  return postRevocation(t, by, c, nowS(), 'affiliationChanged');
};

async function certAt(agency: Party, d: Device, iat: number, popIat: number, pop?: Uint8Array): Promise<DecodedCertificate> {
  const proof = pop ?? (await createProofOfPossession(d.signer, { agencyId: agency.cert.claims.sub, nonce: new Uint8Array(randomBytes(16)), iat: popIat }));
  return decodeCertificate(
    await issueCertificate(agency.signer, kidOf(agency.signer), {
      iss: agency.cert.claims.sub, sub: d.id, role: 'device', holderKey: pubOf(d.signer), iat, nbf: iat - 60, exp: iat + 365 * DAY,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE }, proofOfPossession: proof,
    }),
  );
}

describe('a takeover by another agency needs a proof newer than the registered one', () => {
  let t: TestGateway;
  let former: Party, own: Party, next: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    former = await pki.agency('former.example');
    own = await pki.agency('own.example');
    next = await pki.agency('next.example');
    for (const a of [former, own, next]) await register(t.gw, a, []);
  });
  afterAll(() => t.stop());

  test("the agency the device left re-registers it with its stale proof while it moves on: 422 CLAIM_INVALID (claims.pop.claims.iat)", async () => {
    const T = nowS();
    const d = nobleDevice();
    const atFormer = await certAt(former, d, T - 3000, T - 3000);
    expect((await postCert(t, 'devices', atFormer)).status).toBe(201);
    expect((await releaseNow(t, former, atFormer)).status).toBe(201);
    const atOwn = await certAt(own, d, T - 2000, T - 2000);
    expect((await postCert(t, 'devices', atOwn)).status).toBe(201);
    // own releases the device, which gives next.example its proof; former.example is quicker, with the old one
    expect((await releaseNow(t, own, atOwn)).status).toBe(201);
    const snatched = await certAt(former, d, T - 10, 0, atFormer.claims.proofOfPossession!);
    const r = await postCert(t, 'devices', snatched);
    expect([r.status, r.body.code, r.body.path]).toEqual([422, 'CLAIM_INVALID', 'claims.pop.claims.iat']);
    expect(t.gw.registry.deviceById(d.id)!.cert.claims.iss).toBe('own.example');
    // the agency the device consents to now takes it
    expect((await postCert(t, 'devices', await certAt(next, d, T - 5, T - 100))).status).toBe(201);
    // and the former agency, with a proof the device gives it anew after that, may take it back once released
    const atNext = t.gw.registry.deviceById(d.id)!.cert;
    expect((await releaseNow(t, next, atNext)).status).toBe(201);
    expect((await postCert(t, 'devices', await certAt(former, d, T - 3, T - 3))).status).toBe(201);
  });

  test("a registered proof dated far ahead (the device's clock wrong then) does not block a genuine transfer", async () => {
    const T = nowS();
    const d = nobleDevice();
    const ahead = await certAt(own, d, T - 900, T + 30 * DAY);
    expect((await postCert(t, 'devices', ahead)).status).toBe(201);
    expect((await releaseNow(t, own, ahead)).status).toBe(201);
    expect((await postCert(t, 'devices', await certAt(next, d, T - 5, T - 5))).status).toBe(201);
  });

  test('a renewal by the same agency keeps the proof from onboarding (unchanged)', async () => {
    const T = nowS();
    const d = nobleDevice();
    const first = await certAt(own, d, T - 500, T - 500);
    expect((await postCert(t, 'devices', first)).status).toBe(201);
    expect((await postCert(t, 'devices', await certAt(own, d, T - 400, 0, first.claims.proofOfPossession!))).status).toBe(201);
  });

  test('every registration entry of the log verifies offline, before and after a restart', async () => {
    const check = () => unverifiableEntries(t);
    const before = await check();
    expect(before.size).toBeGreaterThan(5);
    expect(before.bad).toEqual([]);
    await t.restart();
    expect((await check()).bad).toEqual([]);
  });
});
