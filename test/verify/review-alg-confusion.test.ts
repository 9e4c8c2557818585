/**
 * Review (offline verification, the court's view): algorithm and key-id confusion in a bundle's signed objects. The
 * signature check trusts the protected bucket only (RFC 9052 §3: the unprotected one is not signed), takes the alg
 * from it and requires it to be the algorithm of the key it verifies with (an Ed25519 key never checks an "ES256"
 * signature, nor a P-256 key an "EdDSA" one), and finds the certified key by the kid. Each attack below is signed
 * for real with the key at hand and fails with its code; none was covered at the bundle level before (the envelope
 * tests check an unknown alg, test/protocol/reading.test.ts).
 */
import { describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, CT_CERTIFICATE, CT_READING, ENTRY_READING, Tag, claimsToMap, deviceIdFromKey, encode, encodeLogEntry, readingClaimsToMap, sha256, sigStructure,
  type Signer,
} from '../../protocol/index.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { kidOf, pubOf, sensorClaims, signerFor } from '../protocol/fixtures.js';
import { RECEIVED_MS, c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';

/** A tagged COSE_Sign1 with the buckets given, signed by `signer` over the protected bucket as it is (RFC 9052 §4.4). */
async function sign1(signer: Signer, prot: Map<number, unknown>, unprot: Map<number, unknown>, payload: Uint8Array): Promise<Uint8Array> {
  const protectedBytes = encode(prot);
  const signature = await signer.sign(sigStructure(protectedBytes, new Uint8Array(0), payload));
  return encode(new Tag([protectedBytes, unprot, payload, signature], 18));
}

const readingPayload = () => encode(readingClaimsToMap(sensorClaims(c)));
const deviceKid = () => kidOf(c.device);
const signedReading = () => sign1(c.device, new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_READING], [4, deviceKid()]]), new Map(), readingPayload());
const verdictOfReading = async (payload: Uint8Array) => fails(verifyBundle(await make({ entries: [await readingEntry({ payload })] }), trustWith()));

describe('alg and kid confusion in the signed objects of a bundle', () => {
  test('control: the reading built this way, alg EdDSA in the protected bucket, verifies', async () => {
    expect(c.device.alg).toBe(ALG_EDDSA);
    expect(await verdictOfReading(await signedReading())).toEqual([]);
  });

  test('the alg in the unprotected bucket only (unsigned): ALG_NOT_ALLOWED; any unprotected header (a second kid): MALFORMED', async () => {
    const noAlg = await sign1(c.device, new Map<number, unknown>([[3, CT_READING], [4, deviceKid()]]), new Map([[1, ALG_EDDSA]]), readingPayload());
    expect(await verdictOfReading(noAlg)).toEqual([['claims', 'ALG_NOT_ALLOWED']]);
    const otherKid = await sign1(c.device, new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_READING], [4, deviceKid()]]), new Map([[4, kidOf(c.agency)]]), readingPayload());
    expect(await verdictOfReading(otherKid)).toEqual([['claims', 'MALFORMED']]);
    // a header label only the unsigned bucket holds (a certificate riding there, as x5chain 33 would): MALFORMED too
    const riding = await sign1(c.device, new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_READING], [4, deviceKid()]]), new Map([[33, c.deviceCert.bytes]]), readingPayload());
    expect(await verdictOfReading(riding)).toEqual([['claims', 'MALFORMED']]);
  });

  test('a reading signed by the Ed25519 device key under alg ES256: signature ALG_NOT_ALLOWED (never checked as the other algorithm)', async () => {
    const es256 = await sign1(c.device, new Map<number, unknown>([[1, ALG_ES256], [3, CT_READING], [4, deviceKid()]]), new Map(), readingPayload());
    expect(await verdictOfReading(es256)).toEqual([['signature', 'ALG_NOT_ALLOWED']]);
  });

  test("a reading whose kid names another key than the device's: UNKNOWN_KEY without its certificate, CHAIN_INVALID with another one", async () => {
    const stranger = await sign1(c.device, new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_READING], [4, kidOf(signerFor(ALG_EDDSA, 'stranger'))]]), new Map(), readingPayload());
    expect(await verdictOfReading(stranger)).toEqual([['chain', 'UNKNOWN_KEY']]);
    // the agency's kid: the bundle carries the agency's certificate, which is not the one the entry was admitted against
    const agencyKid = await sign1(c.device, new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_READING], [4, kidOf(c.agency)]]), new Map(), readingPayload());
    expect(await verdictOfReading(agencyKid)).toEqual([['chain', 'CHAIN_INVALID']]);
  });

  test('a reading signed by the agency key, its entry naming the agency certificate, the root certificate as its "agency": ROLE_VIOLATION', async () => {
    // The chain [agency <- root] holds (the trailing root certificate is the anchor's own), so only the role stops it.
    const claims = { ...sensorClaims(c), deviceId: deviceIdFromKey(pubOf(c.agency)) };
    const payload = await sign1(c.agency, new Map<number, unknown>([[1, ALG_ES256], [3, CT_READING], [4, kidOf(c.agency)]]), new Map(), encode(readingClaimsToMap(claims)));
    const entry = encodeLogEntry({ type: ENTRY_READING, index: 0, receivedAtMs: RECEIVED_MS, payload, certRef: c.agencyCert.certRef });
    const v = verifyBundle(await make({ entries: [entry], certificates: [c.agencyCert.bytes, c.rootCert.bytes] }), trustWith());
    expect([v.valid, fails(v)]).toEqual([false, [['claims', 'ROLE_VIOLATION']]]);
  });

  test('a device certificate signed by the ES256 agency key under alg EdDSA: chain ALG_NOT_ALLOWED', async () => {
    expect(c.agency.alg).toBe(ALG_ES256);
    const cert = await sign1(c.agency, new Map<number, unknown>([[1, ALG_EDDSA], [3, CT_CERTIFICATE], [4, kidOf(c.agency)]]), new Map(), encode(claimsToMap(c.deviceCert.claims)));
    const entry = encodeLogEntry({ type: ENTRY_READING, index: 0, receivedAtMs: RECEIVED_MS, payload: await signedReading(), certRef: sha256(cert) });
    const v = verifyBundle(await make({ entries: [entry], certificates: [cert, c.agencyCert.bytes] }), trustWith());
    expect(fails(v)).toEqual([['chain', 'ALG_NOT_ALLOWED']]);
  });
});
