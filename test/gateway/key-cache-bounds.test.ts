/**
 * The KeyObject caches (gateway/crypto/node-verify-factory.ts: the main thread's for connect tokens and registry
 * checks, each verify worker's for readings) hold at most mqttMaxConnections keys: a key is needed while its device
 * is connected. They held 100,000 each (found by review): ~3 kB per P-256 KeyObject, so a registry of 100,000 ES256
 * devices connecting in turns grew each thread by ~300 MB, beyond the gateway's 500 MB.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_ES256 } from '../../protocol/index.js';
import { connectDevice, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

describe('KeyObject caches are bounded by mqttMaxConnections', () => {
  let t: TestGateway;
  let devices: Device[];
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { mqttMaxConnections: 2, verifyWorkers: 1 });
    const agency = await pki.agency('psb.example');
    devices = [];
    for (let i = 0; i < 5; i++) devices.push(await pki.device(agency, { alg: ALG_ES256 }));
    await register(t.gw, agency, devices);
  });
  afterAll(() => t.stop());

  test('five ES256 devices connecting in turns leave at most two keys in each cache', async () => {
    for (const d of devices) {
      const c = await connectDevice(t.gw, d);
      await c.publish(await reading(d, 1));
      expect((await c.next()).kind).toBe('receipt');
      await c.end();
    }
    const { main, workers } = t.gw.keysCached();
    expect(workers).toBeGreaterThan(0); // the worker's cache is in use and reported
    expect(workers).toBeLessThanOrEqual(2);
    expect(main).toBeGreaterThan(0);
    expect(main).toBeLessThanOrEqual(2);
  });
});
