/**
 * Review of the biometric privacy rule: the subject commitment is SHA-256(salt || subject id) (SPEC §3), 32 bytes
 * that look random. Found by review: any 32 bytes were taken, so a firmware that put the subject id itself in the
 * field (a national id or a name, padded to 32 bytes) had it logged in clear for good. Such bytes are now
 * BIOMETRIC_RAW_DATA, on the gateway and in the offline verifier alike (both open readings with openReading).
 */
import { describe, expect, it } from 'vitest';
import {
  openReading, readingClaimsToMap, createSign1, encode, signReading, subjectCommitment, sha256, utf8ToBytes, concatBytes,
  CT_READING, CLAIM_BIOMETRIC, BIO_SUBJECT_COMMITMENT, parseBiometricBody, biometricBodyToMap, type Signer, type BiometricBody,
} from '../../protocol/index.js';
import { makeChain, sensorClaims, kidOf, codeOf } from './fixtures.js';

const signed = (s: Signer, m: Map<unknown, unknown>) => createSign1({ signer: s, payload: encode(m), kid: kidOf(s), contentType: CT_READING });

/** `text` in UTF-8, then `pad` to 32 bytes. */
function padded(text: string, pad: number, left = false): Uint8Array {
  const t = utf8ToBytes(text);
  const p = new Uint8Array(32 - t.length).fill(pad);
  return left ? concatBytes(p, t) : concatBytes(t, p);
}

const bigEndian = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 31; n > 0n; i--, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};

const uuidPadded = concatBytes(sha256(utf8ToBytes('a random uuid')).subarray(0, 16), new Uint8Array(16));

const NOT_A_DIGEST: [string, Uint8Array][] = [
  ['a national id, zero-padded', padded('110101199001011234', 0)],
  ['a national id, space-padded', padded('110101199001011234', 0x20)],
  ['a national id, left-padded with zeros', padded('110101199001011234', 0, true)],
  ['a national id as a big-endian integer', bigEndian(110101199001011234n)],
  ['a name filling all 32 bytes', utf8ToBytes('Jane Elizabeth Doe 1990-01-01 F.')],
  ['a name in UTF-8 with an id, no padding', utf8ToBytes('张伟, 110101199001011234, 女.')],
  ['a 16-byte id padded with zeros', uuidPadded],
  ['all zeros', new Uint8Array(32)],
  ['one byte repeated', new Uint8Array(32).fill(7)],
];

describe('a subject commitment that is no digest is BIOMETRIC_RAW_DATA', async () => {
  const c = await makeChain();
  const body = (commitment: Uint8Array): BiometricBody =>
    ({ kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: commitment });

  for (const [what, bytes] of NOT_A_DIGEST) {
    it(`${what}: refused when opened (gateway, offline verifier) and when signed`, async () => {
      expect(bytes.length).toBe(32);
      const m = readingClaimsToMap(sensorClaims(c, 1, { body: body(new Uint8Array(32)) }));
      (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(BIO_SUBJECT_COMMITMENT, bytes);
      expect(await codeOf(async () => openReading(await signed(c.device, m)))).toBe('BIOMETRIC_RAW_DATA');
      expect(await codeOf(() => signReading(c.device, sensorClaims(c, 1, { body: body(bytes) })))).toBe('BIOMETRIC_RAW_DATA');
    });
  }

  it('commitments made as SPEC §3 says pass (no false alarm on 20,000 digests)', async () => {
    const salt = sha256(utf8ToBytes('agency salt'));
    const one = await signReading(c.device, sensorClaims(c, 1, { body: body(subjectCommitment(salt, '110101199001011234')) }));
    expect(openReading(one).claims.body.kind).toBe('biometric');
    for (let i = 0; i < 20_000; i++) {
      const b = body(subjectCommitment(salt, `citizen-${i}`));
      expect(parseBiometricBody(biometricBodyToMap(b), 'biometric').subjectCommitment).toBe(b.subjectCommitment);
    }
  });
});

describe('a purpose holding an id number is BIOMETRIC_RAW_DATA', async () => {
  const c = await makeChain();
  const withPurpose = (purpose: string): BiometricBody =>
    ({ kind: 'biometric', purpose, result: 'match', score: 912, subjectCommitment: subjectCommitment(sha256(utf8ToBytes('salt')), 'subject') });

  it('a national id, a date of birth, a phone number: refused opened and signed', async () => {
    for (const purpose of ['nid-110101199001011234', 'door-access-19900101', 'check-0612345678', 'x123456']) {
      const m = readingClaimsToMap(sensorClaims(c, 1, { body: withPurpose('identity-check') }));
      (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(1, purpose);
      expect(await codeOf(async () => openReading(await signed(c.device, m)))).toBe('BIOMETRIC_RAW_DATA');
      expect(await codeOf(() => signReading(c.device, sensorClaims(c, 1, { body: withPurpose(purpose) })))).toBe('BIOMETRIC_RAW_DATA');
    }
  });

  it('purposes naming a counter or a door still pass', async () => {
    for (const purpose of ['identity-check-counter-3', 'door-access-12345', 'gate-2-lane-14']) {
      expect(openReading(await signReading(c.device, sensorClaims(c, 1, { body: withPurpose(purpose) }))).claims.body).toMatchObject({ purpose });
    }
  });
});

