/**
 * Squatting (suspected by the registry review): any agency that learnt a device's public key could register the
 * device before the device's own agency, which was then refused (403 ROLE_VIOLATION: another agency holds it). The
 * gateway now registers a device certificate only if it carries the device's proof of possession for the issuing
 * agency (protocol/certificate.ts claim -65543, firmware-specs/SPEC.md §2), which only the device can make; its
 * registration entry carries it, so the offline verifier checks it too. Real gateway, certificates signed here.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CT_CERTIFICATE, claimsToMap, createSign1, decodeCertificate, encode, issueCertificate, verifyBundle, type CertificateClaims,
} from '../../protocol/index.js';
import {
  FIRMWARE, entryBundle, gatewayTrust, kidOf, nowS, Pki, possessionFor, postCert, postRevocation, pubOf, register, startTestGateway,
  type Device, type Party, type TestGateway,
} from './harness.js';

const DAY = 86_400;

/** A certificate for `device` by `agency`, with the proof given (or none), unchecked (issueCertificate would refuse most). */
async function certificateWith(agency: Party, device: Device, proof: Uint8Array | undefined, iat = nowS()): Promise<Uint8Array> {
  const claims: CertificateClaims = {
    iss: agency.cert.claims.sub, sub: device.id, role: 'device', holderKey: pubOf(device.signer), iat, nbf: iat - 60, exp: iat + 365 * DAY,
    cti: new Uint8Array(16).fill(iat % 256), profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
    ...(proof ? { proofOfPossession: proof } : {}),
  };
  return createSign1({ signer: agency.signer, payload: encode(claimsToMap(claims)), kid: kidOf(agency.signer), contentType: CT_CERTIFICATE });
}

const flipLast = (b: Uint8Array) => {
  const out = b.slice();
  out[out.length - 1]! ^= 1;
  return out;
};

describe('a device is registered only with its proof of possession for the registering agency', () => {
  let t: TestGateway;
  let own: Party;
  let squatter: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    own = await pki.agency('own.example');
    squatter = await pki.agency('squatter.example');
    await register(t.gw, own, []);
    await register(t.gw, squatter, []);
  });
  afterAll(() => t.stop());

  test('a certificate without one: 422 CLAIM_INVALID (claims.pop), and the device is not registered', async () => {
    const d = await t.pki.device(own);
    const r = await postCert(t, 'devices', await certificateWith(squatter, d, undefined));
    expect([r.status, r.body.code, r.body.path]).toEqual([422, 'CLAIM_INVALID', 'claims.pop']);
    expect(t.gw.registry.deviceById(d.id)).toBeUndefined();
    // its own agency registers it after that attempt
    expect((await postCert(t, 'devices', d.cert)).status).toBe(201);
  });

  test('with the proof the device gave its own agency: 422 CLAIM_INVALID (claims.pop.claims.aud)', async () => {
    const d = await t.pki.device(own);
    const r = await postCert(t, 'devices', await certificateWith(squatter, d, await possessionFor(d.signer, 'own.example')));
    expect([r.status, r.body.code, r.body.path]).toEqual([422, 'CLAIM_INVALID', 'claims.pop.claims.aud']);
    expect((await postCert(t, 'devices', d.cert)).status).toBe(201);
  });

  test('with a proof for the squatter whose signature does not verify: BAD_SIGNATURE', async () => {
    const d = await t.pki.device(own);
    const r = await postCert(t, 'devices', await certificateWith(squatter, d, flipLast(await possessionFor(d.signer, 'squatter.example'))));
    expect(r.body.code).toBe('BAD_SIGNATURE');
    expect(r.body.path).toMatch(/pop\.signature$/);
    expect(t.gw.registry.deviceById(d.id)).toBeUndefined();
  });

  test('a renewal carrying the proof kept from onboarding is taken, and its registration entry verifies offline', async () => {
    const d = await t.pki.device(own);
    expect((await postCert(t, 'devices', d.cert)).status).toBe(201);
    const renewed = await certificateWith(own, d, d.cert.claims.proofOfPossession, nowS());
    const r = await postCert(t, 'devices', renewed);
    expect(r.status).toBe(201);
    const index = t.gw.registry.deviceById(d.id)!.index;
    const verdict = verifyBundle(await entryBundle(t, index), await gatewayTrust(t));
    expect(verdict.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(verdict.valid).toBe(true);
  });

  test('a transfer needs a proof for the new agency: the previous agency\'s is refused, the device\'s new one taken', async () => {
    const d = await t.pki.device(own);
    expect((await postCert(t, 'devices', d.cert)).status).toBe(201);
    expect((await postRevocation(t, own, d.cert, nowS(), 'affiliationChanged')).status).toBe(201);
    const withOld = await certificateWith(squatter, d, d.cert.claims.proofOfPossession, nowS() + 1);
    expect((await postCert(t, 'devices', withOld)).body.code).toBe('CLAIM_INVALID');
    const taken = decodeCertificate(
      await issueCertificate(squatter.signer, kidOf(squatter.signer), {
        ...decodeCertificate(await certificateWith(squatter, d, undefined, nowS() + 2)).claims,
        proofOfPossession: await possessionFor(d.signer, 'squatter.example'),
      }),
    );
    expect((await postCert(t, 'devices', taken)).status).toBe(201);
    expect(t.gw.registry.deviceById(d.id)!.agency.cert.claims.sub).toBe('squatter.example');
  });
});
