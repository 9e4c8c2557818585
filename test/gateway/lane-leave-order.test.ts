/**
 * A device lane leaves with its device (LaneAdmission.left) once none of its readings is held. Its `left` mark stays
 * when the device reconnects, so the lane can go while the device is connected, right when its last reading held is
 * refused UNAVAILABLE: the order break (DeviceLane.order, onOrderBroken) must still close the device's connection,
 * else a newer reading is logged before the refused one, whose resend is then a REPLAY (a reading lost for good).
 */
import { describe, expect, test } from 'vitest';
import { gatewayWithDevices, reading, testPipeline } from './harness.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { HeldPool } from './held-pool.js';
import { OriginProofError } from '../../protocol/errors.js';

const codeOf = (o: Outcome) => (o.ok ? (o.resent ? 'resent receipt' : 'receipt') : o.error.code);

describe('a lane whose device left and came back', () => {
  test('its last reading held, refused UNAVAILABLE, still breaks the order (the connection is closed)', async () => {
    const { t, devices } = await gatewayWithDevices(1);
    const dev = devices[0]!;
    const pool = new HeldPool(1);
    const broken: string[] = [];
    const pipeline = testPipeline(t, pool, { onOrderBroken: (id) => broken.push(id) });
    try {
      const r5 = await reading(dev, 5);
      pool.holding = true;
      // A reading that does not open (its answer comes at once) is held when the device's connection closes...
      const o4 = pipeline.process(dev.id, new Uint8Array([1, 2, 3]), Date.now());
      pipeline.deviceLeft(dev.id);
      // ...and the device reconnects and sends 5 before that answer is out: the lane is kept, marked left.
      const o5 = pipeline.process(dev.id, r5, Date.now());
      expect(codeOf(await o4)).toBe('MALFORMED');
      while (pool.waiting < 1) await new Promise((r) => setTimeout(r, 5));
      // 5's check fails UNAVAILABLE (a verify worker outage): the device keeps it and resends it
      pool.failOldest(new OriginProofError('UNAVAILABLE', 'verify worker died (injected)'));
      pool.release();
      expect(codeOf(await o5)).toBe('UNAVAILABLE');
      expect(broken).toEqual([dev.id]); // the connection is closed: nothing newer is taken before 6 comes back
    } finally {
      await pool.close();
      await t.stop();
    }
  });
});
