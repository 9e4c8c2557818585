/**
 * A resend of a reading logged under rules since tightened. A fingerprint reader's event logged before the biometric
 * review, whose subject commitment the privacy rule now refuses (BIOMETRIC_RAW_DATA), does not open any more; when
 * the device, which never got its receipt, sends it again, the gateway refused it BIOMETRIC_RAW_DATA before looking
 * for it in the log, and the device dropped a reading that is logged (SPEC §5: a resend is always safe; suspected in
 * the last session's note). Now it gets its original receipt; other bytes are refused as before.
 *
 * The legacy entry is appended to the real ledger directly (as the gateway of that time logged it), then the device
 * publishes over MQTT to the real gateway.
 */
import { describe, expect, test } from 'vitest';
import {
  BIO_SUBJECT_COMMITMENT, CLAIM_BIOMETRIC, CT_READING, ENTRY_READING, createSign1, deviceIdFromKey, encode, readingClaimsToMap, subjectCommitment,
  sha256, utf8ToBytes, type BiometricBody,
} from '../../protocol/index.js';
import { connectDevice, FIRMWARE, kidOf, nowS, pubOf, reading, useGatewayWithDevices, type Device } from './harness.js';
import type { AppendedEntry, ReadingInput } from '../../gateway/reading-log.js';

const body: BiometricBody = { kind: 'biometric', purpose: 'identity-check', result: 'match', score: 912, subjectCommitment: subjectCommitment(sha256(utf8ToBytes('salt')), 'subject') };

/** A biometric event whose subject commitment is 32 zero bytes: no digest, refused BIOMETRIC_RAW_DATA today. */
async function legacyEvent(d: Device, seq: number, iat = nowS()): Promise<Uint8Array> {
  const m = readingClaimsToMap({ deviceId: deviceIdFromKey(pubOf(d.signer)), seq, iat, firmware: FIRMWARE, body });
  (m.get(CLAIM_BIOMETRIC) as Map<unknown, unknown>).set(BIO_SUBJECT_COMMITMENT, new Uint8Array(32));
  return createSign1({ signer: d.signer, payload: encode(m), kid: kidOf(d.signer), contentType: CT_READING });
}

describe('a resend of a reading logged under a rule since tightened', () => {
  const g = useGatewayWithDevices(2, { blockMaxMs: 5 });

  const logDirectly = (input: ReadingInput) =>
    new Promise<AppendedEntry>((resolve, reject) => g.t.gw.ledger.submit(input, (err, e) => (e ? resolve(e) : reject(err))));

  test('gets its original receipt; other bytes under a logged or a new seq, and another device, are refused BIOMETRIC_RAW_DATA', async () => {
    const [dev, other] = g.devices as [Device, Device];
    const legacyIat = nowS();
    const legacy = await legacyEvent(dev, 1, legacyIat);
    const logged = await logDirectly({ type: ENTRY_READING, payload: legacy, certRef: dev.cert.certRef, receivedAtMs: Date.now(), deviceId: dev.id, seq: 1 });
    const sizeBefore = g.t.gw.ledger.size();

    const c = await connectDevice(g.t.gw, dev);
    try {
      await c.publish(legacy);
      const a = await c.next();
      expect(a.kind === 'receipt' ? [a.receipt.seq, a.receipt.index, a.receipt.leafHash] : a.rejection.code).toEqual([1, logged.index, logged.leafHash]);
      // Another event under the logged seq (it differs in iat) is not the logged envelope: refused as on arrival.
      // Its iat is set from the logged one's: `nowS() - 1` equalled it when a second had passed, the same bytes.
      await c.publish(await legacyEvent(dev, 1, legacyIat - 1));
      const b = await c.next();
      expect(b.kind === 'rejection' ? [b.rejection.code, b.rejection.seq] : b.kind).toEqual(['BIOMETRIC_RAW_DATA', 1]);
      await c.publish(await legacyEvent(dev, 2));
      const n = await c.next();
      expect(n.kind === 'rejection' ? [n.rejection.code, n.rejection.seq] : n.kind).toEqual(['BIOMETRIC_RAW_DATA', 2]);
      // The device goes on: its next good reading is logged after the legacy one.
      await c.publish(await reading(dev, 2));
      const r = await c.next();
      expect(r.kind === 'receipt' ? r.receipt.index : r.rejection.code).toBe(sizeBefore);
    } finally {
      await c.end();
    }

    // The same bytes from another device (its own seq 1 not logged) are no resend of its own.
    const o = await connectDevice(g.t.gw, other);
    try {
      await o.publish(legacy);
      const a = await o.next();
      expect(a.kind === 'rejection' ? a.rejection.code : a.kind).toBe('BIOMETRIC_RAW_DATA');
    } finally {
      await o.end();
    }
    expect(g.t.gw.ledger.size()).toBe(sizeBefore + 1);
  });
});
