/**
 * Edges of the MQTT accept path: the frame cap holds from a connection's first byte (a CONNECT is capped like any
 * other frame), and a device id has one live connection, the last one to connect, which gets the device's answers
 * even when several CONNECTs with that id race.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { decodeReceipt, decodeRejection, readingsTopic, receiptsTopic, rejectionsTopic } from '../../protocol/index.js';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { connectDevice, freshToken, gatewayWithDevices, reading, type Device, type TestGateway } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An MQTT fixed header: packet type byte and the remaining length as a variable byte integer. */
function fixedHeader(type: number, remaining: number): Buffer {
  const bytes = [type];
  do {
    let b = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) b |= 0x80;
    bytes.push(b);
  } while (remaining > 0);
  return Buffer.from(bytes);
}

const DECLARED = 200_000_000; // far above the frame cap (4 x maxReadingBytes + 1024)
const STREAM_AT_MOST = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

describe('the frame cap applies to CONNECT', () => {
  let t: TestGateway;
  let dev: Device;
  let frameCap: number;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(1, { wsPort: 0 });
    t = fx.t;
    dev = fx.devices[0]!;
    frameCap = t.gw.config.maxReadingBytes * 4 + 1024;
  });
  afterAll(() => t.stop());

  test('over TCP: a CONNECT declaring more than the cap closes the socket before it is buffered', async () => {
    const sock = netConnect(t.gw.mqttPort!, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let closed = false;
    const closedP = new Promise<void>((r) => sock.once('close', () => { closed = true; r(); }));
    sock.on('error', () => undefined);
    expect(await waitFor(() => t.gw.broker.pending.size === 1, 2000)).toBe(true);
    sock.write(fixedHeader(0x10, DECLARED));
    const chunk = Buffer.alloc(CHUNK, 0x41);
    let written = 0;
    while (!closed && written < STREAM_AT_MOST) {
      written += CHUNK;
      if (!sock.write(chunk)) await Promise.race([new Promise((r) => sock.once('drain', r)), closedP]);
    }
    // closed by the gateway long before the declared frame (or even the few MiB offered) was taken
    expect(await Promise.race([closedP.then(() => true), sleep(5000).then(() => false)])).toBe(true);
    expect(written).toBeLessThan(STREAM_AT_MOST);
    expect(await waitFor(() => t.gw.broker.pending.size === 0, 2000)).toBe(true);
    expect(frameCap).toBeLessThan(DECLARED);
  });

  test('over TCP: a CONNECT one byte over the cap is refused; a device still connects and is answered', async () => {
    const sock = netConnect(t.gw.mqttPort!, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const closedP = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    sock.write(fixedHeader(0x10, frameCap + 1)); // the length alone is enough: nothing of the body is needed
    expect(await Promise.race([closedP.then(() => true), sleep(5000).then(() => false)])).toBe(true);

    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    const ans = await c.next();
    expect(ans.kind === 'receipt' && ans.receipt.seq).toBe(1);
    await c.end();
    expect(await waitFor(() => t.gw.broker.pending.size === 0, 2000)).toBe(true);
  });

  test('over WebSocket: a CONNECT declaring more than the cap is closed on its header, long before the CONNECT timeout', async () => {
    expect(t.gw.config.mqttConnectTimeoutMs).toBeGreaterThanOrEqual(10_000);
    const ws = new WebSocket(t.gw.wsUrl!, 'mqtt');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closedP = new Promise<void>((r) => ws.once('close', () => r()));
    ws.on('error', () => undefined);
    // each WebSocket message is far under the WebSocket payload limit; the MQTT frame they would make is not
    const started = Date.now();
    ws.send(fixedHeader(0x10, DECLARED));
    ws.send(Buffer.alloc(4096, 0x41));
    expect(await Promise.race([closedP.then(() => true), sleep(3000).then(() => false)])).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await waitFor(() => t.gw.broker.pending.size === 0, 2000)).toBe(true);
  });
});

interface Raw {
  sock: Socket;
  packets: mqttPacket.Packet[];
  closed: boolean;
}

async function rawOpen(port: number): Promise<Raw> {
  const sock = netConnect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const raw: Raw = { sock, packets: [], closed: false };
  parser.on('packet', (p) => raw.packets.push(p));
  sock.on('data', (b) => parser.parse(b));
  sock.on('close', () => (raw.closed = true));
  sock.on('error', () => undefined);
  return raw;
}

async function connectFrame(d: Device): Promise<Buffer> {
  const token = await freshToken(d); // each CONNECT its own token, dated later than the last
  // clean session off, as devices connect (SPEC): restoring the session adds a turn before the client registers
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: d.id, username: d.id, password: Buffer.from(token), keepalive: 60 });
}

async function connectedGauge(t: TestGateway): Promise<number> {
  const res = await t.gw.app.inject({ method: 'GET', url: '/metrics' });
  const m = /^originproof_connected_devices (\d+)/m.exec(res.body);
  return Number(m?.[1]);
}

describe('one live connection per device id', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(1);
    t = fx.t;
    dev = fx.devices[0]!;
  });
  afterAll(() => t.stop());

  test('concurrent CONNECTs with one id: exactly one connection stays, and it gets its receipts and rejections', async () => {
    // an ordinary device connection first (clean session off, subscribed: the session keeps its subscriptions)
    const tok = await freshToken(dev);
    const a = await mqtt.connectAsync(plainMqttUrl(t.gw), { clientId: dev.id, username: dev.id, password: Buffer.from(tok), clean: false, reconnectPeriod: 0, protocolVersion: 4 });
    a.on('error', () => undefined);
    await a.subscribeAsync([receiptsTopic(dev.id), rejectionsTopic(dev.id)], { qos: 1 });

    let seq = 100;
    const raws: Raw[] = [];
    for (let round = 0; round < 4; round++) {
      const [b, c] = [await rawOpen(t.gw.mqttPort!), await rawOpen(t.gw.mqttPort!)];
      raws.push(b, c);
      const [fb, fc] = [await connectFrame(dev), await connectFrame(dev)];
      b.sock.write(fb);
      c.sock.write(fc);
      // both are accepted (their tokens are taken); the one registered last is the device's, the other is closed.
      // Both wait for the same durable write of their tokens (connect-token-order.ts), so aedes registers them in
      // one turn and the later may take over before the earlier's CONNACK 0 is written: the earlier then sees its
      // connection closed with or without one, never a refusal.
      const answered = (x: Raw) => x.packets.some((p) => p.cmd === 'connack') || x.closed;
      expect(await waitFor(() => [b, c].every(answered), 5000)).toBe(true);
      expect([b, c].flatMap((x) => x.packets.filter((p) => p.cmd === 'connack').map((p) => (p as mqttPacket.IConnackPacket).returnCode)).every((code) => code === 0)).toBe(true);
      expect(await waitFor(() => [b, c].filter((x) => !x.closed).length === 1, 5000)).toBe(true);
      await sleep(200); // and it stays that way
      const open = [b, c].filter((x) => !x.closed);
      expect(open).toHaveLength(1);
      const kept = open[0]!;
      expect(kept.packets.filter((p) => p.cmd === 'connack').map((p) => (p as mqttPacket.IConnackPacket).returnCode)).toEqual([0]);
      expect(await connectedGauge(t)).toBe(1);

      const before = kept.packets.length;
      const id = 1 + round * 2;
      kept.sock.write(mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(dev.id), payload: Buffer.from(await reading(dev, ++seq)), qos: 1, messageId: id, retain: false, dup: false }));
      // a replay (same seq, other content) is answered on the rejections topic
      kept.sock.write(mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(dev.id), payload: Buffer.from(await reading(dev, seq, { body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } })), qos: 1, messageId: id + 1, retain: false, dup: false }));
      const answers = () => kept.packets.slice(before).filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');
      expect(await waitFor(() => answers().length >= 2, 10_000)).toBe(true);
      const receipt = answers().find((p) => p.topic === receiptsTopic(dev.id));
      const rejection = answers().find((p) => p.topic === rejectionsTopic(dev.id));
      expect(receipt && decodeReceipt(new Uint8Array(receipt.payload as Buffer)).seq).toBe(seq);
      expect(rejection && decodeRejection(new Uint8Array(rejection.payload as Buffer)).code).toBe('REPLAY');
      expect(kept.closed).toBe(false);
      // the next round's CONNECTs take this connection over
    }
    a.end(true);
    for (const r of raws) r.sock.destroy();
    await sleep(100);
  });

  test('the device id is free again once its connection goes; a new connection is answered and the gauge is right', async () => {
    // whatever the previous test left open is taken over here, then closed
    const c = await connectDevice(t.gw, dev);
    await sleep(100);
    expect(await connectedGauge(t)).toBe(1);
    await c.publish(await reading(dev, 1000));
    const ans = await c.next();
    expect(ans.kind === 'receipt' && ans.receipt.seq).toBe(1000);
    await c.end();
    expect(await waitFor(() => t.gw.broker.aedes.connectedClients === 0, 2000)).toBe(true);
    expect(await connectedGauge(t)).toBe(0);
  });
});
