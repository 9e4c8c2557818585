/**
 * A device certificate carries the device's proof of possession for its agency (protocol/certificate.ts claim
 * -65543, proof-of-possession.ts checkCertifiedPossession, firmware-specs/SPEC.md §2): its binding (kid, ueid, aud =
 * the certificate's iss) is checked on decoding, its signature in validateChain and when an agency issues one.
 * Certificates with a bad proof are built here by signing the claims directly, as a careless or hostile issuer would.
 */
import { describe, expect, test } from 'vitest';
import {
  CT_CERTIFICATE, CT_PROOF_OF_POSSESSION, claimsToMap, createProofOfPossession, createSign1, decodeCertificate, encode,
  issueCertificate, validateChain, type CertificateClaims, type DecodedCertificate, type Signer,
} from '../../protocol/index.js';
import { OriginProofError } from '../../protocol/errors.js';
import { ALG_ES256, DAY, NOW, kidOf, makeChain, possessionFor, pubOf, signerFor } from './fixtures.js';

/** The code and path of what fn throws. */
async function errorOf(fn: () => unknown): Promise<{ code: string; path: string } | 'NO_ERROR'> {
  try {
    await fn();
    return 'NO_ERROR';
  } catch (err) {
    if (!(err instanceof OriginProofError)) throw err;
    return { code: err.code, path: err.path };
  }
}

/** A certificate signed over `claims` as given: no check at issue (issueCertificate would refuse these). */
const signedOver = (issuer: Signer, claims: CertificateClaims) =>
  createSign1({ signer: issuer, payload: encode(claimsToMap(claims)), kid: kidOf(issuer), contentType: CT_CERTIFICATE });

const flipLast = (b: Uint8Array) => {
  const out = b.slice();
  out[out.length - 1]! ^= 1;
  return out;
};

describe('a device certificate with the proof of possession it carries', () => {
  test('round-trips and validates; the fixtures\' chain carries one', async () => {
    for (const alg of [undefined, ALG_ES256] as const) {
      const c = await makeChain(alg);
      expect(c.deviceCert.claims.proofOfPossession).toBeInstanceOf(Uint8Array);
      const again = decodeCertificate(c.deviceCert.bytes);
      expect(again.claims.proofOfPossession).toEqual(c.deviceCert.claims.proofOfPossession);
      expect(validateChain([c.deviceCert, c.agencyCert], c.anchors, NOW).leaf.claims.sub).toBe(c.deviceIdHex);
    }
  });

  test('one without (an older certificate) still decodes and validates: the gateway requires it, not the format', async () => {
    const c = await makeChain();
    const { proofOfPossession: _, ...claims } = c.deviceCert.claims;
    const bare = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), claims));
    expect(bare.claims.proofOfPossession).toBeUndefined();
    expect(validateChain([bare, c.agencyCert], c.anchors, NOW).leaf.certRef).toEqual(bare.certRef);
  });

  describe('refused on decoding, with the path of the proof\'s field', () => {
    const cases: [string, (c: Awaited<ReturnType<typeof makeChain>>) => Promise<Uint8Array>, { code: string; path: string }][] = [
      ['given to another agency (aud is not the iss)', async (c) => possessionFor(c.device, 'other.example'), { code: 'CLAIM_INVALID', path: 'claims.pop.claims.aud' }],
      ['signed by another key (kid)', async () => possessionFor(signerFor(ALG_ES256, 'someone else'), 'psb.example'), { code: 'UNKNOWN_KEY', path: 'claims.pop.protected.kid' }],
      [
        'naming another device (ueid), signed by the device key',
        async (c) => {
          const payload = encode(new Map<unknown, unknown>([[256, new Uint8Array(17).fill(1)], [3, 'psb.example'], [10, new Uint8Array(16)], [6, NOW]]));
          return createSign1({ signer: c.device, payload, kid: kidOf(c.device), contentType: CT_PROOF_OF_POSSESSION });
        },
        { code: 'CLAIM_INVALID', path: 'claims.pop.claims.ueid' },
      ],
      ['not a COSE_Sign1', async () => new Uint8Array([1, 2, 3]), { code: 'MALFORMED', path: 'claims.pop' }],
      ['over 512 bytes', async () => new Uint8Array(513), { code: 'CLAIM_INVALID', path: 'claims.pop' }],
    ];
    test.each(cases)('%s', async (_, proof, expected) => {
      const c = await makeChain();
      const claims = { ...c.deviceCert.claims, proofOfPossession: await proof(c) };
      const got = await errorOf(async () => decodeCertificate(await signedOver(c.agency, claims)));
      expect(got).toMatchObject({ code: expected.code });
      if (got !== 'NO_ERROR') expect(got.path.startsWith(expected.path), got.path).toBe(true);
      // and an agency's own tooling refuses to issue it
      expect(await errorOf(() => issueCertificate(c.agency, kidOf(c.agency), claims))).toMatchObject({ code: expected.code });
    });
  });

  test('a proof whose signature does not verify: BAD_SIGNATURE in validateChain (claims.pop.signature), and issuing it is refused', async () => {
    const c = await makeChain();
    const forged = flipLast(await possessionFor(c.device, 'psb.example'));
    const claims = { ...c.deviceCert.claims, proofOfPossession: forged };
    const cert = decodeCertificate(await signedOver(c.agency, claims)); // the binding holds: decoding does not verify
    expect(await errorOf(() => validateChain([cert, c.agencyCert], c.anchors, NOW))).toEqual({ code: 'BAD_SIGNATURE', path: 'chain[0].claims.pop.signature' });
    expect(await errorOf(() => issueCertificate(c.agency, kidOf(c.agency), claims))).toEqual({ code: 'BAD_SIGNATURE', path: 'claims.pop.signature' });
  });

  test('an agency or root certificate carrying one: CLAIM_INVALID', async () => {
    const c = await makeChain();
    const agencyProof = await createProofOfPossession(c.agency, { agencyId: 'root.example', nonce: new Uint8Array(16), iat: NOW });
    const bytes = await signedOver(c.root, { ...c.agencyCert.claims, proofOfPossession: agencyProof });
    expect(await errorOf(() => decodeCertificate(bytes))).toEqual({ code: 'CLAIM_INVALID', path: 'claims.pop' });
  });

  test('renewal: the proof kept from onboarding goes into the renewed certificate', async () => {
    const c = await makeChain();
    const { cti: _, ...claims } = c.deviceCert.claims;
    const renewed: DecodedCertificate = decodeCertificate(
      await issueCertificate(c.agency, kidOf(c.agency), { ...claims, iat: NOW + DAY, nbf: NOW + DAY, exp: NOW + 400 * DAY }),
    );
    expect(renewed.claims.proofOfPossession).toEqual(c.deviceCert.claims.proofOfPossession);
    expect(validateChain([renewed, c.agencyCert], c.anchors, NOW + 2 * DAY).leaf.holderKey).toEqual(pubOf(c.device));
  });
});
