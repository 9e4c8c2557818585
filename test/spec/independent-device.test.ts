/**
 * firmware-specs/SPEC.md against a real gateway, through a device written from SPEC alone (independent-device.ts).
 * The harness and protocol/ serve only as the agency would (certify the device's key, register it) and to look at
 * the gateway; the device's own bytes are all built and checked by independent-device.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Tag } from 'cbor-x';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { decodeCertificate, issueCertificate, publicKey, type Alg as ProtocolAlg } from '../../protocol/index.js';
import { Pki, kidOf, post, revoke, startTestGateway, type Party, type TestGateway } from '../gateway/harness.js';
import {
  EDDSA, ES256, IndependentDevice, checkReceipt, cbor, hex, subjectCommitment, thumbprint, rawPublicKey, unhex, uncbor, verifySign1,
  checkCheckpoint, followKeys, CT_READING, CT_TOKEN, type Alg, type Answer, type Session,
} from './independent-device.js';

const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** The agency's part (SPEC §2): challenge, proof of possession from the device, certificate, registration. */
async function onboard(t: TestGateway, agency: Party, d: IndependentDevice, types: string[], exp = now() + 365 * DAY): Promise<Uint8Array> {
  const nonce = new Uint8Array(randomBytes(16));
  const pop = d.proofOfPossession(agency.cert.claims.sub, nonce, now());
  const cert = await issueCertificate(agency.signer, kidOf(agency.signer), {
    iss: agency.cert.claims.sub, sub: d.idHex, role: 'device', holderKey: publicKey(d.alg as ProtocolAlg, d.publicKey),
    iat: now() - 30 * DAY, nbf: now() - 30 * DAY, exp,
    profile: { kind: 'temperature-sensor', readingTypes: types, firmware: d.firmware }, proofOfPossession: pop,
  });
  const r = await post(t.gw, '/v1/devices', { certificate: b64(cert) });
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  return cert;
}

const sensor = (value = 215) => ({ type: 'temperature', value, scale: -1, unit: 'Cel' });

describe('an independent device against a real gateway', () => {
  let t: TestGateway;
  let agency: Party;
  let url: string;
  let verifierKey: string;
  const devs: Record<string, IndependentDevice> = {};
  let s: Session;
  let dev: IndependentDevice;
  let revokedCert: Uint8Array;

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 });
    agency = await pki.agency('psb.example', { nbf: now() - 30 * DAY });
    expect((await post(t.gw, '/v1/agencies', { certificate: b64(agency.cert.bytes) })).status).toBeLessThan(300);
    for (const [name, alg] of [['ed', EDDSA], ['es', ES256]] as const) {
      devs[name] = new IndependentDevice(alg);
      await onboard(t, agency, devs[name]!, ['temperature', 'biometric']);
    }
    dev = devs.ed!;
    devs.expiring = new IndependentDevice(EDDSA);
    await onboard(t, agency, devs.expiring, ['temperature'], now() + 60);
    devs.revoked = new IndependentDevice(ES256);
    revokedCert = await onboard(t, agency, devs.revoked, ['temperature']);
    url = plainMqttUrl(t.gw);
    // SPEC §2: the checkpoint verifier key, provisioned (here the agency read it off the gateway it runs).
    verifierKey = ((await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json() as { verifierKey: string }).verifierKey;
    s = await dev.connect(url, 'originproof');
  });
  afterAll(async () => {
    await s?.end();
    await t?.stop();
  });

  async function expectReceipt(sess: Session, d: IndependentDevice, seq: number, bytes: Uint8Array) {
    const a = await sess.send(bytes);
    expect(a.topic, String(a.map.get(2))).toBe('receipts');
    expect([...a.map.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(a.map.get(1)).toBe(seq);
    expect(checkReceipt(a.map, bytes, verifierKey)).toBe('OK');
    d.kept.delete(seq); // SPEC §7: drop only on a receipt
    return a;
  }

  /** The original receipt, with the latest checkpoint (SPEC §5): fields 1..5 as the first's, and it checks. */
  function expectOriginal(first: Answer, again: Answer, bytes: Uint8Array) {
    expect(again.topic).toBe('receipts');
    for (const k of [1, 2, 3]) expect(again.map.get(k)).toBe(first.map.get(k));
    for (const k of [4, 5]) expect(hex(again.map.get(k) as Uint8Array)).toBe(hex(first.map.get(k) as Uint8Array));
    expect(checkReceipt(again.map, bytes, verifierKey)).toBe('OK');
  }

  async function expectRejection(bytes: Uint8Array, code: string, seq: number | null, topic?: string) {
    const a = await s.send(bytes, topic);
    expect(a.topic).toBe('rejections');
    expect(a.map.get(2)).toBe(code);
    expect(a.map.get(1)).toBe(seq);
    expect(typeof a.map.get(3)).toBe('string');
    expect(typeof a.map.get(4)).toBe('string');
    return dev.handleRejection(seq, code);
  }

  it('1. connects with a SPEC connect token, publishes a sensor reading and a biometric event, checks the receipts', async () => {
    const r = dev.newReading(now(), sensor());
    await expectReceipt(s, dev, r.seq, r.bytes);
    const salt = new Uint8Array(randomBytes(16));
    const b = dev.newReading(now(), { purpose: 'door-access', result: 'match', score: 870, subjectCommitment: subjectCommitment(salt, 'subject-4711') });
    await expectReceipt(s, dev, b.seq, b.bytes);
    // an ES256 device too (SPEC §1: r||s, SHA-256 prehash)
    const es = devs.es!;
    const s2 = await es.connect(url, 'originproof');
    const e = es.newReading(now(), sensor(100));
    await expectReceipt(s2, es, e.seq, e.bytes);
    await s2.end();
  });

  it('1b. only the two exact answer topics may be subscribed: a wildcard over its own gets SUBACK 0x80', async () => {
    for (const filter of [`op/v1/d/${dev.idHex}/+`, `op/v1/d/${dev.idHex}/#`]) {
      const code = await new Promise<number | undefined>((res) => s.client.subscribe(filter, { qos: 1 }, (err) => res((err as { packet?: { granted?: number[] } } | null)?.packet?.granted?.[0])));
      expect(code, filter).toBe(0x80); // the SUBACK return code
    }
    const r = dev.newReading(now(), sensor(250)); // the session still works
    await expectReceipt(s, dev, r.seq, r.bytes);
    // a reading at QoS 0 (SPEC §4: readings go at QoS 1) is taken and answered all the same
    const q0 = dev.newReading(now(), sensor(251));
    await s.client.publishAsync(dev.readingsTopic(), Buffer.from(q0.bytes), { qos: 0 });
    const a = await s.next();
    expect([a.topic, a.map.get(1)]).toEqual(['receipts', q0.seq]);
    expect(checkReceipt(a.map, q0.bytes, verifierKey)).toBe('OK');
    dev.kept.delete(q0.seq);
  });

  it('2. a resend of the same bytes gets the original receipt; a new reading with an old seq is REPLAY', async () => {
    const r = dev.newReading(now(), sensor(300));
    const first = await expectReceipt(s, dev, r.seq, r.bytes);
    const again = await expectReceipt(s, dev, r.seq, r.bytes);
    expectOriginal(first, again, r.bytes);
    expect(again.map.get(3)).toBe(first.map.get(3));
    const old = dev.signReadingClaims(dev.readingClaims(r.seq, now(), sensor(301)));
    expect(await expectRejection(old, 'REPLAY', r.seq)).toBe('drop-jump-seq');
    const lower = dev.signReadingClaims(dev.readingClaims(0, now(), sensor(302)));
    await expectRejection(lower, 'REPLAY', 0);
    // after the jump the device's next reading is accepted
    const n = dev.newReading(now(), sensor(303));
    expect(n.seq).toBeGreaterThan(r.seq + 1);
    await expectReceipt(s, dev, n.seq, n.bytes);
  });

  it('3. each rejection a device can provoke: the SPEC code, its seq and the SPEC action', async () => {
    const claims = (over: (m: Map<number, unknown>) => void, seq = dev.allocateSeq()) => {
      const m = dev.readingClaims(seq, now(), sensor());
      over(m);
      return { seq, bytes: dev.signReadingClaims(m) };
    };
    // CLOCK_SKEW: ahead of the skew, older than 7 days
    let c = claims((m) => m.set(6, now() + 1000));
    expect(await expectRejection(c.bytes, 'CLOCK_SKEW', c.seq)).toBe('resync-drop');
    c = claims((m) => m.set(6, now() - 8 * DAY));
    await expectRejection(c.bytes, 'CLOCK_SKEW', c.seq);
    // TOO_LARGE: over 1024 bytes
    c = claims((m) => m.set(-65541, new Map<number, unknown>([[1, 'temperature'], [2, 1], [3, 0], [4, 'x'.repeat(1100)]])));
    expect(c.bytes.length).toBeGreaterThan(1024);
    expect(await expectRejection(c.bytes, 'TOO_LARGE', c.seq)).toBe('drop');
    // MALFORMED: not CBOR; not deterministic (claims keys out of order)
    await expectRejection(new Uint8Array(randomBytes(40)).fill(0xff, 0, 1), 'MALFORMED', null);
    const seq = dev.allocateSeq();
    const unsorted = new Map<number, unknown>([[256, dev.id], [6, now()], [-65539, seq], [-65540, dev.firmware], [-65541, new Map<number, unknown>([[1, 'temperature'], [2, 1], [3, 0], [4, 'Cel']])]]);
    await expectRejection(dev.signReadingClaims(unsorted), 'MALFORMED', seq);
    // BAD_SIGNATURE: a tampered value (215 -> 216, same length)
    c = claims(() => {});
    const tampered = Uint8Array.from(c.bytes);
    // 215 sits 8 bytes before the payload's end (the body is the last claim: 02 18d7, 03 20, 04 63 "Cel"), which the
    // signature (58 40 and 64 bytes) follows. Looked up from the start of the hex, '0218d7' could first be found in
    // the random key id (and the device id made of it), at one of its 59 places (16^-6 each: one device in 300,000),
    // odd ones too: a byte of the kid was changed (UNKNOWN_KEY), or none.
    const end = tampered.length - 66;
    expect(hex(tampered.subarray(end - 10, end + 2))).toBe('0218d70320046343656c5840');
    const at = end - 8;
    expect(tampered[at]).toBe(0xd7);
    tampered[at] = 0xd8;
    expect(await expectRejection(tampered, 'BAD_SIGNATURE', c.seq)).toBe('drop');
    // CLAIM_INVALID: scale out of range; a seq over 2^53 - 1
    c = claims((m) => m.set(-65541, new Map<number, unknown>([[1, 'temperature'], [2, 1], [3, 19], [4, 'Cel']])));
    await expectRejection(c.bytes, 'CLAIM_INVALID', c.seq);
    // an unknown sensor field, an unknown claim: CLAIM_INVALID (a biometric body's unknown field is BIOMETRIC_RAW_DATA)
    c = claims((m) => m.set(-65541, new Map<number, unknown>([[1, 'temperature'], [2, 1], [3, 0], [4, 'Cel'], [5, 1]])));
    await expectRejection(c.bytes, 'CLAIM_INVALID', c.seq);
    c = claims((m) => m.set(-65550, 1));
    await expectRejection(c.bytes, 'CLAIM_INVALID', c.seq);
    // SPEC §3: a sensor body never of type biometric, even where the device may send biometric events
    c = claims((m) => m.set(-65541, new Map<number, unknown>([[1, 'biometric'], [2, 1], [3, 0], [4, 'x']])));
    await expectRejection(c.bytes, 'CLAIM_INVALID', c.seq);
    const big = dev.newReading(now(), { type: 'temperature', value: 2 ** 40, scale: 0, unit: 'Cel' }); // 1b, not a float
    await expectReceipt(s, dev, big.seq, big.bytes);
    c = claims(() => {}, 2 ** 53);
    await expectRejection(c.bytes, 'CLAIM_INVALID', null);
    // TYPE_NOT_ALLOWED, FIRMWARE_MISMATCH
    c = claims((m) => m.set(-65541, new Map<number, unknown>([[1, 'humidity'], [2, 1], [3, 0], [4, '%RH']])));
    await expectRejection(c.bytes, 'TYPE_NOT_ALLOWED', c.seq);
    c = claims((m) => m.set(-65540, new Uint8Array(32).fill(7)));
    await expectRejection(c.bytes, 'FIRMWARE_MISMATCH', c.seq);
    // BIOMETRIC_RAW_DATA: the subject id in clear (NUL-padded), an id number in the purpose; never resend
    c = claims((m) => (m.delete(-65541), m.set(-65542, new Map<number, unknown>([[1, 'door-access'], [2, 'match'], [3, 900], [4, Buffer.concat([Buffer.from('subject-4711'), Buffer.alloc(21)])]]))));
    await expectRejection(c.bytes, 'BIOMETRIC_RAW_DATA', c.seq);
    c = claims((m) => (m.delete(-65541), m.set(-65542, new Map<number, unknown>([[1, 'id-19700101'], [2, 'match'], [3, 900], [4, subjectCommitment(new Uint8Array(16), 'x')]]))));
    await expectRejection(c.bytes, 'BIOMETRIC_RAW_DATA', c.seq);
    // UNKNOWN_KEY: signed by another key (its own kid), claiming this device's id
    const other = new IndependentDevice(EDDSA);
    const m = dev.readingClaims(dev.allocateSeq(), now(), sensor());
    await expectRejection(other.signReadingClaims(m), 'UNKNOWN_KEY', m.get(-65539) as number);
    // ALG_NOT_ALLOWED: ES384 (-35) in the protected header
    const seq2 = dev.allocateSeq();
    const prot = cbor(new Map<number, unknown>([[1, -35], [3, CT_READING], [4, dev.kid]]));
    const forged = cbor(new Tag([prot, new Map(), cbor(dev.readingClaims(seq2, now(), sensor())), new Uint8Array(64)], 18));
    await expectRejection(forged, 'ALG_NOT_ALLOWED', seq2);
    // SPEC §8 order: an unknown alg is found with the CBOR and schema, before a claim out of range (scale 19) ...
    const seq3 = dev.allocateSeq();
    const badScale = dev.readingClaims(seq3, now(), { type: 'temperature', value: 1, scale: 19, unit: 'Cel' });
    await expectRejection(cbor(new Tag([prot, new Map(), cbor(badScale), new Uint8Array(64)], 18)), 'ALG_NOT_ALLOWED', seq3);
    // ... and an alg not the key's (ES256 on an Ed25519 key) before the reading type
    const seq4 = dev.allocateSeq();
    const es256Prot = cbor(new Map<number, unknown>([[1, ES256], [3, CT_READING], [4, dev.kid]]));
    const humidity = dev.readingClaims(seq4, now(), { type: 'humidity', value: 1, scale: 0, unit: '%RH' });
    await expectRejection(cbor(new Tag([es256Prot, new Map(), cbor(humidity), new Uint8Array(64)], 18)), 'ALG_NOT_ALLOWED', seq4);
    // several failures: the first in SPEC §8's order (certificates at iat, type, firmware, signature, clock, replay)
    c = claims((m) => m.set(6, now() - 31 * DAY)); // before the certificate's start (30 days ago) and older than 7 days
    await expectRejection(c.bytes, 'CERT_NOT_YET_VALID', c.seq);
    c = claims((m) => m.set(-65541, new Map<number, unknown>([[1, 'humidity'], [2, 1], [3, 0], [4, '%RH']])));
    const badSigType = Uint8Array.from(c.bytes);
    badSigType[badSigType.length - 1]! ^= 1;
    await expectRejection(badSigType, 'TYPE_NOT_ALLOWED', c.seq);
    const badSigOldSeq = dev.signReadingClaims(dev.readingClaims(0, now(), sensor()));
    badSigOldSeq[badSigOldSeq.length - 1]! ^= 1;
    await expectRejection(badSigOldSeq, 'BAD_SIGNATURE', 0);
    // every rejection so far said drop: nothing of these is kept
    expect([...dev.kept.keys()]).toEqual([]);
  });

  it('3b. TOPIC_MISMATCH: seq null, disconnect follows; the kept reading is resent on the right topic after reconnecting', async () => {
    const r = dev.newReading(now(), sensor(400));
    void s.publish(r.bytes, `op/v1/d/${dev.idHex}/other`).catch(() => {});
    const a = await s.next();
    expect(a.topic).toBe('rejections');
    expect(a.map.get(2)).toBe('TOPIC_MISMATCH');
    expect(a.map.get(1)).toBe(null);
    expect(dev.handleRejection(null, 'TOPIC_MISMATCH')).toBe('keep-resend-topic');
    await expect.poll(() => s.closed, { timeout: 3000 }).toBe(true);
    expect(dev.kept.has(r.seq)).toBe(true);
    s = await dev.connect(url, 'originproof');
    for (const [seq, bytes] of [...dev.kept].sort((x, y) => x[0] - y[0])) await expectReceipt(s, dev, seq, bytes);
    expect(dev.kept.size).toBe(0);
  });

  it('3c. CERT_EXPIRED and CERT_REVOKED at iat: stop sending', async () => {
    const ex = devs.expiring!;
    const s1 = await ex.connect(url, 'originproof');
    const r = ex.newReading(now() + 120, sensor()); // within the skew, after the certificate's exp (now + 60)
    const a = await s1.send(r.bytes);
    expect([a.map.get(1), a.map.get(2)]).toEqual([r.seq, 'CERT_EXPIRED']);
    expect(ex.handleRejection(r.seq, 'CERT_EXPIRED')).toBe('stop');
    await s1.end();
    // SPEC §8 "stop sending": reconnect as after CONNACK 5; its certificate is still valid at the gateway's time
    // (only the reading was dated past its end), so the CONNECT is accepted and the device goes on
    let tok = ex.connectToken('originproof', now());
    expect(await ex.connackFor(url, tok.token, tok.iat)).toBe(0);
    const rv = devs.revoked!;
    const s2 = await rv.connect(url, 'originproof');
    const ok = rv.newReading(now() - 10, sensor());
    await expectReceipt(s2, rv, ok.seq, ok.bytes);
    // SPEC §3: a biometric event is of reading type biometric, which this device's types (temperature) lack
    const bio = rv.newReading(now() - 10, { purpose: 'door-access', result: 'match', score: 870, subjectCommitment: subjectCommitment(new Uint8Array(randomBytes(16)), 'subject-4711') });
    const tna = await s2.send(bio.bytes);
    expect([tna.topic, tna.map.get(1), tna.map.get(2)]).toEqual(['rejections', bio.seq, 'TYPE_NOT_ALLOWED']);
    expect(rv.handleRejection(bio.seq, 'TYPE_NOT_ALLOWED')).toBe('drop');
    const early = rv.newReading(now() - 8, sensor(101)); // kept, not sent yet: signed before the revocation's start
    expect((await revoke(t.gw, agency, decodeCertificate(revokedCert), now() - 5)).status).toBeLessThan(300);
    const after = rv.newReading(now(), sensor());
    const b = await s2.send(after.bytes);
    expect([b.map.get(1), b.map.get(2)]).toEqual([after.seq, 'CERT_REVOKED']);
    expect(rv.handleRejection(after.seq, 'CERT_REVOKED')).toBe('stop');
    // SPEC §8 "stop sending": readings kept from before may still be taken, each checked at its own iat
    await expectReceipt(s2, rv, early.seq, early.bytes);
    // SPEC §5: a resend of a logged reading gets its original receipt, whatever certificate the device holds now
    const first = s2.answers.find((x) => x.topic === 'receipts')!;
    const again = await s2.send(ok.bytes);
    expect(again.topic).toBe('receipts');
    expectOriginal(first, again, ok.bytes);
    expect(again.map.get(6)).not.toBe(first.map.get(6)); // a later checkpoint: the revocation was logged since
    expect(again.map.get(2)).toBe(first.map.get(2));
    await s2.end().catch(() => {});
    // SPEC §8 "stop sending": a revoked device's next CONNECT is refused with CONNACK 5 (not authorized), not taken
    const kept = rv.nvm.lastIat;
    tok = rv.connectToken('originproof', now());
    expect(await rv.connackFor(url, tok.token, tok.iat)).toBe(5);
    expect(rv.nvm.lastIat).toBe(kept);
  });

  it('4. CONNACK codes: aud, old iat (REPLAY), a clock an hour ahead, a will, an unregistered device', async () => {
    const d = devs.es!;
    const kept = d.nvm.lastIat;
    // a token for another gateway: 4, not taken
    let tok = d.connectToken('other-gateway', now());
    expect(await d.connackFor(url, tok.token, tok.iat)).toBe(4);
    expect(d.nvm.lastIat).toBe(kept);
    // a token dated an hour ahead: 4 (TOKEN_EXPIRED), not taken: going back to the kept iat works
    tok = d.connectToken('originproof', now() + 3600);
    expect(await d.connackFor(url, tok.token, tok.iat)).toBe(4);
    expect(d.nvm.lastIat).toBe(kept);
    tok = d.connectToken('originproof', now());
    expect(await d.connackFor(url, tok.token, tok.iat)).toBe(0);
    // the same token again: REPLAY, 4; and re-encoded with s -> n - s (SPEC §4)
    expect(await d.connackFor(url, tok.token, tok.iat)).toBe(4);
    const arr = (uncbor(tok.token) as Tag).value as Uint8Array[];
    const sig = new Uint8Array(arr[3]!);
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const sFlip = n - BigInt('0x' + hex(sig.subarray(32)));
    sig.set(unhex(sFlip.toString(16).padStart(64, '0')), 32);
    const flipped = cbor(new Tag([new Uint8Array(arr[0]!), new Map(), new Uint8Array(arr[2]!), sig], 18));
    expect(verifySign1(flipped, ES256, d.publicKey)).not.toBeNull();
    expect(await d.connackFor(url, flipped, tok.iat)).toBe(4);
    // MQTT 5: CONNACK 1
    const v5 = d.connectToken('originproof', now());
    const code5 = await mqtt
      .connectAsync(url, { clientId: d.idHex, username: d.idHex, password: Buffer.from(v5.token), protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 })
      .then(async (c) => (await c.endAsync(true), 0), (e: { code?: number }) => e.code ?? -1);
    expect(code5).toBe(1);
    // a will: 5
    const w = d.connectToken('originproof', now());
    const code = await mqtt
      .connectAsync(url, { clientId: d.idHex, username: d.idHex, password: Buffer.from(w.token), protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, will: { topic: `op/v1/d/${d.idHex}/readings`, payload: Buffer.from('x'), qos: 0, retain: false } })
      .then(async (c) => (await c.endAsync(true), 0), (e: { code?: number }) => e.code ?? -1);
    expect(code).toBe(5);
    // unregistered: 5
    const stranger = new IndependentDevice(EDDSA);
    const st = stranger.connectToken('originproof', now());
    expect(await stranger.connackFor(url, st.token, st.iat)).toBe(5);
  });
});

// ---------------------------------------------------------------- vectors (SPEC §9), checked with our own code
type Vector = { name: string; alg: 'EdDSA' | 'ES256'; publicKey: string; secretKey?: string; cbor: string; valid: boolean; expectedError?: string; now: number; params?: Record<string, string | number> };
const vectors = (f: string): Vector[] => (JSON.parse(readFileSync(new URL(`../../firmware-specs/vectors/${f}`, import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;
const algOf = (v: Vector): Alg => (v.alg === 'EdDSA' ? EDDSA : ES256);

describe('firmware-specs/vectors, decoded and verified by the independent device', () => {
  it('readings: every valid one verifies and is reproduced byte for byte from its secret key and claims', () => {
    const seen = { EdDSA: 0, ES256: 0, highS: 0 };
    for (const v of vectors('readings.json').filter((x) => x.valid)) {
      seen[v.alg === 'EdDSA' ? 'EdDSA' : 'ES256']++;
      const alg = algOf(v);
      const pub = unhex(v.publicKey);
      expect(hex(rawPublicKey(alg, unhex(v.secretKey!))), v.name).toBe(v.publicKey);
      const got = verifySign1(unhex(v.cbor), alg, pub);
      expect(got, v.name).not.toBeNull();
      expect(hex(got!.protected.get(4) as Uint8Array)).toBe(hex(thumbprint(alg, pub)));
      const d = new IndependentDevice(alg, unhex(v.secretKey!));
      expect(hex(got!.payload.get(256) as Uint8Array)).toBe(d.idHex);
      const again = d.signReadingClaims(got!.payload);
      if (v.name.includes('high-s')) {
        seen.highS++;
        expect(hex(again).slice(0, -128), v.name).toBe(v.cbor.slice(0, -128));
        expect(verifySign1(again, alg, pub)).not.toBeNull();
      } else expect(hex(again), v.name).toBe(v.cbor);
    }
    // each branch above taken: both algorithms, and an ES256 signature in high-s form (else they check nothing)
    expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
  });

  it('readings: the ones a device can tell apart itself fail its own checks', () => {
    const byName = Object.fromEntries(vectors('readings.json').map((v) => [v.name, v]));
    const bad = byName['reading-bad-signature']!;
    expect(verifySign1(unhex(bad.cbor), algOf(bad), unhex(bad.publicKey))).toBeNull();
    const untagged = uncbor(unhex(byName['reading-untagged']!.cbor));
    expect(untagged instanceof Tag).toBe(false);
    expect(unhex(byName['reading-too-large']!.cbor).length).toBeGreaterThan(1024);
  });

  it('connect tokens and proofs of possession verify; their claims are as SPEC §2/§4 say', () => {
    // each kind of vector below met at least once (else its branch checks nothing)
    const seen = { tokenBadSignature: 0, tokenValid: 0, tokenInvalid: 0, proofValid: 0, proofInvalid: 0 };
    for (const v of vectors('connect-tokens.json')) {
      const got = verifySign1(unhex(v.cbor), algOf(v), unhex(v.publicKey));
      if (v.expectedError === 'BAD_SIGNATURE') {
        seen.tokenBadSignature++;
        expect(got, v.name).toBeNull();
        continue;
      }
      expect(got, v.name).not.toBeNull();
      expect(got!.protected.get(3)).toBe(CT_TOKEN);
      const [sub, aud, exp, iat] = [2, 3, 4, 6].map((k) => got!.payload.get(k)) as [string, string, number, number];
      const skew = Number(v.params!.skewSeconds);
      const ok = sub === v.params!.clientId && aud === v.params!.audience && exp - iat >= 1 && exp - iat <= 600 && iat - skew <= v.now && v.now < exp + skew;
      expect(ok, v.name).toBe(v.valid);
      seen[v.valid ? 'tokenValid' : 'tokenInvalid']++;
      if (v.valid) expect(hex(new IndependentDevice(algOf(v), unhex(v.secretKey!)).sign(CT_TOKEN, got!.payload)).slice(0, -128), v.name).toBe(v.cbor.slice(0, -128));
    }
    for (const v of vectors('proof-of-possession.json')) {
      const got = verifySign1(unhex(v.cbor), algOf(v), unhex(v.publicKey));
      expect(got, v.name).not.toBeNull();
      const ok = got!.payload.get(3) === v.params!.agencyId && hex(got!.payload.get(10) as Uint8Array) === v.params!.nonce && Math.abs((got!.payload.get(6) as number) - v.now) <= 300;
      expect(ok, v.name).toBe(v.valid);
      seen[v.valid ? 'proofValid' : 'proofInvalid']++;
      if (v.valid) {
        const d = new IndependentDevice(algOf(v), unhex(v.secretKey!));
        expect(hex(d.proofOfPossession(v.params!.agencyId as string, unhex(v.params!.nonce as string), got!.payload.get(6) as number)), v.name).toBe(v.cbor);
      }
    }
    expect(Object.values(seen).every((n) => n > 0), JSON.stringify(seen)).toBe(true);
  });

  it('receipts: the device check (SPEC §7) gives each vector its expected result', () => {
    for (const v of vectors('receipts.json')) {
      const receipt = uncbor(unhex(v.cbor)) as Map<number, unknown>;
      const reading = unhex(v.params!.reading as string);
      const entry = cbor(new Map<number, unknown>([[1, 1], [2, receipt.get(2)], [3, receipt.get(3)], [4, reading], [5, new Uint8Array(receipt.get(4) as Uint8Array)]]));
      if (v.expectedError !== 'INCLUSION_INVALID' || v.name !== 'receipt-other-reading') expect(hex(entry), v.name).toBe(v.params!.entry);
      // The keys the device holds (SPEC §7, a new checkpoint key): its current one, and a next one it was given.
      const held = [v.params!.checkpointKey as string, ...(v.params!.nextCheckpointKey ? [v.params!.nextCheckpointKey as string] : [])];
      const results = held.map((k) => checkReceipt(receipt, reading, k));
      expect(results.includes('OK') ? 'OK' : results[0], v.name).toBe(v.valid ? 'OK' : v.expectedError);
      if (v.params!.expectedKeys) {
        const [current, next] = (v.params!.expectedKeys as string).split(' ');
        expect(followKeys(receipt.get(6) as string, { current: held[0]!, next: held[1] ?? null }), v.name).toEqual({ current, next: next === '-' ? null : next });
      }
    }
    expect(vectors('receipts.json').filter((v) => v.params!.expectedKeys).length).toBe(4);
    expect(checkCheckpoint('x\n1\nAAAA\n\n', vectors('receipts.json')[0]!.params!.checkpointKey as string, 0)).toBe('CHECKPOINT_INVALID');
  });
});
