/**
 * A verify worker that dies inside a running gateway (defect: the dead worker stayed in the pool, the readings it
 * held were never answered, its device's lane stalled and close() never finished). The worker is crashed for real:
 * a message its handler cannot take throws inside the worker thread (uncaught: 'error', then 'exit').
 */
import { describe, expect, test } from 'vitest';
import { rm } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { gatewayWithDevices, connectDevice, reading, testPipeline } from './harness.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';

const threads = (p: VerifyPool) => (p as unknown as { slots: { worker: Worker }[] }).slots.map((s) => s.worker);
const crash = (w: Worker) => w.postMessage({ id: 0, count: -1, packed: new ArrayBuffer(0) });
const exited = (w: Worker) => new Promise((r) => w.once('exit', r));
const within = <T,>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);
const codeOf = (o: Outcome) => (o.ok ? (o.resent ? 'resent receipt' : 'receipt') : o.error.code);

describe('a verify worker that dies', () => {
  test('in a running gateway: later readings of every device are receipted, close() finishes', async () => {
    const { t, devices } = await gatewayWithDevices(2, { verifyWorkers: 2 });
    const [a, b] = devices as [(typeof devices)[0], (typeof devices)[0]];
    try {
      const ca = await connectDevice(t.gw, a);
      const cb = await connectDevice(t.gw, b);
      await ca.publish(await reading(a, 1));
      expect((await ca.next()).kind).toBe('receipt');
      const pool = (t.gw.pipeline as unknown as { pool: VerifyPool }).pool;
      const doomed = threads(pool)[0]!;
      const gone = exited(doomed);
      crash(doomed);
      await gone;
      for (const seq of [2, 3]) await ca.publish(await reading(a, seq));
      await cb.publish(await reading(b, 1));
      const answers = [await ca.next(), await ca.next(), await cb.next()];
      expect(answers.map((x) => (x.kind === 'receipt' ? x.receipt.seq : x.rejection.code))).toEqual([2, 3, 1]);
      expect(pool.size).toBe(2);
      expect(pool.restarts).toBe(1);
      const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^originproof_verify_workers_lost_total 1$/m);
      expect(metrics).toMatch(/^originproof_verify_workers 2$/m);
      await ca.end();
      await cb.end();
      await within(t.gw.close(), 5000, 'gateway.close()');
      expect(pool.size).toBe(0);
    } finally {
      await t.gw.close();
      await rm(t.dir, { recursive: true, force: true });
    }
  }, 60_000);

  test('the reading it held is checked again and receipted (stored once), the lane goes on, drain() finishes', async () => {
    const { t, devices } = await gatewayWithDevices(1);
    const dev = devices[0]!;
    // The gateway's registry and ledger, a pipeline over a one-worker pool with batch size 1: a reading's signature
    // check is posted to the worker as the reading is taken, so it is queued behind the crashing message.
    const pool = new VerifyPool(1, 1);
    const pipeline = testPipeline(t, pool);
    try {
      const r1 = await reading(dev, 1);
      const r2 = await reading(dev, 2);
      const doomed = threads(pool)[0]!;
      crash(doomed);
      const o1 = await within(pipeline.process(dev.id, r1, Date.now()), 5000, 'the held reading');
      expect(codeOf(o1)).toBe('receipt');
      expect(pool.restarts).toBe(1);
      expect(codeOf(await pipeline.process(dev.id, r2, Date.now()))).toBe('receipt');
      expect(codeOf(await pipeline.process(dev.id, r1, Date.now()))).toBe('resent receipt');
      expect(await t.gw.ledger.lastSeq(dev.id)).toBe(2);
      // A second crash soon after, with a reading in flight while draining: the replacement waits (RESTART_MIN_MS)
      // and no other worker runs, so the reading is answered UNAVAILABLE (the device resends); drain() finishes.
      crash(threads(pool)[0]!);
      const r3 = pipeline.process(dev.id, await reading(dev, 3), Date.now());
      await within(pipeline.drain(() => t.gw.ledger.flush()), 5000, 'drain()');
      expect(codeOf(await r3)).toBe('UNAVAILABLE');
    } finally {
      await pool.close();
      await t.stop();
    }
  }, 60_000);
});
