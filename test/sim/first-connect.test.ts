/**
 * SPEC §4: a refused CONNECT (CONNACK 3) or an unreachable gateway means keep every reading and connect again after
 * a backoff. That holds for a device's first connection too, at boot; before, connect() rejected and the device
 * never tried again, and a fleet left such a device out for the whole run.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { ConnackRefused, deviceFrom, onboardDevice, runFleet, type Device } from '../../device-sim/index.js';
import { entriesOf, startSimGateway, until, type SimGateway } from './helpers.js';

let t: SimGateway | null = null;
const devices: Device[] = [];
afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
  await t?.stop();
  t = null;
});

async function newDevice(g: SimGateway): Promise<Device> {
  const d = deviceFrom(await onboardDevice(g.agency, { gateway: g.endpoint, kind: 'water-meter' }), { reconnectMinMs: 100, reconnectMaxMs: 400 });
  devices.push(d);
  return d;
}

describe('connect() while an attempt is in flight', () => {
  test('joins it: one connection, not two under the same client id', async () => {
    t = await startSimGateway();
    const d = await newDevice(t);
    await Promise.all([d.connect(), d.connect()]);
    await new Promise((r) => setTimeout(r, 500)); // a second connection would have replaced the first by now
    expect(d.isConnected).toBe(true);
    expect(d.stats.connects).toBe(1);
  });
});

describe('a first connection that fails is tried again', () => {
  test('CONNACK 3 at boot (the gateway holds its most connections): the device keeps its reading and connects once a slot is free', async () => {
    t = await startSimGateway({ mqttMaxConnections: 1 });
    const a = await newDevice(t);
    const b = await newDevice(t);
    await a.connect();
    const err = await b.connect().then(() => null, (e: unknown) => e);
    expect(err instanceof ConnackRefused && err.code).toBe('CONNACK_SERVER_UNAVAILABLE');
    const seq = (await b.sendReading())!;
    expect(b.outbox.has(seq)).toBe(true);
    const receipt = b.nextReceipt(seq, 10_000);
    await a.close(); // a slot is free
    expect((await receipt).seq).toBe(seq);
    expect(b.isConnected).toBe(true);
    expect(b.stats.connects).toBe(1);
    expect((await entriesOf(t, b.id)).map((e) => e.reading.seq)).toEqual([seq]);
  });

  test('the gateway down at boot: connect() rejects (not a CONNACK), the device connects once the gateway is up', async () => {
    t = await startSimGateway();
    const d = await newDevice(t);
    await t.gw.close();
    const err = await d.connect().then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    await t.restart(); // same ports
    await until(() => d.isConnected, 10_000);
    const seq = (await d.sendReading())!;
    expect((await d.nextReceipt(seq)).seq).toBe(seq);
  });

  test('close() after a failed first attempt stops the retries', async () => {
    t = await startSimGateway();
    const d = await newDevice(t);
    await t.gw.close();
    let scheduled = 0;
    d.on('reconnect-scheduled', () => scheduled++);
    await d.connect().catch(() => undefined);
    expect(scheduled).toBe(1);
    await d.close();
    await t.restart();
    await new Promise((r) => setTimeout(r, 600)); // past the first retry's delay (< 100 ms)
    expect(d.isConnected).toBe(false);
    expect(d.stats.connects).toBe(0);
  });

  test('runFleet: devices whose gateway was down when the run started join it once it is up; all their readings are receipted', async () => {
    t = await startSimGateway();
    const fleet = [await newDevice(t), await newDevice(t)];
    await t.gw.close();
    const g = t;
    const s = await runFleet({ devices: fleet, rate: 20, durationMs: 2_500, drainMs: 10_000, events: [{ atMs: 300, run: () => g.restart() }] });
    expect(s.connectFailures).toEqual({ CONNECT_ERROR: 2 });
    expect(s.connected).toBe(2);
    expect(s.sent).toBeGreaterThan(10);
    expect(s.receipted).toBe(s.sent);
    expect(s.pending).toBe(0);
    expect(s.rejected).toEqual({});
    for (const d of fleet) expect(d.stats.receipted).toBeGreaterThan(0);
  });
});
