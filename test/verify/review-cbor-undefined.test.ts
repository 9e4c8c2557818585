/**
 * Review (offline verification, the court's view): CBOR's `undefined` (simple value 23, 0xf7) is a value the decoder
 * (cbor-x) returns as JavaScript's undefined, which reads exactly as a key that is absent. No structure of ours has it
 * (firmware-specs/reading.cddl, SPEC.md), and deterministic encoding kept it as it was, so a signed map could hold a
 * key whose value the verifier then read as not there: a device certificate whose COSE_Key says `3 (alg): undefined`
 * decoded as a key without an alg, and its readings' bundles verified, where a decoder following the schema refuses
 * the certificate. Decoding now refuses it (MALFORMED), as it refuses other values the schema has no place for.
 */
import { describe, expect, test } from 'vitest';
import { CT_CERTIFICATE, ENTRY_READING, claimsToMap, createSign1, decode, decodeCertificate, decodeStrict, encode, encodeLogEntry, sha256, signReading } from '../../protocol/index.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { codeOfSync, kidOf, sensorClaims } from '../protocol/fixtures.js';
import { RECEIVED_MS, c, fails, make, trustWith } from './bundle-fixtures.js';

describe("CBOR undefined is no field's value", () => {
  test('decodeStrict refuses it anywhere: alone, in an array, as a map value', () => {
    for (const hex of ['f7', '8101f7', 'a101f7', 'a2010203f7']) {
      expect(codeOfSync(() => decodeStrict(Uint8Array.from(Buffer.from(hex, 'hex')))), hex).toBe('MALFORMED');
    }
    // null stays a value (receipts' rejections carry it), and the lenient decode is unchanged
    expect(decodeStrict(Uint8Array.from([0xa1, 0x01, 0xf6]))).toEqual(new Map([[1, null]]));
    expect(decode(Uint8Array.from([0xa1, 0x01, 0xf7]))).toEqual(new Map([[1, undefined]]));
  });

  test('a device certificate whose COSE_Key holds alg: undefined, signed by its agency: not a certificate, its reading not valid', async () => {
    const claims = claimsToMap(c.deviceCert.claims);
    const cnf = claims.get(8) as Map<number, Map<number, unknown>>;
    cnf.get(1)!.set(3, undefined); // {1: 1, 3: undefined, -1: 6, -2: x}
    const bytes = await createSign1({ signer: c.agency, payload: encode(claims), kid: kidOf(c.agency), contentType: CT_CERTIFICATE });
    expect(codeOfSync(() => decodeCertificate(bytes))).toBe('MALFORMED');
    const payload = await signReading(c.device, sensorClaims(c));
    const entry = encodeLogEntry({ type: ENTRY_READING, index: 0, receivedAtMs: RECEIVED_MS, payload, certRef: sha256(bytes) });
    const v = verifyBundle(await make({ entries: [entry], certificates: [bytes, c.agencyCert.bytes] }), trustWith());
    expect([v.valid, fails(v)]).toEqual([false, [['chain', 'MALFORMED']]]);
  });
});
