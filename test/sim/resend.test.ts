import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Worker } from 'node:worker_threads';
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

describe('resend after an outage longer than the resend timeout', () => {
  let t: SimGateway;
  beforeAll(async () => {
    // Blocks sealed every 600 ms: a receipt comes up to 0.6 s after its reading, so a second publish within that
    // time is answered twice.
    t = await startSimGateway({ blockMaxMs: 600 });
  });
  afterAll(() => t.stop());

  test('each kept reading is published once on reconnect, not again by the resend timer: no duplicate receipts', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d = deviceFrom(o, { resendTimeoutMs: 2_000, reconnectMinMs: 100, reconnectMaxMs: 500 });
    try {
      await d.connect();
      await t.gw.close();
      await until(() => !d.isConnected);
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await d.sendReading())!);
      await new Promise((r) => setTimeout(r, 2_500)); // every kept reading is now overdue
      await t.restart();
      await until(() => d.outbox.size === 0, 15_000);
      await new Promise((r) => setTimeout(r, 1_000)); // the answers to any second publish
      expect(d.stats.receipted).toBe(5);
      expect(d.stats.duplicateReceipts).toBe(0);
      expect(d.stats.resent).toBe(0); // published for the first time on reconnect, never again
      expect((await entriesOf(t, d.id)).map((e) => e.reading.seq)).toEqual(seqs);
    } finally {
      await d.close();
    }
  });
});

describe('resend after a verification outage (the gateway refuses UNAVAILABLE and closes the connection)', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway({ verifyWorkers: 1 });
  });
  afterAll(() => t.stop());

  // gateway/lane-admission.ts breakOrder with device-sim's reconnect: the readings refused while no verify worker ran are
  // resent in seq order after the reconnect, each logged once; none is answered REPLAY (a later one logged first).
  test('readings sent while no verify worker runs are all logged once, in seq order', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 400, resendTimeoutMs: 1_000 });
    try {
      await d.connect();
      const seqs = [(await d.sendReading())!];
      await d.nextReceipt(seqs[0]!);
      // The worker dies twice in a row: its replacement waits (verify-pool.ts RESTART_MIN_MS), none runs meanwhile.
      const pool = (t.gw.pipeline as unknown as { pool: { size: number; slots: { worker: Worker }[]; restart?: () => void } }).pool;
      // The test holds that replacement until a reading is refused: the 100 ms wait was all the time the first had to
      // reach the pipeline; on a loaded machine it came after the new worker, was receipted, and no connection closed.
      let restartDue = false;
      for (let i = 0; i < 2; i++) {
        if (i === 1) pool.restart = () => void (restartDue = true);
        const w = pool.slots[0]!.worker;
        const exited = new Promise((r) => w.once('exit', r));
        await w.terminate();
        await exited;
      }
      expect(pool.size).toBe(0);
      for (let i = 0; i < 3; i++) seqs.push((await d.sendReading())!);
      const unavailable = async () => Number(/^originproof_readings_rejected_total\{code="UNAVAILABLE"\} (\d+)$/m.exec((await t.gw.app.inject({ url: '/metrics' })).body)?.[1]);
      await until(async () => (await unavailable()) > 0); // refused while no worker runs
      delete pool.restart; // the pool's own again: started now if its timer fired meanwhile, else when it fires
      if (restartDue) pool.restart!();
      await until(() => pool.size === 1); // the replacement runs
      seqs.push((await d.sendReading())!); // a newer reading, before the refused ones are back
      await until(() => d.outbox.size === 0, 15_000);
      expect(d.stats.rejected.REPLAY ?? 0).toBe(0);
      expect(d.stats.connects).toBeGreaterThanOrEqual(2); // the gateway closed the connection after the refusal
      expect((await entriesOf(t, d.id)).map((e) => e.reading.seq)).toEqual(seqs);
    } finally {
      await d.close();
    }
  });
});
