/**
 * CONNACK 5 (not authorized) stands for several gateway-side states the device cannot tell apart (SPEC §4): not
 * registered yet, a certificate not yet valid or expired at the gateway's time, revoked, a chain no longer trusted.
 * Some pass by themselves (a gateway clock stepped back, a registration completed), so the device tries again after
 * a long backoff instead of giving up for good.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice } from '../../device-sim/index.js';
import { startSimGateway, until, type SimGateway } from './helpers.js';

const nowS = () => Math.floor(Date.now() / 1000);

describe('a device refused with CONNACK 5 on a reconnect', () => {
  let t: SimGateway;
  let offsetMs = 60_000; // the gateway's clock runs a minute ahead, until it is stepped back
  beforeAll(async () => {
    t = await startSimGateway({}, { now: () => Date.now() + offsetMs });
  });
  afterAll(() => t.stop());

  test('certificate not yet valid after the gateway clock stepped back: refused (5) until it is valid, then connected and sending', async () => {
    // Valid from 30 s on, and the gateway's clock moved there once the device has been refused: with nbf 4 s on in
    // true time, onboarding, connecting and restarting the gateway had to fit before it, and on a loaded machine
    // the first refusal came 54 ms before it (measured): a little later and no refusal at all.
    const nbf = nowS() + 30;
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', nbf });
    const d = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 500, notAuthorizedMinMs: 400, notAuthorizedMaxMs: 1_000 });
    const refused: string[] = [];
    d.on('connack-refused', (e: { code: string }) => refused.push(e.code));
    try {
      await d.connect(); // valid at the gateway's time (a minute on)
      offsetMs = 0;
      await t.restart(); // same store and ports, clock back to true time: the certificate is not valid yet
      await until(() => refused.length > 0, 10_000);
      expect(refused[0]).toBe('CONNACK_NOT_AUTHORIZED');
      expect(d.isConnected).toBe(false);
      const ahead = nbf - nowS(); // time reaches nbf, the gateway's and the device's (its readings are dated by it)
      offsetMs = ahead * 1000;
      d.clock.setDrift(ahead);
      await until(() => d.isConnected, 15_000);
      expect(Math.floor((Date.now() + offsetMs) / 1000)).toBeGreaterThanOrEqual(nbf);
      expect(new Set(refused)).toEqual(new Set(['CONNACK_NOT_AUTHORIZED']));
      expect(d.halted).toBeNull();
      const seq = (await d.sendReading())!;
      expect((await d.nextReceipt(seq)).seq).toBe(seq);
    } finally {
      await d.close();
    }
  });

  test('the retries after CONNACK 5 back off on their own, longer schedule (with jitter), not the reconnect one', async () => {
    offsetMs = 60_000;
    await t.restart();
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', nbf: nowS() + 30 });
    const d = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 200, notAuthorizedMinMs: 600, notAuthorizedMaxMs: 1_000, random: () => 0.5 });
    // What the device did, in order: each delay it scheduled, and 'refused' for each CONNACK 5.
    const log: (number | 'refused')[] = [];
    d.on('reconnect-scheduled', (ms: number) => log.push(ms));
    d.on('connack-refused', () => log.push('refused'));
    try {
      await d.connect();
      offsetMs = 0;
      await t.restart(); // until it is up the reconnects find nothing listening: the short schedule
      await until(() => log.filter((e) => e === 'refused').length >= 3, 10_000);
      const afterRefusals = log.flatMap((e, i) => (e === 'refused' ? [log[i + 1]] : []));
      // equal jitter at 0.5: 450 of a 600 ms step, then 750 of the step capped at 1000
      expect(afterRefusals.slice(0, 3)).toEqual([450, 750, 750]);
      expect(d.halted).toBeNull();
    } finally {
      await d.close();
    }
  });
});
