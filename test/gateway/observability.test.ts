/**
 * What /metrics, /healthz and /readyz report against what happened (review of observability): every refused reading
 * counted once under its code, latency from arrival, gauges back to 0, bounded labels. Real gateway, real clients.
 */
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isErrorCode, readingsTopic } from '../../protocol/index.js';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { plainMqttUrl, type RunningGateway } from '../../gateway/gateway.js';
import { HeldPool } from './held-pool.js';
import { connackCode, connectDevice, freshToken, gatewayWithDevices, Pki, reading, register, startTestGateway, useGatewayWithDevices, type Device, type TestGateway } from './harness.js';

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
      expect(series('originproof_mqtt_publishes_refused_total')).toEqual([['reason="qos2"', 0]]);
      expect(new Map(series('originproof_tls_reloads_total'))).toEqual(new Map([['result="ok"', 0], ['result="failed"', 0]]));
      // and GET /v1/rejections still lists only codes that happened
      expect((await fx.t.gw.app.inject({ url: '/v1/rejections' })).json()).toMatchObject({ total: 0, byCode: [] });
    } finally {
      await fx.t.stop();
    }
  });
});

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

describe('originproof_connected_devices is the devices connected', () => {
  let t: TestGateway;
  let devs: Device[];
  beforeAll(async () => {
    const fx = await gatewayWithDevices(3, { mqttMaxKeepaliveS: 1 });
    t = fx.t;
    devs = fx.devices;
  });
  afterAll(() => t.stop());
  const gauge = () => sample(t.gw, 'originproof_connected_devices');
  const settlesAt = (n: number) => waitFor(async () => (await gauge()) === n, 4000);

  test('after an abrupt disconnect, a takeover, a keep alive timeout and a refused CONNECT, it is back to 0', async () => {
    const [a, b, c] = devs as [Device, Device, Device];
    // abrupt: the socket destroyed, no DISCONNECT
    const ca = await connectDevice(t.gw, a);
    expect(await settlesAt(1)).toBe(true);
    ca.client.stream.destroy();
    expect(await settlesAt(0)).toBe(true);
    await ca.end().catch(() => undefined);

    // takeover: the same client id twice; one device connected, then none
    const b1 = await connectDevice(t.gw, b);
    b1.client.on('error', () => undefined);
    const b2 = await connectDevice(t.gw, b);
    expect(await settlesAt(1)).toBe(true);
    await sleep(100);
    expect(await gauge()).toBe(1);
    await b2.end();
    await b1.end().catch(() => undefined);
    expect(await settlesAt(0)).toBe(true);

    // keep alive timeout: a raw CONNECT (keep alive 1 s), then silence; the gateway closes it after 1.5 s
    const sock = netConnect(t.gw.mqttPort!, '127.0.0.1');
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.resume(); // read (and drop) the CONNACK, so that the gateway's close is seen
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: c.id, username: c.id, password: Buffer.from(await freshToken(c)), keepalive: 1 }));
    expect(await settlesAt(1)).toBe(true);
    await closed;
    expect(await settlesAt(0)).toBe(true);

    // refused: a token of another device
    expect(await connackCode(plainMqttUrl(t.gw), a.id, await freshToken(b))).not.toBe(0);
    await sleep(50);
    expect(await gauge()).toBe(0);
    expect(t.gw.broker.aedes.connectedClients).toBe(0);
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

describe('every refused CONNECT is counted', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(1);
    t = fx.t;
    dev = fx.devices[0]!;
  });
  afterAll(() => t.stop());
  const refused = (code: string) => sample(t.gw, `originproof_mqtt_connects_refused_total{code="${code}"}`);
  const tryConnect = async (opts: mqtt.IClientOptions): Promise<number> => {
    try {
      const c = await mqtt.connectAsync(plainMqttUrl(t.gw), { clientId: dev.id, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts });
      await c.endAsync(true);
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  };

  test('the firmware bugs refused before the token is looked at: protocol level, will, username, no token', async () => {
    const token = () => freshToken(dev).then((b) => Buffer.from(b));
    const cases: [string, () => Promise<mqtt.IClientOptions>, number][] = [
      ['PROTOCOL_VERSION', async () => ({ protocolVersion: 3, protocolId: 'MQIsdp', username: dev.id, password: await token() }), 1],
      ['PROTOCOL_VERSION', async () => ({ protocolVersion: 5, username: dev.id, password: await token() }), 1],
      ['WILL_MESSAGE', async () => ({ username: dev.id, password: await token(), will: { topic: readingsTopic(dev.id), payload: Buffer.from('x'), qos: 0, retain: false } }), 5],
      ['USERNAME_MISMATCH', async () => ({ username: 'someone-else', password: await token() }), 2],
      ['NO_TOKEN', async () => ({ username: dev.id }), 4],
    ];
    for (const [code, opts, connack] of cases) {
      const before = await refused(code);
      const got = await tryConnect(await opts());
      // MQTT 5's CONNACK reason code for an unsupported version is 0x84; mqtt.js may report either
      if (connack === 1) expect([1, 0x84, -1]).toContain(got);
      else expect(got).toBe(connack);
      expect(await waitFor(async () => (await refused(code)) === before + 1, 1000)).toBe(true);
    }
    expect(await sample(t.gw, 'originproof_connected_devices')).toBe(0);
  });
});

describe('a reading published at QoS 2 is refused and counted', () => {
  const fx = useGatewayWithDevices(1);

  test('the connection is closed, nothing is stored, originproof_mqtt_publishes_refused_total{reason="qos2"} counts it once', async () => {
    const { t, dev } = fx;
    const before = await sample(t.gw, 'originproof_mqtt_publishes_refused_total{reason="qos2"}');
    const c = await connectDevice(t.gw, dev);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish(readingsTopic(dev.id), Buffer.from(await reading(dev, 1)), { qos: 2 });
    await closed;
    await c.end().catch(() => undefined);
    expect(await sample(t.gw, 'originproof_mqtt_publishes_refused_total{reason="qos2"}')).toBe(before + 1);
    expect(await sample(t.gw, 'originproof_readings_accepted_total{kind="reading"}')).toBe(0);
  });
});
