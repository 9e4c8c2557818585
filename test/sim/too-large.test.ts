/**
 * SPEC §8 TOO_LARGE: "drop; alert". The device can drop only the reading the rejection names (SPEC §8: the seq is
 * named whenever the payload decodes as a CBOR map with a uint seq). The gateway left it null for a reading over
 * `maxReadingBytes`, so a device whose readings are a little over a limit the operator lowered kept each for good,
 * resending it after every reconnect and resend timeout, a permanent rejection retried forever.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

describe('a reading over the gateway size limit', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway({ maxReadingBytes: 256 });
  });
  afterAll(() => t.stop());

  test('is rejected TOO_LARGE naming its seq, and the device drops it', async () => {
    const type = 'water-volume-total-since-install'; // 32 characters, the longest a type may be
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', readingTypes: [type] });
    const d = deviceFrom(o, { resendTimeoutMs: 60_000 });
    try {
      await d.connect();
      const rejected = d.nextRejection();
      const seq = (await d.sendReading({ kind: 'sensor', type, value: Number.MAX_SAFE_INTEGER, scale: -18, unit: 'm3-at-15-Cel-abc' }))!;
      expect(d.outbox.get(seq)!.bytes.length).toBeGreaterThan(256);
      const rj = await rejected;
      expect(rj.code).toBe('TOO_LARGE');
      expect(rj.seq).toBe(seq);
      expect(d.outbox.size).toBe(0);
    } finally {
      await d.close();
    }
  });
});
