/**
 * Review of the biometric privacy rule through the real gateway (aedes, LevelDB, mqtt.js): what a careless or hostile
 * fingerprint-reader firmware could get into the log, or have echoed back, besides a match result and a salted
 * commitment (SPEC §3). Each case asserts the code, and that nothing of it reached the log.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createSign1, encode, readingClaimsToMap, concatBytes, deviceIdFromKey, keyThumbprint, subjectCommitment, sha256, toBase64, utf8ToBytes,
  CT_READING, CLAIM_BIOMETRIC, BIO_SUBJECT_COMMITMENT, type BiometricBody, type ReadingClaims,
} from '../../protocol/index.js';
import { connectDevice, FIRMWARE, nowS, pubOf, reading, useGatewayWithDevices, type ConnectedDevice, type Device } from './harness.js';

const SALT = sha256(utf8ToBytes('agency-provisioned salt of the review'));
const NATIONAL_ID = '110101199001011234';
const bio = (over: Partial<BiometricBody> = {}): BiometricBody =>
  ({ kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: subjectCommitment(SALT, NATIONAL_ID), ...over });

function claimsOf(d: Device, seq: number, body: BiometricBody): ReadingClaims {
  return { deviceId: deviceIdFromKey(pubOf(d.signer)), seq, iat: nowS(), firmware: FIRMWARE, body };
}

/** Sign a claims map as it is (bypassing signReading's own checks), as a firmware would. */
const signMap = (d: Device, m: Map<unknown, unknown>) =>
  createSign1({ signer: d.signer, payload: encode(m), kid: keyThumbprint(pubOf(d.signer)), contentType: CT_READING });

describe('the biometric privacy rule at the gateway', () => {
  const fx = useGatewayWithDevices(1, { blockMaxMs: 5 });
  let c: ConnectedDevice;
  let seq = 0;
  beforeAll(async () => {
    c = await connectDevice(fx.t.gw, fx.dev);
  });
  afterAll(() => c?.end());

  const logSize = async () => (await fx.t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json().size as number;
  async function answer(bytes: Uint8Array) {
    await c.publish(bytes);
    const a = await c.next();
    if (a.kind !== 'rejection') throw new Error(`expected a rejection, got a receipt for seq ${a.receipt.seq}`);
    return a.rejection;
  }
  const verifyEnvelope = async (bytes: Uint8Array) =>
    (await fx.t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(bytes) } })).json() as { valid: boolean; checks: { name: string; code?: string; message: string }[] };

  test('a biometric event as SPEC §3 says is logged', async () => {
    await c.publish(await reading(fx.dev, ++seq, { body: bio() }));
    expect((await c.next()).kind).toBe('receipt');
  });

  test('the subject id in place of its commitment (zero-padded, as text, as an integer) is BIOMETRIC_RAW_DATA, never logged', async () => {
    const id = utf8ToBytes(NATIONAL_ID);
    const size = await logSize();
    for (const clear of [concatBytes(id, new Uint8Array(32 - id.length)), utf8ToBytes(`Jane Doe ${NATIONAL_ID}     `), concatBytes(new Uint8Array(24), new Uint8Array([1, 0x87, 0x2b, 0x3d, 0x4e, 0x91, 0x0a, 0x12]))]) {
      expect(clear.length).toBe(32);
      const m = readingClaimsToMap(claimsOf(fx.dev, ++seq, bio()));
      (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(BIO_SUBJECT_COMMITMENT, clear);
      const bytes = await signMap(fx.dev, m);
      const r = await answer(bytes);
      expect([r.code, r.seq]).toEqual(['BIOMETRIC_RAW_DATA', seq]);
      // POST /v1/verify judges the envelope as the pipeline does.
      expect((await verifyEnvelope(bytes)).checks.find((x) => x.name === 'claims')?.code).toBe('BIOMETRIC_RAW_DATA');
    }
    expect(await logSize()).toBe(size);
  });

  test('raw data under an unknown key is BIOMETRIC_RAW_DATA, and neither the rejection nor the verdict quotes the key', async () => {
    const size = await logSize();
    const secret = `Jane Doe ${NATIONAL_ID}`;
    const keys: unknown[] = [secret, utf8ToBytes(NATIONAL_ID), 1101011990];
    for (const key of keys) {
      for (const where of ['body', 'claims'] as const) {
        const m = readingClaimsToMap(claimsOf(fx.dev, ++seq, bio()));
        (where === 'body' ? (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>) : m).set(key, 1);
        const bytes = await signMap(fx.dev, m);
        const r = await answer(bytes);
        expect([r.code, r.seq]).toEqual(['BIOMETRIC_RAW_DATA', seq]);
        const claims = (await verifyEnvelope(bytes)).checks.find((x) => x.name === 'claims')!;
        expect(claims.code).toBe('BIOMETRIC_RAW_DATA');
        for (const text of [r.message, r.path, claims.message]) {
          for (const leak of ['Jane', NATIONAL_ID.slice(0, 6), '49,49,48', '1101011990']) expect(text).not.toContain(leak);
        }
      }
    }
    expect(await logSize()).toBe(size);
  });

  test('an id number in the purpose is BIOMETRIC_RAW_DATA, never logged', async () => {
    const size = await logSize();
    const m = readingClaimsToMap(claimsOf(fx.dev, ++seq, bio()));
    (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(1, `nid-${NATIONAL_ID}`);
    const r = await answer(await signMap(fx.dev, m));
    expect([r.code, r.seq]).toEqual(['BIOMETRIC_RAW_DATA', seq]);
    expect(await logSize()).toBe(size);
  });
});

