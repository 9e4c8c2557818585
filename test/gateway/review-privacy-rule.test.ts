/**
 * Privacy review (a data-protection officer's view) of biometric readings through the real gateway (aedes, LevelDB,
 * mqtt.js, pino lines captured): how a subject id in clear or a template hidden in pieces is answered, and that
 * nothing of a refused biometric reading (its values, its commitment) reaches the ledger, the security event log, the
 * rejection, POST /v1/verify's verdict or /metrics.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createSign1, encode, readingClaimsToMap, deviceIdFromKey, keyThumbprint, subjectCommitment, sha256, toBase64, toHex, utf8ToBytes,
  CT_READING, CLAIM_BIOMETRIC, CLAIM_SENSOR, BIO_PURPOSE, BIO_SUBJECT_COMMITMENT, type BiometricBody, type ReadingClaims,
} from '../../protocol/index.js';
import {
  connectDevice, gatewayWithDevices, register, FIRMWARE, nowS, pubOf, reading, type ConnectedDevice, type Device, type Party, type TestGateway,
} from './harness.js';

const SALT = sha256(utf8ToBytes('agency-provisioned salt of the privacy review'));
const NATIONAL_ID = '110101199001011234';
const NAME = 'Jane Doe';
const COMMITMENT = subjectCommitment(SALT, NATIONAL_ID);
const bio = (): BiometricBody => ({ kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: COMMITMENT });
/** A 320-byte minutiae template cut into ten 32-byte pieces: no one byte string over 32 bytes, no magic. */
const TEMPLATE_PIECES = Array.from({ length: 10 }, (_, i) => sha256(utf8ToBytes(`minutiae block ${i}`)));

/** Sign a claims map as it is (bypassing signReading's own checks), as a firmware would. */
function signedBody(d: Device, seq: number, change: (body: Map<unknown, unknown>) => void): Promise<Uint8Array> {
  const claims: ReadingClaims = { deviceId: deviceIdFromKey(pubOf(d.signer)), seq, iat: nowS(), firmware: FIRMWARE, body: bio() };
  const m = readingClaimsToMap(claims);
  change(m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>);
  return createSign1({ signer: d.signer, payload: encode(m), kid: keyThumbprint(pubOf(d.signer)), contentType: CT_READING });
}

describe('privacy of biometric readings at the gateway', () => {
  const lines: string[] = [];
  let t: TestGateway;
  let dev: Device;
  let agency: Party;
  let c: ConnectedDevice;
  let seq = 0;
  beforeAll(async () => {
    const fleet = await gatewayWithDevices(1, { logLevel: 'info', blockMaxMs: 5 }, 'psb.example', { runtime: { logStream: { write: (line: string) => void lines.push(line) } } });
    t = fleet.t;
    dev = fleet.devices[0]!;
    agency = fleet.agency;
    c = await connectDevice(t.gw, dev);
  });
  afterAll(async () => {
    await c?.end();
    await t?.stop();
  });

  const logSize = async () => (await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json().size as number;
  const verdictOf = async (bytes: Uint8Array) =>
    (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(bytes) } })).body;
  async function rejectionOf(bytes: Uint8Array) {
    await c.publish(bytes);
    const a = await c.next();
    if (a.kind !== 'rejection') throw new Error(`expected a rejection, got a receipt for seq ${a.receipt.seq}`);
    return a.rejection;
  }

  /** Every way the values could come back: none of `secrets` in the rejection, the verdict, the log lines, /metrics. */
  async function expectNothingEchoed(rejection: object, verdict: string, secrets: string[]) {
    const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const where of [JSON.stringify(rejection), verdict, lines.join('\n'), metrics]) {
      for (const s of secrets) expect(where).not.toContain(s);
    }
  }
  const secretsOf = (...bytes: Uint8Array[]) => [NATIONAL_ID, NAME, ...bytes.flatMap((b) => [toHex(b), toBase64(b), toBase64(b).replace(/=+$/, '')])];

  test('a biometric event as SPEC §3 says is logged', async () => {
    await c.publish(await reading(dev, ++seq, { body: bio() }));
    expect((await c.next()).kind).toBe('receipt');
  });

  test('the subject id in clear in the commitment, of any length or type, is BIOMETRIC_RAW_DATA: never logged nor echoed', async () => {
    const size = await logSize();
    const clear: [string, unknown][] = [
      ['the id as 18 bytes of text', utf8ToBytes(NATIONAL_ID)],
      ['a name as 8 bytes of text', utf8ToBytes(NAME)],
      ['the id as a CBOR text string', NATIONAL_ID],
      ['a name as a CBOR text string', NAME],
      ['the id as an integer', 1101011990010112],
    ];
    for (const [what, value] of clear) {
      const bytes = await signedBody(dev, ++seq, (b) => b.set(BIO_SUBJECT_COMMITMENT, value));
      const r = await rejectionOf(bytes);
      expect([what, r.code, r.seq]).toEqual([what, 'BIOMETRIC_RAW_DATA', seq]);
      const verdict = await verdictOf(bytes);
      expect([what, JSON.parse(verdict).checks.find((x: { name: string }) => x.name === 'claims')?.code]).toEqual([what, 'BIOMETRIC_RAW_DATA']);
      await expectNothingEchoed(r, verdict, [...secretsOf(), '1101011990010112']);
    }
    expect(await logSize()).toBe(size);
  });

  test('a template cut into pieces of at most 32 bytes, in an array or a map under a known field, is BIOMETRIC_RAW_DATA: never logged nor echoed', async () => {
    const size = await logSize();
    const hidden: [string, (b: Map<unknown, unknown>) => void][] = [
      ['pieces in an array as the commitment', (b) => b.set(BIO_SUBJECT_COMMITMENT, TEMPLATE_PIECES)],
      ['pieces in a map as the purpose', (b) => b.set(BIO_PURPOSE, new Map(TEMPLATE_PIECES.map((p, i) => [i, p])))],
      ['pieces as short base64 texts in an array as the purpose', (b) => b.set(BIO_PURPOSE, TEMPLATE_PIECES.map((p) => toBase64(p.subarray(0, 24))))],
      ['pieces nested in arrays as the score', (b) => b.set(3, [[TEMPLATE_PIECES[0]], [TEMPLATE_PIECES[1]]])],
    ];
    for (const [what, change] of hidden) {
      const bytes = await signedBody(dev, ++seq, change);
      const r = await rejectionOf(bytes);
      expect([what, r.code, r.seq]).toEqual([what, 'BIOMETRIC_RAW_DATA', seq]);
      const verdict = await verdictOf(bytes);
      expect([what, JSON.parse(verdict).checks.find((x: { name: string }) => x.name === 'claims')?.code]).toEqual([what, 'BIOMETRIC_RAW_DATA']);
      // Neither the pieces nor the subject's commitment of the refused reading come back or reach the log lines.
      await expectNothingEchoed(r, verdict, secretsOf(COMMITMENT, ...TEMPLATE_PIECES));
    }
    expect(await logSize()).toBe(size);
  });

  test('reading types across profiles: a biometric event from a device not certified for it is TYPE_NOT_ALLOWED, a sensor reading from a reader certified for biometric only too, a sensor body of type biometric CLAIM_INVALID; none logs the commitment', async () => {
    const meter = await t.pki.device(agency, { types: ['temperature'] });
    const reader = await t.pki.device(agency, { kind: 'fingerprint-reader', types: ['biometric'] });
    await register(t.gw, agency, [meter, reader]);
    const size = await logSize();
    const answered = async (d: Device, bytes: Uint8Array) => {
      const cd = await connectDevice(t.gw, d);
      try {
        await cd.publish(bytes);
        const a = await cd.next();
        if (a.kind !== 'rejection') throw new Error(`expected a rejection, got a receipt for seq ${a.receipt.seq}`);
        return a.rejection;
      } finally {
        await cd.end();
      }
    };
    const r1 = await answered(meter, await reading(meter, 1, { body: bio() }));
    expect(r1.code).toBe('TYPE_NOT_ALLOWED');
    const r2 = await answered(reader, await reading(reader, 1));
    expect(r2.code).toBe('TYPE_NOT_ALLOWED');
    const m = readingClaimsToMap({ deviceId: deviceIdFromKey(pubOf(reader.signer)), seq: 2, iat: nowS(), firmware: FIRMWARE, body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } });
    (m.get(CLAIM_SENSOR) as Map<unknown, unknown>).set(1, 'biometric');
    const r3 = await answered(reader, await createSign1({ signer: reader.signer, payload: encode(m), kid: keyThumbprint(pubOf(reader.signer)), contentType: CT_READING }));
    expect(r3.code).toBe('CLAIM_INVALID');
    // A biometric event refused for any reason (here its type): its commitment is in no answer, log line or metric.
    await expectNothingEchoed({ r1, r2, r3 }, '', secretsOf(COMMITMENT));
    expect(await logSize()).toBe(size);
  });

  test('a commitment of the wrong length that is no text stays CLAIM_INVALID (a schema error, nothing in clear)', async () => {
    const r = await rejectionOf(await signedBody(dev, ++seq, (b) => b.set(BIO_SUBJECT_COMMITMENT, COMMITMENT.subarray(0, 20))));
    expect([r.code, r.seq]).toEqual(['CLAIM_INVALID', seq]);
  });
});
