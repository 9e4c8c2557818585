/**
 * A device that keeps publishing but stops reading its socket. Its PUBACKs (three small writes each: mqtt-packet's
 * writeToStream reports no backpressure for them, so aedes never waits for 'drain' nor applies its drain timeout) and
 * its answers would pile up in the connection's write buffer for as long as it sends. The gateway stops reading a
 * connection whose writes are backed up (read-gate.ts) until they drain, and closes it if they do not drain within
 * `mqttDrainTimeoutMs`. The connection goes through the listener's accept path (pending cap, read gate, aedes).
 */
import { describe, expect, test } from 'vitest';
import { Duplex } from 'node:stream';
import type { Server } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { MAX_ANSWER_BACKLOG } from '../../gateway/mqtt/device-connections.js';
import { freshToken, useGatewayWithDevices, type Device } from './harness.js';
import type { TestGateway } from './harness.js';

/** The gateway's side of a device's connection: the device's bytes come in as the gateway reads; writes can stall. */
class DeviceSocket extends Duplex {
  published = 0;
  sending = false;
  stalled = false;
  private held: (() => void)[] = [];
  private messageId = 0;
  constructor(private readonly dev: Device) {
    super();
  }
  override _read(): void {
    if (this.sending) this.push(this.publishes(100));
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.stalled) this.held.push(() => cb());
    else cb();
  }
  /** The device reads its socket again: what was held is taken. */
  unstall(): void {
    this.stalled = false;
    for (const cb of this.held.splice(0)) cb();
  }
  /** QoS 1 readings the pipeline answers at once (MALFORMED): cheap, each with a PUBACK and a rejection. */
  publishes(n: number): Buffer {
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      this.messageId = (this.messageId % 65535) + 1;
      frames.push(mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(this.dev.id), payload: Buffer.from([0xff, 0x00]), qos: 1, messageId: this.messageId, retain: false, dup: false }));
    }
    this.published += n;
    return Buffer.concat(frames);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectThroughListener(t: TestGateway, dev: Device): Promise<DeviceSocket> {
  const conn = new DeviceSocket(dev);
  (t.gw.broker.tcp as Server).emit('connection', conn); // the listener's own path: pending cap, read gate, aedes
  const token = await freshToken(dev);
  conn.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: dev.id, username: dev.id, password: Buffer.from(token), keepalive: 0 }));
  conn.push(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: receiptsTopic(dev.id), qos: 1 }, { topic: rejectionsTopic(dev.id), qos: 1 }] }));
  const client = () => (t.gw.broker.aedes as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> }).clients[dev.id];
  const deadline = Date.now() + 5000;
  while (!(client() && rejectionsTopic(dev.id) in client()!.subscriptions) && Date.now() < deadline) await sleep(10);
  expect(Object.keys(client()?.subscriptions ?? {})).toContain(rejectionsTopic(dev.id)); // connected and subscribed, not timed out
  return conn;
}

describe('a device that publishes and does not read its socket', () => {
  const fx = useGatewayWithDevices(2, { mqttDrainTimeoutMs: 1500 });

  test('is not read while its writes are backed up: the write buffer stays bounded; once it reads again it is read again', async () => {
    const { t, devices } = fx;
    const conn = await connectThroughListener(t, devices[0]!);
    conn.stalled = true;
    conn.sending = true;
    conn.push(conn.publishes(100));
    await sleep(600);
    const taken = conn.published;
    await sleep(400);
    expect(conn.destroyed).toBe(false);
    expect(conn.published).toBe(taken); // not read any more: its bytes would wait in the kernel (TCP flow control)
    expect(taken).toBeLessThan(3000); // without the gate: tens of thousands in the same time, and rising
    expect(conn.writableLength).toBeLessThanOrEqual(MAX_ANSWER_BACKLOG + 2048);
    expect((conn as unknown as { writableBuffer: unknown[] }).writableBuffer.length).toBeLessThan(10_000); // write requests held (PUBACKs are three each)

    conn.unstall(); // reads again: its backlog drains and the gateway reads it again
    await sleep(300);
    expect(conn.published).toBeGreaterThan(taken);
    conn.sending = false;
    conn.destroy();
  });

  test('is closed when its writes do not drain within mqttDrainTimeoutMs', async () => {
    const { t, devices } = fx;
    const conn = await connectThroughListener(t, devices[1]!);
    conn.stalled = true;
    conn.sending = true;
    conn.push(conn.publishes(100));
    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    const t0 = Date.now();
    await closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(5000);
    conn.sending = false;
  });
});
