import { describe, expect, it } from 'vitest';
import {
  signReading, openReading, verifyReading, readingClaimsToMap, createSign1, encode, CT_READING, subjectCommitment,
  createRevocation, verifyRevocation, utf8ToBytes, CLAIM_BIOMETRIC, CLAIM_SENSOR, CLAIM_SEQ, CLAIM_UEID, Tag,
  imageMagic, looksLikeBlob, LastProtectedHeader, readingsTopic, parseTopic, assertReadingsTopic, deviceIdFromHex, deviceIdToHex,
  type ReadingClaims, type Signer,
} from '../../protocol/index.js';
import { makeChain, sensorClaims, NOW, kidOf, pubOf, codeOf, ALG_ES256, ALG_EDDSA, FIRMWARE } from './fixtures.js';

async function rawReading(signer: Signer, map: Map<unknown, unknown>) {
  return createSign1({ signer, payload: encode(map), kid: kidOf(signer), contentType: CT_READING });
}

const bio = (over: Record<string, unknown> = {}) => ({
  kind: 'biometric' as const, purpose: 'door-access', result: 'match' as const, score: 870,
  subjectCommitment: subjectCommitment(new Uint8Array(16).fill(7), 'employee-4711'), ...over,
});

for (const alg of [ALG_EDDSA, ALG_ES256] as const) {
  describe(`readings (device alg ${alg})`, async () => {
    const c = await makeChain(alg);
    it('sign, open, verify a sensor reading and a biometric event', async () => {
      const bytes = await signReading(c.device, sensorClaims(c, 5));
      const v = verifyReading(openReading(bytes), c.deviceCert, { now: NOW });
      expect(v).toMatchObject({ seq: 5, iat: NOW, deviceIdHex: c.deviceIdHex, body: { type: 'temperature', value: 215, scale: -1 } });
      const b = await signReading(c.device, sensorClaims(c, 6, { body: bio() }));
      expect(verifyReading(openReading(b), c.deviceCert).body).toMatchObject({ kind: 'biometric', result: 'match' });
    });
  });
}

describe('reading rejections', async () => {
  const c = await makeChain();
  const good = async (over: Partial<ReadingClaims> = {}) => signReading(c.device, sensorClaims(c, 1, over));
  const mapOf = (over: Partial<ReadingClaims> = {}) => readingClaimsToMap(sensorClaims(c, 1, over));

  it('claim schema: CLAIM_INVALID', async () => {
    const mutations: ((m: Map<unknown, unknown>) => void)[] = [
      (m) => m.delete(CLAIM_SEQ),
      (m) => m.set(CLAIM_SEQ, -1),
      (m) => m.set(CLAIM_SEQ, 'x'),
      (m) => m.set(CLAIM_UEID, new Uint8Array(17)),
      (m) => m.set(99, 1),
      (m) => m.delete(CLAIM_SENSOR),
      (m) => (m.get(CLAIM_SENSOR) as Map<number, unknown>).set(3, 40),
      (m) => (m.get(CLAIM_SENSOR) as Map<number, unknown>).set(1, 'Temperature!'),
      (m) => (m.get(CLAIM_SENSOR) as Map<number, unknown>).set(5, 1),
      (m) => (m.get(CLAIM_SENSOR) as Map<number, unknown>).delete(4),
      (m) => m.set(CLAIM_BIOMETRIC, readingClaimsToMap(sensorClaims(c, 1, { body: bio() })).get(CLAIM_BIOMETRIC)),
    ];
    for (const mutate of mutations) {
      const m = mapOf();
      mutate(m);
      expect(await codeOf(async () => openReading(await rawReading(c.device, m)))).toBe('CLAIM_INVALID');
    }
    expect(await codeOf(() => good({ body: bio({ score: 1001 }) }))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => good({ body: bio({ result: 'maybe' }) }))).toBe('CLAIM_INVALID');
    expect(await codeOf(() => good({ deviceId: deviceIdFromHex('01' + 'ab'.repeat(16)) }))).toBe('CLAIM_INVALID');
  });

  it('biometric privacy rule: BIOMETRIC_RAW_DATA', async () => {
    const bioMap = () => readingClaimsToMap(sensorClaims(c, 1, { body: bio() }));
    const fmr = new Uint8Array(32); fmr.set([0x46, 0x4d, 0x52, 0x00]);
    const png = new Uint8Array(32); png.set([0x89, 0x50, 0x4e, 0x47]);
    const cases: ((m: Map<unknown, unknown>) => void)[] = [
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(5, new Uint8Array(400)), // extra field
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(4, new Uint8Array(64)), // commitment too long
      // one byte over the 32 a biometric event's byte strings may hold (mutant B2: biometric.ts `> 32` -> `> 33` made it CLAIM_INVALID)
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(4, new Uint8Array(33).fill(0xa5)),
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(4, fmr), // ISO 19794-2 template
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(4, png),
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(1, 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk'), // base64 PNG
      (m) => (m.get(CLAIM_BIOMETRIC) as Map<number, unknown>).set(1, 'ab'.repeat(40)),
      (m) => m.set(-70000, new Uint8Array(10)), // unknown claim next to a biometric body
      (m) => m.set(-65540, new Uint8Array([0xff, 0xd8, 0xff, ...new Uint8Array(40)])), // JPEG in firmware slot
    ];
    for (const mutate of cases) {
      const m = bioMap();
      mutate(m);
      expect(await codeOf(async () => openReading(await rawReading(c.device, m)))).toBe('BIOMETRIC_RAW_DATA');
    }
    // image magic anywhere in a sensor reading too
    const s = mapOf();
    s.set(-70000, new Uint8Array([0xff, 0xa0, ...new Uint8Array(100)]));
    expect(await codeOf(async () => openReading(await rawReading(c.device, s)))).toBe('BIOMETRIC_RAW_DATA');
    expect(imageMagic(new Uint8Array([0x42, 0x4d, ...new Uint8Array(30)]))).toBeUndefined(); // short magic ignored in digests
    expect(looksLikeBlob('door-access')).toBe(false);
  });

  it('envelope: MALFORMED, TOO_LARGE, ALG_NOT_ALLOWED', async () => {
    const bytes = await good();
    expect(await codeOf(() => openReading(bytes.subarray(0, bytes.length - 1)))).toBe('MALFORMED');
    expect(await codeOf(() => openReading(new Uint8Array([...bytes, 0])))).toBe('MALFORMED');
    expect(await codeOf(() => openReading(new Uint8Array(2000)))).toBe('TOO_LARGE');
    const noTag = encode([...(openReading(bytes).sign1 ? [openReading(bytes).sign1.protectedBytes, new Map(), openReading(bytes).sign1.payload, openReading(bytes).sign1.signature] : [])]);
    expect(await codeOf(() => openReading(noTag))).toBe('MALFORMED');
    const o = openReading(bytes).sign1;
    const es384 = encode(new Map<number, unknown>([[1, -35], [3, CT_READING], [4, kidOf(c.device)]]));
    expect(await codeOf(() => openReading(encode(new Tag([es384, new Map(), o.payload, o.signature], 18))))).toBe('ALG_NOT_ALLOWED');
    const notMap = await createSign1({ signer: c.device, payload: encode([1, 2]), kid: kidOf(c.device), contentType: CT_READING });
    expect(await codeOf(() => openReading(notMap))).toBe('MALFORMED');
    const noKid = await createSign1({ signer: c.device, payload: o.payload, contentType: CT_READING });
    expect(await codeOf(() => openReading(noKid))).toBe('MALFORMED');
  });

  it('a remembered protected header is reused for identical bytes only (non-canonical ones stay MALFORMED)', async () => {
    const cache = new LastProtectedHeader();
    const first = openReading(await good(), { protectedCache: cache });
    const second = openReading(await signReading(c.device, sensorClaims(c, 2)), { protectedCache: cache });
    expect(second.sign1.protectedHeaders).toBe(first.sign1.protectedHeaders); // the decoded map itself, not decoded again
    expect(second.claims.seq).toBe(2);
    const ec = await makeChain(ALG_ES256);
    const es = openReading(await signReading(ec.device, sensorClaims(ec, 1)), { protectedCache: cache });
    expect(es.kid).toEqual(kidOf(ec.device)); // other bytes: decoded afresh, not the remembered header
    expect(es.sign1.protectedHeaders).not.toBe(first.sign1.protectedHeaders);
    // The cache now holds this device's canonical header; the same header with alg -7 written in two bytes
    // (0x38 0x06) instead of one (0x26) is not deterministically encoded and is refused.
    const p = es.sign1.protectedBytes;
    expect([...p.subarray(0, 3)]).toEqual([0xa3, 0x01, 0x26]);
    const longAlg = new Uint8Array([0xa3, 0x01, 0x38, 0x06, ...p.subarray(3)]);
    const nonCanonical = encode(new Tag([longAlg, new Map(), es.sign1.payload, es.sign1.signature], 18));
    expect(await codeOf(() => openReading(nonCanonical, { protectedCache: cache }))).toBe('MALFORMED');
    expect(await codeOf(() => openReading(nonCanonical))).toBe('MALFORMED');
  });

  it('verification: BAD_SIGNATURE, UNKNOWN_KEY, TYPE_NOT_ALLOWED, FIRMWARE_MISMATCH, CLOCK_SKEW, CERT_*', async () => {
    const bytes = await good();
    const bad = bytes.slice(); bad[bad.length - 2]! ^= 0x10;
    expect(await codeOf(() => verifyReading(openReading(bad), c.deviceCert))).toBe('BAD_SIGNATURE');
    expect(await codeOf(() => verifyReading(openReading(bytes), c.agencyCert))).toBe('ROLE_VIOLATION');
    const other = await makeChain(ALG_ES256);
    expect(await codeOf(() => verifyReading(openReading(bytes), other.deviceCert))).toBe('UNKNOWN_KEY');
    expect(await codeOf(async () => verifyReading(openReading(await good({ body: { kind: 'sensor', type: 'pm25', value: 3, scale: 0, unit: 'ug/m3' } })), c.deviceCert))).toBe('TYPE_NOT_ALLOWED');
    expect(await codeOf(async () => verifyReading(openReading(await good({ firmware: new Uint8Array(32) })), c.deviceCert))).toBe('FIRMWARE_MISMATCH');
    // SPEC §6, the gateway's rule: at most 300 s ahead of the receiver clock, at most 7 days old (not |iat - now| <= 300)
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { now: NOW - 301 }))).toBe('CLOCK_SKEW');
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { now: NOW - 300 }))).toBe('NO_ERROR');
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { now: NOW + 301 }))).toBe('NO_ERROR');
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { now: NOW + 7 * 86_400 }))).toBe('NO_ERROR');
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { now: NOW + 7 * 86_400 + 1 }))).toBe('CLOCK_SKEW');
    expect(await codeOf(async () => verifyReading(openReading(await good({ iat: c.deviceCert.claims.exp })), c.deviceCert))).toBe('CERT_EXPIRED');
    expect(await codeOf(async () => verifyReading(openReading(await good({ iat: c.deviceCert.claims.nbf - 1 })), c.deviceCert))).toBe('CERT_NOT_YET_VALID');
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { allowedAlgs: [ALG_ES256] }))).toBe('ALG_NOT_ALLOWED');
    const rev = verifyRevocation(await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW }), c.deviceCert, pubOf(c.agency));
    expect(await codeOf(() => verifyReading(openReading(bytes), c.deviceCert, { revocations: [rev] }))).toBe('CERT_REVOKED');
    expect(await codeOf(async () => verifyReading(openReading(await good({ iat: NOW - 1 })), c.deviceCert, { revocations: [rev] }))).toBe('NO_ERROR');
    expect(FIRMWARE.length).toBe(32);
  });

  it('topics and device ids', () => {
    const t = readingsTopic(c.deviceIdHex);
    expect(t).toBe(`op/v1/d/${c.deviceIdHex}/readings`);
    expect(parseTopic(t)).toMatchObject({ deviceIdHex: c.deviceIdHex, kind: 'readings' });
    expect(parseTopic('op/v1/d/+/readings')).toBeNull();
    expect(() => assertReadingsTopic(t, c.deviceIdHex)).not.toThrow();
    expect(() => assertReadingsTopic(`op/v1/d/01${'00'.repeat(16)}/readings`, c.deviceIdHex)).toThrow(expect.objectContaining({ code: 'TOPIC_MISMATCH' }));
    expect(deviceIdToHex(deviceIdFromHex(c.deviceIdHex))).toBe(c.deviceIdHex);
    expect(() => deviceIdFromHex('02' + '00'.repeat(16))).toThrow(expect.objectContaining({ code: 'CLAIM_INVALID' }));
    expect(utf8ToBytes('x').length).toBe(1);
  });
});
