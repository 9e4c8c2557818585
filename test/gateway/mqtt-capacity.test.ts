/**
 * mqttMaxConnections: past it a CONNECT is refused with CONNACK 3 (server unavailable) before its token is checked,
 * counted as UNAVAILABLE, so the gateway sheds connections instead of running out of heap; a device replacing its
 * own connection is let through, and a slot freed by a disconnect is taken again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectDevice, connectsRefused, gatewayWithDevices, reading, type ConnectedDevice, type Device, type TestGateway } from './harness.js';
import { CONNACK } from '../../gateway/mqtt/connack.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connackOf(t: TestGateway, d: Device): Promise<number> {
  try {
    const c = await connectDevice(t.gw, d);
    await c.end();
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

const refusedUnavailable = (t: TestGateway) => connectsRefused(t.gw, 'UNAVAILABLE');

describe('most device connections at once (mqttMaxConnections)', () => {
  let t: TestGateway;
  let a: Device;
  let b: Device;
  let c: Device;
  beforeAll(async () => {
    const g = await gatewayWithDevices(3, { mqttMaxConnections: 2 });
    t = g.t;
    [a, b, c] = g.devices as [Device, Device, Device];
  });
  afterAll(() => t.stop());

  test('the third device gets CONNACK 3 (UNAVAILABLE) while two are connected; a reconnect of a connected device is let through; a freed slot is taken', async () => {
    const held: ConnectedDevice[] = [await connectDevice(t.gw, a), await connectDevice(t.gw, b)];
    expect(await connackOf(t, c)).toBe(CONNACK.SERVER_UNAVAILABLE);
    expect(await refusedUnavailable(t)).toBe(1);
    // a replaces its own connection (the broker closes the old one): not a new slot
    const again = await connectDevice(t.gw, a);
    held.push(again);
    expect(await refusedUnavailable(t)).toBe(1);
    // the connections held still work: a reading on the newest is receipted
    await again.publish(await reading(a, 1));
    expect((await again.next()).kind).toBe('receipt');
    await held[1]!.end(); // b goes
    let code = -1;
    for (let i = 0; i < 50 && code !== 0; i++) {
      code = await connackOf(t, c);
      if (code !== 0) await sleep(20);
    }
    expect(code).toBe(0);
    for (const h of held) await h.end().catch(() => undefined);
  });
});
