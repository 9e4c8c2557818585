/**
 * What /metrics reports against what happened (review of observability): labelled series from 0, pipeline latency
 * from arrival and by outcome, accepted readings, ledger size across a restart. Real gateway, real clients.
 * MQTT-side counts and gauges: observability-mqtt.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isErrorCode } from '../../protocol/index.js';
import { HeldPool } from './held-pool.js';
import { metricsText, sample, sleep, waitFor } from './metrics-sample.js';
import { connectDevice, gatewayWithDevices, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

describe('labelled counters exist at 0 from the start', () => {
  // Prometheus' increase() and rate() see nothing in a series' first sample: a series that first appears at 1 hides
  // that first event, so an alert on a rare rejection (one CERT_REVOKED, one REPLAYed connect token) never fired.
  test('every reading outcome code, every connect refusal code and the other labelled counters, before any reading', async () => {
    const fx = await gatewayWithDevices(0);
    try {
      const text = await metricsText(fx.t.gw);
      const series = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))].map((m) => [m[1] ?? '', Number(m[2])] as const);
      expect(series('originproof_readings_accepted_total')).toEqual([['kind="reading"', 0]]);
      const rejected = new Map(series('originproof_readings_rejected_total'));
      for (const code of ['MALFORMED', 'TOO_LARGE', 'BAD_SIGNATURE', 'CERT_REVOKED', 'REPLAY', 'CLOCK_SKEW', 'TOPIC_MISMATCH', 'UNAVAILABLE', 'STORAGE_UNAVAILABLE']) {
        expect(rejected.get(`code="${code}"`)).toBe(0);
      }
      expect([...rejected.keys()].every((k) => isErrorCode(/^code="(.*)"$/.exec(k)?.[1]))).toBe(true);
      const refused = new Map(series('originproof_mqtt_connects_refused_total'));
      for (const code of ['REPLAY', 'UNKNOWN_DEVICE', 'BAD_SIGNATURE', 'TOKEN_EXPIRED', 'UNAVAILABLE', 'RATE_LIMITED', 'STORAGE_UNAVAILABLE', 'INTERNAL']) {
        expect(refused.get(`code="${code}"`)).toBe(0);
      }
      expect(new Map(series('originproof_mqtt_answers_dropped_total'))).toEqual(new Map([['reason="connection"', 0], ['reason="gateway"', 0]]));
      expect(new Map(series('originproof_mqtt_publishes_refused_total'))).toEqual(new Map([['reason="qos2"', 0], ['reason="connection_closed"', 0], ['reason="stale_connection"', 0]]));
      expect(new Map(series('originproof_tls_reloads_total'))).toEqual(new Map([['result="ok"', 0], ['result="failed"', 0]]));
      // and GET /v1/rejections still lists only codes that happened
      expect((await fx.t.gw.app.inject({ url: '/v1/rejections' })).json()).toMatchObject({ total: 0, byCode: [] });
    } finally {
      await fx.t.stop();
    }
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
    const fast = await sample(t.gw, 'originproof_pipeline_seconds_bucket{le="0.25",outcome="receipt"}');
    const receipts = await sample(t.gw, 'originproof_pipeline_seconds_count{outcome="receipt"}');
    pool.holding = true;
    void a.publish(await reading(devs[0]!, 1));
    expect(await waitFor(() => pool.waiting === 1, 3000)).toBe(true);
    void b.publish(await reading(devs[1]!, 1));
    expect(await waitFor(() => t.gw.pipeline.parked === 1, 3000)).toBe(true);
    await sleep(HOLD);
    pool.release();
    expect([(await a.next()).kind, (await b.next()).kind]).toEqual(['receipt', 'receipt']);
    // both waited at least HOLD ms from their arrival: neither is under 250 ms
    expect(await sample(t.gw, 'originproof_pipeline_seconds_count{outcome="receipt"}')).toBe(receipts + 2);
    expect(await sample(t.gw, 'originproof_pipeline_seconds_bucket{le="0.25",outcome="receipt"}')).toBe(fast);
    expect(await sample(t.gw, 'originproof_pipeline_queue_depth')).toBe(0);
    await a.end();
    await b.end();
  });

  test('receipts and rejections are told apart: fast rejections do not hide a slow receipt', async () => {
    const bucket = (outcome: string, le: string) => sample(t.gw, `originproof_pipeline_seconds_bucket{le="${le}",outcome="${outcome}"}`);
    const count = (outcome: string) => sample(t.gw, `originproof_pipeline_seconds_count{outcome="${outcome}"}`);
    const [receipts, rejections, fastReceipts] = [await count('receipt'), await count('rejection'), await bucket('receipt', '0.25')];
    const a = await connectDevice(t.gw, devs[0]!);
    pool.holding = true;
    void a.publish(await reading(devs[0]!, 2));
    expect(await waitFor(() => pool.waiting === 1, 3000)).toBe(true);
    await sleep(300);
    pool.release();
    expect((await a.next()).kind).toBe('receipt');
    for (let i = 0; i < 20; i++) {
      await a.publish(new Uint8Array([0xff, i])); // not CBOR: refused at once
      expect((await a.next()).kind).toBe('rejection');
    }
    expect(await count('receipt')).toBe(receipts + 1);
    expect(await bucket('receipt', '0.25')).toBe(fastReceipts); // the receipt took over 250 ms
    expect(await count('rejection')).toBe(rejections + 20);
    await a.end();
  });
});

describe('accepted readings and the ledger size', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(1, { blockMaxMs: 20 });
    t = fx.t;
    dev = fx.devices[0]!;
  });
  afterAll(() => t.stop());
  const accepted = () => sample(t.gw, 'originproof_readings_accepted_total{kind="reading"}');
  const logSize = async () => (await t.gw.app.inject({ url: '/v1/log' })).json().size as number;

  test('a resend answered with its original receipt is not counted again, pending or durable', async () => {
    const c = await connectDevice(t.gw, dev);
    const bytes = await reading(dev, 1);
    await c.publish(bytes);
    await c.publish(bytes); // while the first may still wait for its block
    expect([(await c.next()).kind, (await c.next()).kind]).toEqual(['receipt', 'receipt']);
    await c.publish(bytes); // durable by now
    expect((await c.next()).kind).toBe('receipt');
    expect(await accepted()).toBe(1);
    await c.end();
  });

  test('ledger size is the tree size at once after a restart, before any new reading', async () => {
    const size = await logSize();
    expect(size).toBe(3); // agency, device, reading
    expect(await sample(t.gw, 'originproof_ledger_size')).toBe(size);
    await t.restart();
    expect(await sample(t.gw, 'originproof_ledger_size')).toBe(size);
    expect(await accepted()).toBe(0); // counters are since start
    expect((await t.gw.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });
});
