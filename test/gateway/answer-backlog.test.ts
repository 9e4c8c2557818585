/**
 * A device that stops reading its socket cannot grow the gateway's memory with answers: beyond MAX_ANSWER_BACKLOG
 * bytes waiting on its connection, answers are dropped (QoS 0; the device resends and gets the same answer). Nor can
 * many of them together: answers waiting on backed-up connections share one budget across the gateway
 * (`mqttMaxAnswerBacklogBytes`, gateway/mqtt/answer-backlog.ts), while a device that reads its socket is answered.
 */
import { describe, expect, test } from 'vitest';
import { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { MAX_ANSWER_BACKLOG } from '../../gateway/mqtt/device-connections.js';
import { connectDevice, freshToken, gatewayWithDevices, reading, useGatewayWithDevices, type Device, type TestGateway } from './harness.js';

/**
 * The gateway's side of a connection whose device stopped reading: writes are taken until 4 kB, then never finish.
 * Connected and subscribed to its answers; `junk(n)` sends n readings the pipeline rejects at once (MALFORMED).
 */
async function stalledDevice(t: TestGateway, dev: Device): Promise<{ conn: Duplex; junk(n: number): void }> {
  let written = 0;
  const conn = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      if (written <= 4096) cb();
    },
  });
  (t.gw.broker.aedes.handle as unknown as (c: Duplex) => void)(conn);
  const token = await freshToken(dev);
  conn.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: dev.id, username: dev.id, password: Buffer.from(token), keepalive: 600 }));
  conn.push(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: receiptsTopic(dev.id), qos: 1 }, { topic: rejectionsTopic(dev.id), qos: 1 }] }));
  const client = () => (t.gw.broker.aedes as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> }).clients[dev.id];
  const deadline = Date.now() + 5000;
  while (!(client() && rejectionsTopic(dev.id) in client()!.subscriptions) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  expect(Object.keys(client()?.subscriptions ?? {})).toContain(rejectionsTopic(dev.id)); // connected and subscribed, not timed out
  const frame = mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(dev.id), payload: Buffer.from([0xff, 0x00]), qos: 0, retain: false, dup: false });
  return { conn, junk: (n) => { for (let i = 0; i < n; i++) conn.push(frame); } };
}

async function metric(t: TestGateway, name: string): Promise<number> {
  const text = await t.gw.app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body);
  return [...text.matchAll(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}
const rejected = (t: TestGateway) => metric(t, 'originproof_readings_rejected_total{code="MALFORMED"}');

/** Until `n` more MALFORMED readings have been counted; the largest write backlog of `conns` seen meanwhile. */
async function whileRejecting(t: TestGateway, before: number, n: number, conns: Duplex[]): Promise<number> {
  const deadline = Date.now() + 25_000;
  let max = 0;
  const sample = () => (max = Math.max(max, conns.reduce((sum, c) => sum + c.writableLength, 0)));
  while ((await rejected(t)) - before < n && Date.now() < deadline) {
    sample();
    await new Promise((r) => setImmediate(r));
  }
  expect((await rejected(t)) - before).toBe(n); // every reading was decided (and counted)
  return sample();
}

describe('one connection', () => {
  const fx = useGatewayWithDevices(1);

  test('answers beyond the backlog cap of a connection that is not read are dropped; every reading is still answered or counted', async () => {
    const { t, dev } = fx;
    const d = await stalledDevice(t, dev);
    const before = await rejected(t);
    const N = 4000; // ~4000 MALFORMED rejections of ~150 bytes: more than twice the cap
    d.junk(N);
    const maxBacklog = await whileRejecting(t, before, N, [d.conn]);
    expect(maxBacklog).toBeGreaterThan(MAX_ANSWER_BACKLOG / 2); // the answers did pile up...
    expect(maxBacklog).toBeLessThanOrEqual(MAX_ANSWER_BACKLOG + 2048); // ...but only up to the cap (plus one tick's frames)
    expect(await metric(t, 'originproof_mqtt_answers_dropped_total{reason="connection"}')).toBeGreaterThan(0);
    d.conn.destroy();
  });
});

describe('many connections', () => {
  test('answers waiting on backed-up connections share one budget; a device reading its socket still gets its receipt', async () => {
    const BUDGET = 100_000;
    const { t, devices } = await gatewayWithDevices(4, { mqttMaxAnswerBacklogBytes: BUDGET });
    try {
      const stalled = await Promise.all(devices.slice(0, 3).map((dev) => stalledDevice(t, dev)));
      const before = await rejected(t);
      const N = 2000; // ~300 kB of rejections each: each alone stays under its 256 kB cap only by dropping
      for (const d of stalled) d.junk(N);
      const maxBacklog = await whileRejecting(t, before, 3 * N, stalled.map((d) => d.conn));
      // Each connection holds up to its write buffer's high-water mark (16 kB) before it counts as backed up.
      const unbudgeted = stalled.reduce((sum, d) => sum + d.conn.writableHighWaterMark + 4096, 0);
      expect(maxBacklog).toBeGreaterThan(BUDGET / 2);
      expect(maxBacklog).toBeLessThanOrEqual(BUDGET + unbudgeted + 2048);
      expect(await metric(t, 'originproof_mqtt_answers_dropped_total{reason="gateway"}')).toBeGreaterThan(0);
      expect(await metric(t, 'originproof_mqtt_answer_backlog_bytes')).toBeLessThanOrEqual(BUDGET);
      expect(t.gw.broker.answerBacklog.connections).toBeGreaterThan(0); // whichever was answered first spent it

      const healthy = await connectDevice(t.gw, devices[3]!);
      await healthy.publish(await reading(devices[3]!, 1));
      expect((await healthy.next()).kind).toBe('receipt');
      await healthy.end();

      for (const d of stalled) d.conn.destroy(); // closed: their counts are released
      const deadline = Date.now() + 5000;
      while (t.gw.broker.answerBacklog.bytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect([t.gw.broker.answerBacklog.bytes, t.gw.broker.answerBacklog.connections]).toEqual([0, 0]);
    } finally {
      await t.stop();
    }
  });
});
