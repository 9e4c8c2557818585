/**
 * Every rejection path of the ingestion pipeline, through the real gateway (aedes on an ephemeral port, LevelDB in a
 * temp dir, mqtt.js clients). Tests assert codes, never messages, and that nothing rejected reaches the log.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createSign1, encode, readingClaimsToMap, CT_READING, CLAIM_BIOMETRIC, deviceIdFromKey, keyThumbprint, publicKey,
  nobleSigner, generateSecretKey, ALG_EDDSA, ALG_ES256, sha256, utf8ToBytes, type ReadingClaims, decodeSign1, Tag,
} from '../../protocol/index.js';
import { connectDevice, FIRMWARE, nowS, Pki, pubOf, reading, register, revoke, startTestGateway, type Device, type TestGateway, type Party, type ConnectedDevice } from './harness.js';

async function rejectionCode(c: ConnectedDevice, bytes: Uint8Array): Promise<string> {
  await c.publish(bytes);
  const a = await c.next();
  if (a.kind !== 'rejection') throw new Error(`expected a rejection, got receipt for seq ${a.receipt.seq}`);
  return a.rejection.code;
}

function claimsOf(d: Device, seq: number, over: Partial<ReadingClaims> = {}): ReadingClaims {
  return { deviceId: deviceIdFromKey(pubOf(d.signer)), seq, iat: nowS(), firmware: FIRMWARE, body: { kind: 'sensor', type: 'temperature', value: 200, scale: -1, unit: 'Cel' }, ...over };
}

/** Sign an arbitrary claims map (bypassing signReading's own validation) as device `d`. */
function signMap(d: Device, map: Map<unknown, unknown>, alg?: number): Promise<Uint8Array> {
  const signer = alg === undefined ? d.signer : { ...d.signer, alg: alg as typeof ALG_EDDSA };
  return createSign1({ signer, payload: encode(map), kid: keyThumbprint(pubOf(d.signer)), contentType: CT_READING });
}

describe('pipeline rejections, each with its code', () => {
  let t: TestGateway;
  let agency: Party;
  let dev: Device;
  let c: ConnectedDevice;
  let seq = 100;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { maxReadingBytes: 1024 });
    agency = await pki.agency('env.example', { nbf: nowS() - 60 * 86_400 });
    dev = await pki.device(agency, { types: ['temperature', 'biometric'], alg: ALG_ES256, nbf: nowS() - 60 * 86_400 });
    await register(t.gw, agency, [dev]);
    c = await connectDevice(t.gw, dev);
  });
  afterAll(async () => {
    await c.end();
    await t.stop();
  });

  test('TOO_LARGE: a message over the reading size limit', async () => {
    expect(await rejectionCode(c, new Uint8Array(2000).fill(0xa0))).toBe('TOO_LARGE');
  });

  test('MALFORMED: bytes that are not CBOR, a truncated envelope, and the wrong COSE tag', async () => {
    expect(await rejectionCode(c, new Uint8Array([0xff, 0x00, 0x13]))).toBe('MALFORMED');
    const good = await reading(dev, ++seq);
    expect(await rejectionCode(c, good.subarray(0, good.length - 5))).toBe('MALFORMED');
    const retagged = Uint8Array.from(good);
    retagged[0] = 0xd1; // tag 17 (COSE_Mac0)
    expect(await rejectionCode(c, retagged)).toBe('MALFORMED');
  });

  test('CLAIM_INVALID: a claim of the wrong type', async () => {
    const m = readingClaimsToMap(claimsOf(dev, ++seq));
    m.set(-65539, 'seven'); // seq as text
    expect(await rejectionCode(c, await signMap(dev, m))).toBe('CLAIM_INVALID');
  });

  test('BIOMETRIC_RAW_DATA: a fingerprint template inside a biometric event', async () => {
    const m = readingClaimsToMap(claimsOf(dev, ++seq, { body: { kind: 'biometric', purpose: 'identity-check', result: 'match', score: 900, subjectCommitment: sha256(utf8ToBytes('salt|subject')) } }));
    const bio = m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>;
    bio.set(5, new Uint8Array([0x46, 0x4d, 0x52, 0x00, ...new Uint8Array(400).fill(7)])); // ISO 19794-2 'FMR\0'
    expect(await rejectionCode(c, await signMap(dev, m))).toBe('BIOMETRIC_RAW_DATA');
  });

  // pipeline.ts run / protocol readingSeqOf: reading.cddl gives seq "when the reading could be parsed that far", and a
  // device matches a rejection to the reading it keeps by seq; with null it kept resending a never-resend reading.
  test('a rejection of claims or envelope headers that do not check out names their seq; bytes that do not decode name none', async () => {
    const answer = async (bytes: Uint8Array) => {
      await c.publish(bytes);
      const a = await c.next();
      if (a.kind !== 'rejection') throw new Error(`expected a rejection, got receipt for seq ${a.receipt.seq}`);
      return [a.rejection.code, a.rejection.seq];
    };
    const s1 = ++seq;
    const m = readingClaimsToMap(claimsOf(dev, s1, { body: { kind: 'biometric', purpose: 'identity-check', result: 'match', score: 900, subjectCommitment: sha256(utf8ToBytes('salt|subject')) } }));
    (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(5, new Uint8Array([0x46, 0x4d, 0x52, 0x00, ...new Uint8Array(400).fill(7)]));
    expect(await answer(await signMap(dev, m))).toEqual(['BIOMETRIC_RAW_DATA', s1]);
    const s2 = ++seq;
    const extra = readingClaimsToMap(claimsOf(dev, s2));
    extra.set(-70000, 1); // a claim a reading does not have
    expect(await answer(await signMap(dev, extra))).toEqual(['CLAIM_INVALID', s2]);
    const textSeq = readingClaimsToMap(claimsOf(dev, ++seq));
    textSeq.set(-65539, 'seven');
    expect(await answer(await signMap(dev, textSeq))).toEqual(['CLAIM_INVALID', null]);
    expect(await answer(new Uint8Array([0xff, 0x00, 0x13]))).toEqual(['MALFORMED', null]);
    // The envelope's headers broken, its payload decoding (protocol readingSeqOf; they named none, found by review).
    const s3 = ++seq;
    const retagged = Uint8Array.from(await reading(dev, s3));
    retagged[0] = 0xd1; // tag 17 (COSE_Mac0)
    expect(await answer(retagged)).toEqual(['MALFORMED', s3]);
    const s4 = ++seq;
    const good = decodeSign1(await reading(dev, s4));
    const textKid = encode(new Tag([encode(new Map<number, unknown>([[1, good.alg], [3, CT_READING], [4, 'kid as text']])), new Map(), good.payload, good.signature], 18));
    expect(await answer(textKid)).toEqual(['MALFORMED', s4]);
    const cut = await reading(dev, ++seq);
    expect(await answer(cut.subarray(0, cut.length - 5))).toEqual(['MALFORMED', null]);
  });

  test('ALG_NOT_ALLOWED: an algorithm outside the allowed set', async () => {
    expect(await rejectionCode(c, await signMap(dev, readingClaimsToMap(claimsOf(dev, ++seq)), -35))).toBe('ALG_NOT_ALLOWED');
  });

  test('UNKNOWN_KEY: signed by a key no registered device has', async () => {
    const stranger = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const claims = { ...claimsOf(dev, ++seq), deviceId: deviceIdFromKey(publicKey(ALG_EDDSA, stranger.publicKey)) };
    const bytes = await createSign1({ signer: stranger, payload: encode(readingClaimsToMap(claims)), kid: keyThumbprint(publicKey(ALG_EDDSA, stranger.publicKey)), contentType: CT_READING });
    expect(await rejectionCode(c, bytes)).toBe('UNKNOWN_KEY');
  });

  test('BAD_SIGNATURE: a tampered payload and a forged signature', async () => {
    const good = await reading(dev, ++seq);
    const s = decodeSign1(good);
    // Re-wrap the same signature around a payload with another value: tampered in transit.
    const m = readingClaimsToMap(claimsOf(dev, seq, { body: { kind: 'sensor', type: 'temperature', value: 999, scale: -1, unit: 'Cel' } }));
    const tampered = encode(new (await import('cbor-x')).Tag([s.protectedBytes, new Map(), encode(m), s.signature], 18));
    expect(await rejectionCode(c, tampered)).toBe('BAD_SIGNATURE');
    const forged = Uint8Array.from(await reading(dev, ++seq));
    forged[forged.length - 3]! ^= 0x40;
    expect(await rejectionCode(c, forged)).toBe('BAD_SIGNATURE');
  });

  test('TYPE_NOT_ALLOWED: a reading type outside the device profile', async () => {
    const bytes = await reading(dev, ++seq, { body: { kind: 'sensor', type: 'humidity', value: 40, scale: 0, unit: '%RH' } });
    expect(await rejectionCode(c, bytes)).toBe('TYPE_NOT_ALLOWED');
  });

  test('FIRMWARE_MISMATCH: a firmware measurement other than the certified one', async () => {
    expect(await rejectionCode(c, await reading(dev, ++seq, { firmware: sha256(utf8ToBytes('patched firmware')) }))).toBe('FIRMWARE_MISMATCH');
  });

  test('CLOCK_SKEW: dated an hour ahead, or older than the accepted age', async () => {
    expect(await rejectionCode(c, await reading(dev, ++seq, { iat: nowS() + 3600 }))).toBe('CLOCK_SKEW');
    expect(await rejectionCode(c, await reading(dev, ++seq, { iat: nowS() - 30 * 86_400 }))).toBe('CLOCK_SKEW');
  });

  test('REPLAY: a sequence number at or below the last accepted one, with other bytes', async () => {
    const first = await reading(dev, ++seq);
    await c.publish(first);
    const ok = await c.next();
    expect(ok.kind).toBe('receipt');
    expect(await rejectionCode(c, await reading(dev, seq, { body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } }))).toBe('REPLAY');
    // a lower seq, with a body no earlier reading had (the same bytes as a logged reading would be a resend)
    expect(await rejectionCode(c, await reading(dev, seq - 1, { body: { kind: 'sensor', type: 'temperature', value: 2, scale: 0, unit: 'Cel' } }))).toBe('REPLAY');
  });

  test('nothing rejected reached the log, and the gateway still answers', async () => {
    const size = t.gw.ledger.size();
    // 2 registry entries (agency, device) + the one accepted reading of the REPLAY test.
    expect(size).toBe(3);
    const res = await t.gw.app.inject({ method: 'GET', url: '/metrics' });
    for (const code of ['TOO_LARGE', 'MALFORMED', 'CLAIM_INVALID', 'BIOMETRIC_RAW_DATA', 'BAD_SIGNATURE', 'REPLAY', 'CLOCK_SKEW']) {
      // each series exists from the start at 0 (metrics.ts): the count, not the series, says it was counted
      expect(Number(new RegExp(`^originproof_readings_rejected_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(res.body)?.[1])).toBeGreaterThan(0);
    }
  });
});

describe('certificate validity at the reading time', () => {
  let t: TestGateway;
  let agency: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki);
    agency = await pki.agency('psb.example');
    await register(t.gw, agency, []);
  });
  afterAll(() => t.stop());

  test('CERT_EXPIRED: a reading dated after the device certificate expires', async () => {
    const dev = await t.pki.device(agency, { exp: nowS() + 60 });
    await register(t.gw, agency, [dev]);
    const c = await connectDevice(t.gw, dev);
    expect(await rejectionCode(c, await reading(dev, 1, { iat: nowS() + 120 }))).toBe('CERT_EXPIRED');
    await c.end();
  });

  test('CLOCK_SKEW, not CERT_EXPIRED or CERT_REVOKED, for a reading after the expiry or revocation only because it is dated past the skew', async () => {
    // CERT_EXPIRED and CERT_REVOKED tell the device to stop sending; its certificate is good, its clock is ahead
    const expiring = await t.pki.device(agency, { exp: nowS() + 60 });
    const revoked = await t.pki.device(agency);
    await register(t.gw, agency, [expiring, revoked]);
    expect((await revoke(t.gw, agency, revoked.cert, nowS() + 120, 'cessationOfOperation')).status).toBe(201);
    for (const dev of [expiring, revoked]) {
      const c = await connectDevice(t.gw, dev);
      expect(await rejectionCode(c, await reading(dev, 1, { iat: nowS() + 3600 }))).toBe('CLOCK_SKEW');
      if (dev === expiring) {
        expect(await rejectionCode(c, await reading(dev, 2, { iat: nowS() + 200 }))).toBe('CERT_EXPIRED'); // within the skew
      } else {
        // Within the skew, arriving before the revocation's start: signed before it, so not covered (the offline
        // verifier places it at min(iat, receivedAt) too: test/gateway/scheduled-revocation-ahead.test.ts).
        await c.publish(await reading(dev, 2, { iat: nowS() + 200 }));
        expect((await c.next()).kind).toBe('receipt');
      }
      await c.end();
    }
  });

  test('CERT_NOT_YET_VALID: a reading dated before the device certificate starts', async () => {
    const dev = await t.pki.device(agency, { nbf: nowS() - 10 });
    await register(t.gw, agency, [dev]);
    const c = await connectDevice(t.gw, dev);
    expect(await rejectionCode(c, await reading(dev, 1, { iat: nowS() - 600 }))).toBe('CERT_NOT_YET_VALID');
    await c.end();
  });

  test('CERT_REVOKED: a device revoked mid-stream; its earlier reading stays in the log', async () => {
    const dev = await t.pki.device(agency);
    await register(t.gw, agency, [dev]);
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1, { iat: nowS() - 5 }));
    const first = await c.next();
    expect(first.kind).toBe('receipt');
    const r = await revoke(t.gw, agency, dev.cert, nowS() - 2);
    expect(r.status).toBe(201);
    expect(await rejectionCode(c, await reading(dev, 2))).toBe('CERT_REVOKED');
    // Readings dated before revokedFrom stay valid (a key compromise invalidates later readings only).
    await c.publish(await reading(dev, 3, { iat: nowS() - 10 }));
    expect((await c.next()).kind).toBe('receipt');
    if (first.kind === 'receipt') {
      const entry = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${first.receipt.index}` });
      expect(entry.json().reading.seq).toBe(1);
    }
    await c.end();
  });
});
