/**
 * Kept sessions (clean session off, as SPEC §4 has devices connect) of devices that have gone: aedes' persistence
 * holds their subscriptions until a clean-session CONNECT of the same id, which SPEC devices never send, so every
 * device that ever connected kept one for good (found by review). At most mqttMaxConnections are kept, the oldest
 * dropped first; a device whose session was dropped is told (session present 0), subscribes again as it always
 * does, and gets its answers.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import { decodeReceipt, readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { freshToken, gatewayWithDevices, reading, type Device, type TestGateway } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sessions kept for devices that have gone', () => {
  let t: TestGateway;
  let devices: Device[];
  beforeAll(async () => {
    const g = await gatewayWithDevices(5, { mqttMaxConnections: 2 });
    t = g.t;
    devices = g.devices;
  });
  afterAll(() => t.stop());

  const persistence = () =>
    (t.gw.broker.aedes as unknown as { persistence: { countOffline(): Promise<{ clientsCount: number }> } }).persistence;
  const keptSessions = async () => (await persistence().countOffline()).clientsCount;

  /** Connect with clean session off; resolves with the client and CONNACK's session present flag. */
  async function connectKept(d: Device): Promise<{ client: mqtt.MqttClient; sessionPresent: boolean }> {
    const client = mqtt.connect(plainMqttUrl(t.gw), {
      clientId: d.id, username: d.id, password: Buffer.from(await freshToken(d)), clean: false, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4,
    });
    return new Promise((resolve, reject) => {
      client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent }));
      client.once('error', reject);
    });
  }

  async function keptSessionsDownTo(n: number): Promise<number> {
    for (let i = 0; i < 100 && (await keptSessions()) > n; i++) await sleep(20);
    return keptSessions();
  }

  test('five devices that subscribed and left leave at most two sessions; the oldest is dropped, a recent one kept', async () => {
    for (const d of devices) {
      const { client } = await connectKept(d);
      await client.subscribeAsync([receiptsTopic(d.id), rejectionsTopic(d.id)], { qos: 1 });
      await client.endAsync();
    }
    expect(await keptSessionsDownTo(2)).toBe(2);

    // the last to leave still has its session
    const last = devices[4]!;
    const kept = await connectKept(last);
    expect(kept.sessionPresent).toBe(true);
    await kept.client.endAsync();

    // the first one's session was dropped: told so, it subscribes again and gets its receipt
    const first = devices[0]!;
    const again = await connectKept(first);
    expect(again.sessionPresent).toBe(false);
    await again.client.subscribeAsync([receiptsTopic(first.id), rejectionsTopic(first.id)], { qos: 1 });
    const answer = new Promise<Uint8Array>((resolve) => again.client.once('message', (_topic, payload) => resolve(new Uint8Array(payload))));
    await again.client.publishAsync(readingsTopic(first.id), Buffer.from(await reading(first, 1)), { qos: 1 });
    expect(decodeReceipt(await answer).seq).toBe(1);
    await again.client.endAsync();
    expect(await keptSessionsDownTo(2)).toBe(2);
  });
});
