/**
 * A reading refused UNAVAILABLE after it joined its device's lane (a block that failed, a verify worker outage, a
 * store read that failed) is kept by the device and resent (SPEC §8). Nothing the device sent after it may be admitted
 * first: a later reading logged first turned the resend into a REPLAY, which the device drops (found by review: a
 * reading lost for good). The readings that arrived before the refusal are refused too, and the device's connection
 * is closed, so that it reconnects and resends in seq order (SPEC §7).
 */
import { describe, expect, test } from 'vitest';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { connectDevice, gatewayWithDevices, reading, testPipeline } from './harness.js';
import { readingsTopic } from '../../protocol/topics.js';
import { GatewayLedger } from '../../gateway/ledger-adapter.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';
import { refusingSigner } from '../fixtures/refusing-signer.js';
import { HeldPool } from './held-pool.js';
import { OriginProofError } from '../../protocol/errors.js';

const codeOf = (o: Outcome) => (o.ok ? (o.resent ? 'resent receipt' : 'receipt') : o.error.code);

describe('a reading refused UNAVAILABLE in its lane', () => {
  test('the readings that arrived before the refusal are refused too, the device is told to reconnect once, and its resends in order are all logged', async () => {
    const { t, devices } = await gatewayWithDevices(1);
    const dev = devices[0]!;
    const dir = await mkdtemp(join(tmpdir(), 'op-reading-order-'));
    const real = nodeEd25519NoteSigner('test.local/log', new Uint8Array(randomBytes(32)));
    const hsm = refusingSigner(real); // holds one checkpoint signature, then refuses it: a block that fails
    const ledger = await GatewayLedger.open(dir, { origin: 'test.local/log', signer: hsm.signer, blockMaxEntries: 100, blockMaxMs: 5 });
    const pool = new VerifyPool(1);
    const broken: string[] = [];
    const pipeline = testPipeline(t, pool, { onOrderBroken: (id) => broken.push(id) }, ledger);
    try {
      const r = await Promise.all([4, 5, 6, 7].map((s) => reading(dev, s)));
      const [r4, r5, r6, r7] = r as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      expect(codeOf(await pipeline.process(dev.id, r4, Date.now()))).toBe('receipt');
      hsm.holdNext();
      const o5 = pipeline.process(dev.id, r5, Date.now());
      await hsm.signing; // 5's block is sealed and being signed
      const o6 = pipeline.process(dev.id, r6, Date.now());
      await new Promise((res) => setTimeout(res, 50)); // 6 verified and submitted: waiting for the next block
      const o7 = pipeline.process(dev.id, r7, Date.now()); // 7 in its lane, its signature in the worker
      hsm.refuse();
      expect((await Promise.all([o5, o6, o7])).map(codeOf)).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
      expect(broken).toEqual([dev.id]); // once, for the first refusal
      for (const seq of [5, 6, 7]) expect(await ledger.findBySeq(dev.id, seq)).toBeUndefined();
      // After reconnecting the device resends what it kept, in seq order: each is logged, none is a REPLAY.
      const again = [];
      for (const bytes of [r5, r6, r7]) again.push(codeOf(await pipeline.process(dev.id, bytes, Date.now())));
      expect(again).toEqual(['receipt', 'receipt', 'receipt']);
      expect(await ledger.lastSeq(dev.id)).toBe(7);
      expect(broken).toEqual([dev.id]);
    } finally {
      await pool.close();
      await ledger.close();
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  // breakOrder: a reading from before a storage recovery, refused after it, must not break the lane the device's
  // new connection has (found by review: resume() clears the lanes, whose order starts again at 0).
  test('a reading from before a storage recovery, refused after it, leaves the new lane and connection alone', async () => {
    const { t, devices } = await gatewayWithDevices(1);
    const dev = devices[0]!;
    const pool = new HeldPool(1);
    const broken: string[] = [];
    const pipeline = testPipeline(t, pool, { onOrderBroken: (id) => broken.push(id) });
    try {
      pool.holding = true;
      const o5 = pipeline.process(dev.id, await reading(dev, 5), Date.now()); // its signature check held
      pipeline.suspend(new OriginProofError('STORAGE_UNAVAILABLE', 'disk full (injected)'));
      pipeline.resume(); // the store is back: lanes forgotten, the device reconnects
      const o6 = pipeline.process(dev.id, await reading(dev, 6), Date.now()); // on its new connection
      while (pool.waiting < 2) await new Promise((r) => setTimeout(r, 5));
      pool.failOldest(new OriginProofError('UNAVAILABLE', 'verify worker died (injected)'));
      pool.release();
      expect([codeOf(await o5), codeOf(await o6)]).toEqual(['UNAVAILABLE', 'receipt']);
      expect(broken).toEqual([]);
    } finally {
      await pool.close();
      await t.stop();
    }
  });

  test('over MQTT, in a verify worker outage: the connection is closed, and after reconnecting the kept reading and the next are receipted', async () => {
    const { t, devices } = await gatewayWithDevices(1, { verifyWorkers: 1 });
    const dev = devices[0]!;
    try {
      const c = await connectDevice(t.gw, dev);
      await c.publish(await reading(dev, 4));
      expect((await c.next()).kind).toBe('receipt');
      // The worker dies twice in a row: its replacement waits (verify-pool.ts RESTART_MIN_MS), no worker runs meanwhile.
      const pool = (t.gw.pipeline as unknown as { pool: VerifyPool }).pool;
      // The test holds that replacement until 5 is refused: the 100 ms wait was all the time 5 had to reach the
      // pipeline, and on a loaded machine it came after the new worker, was receipted, and the connection stayed open.
      const held = pool as unknown as { restart?: () => void };
      let restartDue = false;
      for (let i = 0; i < 2; i++) {
        if (i === 1) held.restart = () => void (restartDue = true);
        const w = (pool as unknown as { slots: { worker: Worker }[] }).slots[0]!.worker;
        const exited = once(w, 'exit');
        await w.terminate();
        await exited;
      }
      expect(pool.size).toBe(0);
      const closed = new Promise<void>((r) => c.client.once('close', () => r()));
      const r5 = await reading(dev, 5);
      c.client.publish(readingsTopic(dev.id), Buffer.from(r5), { qos: 1 }); // its PUBACK would leave with the answer
      // the gateway closed the connection: nothing newer is taken before 5 comes back
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection was not closed')), 5000))]);
      const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^originproof_readings_rejected_total\{code="UNAVAILABLE"\} 1$/m);
      await c.end();
      delete held.restart; // the pool's own again: started now if its timer fired meanwhile, else when it fires
      if (restartDue) held.restart!();
      for (const until = Date.now() + 5000; pool.size === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10)); // the replacement worker runs
      expect(pool.size).toBe(1);
      const again = await connectDevice(t.gw, dev);
      await again.publish(r5);
      await again.publish(await reading(dev, 6));
      const answers = [await again.next(), await again.next()];
      expect(answers.map((a) => (a.kind === 'receipt' ? a.receipt.seq : a.rejection.code))).toEqual([5, 6]);
      await again.end();
    } finally {
      await t.stop();
    }
  });
});
