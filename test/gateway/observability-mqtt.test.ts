/**
 * What /metrics reports of the MQTT side against what happened (review of observability): readings refused before
 * the pipeline (frame cap, QoS 2), every refused CONNECT, the connected-devices gauge back to 0 (the device ending its
 * connection, or the gateway). Real gateway, real mqtt.js clients and raw sockets.
 */
import { connect as netConnect } from 'node:net';
import { describe, expect, test } from 'vitest';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { readingsTopic } from '../../protocol/index.js';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { metricsText, sample, sleep, waitFor } from './metrics-sample.js';
import type { BlockWrite, LedgerBackend } from '../../ledger/backend.js';
import { connackCode, connectDevice, freshToken, gatewayWithDevices, reading, useGatewayWithDevices, type Device } from './harness.js';
import { failStoreWith } from './storage-faults.js';

describe('readings refused before the pipeline are counted', () => {
  const fx = useGatewayWithDevices(1, { maxReadingBytes: 1024 });

  test('a PUBLISH over the MQTT frame cap counts once as TOO_LARGE', async () => {
    const { t, dev } = fx;
    const before = await sample(t.gw, 'originproof_readings_rejected_total{code="TOO_LARGE"}');
    const c = await connectDevice(t.gw, dev);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish(readingsTopic(dev.id), Buffer.alloc(8 * 1024, 0xa0), { qos: 1 }); // cap: 4 x 1024 + 1024
    await closed;
    await c.end().catch(() => undefined);
    expect(await sample(t.gw, 'originproof_readings_rejected_total{code="TOO_LARGE"}')).toBe(before + 1);
  });

  test('a PUBLISH on another topic counts once as TOPIC_MISMATCH; no device id or topic becomes a label', async () => {
    const { t, dev } = fx;
    const before = await sample(t.gw, 'originproof_readings_rejected_total{code="TOPIC_MISMATCH"}');
    const c = await connectDevice(t.gw, dev);
    c.client.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish(`op/v1/d/${dev.id}/evil-topic"} 1e9`, Buffer.from(await reading(dev, 1)), { qos: 1 });
    expect((await c.next()).kind).toBe('rejection');
    await closed;
    await c.end().catch(() => undefined);
    expect(await sample(t.gw, 'originproof_readings_rejected_total{code="TOPIC_MISMATCH"}')).toBe(before + 1);
    const text = await metricsText(t.gw);
    expect(text).not.toContain(dev.id);
    expect(text).not.toContain('evil-topic');
  });

  test('a frame over the cap before CONNECT is no reading: not counted', async () => {
    const { t } = fx;
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

describe('every refused CONNECT is counted', () => {
  const fx = useGatewayWithDevices(1);
  const refused = (code: string) => sample(fx.t.gw, `originproof_mqtt_connects_refused_total{code="${code}"}`);
  const tryConnect = async (opts: mqtt.IClientOptions): Promise<number> => {
    try {
      const c = await mqtt.connectAsync(plainMqttUrl(fx.t.gw), { clientId: fx.dev.id, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts });
      await c.endAsync(true);
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  };

  test('the firmware bugs refused before the token is looked at: protocol level, will, username, no token', async () => {
    const { t, dev } = fx;
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

describe('originproof_connected_devices is the devices connected', () => {
  const fx = useGatewayWithDevices(3, { mqttMaxKeepaliveS: 1 });
  const gauge = () => sample(fx.t.gw, 'originproof_connected_devices');
  const settlesAt = (n: number) => waitFor(async () => (await gauge()) === n, 4000);

  test('after an abrupt disconnect, a takeover, a keep alive timeout and a refused CONNECT, it is back to 0', async () => {
    const { t } = fx;
    const [a, b, c] = fx.devices as [Device, Device, Device];
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
    expect(await connackCode(plainMqttUrl(t.gw), a.id, await freshToken(b))).toBe(4); // bad credentials: make a new token (not any refusal)
    await sleep(50);
    expect(await gauge()).toBe(0);
    expect(t.gw.broker.aedes.connectedClients).toBe(0);
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

describe('a reading on a connection the gateway is closing is refused and counted', () => {
  const fx = useGatewayWithDevices(1);

  // closeDevice (after an UNAVAILABLE in the device's lane) closes the connection on the next turn of the event loop;
  // a PUBLISH read before that is not taken (the device resends it on its next connection, in seq order).
  test('not taken, nothing stored, originproof_mqtt_publishes_refused_total{reason="connection_closed"} counts it', async () => {
    const { t, dev } = fx;
    const c = await connectDevice(t.gw, dev);
    const size = t.gw.ledger.size();
    // The gateway decides to close just as the PUBLISH arrives: in the same turn, before aedes reads it.
    const conn = (t.gw.broker.aedes as unknown as { clients: Record<string, { conn: NodeJS.EventEmitter }> }).clients[dev.id]!.conn;
    conn.prependOnceListener('readable', () => t.gw.broker.closeDevice(dev.id));
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish(readingsTopic(dev.id), Buffer.from(await reading(dev, 1)), { qos: 1 });
    await closed;
    await c.end().catch(() => undefined);
    expect(await sample(t.gw, 'originproof_mqtt_publishes_refused_total{reason="connection_closed"}')).toBe(1);
    await new Promise((r) => setTimeout(r, 200)); // a block interval: nothing may have been appended meanwhile
    expect(await sample(t.gw, 'originproof_readings_accepted_total{kind="reading"}')).toBe(0);
    expect(t.gw.ledger.size()).toBe(size);
    expect(c.answers).toHaveLength(0);
  });
});

describe('connections not authenticated yet', () => {
  const fx = useGatewayWithDevices(0, { mqttMaxPendingConnections: 2 });

  test('the pending ones are a gauge, those dropped over mqttMaxPendingConnections a counter', async () => {
    const { t } = fx;
    const dropped = await sample(t.gw, 'originproof_mqtt_pending_connections_dropped_total');
    const socks = [];
    for (let i = 0; i < 5; i++) {
      const sock = netConnect(t.gw.mqttPort!, '127.0.0.1'); // silent: no CONNECT
      sock.on('error', () => undefined);
      await new Promise<void>((r) => sock.once('connect', () => r()));
      socks.push(sock);
    }
    expect(await waitFor(() => t.gw.broker.pending.droppedCount >= 3, 2000)).toBe(true);
    expect(await sample(t.gw, 'originproof_mqtt_pending_connections')).toBe(2);
    expect(await sample(t.gw, 'originproof_mqtt_pending_connections_dropped_total')).toBe(dropped + 3);
    for (const s of socks) s.destroy();
    expect(await waitFor(async () => (await sample(t.gw, 'originproof_mqtt_pending_connections')) === 0, 2000)).toBe(true);
    expect(await sample(t.gw, 'originproof_mqtt_pending_connections_dropped_total')).toBe(dropped + 3); // a counter: it stays
  });
});

describe('originproof_connected_devices when the gateway ends connections', () => {
  let failWrites = false;
  const wrapBackend = (inner: LedgerBackend): LedgerBackend =>
    new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBlock') {
          return async (b: BlockWrite) => {
            if (failWrites) throw new Error('EIO: i/o error (injected)');
            return target.writeBlock(b);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });

  test('a clean DISCONNECT, the connections closed by a storage recovery, and the close of the gateway: back to 0 each time', async () => {
    const { t, devices } = await gatewayWithDevices(2, {}, 'env.example', { runtime: { wrapBackend } });
    const gauge = () => sample(t.gw, 'originproof_connected_devices');
    const settlesAt = (n: number) => waitFor(async () => (await gauge()) === n, 4000);
    try {
      const [a, b] = devices as [Device, Device];
      // clean: DISCONNECT, then the socket closed
      const ca = await connectDevice(t.gw, a);
      expect(await settlesAt(1)).toBe(true);
      await ca.end();
      expect(await settlesAt(0)).toBe(true);

      // a failed write, then the store reopened: the connections from before it are closed by the gateway
      const cb = await connectDevice(t.gw, b);
      cb.client.on('error', () => undefined);
      let bClosed = false;
      cb.client.once('close', () => void (bClosed = true));
      failWrites = true;
      await failStoreWith(t.gw, a, 1, () => undefined);
      failWrites = false;
      expect(await waitFor(async () => (await t.gw.app.inject({ url: '/readyz' })).statusCode === 200, 10_000)).toBe(true);
      expect(await waitFor(() => bClosed, 5000)).toBe(true);
      expect(await settlesAt(0)).toBe(true);

      // the gateway's close: its first step after the drain, the broker's close, ends every connection (the API still up)
      const cb2 = await connectDevice(t.gw, b);
      cb2.client.on('error', () => undefined);
      expect(await settlesAt(1)).toBe(true);
      await t.gw.broker.close();
      expect(await settlesAt(0)).toBe(true);
      await cb2.end().catch(() => undefined);
    } finally {
      failWrites = false;
      await t.stop();
    }
  });
});
