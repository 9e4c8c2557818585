import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice, type Device } from '../../device-sim/index.js';
import { entriesOf, startSimGateway, until, type SimGateway } from './helpers.js';

describe('resend after a gateway restart', () => {
  let t: SimGateway;
  let d: Device;
  beforeAll(async () => {
    t = await startSimGateway();
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    d = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 500 });
    await d.connect();
  });
  afterAll(async () => {
    await d.close();
    await t.stop();
  });

  test('a reading whose receipt was lost is resent on reconnect and gets its original receipt; the log holds it once', async () => {
    const s0 = (await d.sendReading())!;
    await d.nextReceipt(s0);
    d.dropReceipts = true; // the receipt of the next reading is lost on the way
    const s1 = (await d.sendReading())!;
    await until(async () => (await entriesOf(t, d.id)).some((e) => e.reading.seq === s1));
    const logged = (await entriesOf(t, d.id)).find((e) => e.reading.seq === s1)!;
    expect(d.outbox.has(s1)).toBe(true);

    await t.restart(); // same data dir, same ports
    d.dropReceipts = false;
    const receipt = await d.nextReceipt(s1, 15_000);
    expect(receipt.index).toBe(logged.index);
    expect(d.outbox.size).toBe(0);
    expect(d.stats.resent).toBeGreaterThanOrEqual(1);
    expect(d.stats.receiptInvalid).toBe(0);
    const all = await entriesOf(t, d.id);
    expect(all.filter((e) => e.reading.seq === s1)).toHaveLength(1);
    expect(all.map((e) => e.reading.seq)).toEqual([s0, s1]);
  });

  test('a reading made while the gateway is down is kept and sent after the reconnect', async () => {
    await t.gw.close();
    await until(() => !d.isConnected);
    const s2 = (await d.sendReading())!;
    expect(d.outbox.has(s2)).toBe(true);
    await t.restart();
    const r = await d.nextReceipt(s2, 15_000);
    expect(r.seq).toBe(s2);
    expect((await entriesOf(t, d.id)).filter((e) => e.reading.seq === s2)).toHaveLength(1);
  });
});
