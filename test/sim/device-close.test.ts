/**
 * Device.close() ends a connection attempt in flight (connect() or a reconnect) and waits for it: once close() has
 * resolved the device is not connected and never connects again by itself.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DeviceClosed, deviceFrom, onboardDevice, type Device } from '../../device-sim/index.js';
import type { DeviceLink } from '../../device-sim/link.js';
import { startSimGateway, until, type SimGateway } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The device's connection (device-sim/link.ts), which the stages below watch. */
const linkOf = (d: Device) => (d as unknown as { link: DeviceLink }).link;
const gatewayClient = (t: SimGateway, id: string) => (t.gw.broker.aedes as unknown as { clients: Record<string, { close(): void }> }).clients[id];

/** Watches a device for connections made after a point in time. */
function connectsAfter(d: Device): { readonly count: number } {
  let count = 0;
  d.on('connected', () => count++);
  return { get count() { return count; } };
}

describe('Device.close during a connection attempt', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway();
  });
  afterAll(() => t.stop());

  // close() lands at each await of a reconnect attempt: making the connect token, waiting for the CONNACK, waiting
  // for the SUBACK (staged by watching the gateway and the device; a stage missed because the attempt went too fast
  // is tried again).
  const stages: [string, (t: SimGateway, d: Device) => boolean][] = [
    ['the reconnect timer fired (connect token)', () => true],
    ['the gateway holds the TCP connection (CONNECT/CONNACK)', (t) => t.gw.broker.pending.size > 0],
    ['connected, SUBSCRIBE not answered yet', (_t, d) => linkOf(d).client !== null],
  ];
  test.each(stages)('close() while a reconnect is in flight (%s): the device stays closed', async (_name, reached) => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d = deviceFrom(o, { reconnectMinMs: 20, reconnectMaxMs: 20 });
    await d.connect();
    let staged = false;
    for (let attempt = 0; attempt < 50 && !staged; attempt++) {
      // the gateway drops the connection: the device schedules a reconnect, whose timer fires
      const gone = new Promise((r) => d.once('disconnected', r));
      gatewayClient(t, d.id)!.close();
      await gone;
      for (let i = 0; linkOf(d).reconnectScheduled; i++) {
        if (i > 100_000) throw new Error('the reconnect timer did not fire');
        await new Promise((r) => setImmediate(r));
      }
      for (let i = 0; i < 100_000 && !d.isConnected && !reached(t, d); i++) await new Promise((r) => setImmediate(r));
      staged = !d.isConnected && reached(t, d);
      if (!staged) await until(() => d.isConnected, 5000); // went too fast: try again
    }
    expect(staged).toBe(true);
    const after = connectsAfter(d);
    await d.close();
    expect(d.isConnected).toBe(false);
    await sleep(400); // many reconnect periods
    expect(d.isConnected).toBe(false);
    expect(after.count).toBe(0);
    expect(gatewayClient(t, d.id)).toBeUndefined();
    await until(() => t.gw.broker.pending.size === 0, 5000);
  });

  test('close() while connect() is still in its CONNECT: connect() rejects with DeviceClosed, and close() does not wait for a CONNACK', async () => {
    // a broker that accepts TCP and never answers: the attempt waits for its CONNACK (5 s connect timeout)
    const sockets: Socket[] = [];
    let closedSockets = 0;
    const silent: Server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.on('close', () => closedSockets++);
      s.resume(); // read (and ignore) the CONNECT
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    try {
      const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
      const d = deviceFrom(o, { mqttUrl: `mqtt://127.0.0.1:${port}`, reconnectMinMs: 20, reconnectMaxMs: 20 });
      const after = connectsAfter(d);
      const connecting = d.connect();
      const outcome = connecting.then(() => 'connected', (e: unknown) => e);
      await until(() => sockets.length === 1, 5000);
      const started = Date.now();
      await d.close();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await outcome).toBeInstanceOf(DeviceClosed);
      await until(() => closedSockets === sockets.length, 2000); // the device closed its socket
      await sleep(200);
      expect(sockets).toHaveLength(1); // no further attempt
      expect(after.count).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('close() right after connect() was called (before its CONNECT is sent): nothing reaches the gateway', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d = deviceFrom(o);
    const outcome = d.connect().then(() => 'connected', (e: unknown) => e);
    await d.close();
    expect(await outcome).toBeInstanceOf(DeviceClosed);
    await sleep(200);
    expect(d.isConnected).toBe(false);
    expect(gatewayClient(t, d.id)).toBeUndefined();
    // and a closed device may be connected again
    await d.connect();
    expect(d.isConnected).toBe(true);
    const seq = (await d.sendReading())!;
    await d.nextReceipt(seq);
    await d.close();
  });
});
