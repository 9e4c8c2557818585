/**
 * What /metrics, /healthz and /readyz report against what happened (review of observability): every refused reading
 * counted once under its code, latency from arrival, gauges back to 0, bounded labels. Real gateway, real clients.
 */
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readingsTopic } from '../../protocol/index.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { HeldPool } from './held-pool.js';
import { connectDevice, gatewayWithDevices, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metricsText(gw: RunningGateway): Promise<string> {
  return (await gw.app.inject({ method: 'GET', url: '/metrics' })).body;
}

/** One sample's value (`series` as it appears, labels included); 0 when the series is absent. */
async function sample(gw: RunningGateway, series: string): Promise<number> {
  const text = await metricsText(gw);
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(20);
  }
  return cond();
}

describe('readings refused before the pipeline are counted', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(1, { maxReadingBytes: 1024 });
    t = fx.t;
    dev = fx.devices[0]!;
  });
  afterAll(() => t.stop());

  test('a PUBLISH over the MQTT frame cap counts once as TOO_LARGE', async () => {
    const before = await sample(t.gw, 'originproof_readings_rejected_total{code="TOO_LARGE"}');
    const c = await connectDevice(t.gw, dev);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish(readingsTopic(dev.id), Buffer.alloc(8 * 1024, 0xa0), { qos: 1 }); // cap: 4 x 1024 + 1024
    await closed;
    await c.end().catch(() => undefined);
    expect(await sample(t.gw, 'originproof_readings_rejected_total{code="TOO_LARGE"}')).toBe(before + 1);
  });

  test('a frame over the cap before CONNECT is no reading: not counted', async () => {
    const before = await sample(t.gw, 'originproof_readings_rejected_total{code="TOO_LARGE"}');
    const sock = netConnect(t.gw.mqttPort!, '127.0.0.1');
    sock.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    // a PUBLISH header declaring 8 KiB (over the 5 KiB cap), as the first bytes of the connection
    sock.write(Buffer.from([0x32, 0x80, 0x40]));
    await closed;
    expect(await sample(t.gw, 'originproof_readings_rejected_total{code="TOO_LARGE"}')).toBe(before);
  });
});

describe('pipeline latency', () => {
  let t: TestGateway;
  let devs: Device[];
  let pool!: HeldPool;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { queueHighWater: 1, blockMaxMs: 5 }, undefined, { verifyPool: (workers, sodium) => (pool = new HeldPool(workers, undefined, undefined, sodium)) });
    const agency = await pki.agency('env.example');
    devs = [await pki.device(agency), await pki.device(agency)];
    await register(t.gw, agency, devs);
  });
  afterAll(() => t.stop());

  test('counts from arrival: a reading parked above the high-water mark has its wait in its latency', async () => {
    // the first reading holds the only slot for HOLD ms (its signature answer held); the second is parked meanwhile
    const HOLD = 400;
    const [a, b] = [await connectDevice(t.gw, devs[0]!), await connectDevice(t.gw, devs[1]!)];
    const fast = await sample(t.gw, 'originproof_pipeline_seconds_bucket{le="0.25"}');
    pool.holding = true;
    void a.publish(await reading(devs[0]!, 1));
    expect(await waitFor(() => pool.waiting === 1, 3000)).toBe(true);
    void b.publish(await reading(devs[1]!, 1));
    expect(await waitFor(() => t.gw.pipeline.parked === 1, 3000)).toBe(true);
    await sleep(HOLD);
    pool.release();
    expect([(await a.next()).kind, (await b.next()).kind]).toEqual(['receipt', 'receipt']);
    // both waited at least HOLD ms from their arrival: neither is under 250 ms
    expect(await sample(t.gw, 'originproof_pipeline_seconds_bucket{le="0.25"}')).toBe(fast);
    await a.end();
    await b.end();
  });
});
