/**
 * A device that reads its socket gets every answer of a burst. One block's receipts for one device are written in
 * one tick, corked (device-connections.ts); a device that resends a day of kept readings at once (SPEC §7) has up to
 * blockMaxEntries of them in one block, ~400 bytes each: more than the 256 kB a connection may hold for a device
 * that does not read (MAX_ANSWER_BACKLOG). Found by review: the cork held them all in the connection's buffer, so the
 * ones past 256 kB were dropped as if the device had stopped reading, and it had to resend them after its timeout.
 */
import { describe, expect, test } from 'vitest';
import { MAX_ANSWER_BACKLOG } from '../../gateway/mqtt/device-connections.js';
import { connectDevice, reading, useGatewayWithDevices } from './harness.js';

async function metric(text: string, name: string): Promise<number> {
  return Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
}

describe('a burst of receipts for one device in one block', () => {
  const N = 1000;
  // the block seals when its N entries are in (they arrive well within its timer): all N receipts leave in one tick
  const fx = useGatewayWithDevices(1, { blockMaxEntries: N, blockMaxMs: 2500 });

  test('a device reading its socket gets all of them; none is dropped', async () => {
    const { t, dev } = fx;
    const readings = await Promise.all(Array.from({ length: N }, (_, i) => reading(dev, i + 1)));
    const c = await connectDevice(t.gw, dev);
    let bytes = 0;
    c.client.on('message', (_topic, payload) => (bytes += payload.length));
    await Promise.all(readings.map((r) => c.publish(r)));
    const answers = [];
    for (let i = 0; i < N; i++) {
      const a = await c.next().catch(() => null);
      if (!a) break;
      answers.push(a);
    }
    const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(t.gw.ledger.size()).toBeGreaterThanOrEqual(N);
    expect((bytes / answers.length) * N).toBeGreaterThan(MAX_ANSWER_BACKLOG); // the burst is over the cap
    expect(await metric(metrics, 'originproof_mqtt_answers_dropped_total{reason="connection"}')).toBe(0);
    expect(new Set(answers.map((a) => (a.kind === 'receipt' ? a.receipt.seq : -1)))).toEqual(new Set(readings.map((_, i) => i + 1)));
    await c.end();
  }, 60_000);
});
