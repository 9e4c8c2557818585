/**
 * Review (review-pop): attacks on the proof of possession a device certificate carries (claim -65543) that the code
 * already refuses, kept as regressions: a proof under the device's kid but signed by another key, non-canonical CBOR
 * inside the proof, an alg that is not the device key's, agency ids related to the issuer's, a proof for the right
 * agency from another device, the proof in other envelopes. And one that is fine: the other ES256 encoding of a
 * device's proof is still that device's consent to that agency.
 */
import { describe, expect, test } from 'vitest';
import { p256 } from '@noble/curves/nist.js';
import {
  ALG_EDDSA, CT_CERTIFICATE, CT_PROOF_OF_POSSESSION, CT_READING, claimsToMap, createSign1, decodeCertificate, encode, keyThumbprint, Tag,
  validateChain, type CertificateClaims, type Signer,
} from '../../protocol/index.js';
import { OriginProofError } from '../../protocol/errors.js';
import { ALG_ES256, kidOf, makeChain, NOW, possessionFor, signerFor, type Chain } from './fixtures.js';

const signedOver = (issuer: Signer, claims: CertificateClaims) =>
  createSign1({ signer: issuer, payload: encode(claimsToMap(claims)), kid: kidOf(issuer), contentType: CT_CERTIFICATE });

/** The code and path of what decoding, then validating, a certificate around `pop` throws. */
async function outcome(c: Chain, pop: Uint8Array, over: Partial<CertificateClaims> = {}): Promise<{ code: string; path: string } | 'VALID'> {
  try {
    const cert = decodeCertificate(await signedOver(c.agency, { ...c.deviceCert.claims, ...over, proofOfPossession: pop }));
    validateChain([cert, c.agencyCert], c.anchors, NOW);
    return 'VALID';
  } catch (err) {
    if (!(err instanceof OriginProofError)) throw err;
    return { code: err.code, path: err.path };
  }
}


/** A proof with the device's kid, the payload bytes given, signed by `by`, with protected header `prot`. */
async function rawPop(by: Signer, prot: Uint8Array, payload: Uint8Array): Promise<Uint8Array> {
  const sig = await by.sign(encode(['Signature1', prot, new Uint8Array(0), payload]));
  return encode(new Tag([prot, new Map(), payload, sig], 18));
}

function popPayload(c: Chain, aud = 'psb.example'): Map<unknown, unknown> {
  const ueid = decodeCertificate(c.deviceCert.bytes).claims.sub;
  return new Map<unknown, unknown>([[256, Uint8Array.from(Buffer.from(ueid, 'hex'))], [3, aud], [10, new Uint8Array(16).fill(7)], [6, NOW]]);
}

describe('review-pop regressions: proofs that must not make a certificate valid', () => {
  test('the device kid and ueid, signed by another key: BAD_SIGNATURE (chain[0].claims.pop.signature)', async () => {
    const c = await makeChain();
    const prot = encode(new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_PROOF_OF_POSSESSION], [4, kidOf(c.device)]]));
    const pop = await rawPop(signerFor(ALG_EDDSA, 'impostor'), prot, encode(popPayload(c)));
    expect(await outcome(c, pop)).toEqual({ code: 'BAD_SIGNATURE', path: 'chain[0].claims.pop.signature' });
  });

  test('non-canonical CBOR inside the proof (iat in 8 bytes), signed by the device: MALFORMED under claims.pop', async () => {
    const c = await makeChain();
    const prot = encode(new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_PROOF_OF_POSSESSION], [4, kidOf(c.device)]]));
    const canonical = encode(popPayload(c));
    const iat = encode(NOW); // 0x1a + 4 bytes
    const at = Buffer.from(canonical).indexOf(Buffer.from(iat));
    const long = Uint8Array.from([...canonical.subarray(0, at), 0x1b, 0, 0, 0, 0, ...iat.subarray(1), ...canonical.subarray(at + iat.length)]);
    const got = await outcome(c, await rawPop(c.device, prot, long));
    expect(got).toMatchObject({ code: 'MALFORMED' });
    expect((got as { path: string }).path.startsWith('claims.pop')).toBe(true);
  });

  test("an alg that is not the device key's (ES256 header, Ed25519 key): ALG_NOT_ALLOWED", async () => {
    const c = await makeChain();
    const prot = encode(new Map<number, unknown>([[1, ALG_ES256], [3, CT_PROOF_OF_POSSESSION], [4, kidOf(c.device)]]));
    expect(await outcome(c, await rawPop(c.device, prot, encode(popPayload(c))))).toEqual({ code: 'ALG_NOT_ALLOWED', path: 'chain[0].claims.pop.protected.alg' });
  });

  test('agency ids related to the issuer (trailing dot, a subdomain, a prefix): CLAIM_INVALID (claims.pop.claims.aud)', async () => {
    const c = await makeChain();
    for (const aud of ['psb.example.', 'x.psb.example', 'psb.example.evil', 'psb', 'psb-example']) {
      expect(await outcome(c, await possessionFor(c.device, aud))).toEqual({ code: 'CLAIM_INVALID', path: 'claims.pop.claims.aud' });
    }
  });

  test("another device's proof for the right agency: UNKNOWN_KEY (claims.pop.protected.kid)", async () => {
    const c = await makeChain();
    const other = await makeChain(ALG_ES256);
    expect(await outcome(c, other.deviceCert.claims.proofOfPossession!)).toEqual({ code: 'UNKNOWN_KEY', path: 'claims.pop.protected.kid' });
  });

  test('the proof in another envelope (a reading content type, no tag, a kid in the unprotected bucket): MALFORMED', async () => {
    const c = await makeChain();
    const payload = encode(popPayload(c));
    const asReading = await createSign1({ signer: c.device, payload, kid: kidOf(c.device), contentType: CT_READING });
    expect(await outcome(c, asReading)).toMatchObject({ code: 'MALFORMED' });
    const good = c.deviceCert.claims.proofOfPossession!;
    expect(good[0]).toBe(0xd2); // tag 18
    expect(await outcome(c, good.subarray(1))).toMatchObject({ code: 'MALFORMED' });
    const prot = encode(new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_PROOF_OF_POSSESSION]]));
    const sig = await c.device.sign(encode(['Signature1', prot, new Uint8Array(0), payload]));
    const unprotectedKid = encode(new Tag([prot, new Map([[4, kidOf(c.device)]]), payload, sig], 18));
    expect(await outcome(c, unprotectedKid)).toMatchObject({ code: 'MALFORMED' });
  });

  test("the other ES256 encoding of a device's proof (r, n - s) is still that device's consent to that agency", async () => {
    const c = await makeChain(ALG_ES256);
    const pop = c.deviceCert.claims.proofOfPossession!;
    const n = p256.Point.CURVE().n;
    const sig = pop.subarray(pop.length - 64);
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
    const twin = Uint8Array.from([...pop.subarray(0, pop.length - 32), ...Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]);
    expect(twin).not.toEqual(pop);
    expect(await outcome(c, twin)).toBe('VALID');
    // and it binds nothing more: for another agency it is refused as the original is
    expect(keyThumbprint(c.deviceCert.holderKey)).toEqual(kidOf(c.device));
  });
});
