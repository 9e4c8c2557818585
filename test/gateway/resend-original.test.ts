/**
 * A resent reading that is already logged gets its original receipt (SPEC §5: resending the same bytes is always
 * safe), even when the arrival checks would refuse it now: its age (the device was offline), or a certificate renewed
 * since (a firmware update). The pipeline used to run those checks before looking for the logged original, so the
 * device got a "drop" code for a logged reading and never its receipt (found by review). And a reading whose device
 * certificate is renewed while it is being verified is checked again against the certificate it is logged under.
 */
import { describe, expect, test } from 'vitest';
import { issueCertificate, decodeCertificate, decodeProofBundle, parseTrust, sha256, utf8ToBytes, verifyBundle, type DecodedCertificate } from '../../protocol/index.js';
import { bytesEqual } from '../../protocol/bytes.js';
import { gatewayWithDevices, kidOf, nowS, postCert, pubOf, reading, type Party, type Device, testPipeline } from './harness.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import { HeldPool } from './held-pool.js';

const DAY = 86_400;
const codeOf = (o: Outcome) => (o.ok ? (o.resent ? 'resent receipt' : 'receipt') : o.error.code);
const FIRMWARE_V2 = sha256(utf8ToBytes('firmware image v2.0.0'));

/** The device's certificate again, issued now (a renewal: same key, same subject), for firmware `firmware`. */
async function renewal(agency: Party, dev: Device, firmware: Uint8Array): Promise<DecodedCertificate> {
  const iat = nowS();
  return decodeCertificate(await issueCertificate(agency.signer, kidOf(agency.signer), {
    iss: agency.cert.claims.sub, sub: dev.id, role: 'device', holderKey: pubOf(dev.signer), iat, nbf: iat - DAY, exp: iat + 365 * DAY,
    profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware }, proofOfPossession: dev.cert.claims.proofOfPossession!,
  }));
}

describe('a resend of a logged reading', () => {
  test('gets its original receipt after its age limit and after a renewal for other firmware; other bytes keep the check that refuses them', async () => {
    const { t, agency, devices } = await gatewayWithDevices(1);
    const dev = devices[0]!;
    const pool = new VerifyPool(1);
    const pipeline = testPipeline(t, pool, { maxReadingAgeSeconds: 7 * DAY });
    try {
      const r1 = await reading(dev, 1);
      const first = await pipeline.process(dev.id, r1, Date.now());
      expect(codeOf(first)).toBe('receipt');
      const index = first.ok ? first.receipt.index : -1;
      const indexOf = (o: Outcome) => (o.ok ? o.receipt.index : o.error.code);
      // The device was offline for eight days (the age limit is seven) and resends what it kept: its receipt was lost.
      const late = await pipeline.process(dev.id, r1, Date.now() + 8 * DAY * 1000);
      expect([codeOf(late), indexOf(late)]).toEqual(['resent receipt', index]);
      // The same age, another reading with the logged seq: refused for its age, as on arrival (not REPLAY).
      expect(codeOf(await pipeline.process(dev.id, await reading(dev, 1, { iat: nowS() - 10 }), Date.now() + 8 * DAY * 1000))).toBe('CLOCK_SKEW');
      // A firmware update: the certificate renewed for v2. The logged v1 reading's resend still gets its receipt.
      expect((await postCert(t, 'devices', await renewal(agency, dev, FIRMWARE_V2))).status).toBe(201);
      const resent = await pipeline.process(dev.id, r1, Date.now());
      expect([codeOf(resent), indexOf(resent)]).toEqual(['resent receipt', index]);
      // A v1 reading not logged is refused FIRMWARE_MISMATCH, whether its seq is logged or new.
      expect(codeOf(await pipeline.process(dev.id, await reading(dev, 1, { iat: nowS() - 5 }), Date.now()))).toBe('FIRMWARE_MISMATCH');
      expect(codeOf(await pipeline.process(dev.id, await reading(dev, 2), Date.now()))).toBe('FIRMWARE_MISMATCH');
      expect(codeOf(await pipeline.process(dev.id, await reading(dev, 2, { firmware: FIRMWARE_V2 }), Date.now()))).toBe('receipt');
      expect(await t.gw.ledger.lastSeq(dev.id)).toBe(2);
    } finally {
      await pool.close();
      await t.stop();
    }
  });
});

/** A gateway with one device, and a pipeline over its registry and ledger whose signature answers can be held. */
async function withHeldPipeline() {
  const { t, agency, devices } = await gatewayWithDevices(1);
  const pool = new HeldPool(1);
  const pipeline = testPipeline(t, pool, { maxReadingAgeSeconds: DAY });
  return { t, agency, dev: devices[0]!, pool, pipeline };
}

describe('a certificate renewed while a reading is being verified', () => {
  test('for other firmware: the reading is checked again against the renewed certificate and refused, not logged under it', async () => {
    const { t, agency, dev, pool, pipeline } = await withHeldPipeline();
    try {
      pool.holding = true;
      const outcome = pipeline.process(dev.id, await reading(dev, 1), Date.now()); // checked against the v1 certificate
      expect((await postCert(t, 'devices', await renewal(agency, dev, FIRMWARE_V2))).status).toBe(201);
      pool.release();
      expect(codeOf(await outcome)).toBe('FIRMWARE_MISMATCH');
      expect(await t.gw.ledger.lastSeq(dev.id)).toBeUndefined();
    } finally {
      await pool.close();
      await t.stop();
    }
  });

  test('for the same firmware: logged under the renewed certificate, and its proof bundle verifies offline', async () => {
    const { t, agency, dev, pool, pipeline } = await withHeldPipeline();
    try {
      pool.holding = true;
      const outcome = pipeline.process(dev.id, await reading(dev, 1), Date.now());
      const renewed = await renewal(agency, dev, sha256(utf8ToBytes('firmware image v1.2.3')));
      expect((await postCert(t, 'devices', renewed)).status).toBe(201);
      pool.release();
      const o = await outcome;
      if (!o.ok) throw new Error(`refused: ${o.error.code}`);
      expect(bytesEqual(o.receipt.certRef, renewed.certRef)).toBe(true);
      const bundle = decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${o.receipt.index}/bundle` })).rawPayload));
      const trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
      const v = verifyBundle(bundle, trust);
      expect(v.checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(v.valid).toBe(true);
    } finally {
      await pool.close();
      await t.stop();
    }
  });
});
