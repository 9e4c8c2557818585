/** fast-check properties: round trips of every signed structure, sign-then-verify, single-bit flips rejected. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  signReading, openReading, verifyReading, decodeCertificate, issueCertificate, claimsFromMap, claimsToMap, encode,
  decodeStrict, createConnectToken, decodeConnectToken, createRevocation, decodeRevocation, createProofOfPossession,
  verifyProofOfPossession, isErrorCode, toHex, subjectCommitment, deviceIdFromKey, deviceIdToHex, type ReadingBody,
} from '../../protocol/index.js';
import { makeChain, sensorClaims, NOW, DAY, kidOf, pubOf, ALG_ES256, FIRMWARE } from './fixtures.js';

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
/** A biometric purpose: a name without 6 digits in a row (an id number there is BIOMETRIC_RAW_DATA, biometric.ts). */
const purpose = name.filter((p) => !/[0-9]{6}/.test(p));
const sensorBody: fc.Arbitrary<ReadingBody> = fc.record({
  kind: fc.constant('sensor' as const), type: fc.constantFrom('temperature', 'humidity'),
  value: fc.maxSafeInteger().map((v) => v % 1_000_000_000_000), scale: fc.integer({ min: -18, max: 18 }),
  unit: fc.stringMatching(/^[!-~]{1,16}$/),
});
const bioBody: fc.Arbitrary<ReadingBody> = fc.record({
  kind: fc.constant('biometric' as const), purpose, result: fc.constantFrom('match' as const, 'no-match' as const),
  score: fc.integer({ min: 0, max: 1000 }), subjectCommitment: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((s) => subjectCommitment(s, 'subject')),
});

describe('properties', async () => {
  for (const alg of [-8, ALG_ES256] as const) {
    const c = await makeChain(alg);
    it(`reading: sign -> open -> verify round trip (alg ${alg})`, async () => {
      await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: NOW - 100, max: NOW + 100 }), fc.oneof(sensorBody, bioBody), async (seq, iat, body) => {
        const claims = sensorClaims(c, seq, { iat, body });
        const bytes = await signReading(c.device, claims);
        const opened = openReading(bytes);
        expect(opened.claims).toEqual(claims);
        expect(toHex(encode(decodeStrict(bytes)))).toBe(toHex(bytes));
        expect(verifyReading(opened, c.deviceCert).seq).toBe(seq);
      }), { numRuns: 40 });
    });

    it(`reading: any single-bit flip is rejected with an OriginProofError code (alg ${alg})`, async () => {
      const bytes = await signReading(c.device, sensorClaims(c, 77, { body: { kind: 'sensor', type: 'humidity', value: 4711, scale: -2, unit: '%RH' } }));
      // Every bit in turn: as many random draws (fc.nat, numRuns = the bit count) left about a third of the bits
      // unflipped in a run, so a flip that got through was caught only in some runs.
      const uncaught: number[] = [];
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const b = bytes.slice();
        b[bit >> 3]! ^= 1 << (bit & 7);
        let code: unknown;
        try {
          verifyReading(openReading(b), c.deviceCert);
        } catch (e) {
          code = (e as { code?: unknown }).code;
        }
        if (!isErrorCode(code)) uncaught.push(bit);
      }
      expect(uncaught).toEqual([]);
    });
  }

  const c = await makeChain();
  it('certificate claims round trip (issue -> decode, map -> claims)', async () => {
    const proof = c.deviceCert.claims.proofOfPossession!;
    await fc.assert(fc.asyncProperty(name, fc.array(name, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.boolean(), async (kind, types, nbf, withProof) => {
      const readingTypes = [...new Set(types)];
      const input = {
        iss: 'psb.example', sub: c.deviceIdHex, role: 'device' as const, holderKey: pubOf(c.device), iat: nbf, nbf, exp: nbf + DAY, profile: { kind, readingTypes, firmware: FIRMWARE },
        ...(withProof ? { proofOfPossession: proof } : {}),
      };
      const cert = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), input));
      expect(cert.claims).toMatchObject(input);
      expect(claimsFromMap(claimsToMap(cert.claims))).toEqual(cert.claims);
    }), { numRuns: 25 });
  });

  it('connect token, revocation and PoP round trip', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 600 }), fc.uint8Array({ minLength: 8, maxLength: 64 }), async (iat, life, nonce) => {
      const t = decodeConnectToken(await createConnectToken(c.device, { aud: 'gw.example', iat, exp: iat + life }));
      expect(t.claims).toEqual({ sub: deviceIdToHex(deviceIdFromKey(pubOf(c.device))), aud: 'gw.example', iat, exp: iat + life });
      const r = decodeRevocation(await createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: iat, iat }));
      expect(r.claims).toMatchObject({ revokedFrom: iat, reason: 'decommissioned', sub: c.deviceCert.claims.sub });
      const pop = await createProofOfPossession(c.device, { agencyId: 'psb.example', nonce, iat });
      expect(verifyProofOfPossession(pop, pubOf(c.device), { agencyId: 'psb.example', nonce, now: iat }).nonce).toEqual(nonce);
    }), { numRuns: 25 });
  });
});
