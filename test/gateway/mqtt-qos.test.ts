/** Readings are published at QoS 1 (firmware-specs/SPEC.md §4); a QoS 2 PUBLISH is refused and stores nothing. */
import { describe, expect, test } from 'vitest';
import { connectDevice, reading, useGatewayWithDevices } from './harness.js';
import { readingsTopic } from '../../protocol/index.js';

describe('MQTT QoS of readings', () => {
  const ctx = useGatewayWithDevices(1);

  test('QoS 2: the connection is closed and the reading is not stored; QoS 1 on a new connection is receipted', async () => {
    const { t, dev } = ctx;
    const before = t.gw.ledger.size();
    const c = await connectDevice(t.gw, dev);
    const closed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
    c.client.publish(readingsTopic(dev.id), Buffer.from(await reading(dev, 1)), { qos: 2 });
    await closed;
    await c.end();
    await new Promise((r) => setTimeout(r, 300)); // more than a block interval: anything admitted would be written
    expect(t.gw.ledger.size()).toBe(before);
    const again = await connectDevice(t.gw, dev);
    await again.publish(await reading(dev, 1));
    expect((await again.next()).kind).toBe('receipt');
    await again.end();
  });
});
