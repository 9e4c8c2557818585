/**
 * Device lanes (gateway/lane-admission.ts) are kept while a device is connected or has readings held, not for good:
 * a lane per device that ever sent a reading was kept until a storage recovery (found by review: a registry of
 * 100,000 devices connecting in turns held 100,000 lanes). A device that comes back has its last seq read from the
 * store again: its next reading is taken, a resend gets its original receipt, an old seq with other bytes is a REPLAY.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectDevice, gatewayWithDevices, reading, type Device, type TestGateway } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function lanesDownTo(t: TestGateway, n: number): Promise<number> {
  for (let i = 0; i < 100 && t.gw.pipeline.lanes > n; i++) await sleep(20);
  return t.gw.pipeline.lanes;
}

describe('device lanes are dropped when their device leaves', () => {
  let t: TestGateway;
  let devices: Device[];
  beforeAll(async () => {
    const g = await gatewayWithDevices(3);
    t = g.t;
    devices = g.devices;
  });
  afterAll(() => t.stop());

  test('devices that sent a reading and left hold no lane; one that comes back goes on from its stored seq', async () => {
    const first: Uint8Array[] = [];
    for (const d of devices) {
      const c = await connectDevice(t.gw, d);
      const r = await reading(d, 1);
      first.push(r);
      await c.publish(r);
      expect((await c.next()).kind).toBe('receipt');
      await c.end();
    }
    expect(await lanesDownTo(t, 0)).toBe(0);

    const d = devices[0]!;
    const c = await connectDevice(t.gw, d);
    await c.publish(first[0]!); // the very envelope again: its original receipt
    const resent = await c.next();
    expect(resent.kind).toBe('receipt');
    await c.publish(await reading(d, 1, { iat: Math.floor(Date.now() / 1000) - 30 })); // seq 1, other bytes
    const replay = await c.next();
    expect(replay.kind === 'rejection' && replay.rejection.code).toBe('REPLAY');
    await c.publish(await reading(d, 2));
    expect((await c.next()).kind).toBe('receipt');
    expect(t.gw.pipeline.lanes).toBe(1); // connected: its lane stays
    await c.end();
    expect(await lanesDownTo(t, 0)).toBe(0);
  });

  test("a lane whose device left while a reading was held stays until that reading's outcome is out", async () => {
    const d = devices[1]!;
    const outcome = t.gw.pipeline.process(d.id, await reading(d, 2), Date.now()); // its signature in a worker
    t.gw.pipeline.deviceLeft(d.id);
    expect(t.gw.pipeline.lanes).toBe(1);
    expect((await outcome).ok).toBe(true);
    expect(t.gw.pipeline.lanes).toBe(0);
  });
});

/**
 * A device that left while a reading was held and came back before its outcome was out keeps its lane: found by
 * review, the lane's `left` mark stayed, so when the held reading's outcome came out the lane was dropped although
 * its device was connected again, and its next reading read the device's last seq from the store again.
 */
describe('a device that leaves and comes back while a reading is held', () => {
  let t: TestGateway;
  let devices: Device[];
  beforeAll(async () => {
    // The block seals on its timer, a second after the reading arrived: long enough to leave and come back.
    const g = await gatewayWithDevices(1, { blockMaxMs: 1000 });
    t = g.t;
    devices = g.devices;
  });
  afterAll(() => t.stop());

  test('keeps its lane once the held reading is answered; its next reading reads nothing from the store', async () => {
    const d = devices[0]!;
    const ledger = t.gw.ledger;
    let storeReads = 0;
    const lastSeq = ledger.lastSeq.bind(ledger);
    ledger.lastSeq = (deviceId: string) => {
      storeReads++;
      return lastSeq(deviceId);
    };
    try {
      const first = await connectDevice(t.gw, d);
      await first.publish(await reading(d, 1)); // PUBACKed (its PUBACK is not held past mqttAckHoldMs), not logged yet
      expect(t.gw.pipeline.oldestInFlightMs()).toBeDefined();
      await first.end(); // left while its reading is held
      const second = await connectDevice(t.gw, d);
      expect(t.gw.pipeline.oldestInFlightMs()).toBeDefined(); // came back before the outcome was out
      for (let i = 0; i < 200 && t.gw.pipeline.oldestInFlightMs() !== undefined; i++) await sleep(20);
      expect(t.gw.pipeline.oldestInFlightMs()).toBeUndefined(); // the held reading is logged (its receipt went nowhere)
      expect(t.gw.pipeline.lanes).toBe(1); // connected: its lane stays
      expect(storeReads).toBe(1); // its first reading's
      await second.publish(await reading(d, 2));
      expect((await second.next()).kind).toBe('receipt');
      expect(storeReads).toBe(1); // the lane's last seq was known
      await second.end();
      expect(await lanesDownTo(t, 0)).toBe(0);
    } finally {
      delete (ledger as { lastSeq?: unknown }).lastSeq;
    }
  });
});
