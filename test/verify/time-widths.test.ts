/**
 * Times no safe integer holds, in a bundle anyone can make (SPEC conventions: integers at most 2^53 - 1; the log's
 * times in ms, a reading's iat in seconds): the offline verifier fails the check that reads them with a code, never
 * throws nor passes. A CBOR uint64 past 2^53 (which a JS number would round), 2^53 itself, and negative ones (major
 * type 1, down to -2^63) as the entry's receivedAtMs, the block header's timeMs and the reading's iat.
 * test/cli/verify-times.test.ts covers safe integers past what Date holds; test/gateway/time-widths.test.ts the gateway.
 */
import { describe, expect, test } from 'vitest';
import { CT_READING, ENTRY_READING, createSign1, encode, keyThumbprint, publicKey, readingClaimsToMap, signReading, verifyBundle } from '../../protocol/index.js';
import { sensorClaims } from '../protocol/fixtures.js';
import { c, fails, make, RECEIVED_MS, trustWith } from './bundle-fixtures.js';

const WIDE = [2n ** 64n - 1n, 2n ** 53n + 1n, 2n ** 53n];
const NEGATIVE = [-1, -(2n ** 63n)];
/** A reading's log entry with any value as its receivedAtMs (encodeLogEntry would refuse these). */
const entry = (payload: Uint8Array, receivedAtMs: unknown) =>
  encode(new Map<number, unknown>([[1, ENTRY_READING], [2, 0], [3, receivedAtMs], [4, payload], [5, c.deviceCert.certRef]]));

describe('a bundle whose times are no safe integer', () => {
  test('receivedAtMs: claims and inclusion MALFORMED (the entry does not decode)', async () => {
    const payload = await signReading(c.device, sensorClaims(c, 1, {}));
    for (const ms of [...WIDE, ...NEGATIVE]) {
      expect([String(ms), fails(verifyBundle(await make({ entries: [entry(payload, ms)] }), trustWith()))]).toEqual([String(ms), [['claims', 'MALFORMED'], ['inclusion', 'MALFORMED']]]);
    }
  });

  test("the block header's timeMs: checkpoint MALFORMED", async () => {
    const e = entry(await signReading(c.device, sensorClaims(c, 1, {})), RECEIVED_MS);
    for (const ms of [...WIDE, ...NEGATIVE]) {
      const bundle = await make({ entries: [e], block: { first: 0, last: 0, timeMs: ms as unknown as number } });
      expect([String(ms), fails(verifyBundle(bundle, trustWith()))]).toEqual([String(ms), [['checkpoint', 'MALFORMED']]]);
    }
  });

  test("the reading's iat: claims CLAIM_INVALID", async () => {
    const key = publicKey(c.device.alg, c.device.publicKey);
    for (const iat of [...WIDE, ...NEGATIVE]) {
      const m = readingClaimsToMap(sensorClaims(c, 1, {}));
      m.set(6, iat);
      const payload = await createSign1({ signer: c.device, payload: encode(m), kid: keyThumbprint(key), contentType: CT_READING });
      expect([String(iat), fails(verifyBundle(await make({ entries: [entry(payload, RECEIVED_MS)] }), trustWith()))]).toEqual([String(iat), [['claims', 'CLAIM_INVALID']]]);
    }
  });
});
