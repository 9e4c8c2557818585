/** MQTT over WebSocket: off by default; when a port is given, a device connects and gets receipts the same way. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import { decodeReceipt, readingsTopic, receiptsTopic } from '../../protocol/index.js';
import { freshToken, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

describe('MQTT over WebSocket', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { wsPort: 0 });
    const agency = await pki.agency('psb.example');
    dev = await pki.device(agency);
    await register(t.gw, agency, [dev]);
  });
  afterAll(() => t.stop());

  test('is off unless configured', async () => {
    const off = await startTestGateway(t.pki);
    expect(off.gw.wsUrl).toBeNull();
    await off.stop();
  });

  test('a device publishes over ws:// and gets its receipt', async () => {
    expect(t.gw.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const token = await freshToken(dev);
    const client = await mqtt.connectAsync(t.gw.wsUrl!, { clientId: dev.id, username: dev.id, password: Buffer.from(token), reconnectPeriod: 0, protocolVersion: 4 });
    await client.subscribeAsync(receiptsTopic(dev.id), { qos: 1 });
    const got = new Promise<Buffer>((resolve) => client.once('message', (_t, p) => resolve(p)));
    await client.publishAsync(readingsTopic(dev.id), Buffer.from(await reading(dev, 1)), { qos: 1 });
    expect(decodeReceipt(new Uint8Array(await got)).seq).toBe(1);
    await client.endAsync(true);
  });
});
