/**
 * While the pipeline is full, authenticated connections wait to be read (gateway/mqtt/read-gate.ts). A connection
 * that closes while it waits is dropped from the wait (found by review: it stayed until the pipeline had room, so a
 * device reconnecting again and again during a long stall, a store that hangs, added one dead connection each time).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { connectDevice, freshToken, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';
import { HeldPool } from './held-pool.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 150 && !cond(); i++) await sleep(20);
  return cond();
}

describe('connections waiting to be read while the pipeline is full', () => {
  let t: TestGateway;
  let pool: HeldPool;
  let busy: Device;
  let other: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { queueHighWater: 1 }, undefined, { verifyPool: (workers) => (pool = new HeldPool(workers)) });
    const agency = await pki.agency('psb.example');
    busy = await pki.device(agency);
    other = await pki.device(agency);
    await register(t.gw, agency, [busy, other]);
  });
  afterAll(() => t.stop());

  test('a device reconnecting five times while the pipeline is full leaves no dead connection waiting', async () => {
    const c = await connectDevice(t.gw, busy);
    pool.holding = true; // signature checks held: the queue (1) and the parked allowance (1) stay full
    void c.publish(await reading(busy, 1));
    void c.publish(await reading(busy, 2));
    expect(await until(() => t.gw.pipeline.full)).toBe(true);

    for (let i = 0; i < 5; i++) {
      const o = await mqtt.connectAsync(plainMqttUrl(t.gw), {
        clientId: other.id, username: other.id, password: Buffer.from(await freshToken(other)), reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4,
      });
      expect(await until(() => t.gw.broker.waitingToBeRead > 0)).toBe(true); // not read while the pipeline is full
      await o.endAsync(true);
    }
    await until(() => t.gw.broker.waitingToBeRead === 0);
    expect(t.gw.broker.waitingToBeRead).toBe(0);

    pool.release(); // the pipeline drains; the device that stayed gets its receipts
    expect((await c.next()).kind).toBe('receipt');
    expect((await c.next()).kind).toBe('receipt');
    await c.end();
  });
});
