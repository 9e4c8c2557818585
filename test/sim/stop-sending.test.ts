/**
 * SPEC §8 "stop sending" (CERT_EXPIRED, CERT_REVOKED, CHAIN_INVALID, ROLE_VIOLATION): the device drops the reading
 * and makes no new ones; once nothing kept is left it closes its connection and connects again on the CONNACK 5
 * schedule, and goes on once a CONNECT is accepted. Before, device-sim stopped for good and stayed connected: a
 * device whose certificate was renewed never sent again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice } from '../../device-sim/index.js';
import { startSimGateway, until, type SimGateway } from './helpers.js';

const nowS = () => Math.floor(Date.now() / 1000);

describe('a device told to stop sending (SPEC §8)', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway();
  });
  afterAll(() => t.stop());

  test('CERT_EXPIRED for a reading dated past its certificate: it leaves, comes back on the CONNACK 5 schedule and goes on', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', exp: nowS() + 60 });
    const d = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 200, notAuthorizedMinMs: 600, notAuthorizedMaxMs: 1_000, random: () => 0.5 });
    const delays: number[] = [];
    d.on('reconnect-scheduled', (ms: number) => delays.push(ms));
    try {
      await d.connect();
      const rejection = d.nextRejection();
      const seq = await d.sendReading(undefined, { iat: nowS() + 120 }); // within the skew, past the certificate's end
      expect(await rejection).toMatchObject({ seq, code: 'CERT_EXPIRED' });
      expect(d.halted).toBe('CERT_EXPIRED');
      expect(await d.sendReading()).toBeNull(); // no new readings
      await until(() => delays.length > 0, 5_000);
      expect(delays[0]).toBe(450); // the CONNACK 5 schedule (equal jitter at 0.5 of 600 ms), not the reconnect one
      // the certificate is valid at the gateway's time: the CONNECT is accepted and the device goes on
      await until(() => d.isConnected && d.halted === null, 5_000);
      const next = (await d.sendReading())!;
      expect((await d.nextReceipt(next)).seq).toBe(next);
    } finally {
      await d.close();
    }
  });

  test('CERT_REVOKED: it leaves, and its CONNECT is refused with 5 while the certificate stays revoked', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 200, notAuthorizedMinMs: 300, notAuthorizedMaxMs: 600 });
    const refused: string[] = [];
    d.on('connack-refused', (e: { code: string }) => refused.push(e.code));
    try {
      await d.connect();
      const first = (await d.sendReading())!;
      await d.nextReceipt(first);
      await t.agency.revoke(t.endpoint.httpUrl, o.cert, { revokedFrom: nowS() - 1, reason: 'keyCompromise' });
      const rejection = d.nextRejection();
      await d.sendReading();
      expect((await rejection).code).toBe('CERT_REVOKED');
      await until(() => refused.length > 0, 5_000);
      expect(refused[0]).toBe('CONNACK_NOT_AUTHORIZED');
      expect(d.isConnected).toBe(false);
      expect(d.halted).toBe('CERT_REVOKED');
    } finally {
      await d.close();
    }
  });
});
