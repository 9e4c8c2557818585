/**
 * A rejection names an unknown claim key without quoting it (schema.ts claimKeyName): the biometric review made a
 * biometric event's unknown key unquoted, but a sensor reading's, a certificate's or a token's was still quoted by
 * onlyKeys (String(k)): a text key such as a subject's name came back in the message and path, on the device's
 * rejections topic and in POST /v1/verify's verdict. Integer claim keys are still named, as SPEC's claim numbers.
 */
import { describe, expect, it } from 'vitest';
import { CLAIM_SENSOR, CT_READING, OriginProofError, createSign1, encode, openReading, readingClaimsToMap } from '../../protocol/index.js';
import { utf8ToBytes } from '../../protocol/bytes.js';
import { kidOf, makeChain, sensorClaims } from './fixtures.js';

const SECRET = 'Jane Doe 110101199001011234';

describe('an unknown claim key in a rejection', async () => {
  const c = await makeChain();
  const opened = async (where: 'claims' | 'sensor', key: unknown) => {
    const m = readingClaimsToMap(sensorClaims(c, 1));
    (where === 'sensor' ? (m.get(CLAIM_SENSOR) as Map<unknown, unknown>) : m).set(key, 1);
    const bytes = await createSign1({ signer: c.device, payload: encode(m), kid: kidOf(c.device), contentType: CT_READING });
    try {
      openReading(bytes);
    } catch (err) {
      if (err instanceof OriginProofError) return err;
      throw err;
    }
    throw new Error('opened');
  };

  it('is named by its kind when it is text, bytes or a large number, never quoted', async () => {
    for (const where of ['claims', 'sensor'] as const) {
      for (const key of [SECRET, utf8ToBytes(SECRET), 110101199001011234n, 1101011990]) {
        const err = await opened(where, key);
        expect(err.code).toBe('CLAIM_INVALID');
        for (const text of [err.message, err.path ?? '']) for (const leak of ['Jane', '110101', '74,97']) expect(text).not.toContain(leak);
      }
    }
  });

  it('is named as it is when it is a claim number', async () => {
    const err = await opened('claims', -70000);
    expect([err.code, err.path]).toEqual(['CLAIM_INVALID', 'claims.-70000']);
    expect((await opened('sensor', 9)).path).toMatch(/\.9$/);
  });

  it('is named as it is up to 99,999 in magnitude, by its kind from 100,000 (schema.ts MAX_QUOTED_KEY)', async () => {
    expect((await opened('claims', 99_999)).path).toBe('claims.99999');
    expect((await opened('claims', -99_999)).path).toBe('claims.-99999');
    expect((await opened('claims', 100_000)).path).toBe('claims.(integer key)');
    expect((await opened('claims', -100_000)).path).toBe('claims.(integer key)');
  });
});
