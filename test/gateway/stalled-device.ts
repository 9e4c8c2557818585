/** A device connection whose device stopped reading (answer-backlog.test.ts, answer-burst.test.ts). */
import { expect } from 'vitest';
import { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { freshToken, type Device, type TestGateway } from './harness.js';

/**
 * The gateway's side of a connection whose device stopped reading: writes are taken until 4 kB, then never finish
 * until `unstall()` (the device reads everything from then on). Connected and subscribed to its answers; `junk(n)`
 * sends n readings the pipeline rejects at once (MALFORMED).
 */
export async function stalledDevice(t: TestGateway, dev: Device): Promise<{ conn: Duplex; junk(n: number): void; unstall(): void }> {
  let written = 0;
  let reading = false;
  let held: (() => void) | undefined; // the write the device has not taken (one at a time: no writev)
  const conn = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      if (reading || written <= 4096) cb();
      else held = cb;
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
  const unstall = () => {
    reading = true;
    const cb = held;
    held = undefined;
    cb?.();
  };
  return { conn, junk: (n) => { for (let i = 0; i < n; i++) conn.push(frame); }, unstall };
}
