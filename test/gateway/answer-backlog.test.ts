/**
 * A device that stops reading its socket cannot grow the gateway's memory with answers: beyond MAX_ANSWER_BACKLOG
 * bytes waiting on its connection, answers are dropped (QoS 0; the device resends and gets the same answer).
 */
import { expect, test } from 'vitest';
import { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { MAX_ANSWER_BACKLOG } from '../../gateway/mqtt/device-connections.js';
import { freshToken, useGatewayWithDevices } from './harness.js';

const fx = useGatewayWithDevices(1);

test('answers beyond the backlog cap of a connection that is not read are dropped; every reading is still answered or counted', async () => {
  const { t, dev } = fx;
  // The gateway's side of a connection whose device stopped reading: writes are taken until 4 kB, then never finish.
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
  while (!(client() && rejectionsTopic(dev.id) in client()!.subscriptions) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(client()).toBeDefined();

  const rejectedBefore = await rejectedCount();
  const N = 4000; // ~4000 MALFORMED rejections of ~150 bytes: more than twice the cap
  const frame = mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(dev.id), payload: Buffer.from([0xff, 0x00]), qos: 0, retain: false, dup: false });
  for (let i = 0; i < N; i++) conn.push(frame);
  let maxBacklog = 0;
  while ((await rejectedCount()) - rejectedBefore < N && Date.now() < deadline + 20_000) {
    maxBacklog = Math.max(maxBacklog, conn.writableLength);
    await new Promise((r) => setImmediate(r));
  }
  expect((await rejectedCount()) - rejectedBefore).toBe(N); // every reading was decided (and counted)...
  maxBacklog = Math.max(maxBacklog, conn.writableLength);
  expect(maxBacklog).toBeGreaterThan(MAX_ANSWER_BACKLOG / 2); // ...the answers did pile up...
  expect(maxBacklog).toBeLessThanOrEqual(MAX_ANSWER_BACKLOG + 2048); // ...but only up to the cap (plus one tick's frames)
  conn.destroy();
});

async function rejectedCount(): Promise<number> {
  const text = await fx.t.gw.app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body);
  return [...text.matchAll(/^originproof_readings_rejected_total\{code="MALFORMED"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
