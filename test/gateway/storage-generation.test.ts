/**
 * A reading whose signature check straddles a storage failure and recovery (Pipeline.suspend/resume): it arrived
 * before the recovery, so it is refused STORAGE_UNAVAILABLE just before the append, even though the device's lane
 * was loaded. Appended instead, it would land ahead of readings refused during the failure, whose resends would then
 * look like replays (SPEC §8: the device drops a REPLAY-rejected reading, never stored).
 */
import { expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connectDevice, gatewayWithDevices, reading, testPipeline } from './harness.js';
import { readingsTopic } from '../../protocol/index.js';
import { GatewayLedger } from '../../gateway/ledger-adapter.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';
import { storageError } from '../../gateway/storage/fail-stop-backend.js';

const codeOf = (o: Outcome) => (o.ok ? 'receipt' : o.error.code);

test('a reading verified across a storage failure and recovery is STORAGE_UNAVAILABLE at the append, and nothing is logged', async () => {
  const { t, devices } = await gatewayWithDevices(1);
  const dev = devices[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'op-storage-gen-'));
  const ledger = await GatewayLedger.open(dir, { origin: 'test.local/log', signer: nodeEd25519NoteSigner('test.local/log', new Uint8Array(randomBytes(32))), blockMaxEntries: 100, blockMaxMs: 20 });
  const pool = new VerifyPool(1);
  const pipeline = testPipeline(t, pool, {}, ledger);
  try {
    const [r1, r2, r3] = await Promise.all([1, 2, 3].map((s) => reading(dev, s)));
    expect(codeOf(await pipeline.process(dev.id, r1!, Date.now()))).toBe('receipt'); // the lane is loaded (lastSeq 1)
    const size = ledger.size();
    // Reading 2 is taken, then the store fails and recovers while its signature is with the worker.
    const pending = pipeline.process(dev.id, r2!, Date.now());
    pipeline.suspend(storageError(new Error('disk full (injected)')));
    pipeline.resume();
    expect(codeOf(await pending)).toBe('STORAGE_UNAVAILABLE');
    expect(ledger.size()).toBe(size);
    expect(await ledger.findBySeq(dev.id, 2)).toBeUndefined();
    // Resent after the recovery, it is receipted, and the next one after it.
    expect(codeOf(await pipeline.process(dev.id, r2!, Date.now()))).toBe('receipt');
    expect(codeOf(await pipeline.process(dev.id, r3!, Date.now()))).toBe('receipt');
  } finally {
    await pool.close();
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
    await t.stop();
  }
});

test('a connection from before a storage recovery that publishes is closed, its reading not taken; after reconnecting it is', async () => {
  const { t, devices } = await gatewayWithDevices(1);
  const dev = devices[0]!;
  try {
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    expect((await c.next()).kind).toBe('receipt');
    const size = t.gw.ledger.size();
    // The pipeline recovers (a new connection epoch); the broker's own sweep of stale connections is left out here,
    // so that only the check on each PUBLISH stands between this connection and the pipeline.
    t.gw.pipeline.suspend(storageError(new Error('disk full (injected)')));
    t.gw.pipeline.resume();
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stale connection was not closed within 5 s')), 5000);
      c.client.once('close', () => (clearTimeout(timer), resolve()));
    });
    c.client.publish(readingsTopic(dev.id), Buffer.from(await reading(dev, 2)), { qos: 1 });
    await closed;
    await new Promise((r) => setTimeout(r, 200)); // a block interval: nothing may have been appended meanwhile
    expect(c.answers).toHaveLength(1);
    expect(t.gw.ledger.size()).toBe(size);
    // counted, though it carries no code: not a rejection, the device keeps it
    const metrics = (await t.gw.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^originproof_mqtt_publishes_refused_total\{reason="stale_connection"\} 1$/m);
    expect(metrics).toMatch(/^originproof_mqtt_publishes_refused_total\{reason="connection_closed"\} 0$/m);
    await c.end();
    const again = await connectDevice(t.gw, dev);
    await again.publish(await reading(dev, 2));
    expect((await again.next()).kind).toBe('receipt');
    await again.end();
  } finally {
    await t.stop();
  }
});
