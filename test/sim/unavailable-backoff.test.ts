/**
 * SPEC §8 UNAVAILABLE: "keep reading; resend after backoff"; the gateway then closes the connection. The gateway
 * accepts the reconnect (CONNACK 0) and refuses the resent reading again for as long as it cannot check readings
 * (here: no verify worker runs). A device that started its reconnect backoff afresh on every CONNACK 0 came back at
 * the first step after each refusal, for the whole outage (a fleet would hammer a gateway that is overloaded with
 * CONNECTs, each a token signature check and a durable write); the backoff grows until a receipt shows progress.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { deviceFrom, onboardDevice } from '../../device-sim/index.js';
import { entriesOf, startSimGateway, until, type SimGateway } from './helpers.js';

/**
 * No verify worker runs for `ms`: each replacement is ended as soon as it appears. Resolves once none runs, with
 * `over`, the outage's end (wrapped: an async function returning the promise itself would wait for it).
 */
async function verifyOutage(t: SimGateway, ms: number): Promise<{ over: Promise<void> }> {
  const pool = (t.gw.pipeline as unknown as { pool: { size: number; slots: { worker: Worker }[] } }).pool;
  const end = Date.now() + ms;
  const outage = (async () => {
    while (Date.now() < end) {
      const w = pool.slots[0]?.worker;
      if (w) await w.terminate();
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await until(() => pool.size === 0);
  return { over: outage };
}

describe('reconnects while the gateway refuses readings UNAVAILABLE', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway({ verifyWorkers: 1 });
  });
  afterAll(() => t.stop());

  test('back off, step after step, until a receipt comes; then the kept readings are logged once, in order', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    // random 0: each delay is half its step (100, 200, 400, ... ms)
    const d = deviceFrom(o, { reconnectMinMs: 200, reconnectMaxMs: 10_000, resendTimeoutMs: 60_000, random: () => 0 });
    const delays: number[] = [];
    d.on('reconnect-scheduled', (ms: number) => delays.push(ms));
    try {
      await d.connect();
      const seqs = [(await d.sendReading())!];
      await d.nextReceipt(seqs[0]!);
      // No verify worker for ~2.5 s: each replacement is ended as soon as it appears (its restart delay grows).
      const { over: outage } = await verifyOutage(t, 2_500);
      seqs.push((await d.sendReading())!);
      await outage;
      await until(() => d.outbox.size === 0, 20_000);
      // Each close after a refusal waited the next step, not the first one again.
      expect(delays.slice(0, 3)).toEqual([100, 200, 400]);
      expect(d.stats.rejected.REPLAY ?? 0).toBe(0);
      expect((await entriesOf(t, d.id)).map((e) => e.reading.seq)).toEqual(seqs);
    } finally {
      await d.close();
    }
  });
});

describe('a reading refused UNAVAILABLE in its lane', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway({ verifyWorkers: 1 });
  });
  afterAll(() => t.stop());

  // SPEC §8: the device is told (the rejection names the reading's seq), then the gateway closes the connection. The
  // close used to destroy the socket in the same tick as the rejection was written (corked), so it never left.
  test('the rejection reaches the device before the gateway closes the connection', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d = deviceFrom(o, { reconnectMinMs: 200, reconnectMaxMs: 1_000, resendTimeoutMs: 60_000 });
    try {
      await d.connect();
      const first = (await d.sendReading())!;
      await d.nextReceipt(first);
      const { over: outage } = await verifyOutage(t, 1_000);
      const rejected = d.nextRejection(5_000);
      const seq = (await d.sendReading())!;
      const rj = await rejected;
      expect(rj.code).toBe('UNAVAILABLE');
      expect(rj.seq).toBe(seq);
      expect(d.outbox.has(seq)).toBe(true); // kept, resent after the reconnect
      await outage;
      await d.nextReceipt(seq, 20_000);
    } finally {
      await d.close();
    }
  });
});
