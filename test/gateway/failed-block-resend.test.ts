/**
 * A block that fails for a reason other than the store (here: the checkpoint signer refuses once; also #prepare
 * throwing, or a write during shutdown). The pipeline used to roll a device's last accepted seq back per reading,
 * to the value before that reading: with readings 5 and 6 of one device in the failed block it ended at 5, so the
 * resend of 5 got REPLAY and the device (SPEC §8) dropped a reading that was never stored.
 */
import { expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gatewayWithDevices, reading, testPipeline } from './harness.js';
import { GatewayLedger } from '../../gateway/ledger-adapter.js';
import type { Outcome } from '../../gateway/pipeline.js';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';

const codeOf = (o: Outcome) => (o.ok ? (o.resent ? 'resent receipt' : 'receipt') : o.error.code);

test('readings 5 and 6 of one device in a block that fails: both are resent and receipted, each stored once', async () => {
  const { t, devices } = await gatewayWithDevices(1);
  const dev = devices[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'op-failed-block-'));
  const real = nodeEd25519NoteSigner('test.local/log', new Uint8Array(randomBytes(32)));
  let signs = 0;
  // The real signer, refusing its first checkpoint (an HSM that is busy): a block that fails, store untouched.
  const refusingOnce = { ...real, sign: (m: Uint8Array) => (++signs === 1 ? (() => { throw new Error('HSM busy (injected)'); })() : real.sign(m)) };
  const ledger = await GatewayLedger.open(dir, { origin: 'test.local/log', signer: refusingOnce, blockMaxEntries: 100, blockMaxMs: 50 });
  const pool = new VerifyPool(1);
  const pipeline = testPipeline(t, pool, {}, ledger);
  try {
    const [r4, r5, r6, r7] = await Promise.all([4, 5, 6, 7].map((s) => reading(dev, s)));
    expect(codeOf(await pipeline.process(dev.id, r4!, Date.now()))).toBe('UNAVAILABLE'); // block 1 refused: signs 1
    expect(ledger.size()).toBe(0);
    expect(codeOf(await pipeline.process(dev.id, r4!, Date.now()))).toBe('receipt');
    signs = 0; // the next block fails again
    // 5 and 6 go into the same block (taken together, 50 ms block window), which fails.
    const first = await Promise.all([pipeline.process(dev.id, r5!, Date.now()), pipeline.process(dev.id, r6!, Date.now())]);
    expect(first.map(codeOf)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
    expect(first.map((o) => (o.ok ? null : o.seq))).toEqual([5, 6]);
    expect(await ledger.findBySeq(dev.id, 5)).toBeUndefined();
    expect(await ledger.findBySeq(dev.id, 6)).toBeUndefined();
    const sizeBefore = ledger.size();
    // The device keeps both and resends them unchanged, in seq order (SPEC §7): both new receipts, no REPLAY.
    const again5 = await pipeline.process(dev.id, r5!, Date.now());
    const again6 = await pipeline.process(dev.id, r6!, Date.now());
    expect([codeOf(again5), codeOf(again6)]).toEqual(['receipt', 'receipt']);
    expect(ledger.size()).toBe(sizeBefore + 2);
    // A second resend of each gets its original receipt; nothing is stored twice.
    const third = await Promise.all([pipeline.process(dev.id, r5!, Date.now()), pipeline.process(dev.id, r6!, Date.now())]);
    expect(third.map(codeOf)).toEqual(['resent receipt', 'resent receipt']);
    expect(third.map((o) => (o.ok ? o.receipt.index : -1))).toEqual([again5, again6].map((o) => (o.ok ? o.receipt.index : -2)));
    expect(codeOf(await pipeline.process(dev.id, r7!, Date.now()))).toBe('receipt');
    expect(ledger.size()).toBe(sizeBefore + 3);
    expect(await ledger.lastSeq(dev.id)).toBe(7);
    // A different reading with a stored seq is still a REPLAY.
    expect(codeOf(await pipeline.process(dev.id, await reading(dev, 6, { iat: Math.floor(Date.now() / 1000) - 100 }), Date.now()))).toBe('REPLAY');
  } finally {
    await pool.close();
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
    await t.stop();
  }
});

test('a resend that came while the failed block was on its way gets its rejection; one after it is receipted, then the next seq', async () => {
  const { t, devices } = await gatewayWithDevices(1);
  const dev = devices[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'op-failed-block-'));
  const real = nodeEd25519NoteSigner('test.local/log', new Uint8Array(randomBytes(32)));
  let refuse = true;
  const refusing = { ...real, sign: (m: Uint8Array) => (refuse ? (() => { refuse = false; throw new Error('HSM busy (injected)'); })() : real.sign(m)) };
  const ledger = await GatewayLedger.open(dir, { origin: 'test.local/log', signer: refusing, blockMaxEntries: 100, blockMaxMs: 50 });
  const pool = new VerifyPool(0);
  const pipeline = testPipeline(t, pool, {}, ledger);
  try {
    const [r1, r2] = await Promise.all([1, 2].map((s) => reading(dev, s)));
    // 1 and 2 in the failing block; a resend of 1 while they are on their way waits for 1's answer (the same
    // rejection); a resend of 1 after the failure must not be judged against the lane's stale seq 2.
    const p1 = pipeline.process(dev.id, r1!, Date.now());
    const p2 = pipeline.process(dev.id, r2!, Date.now());
    const follower = pipeline.process(dev.id, r1!, Date.now());
    const o1 = await p1;
    const late = pipeline.process(dev.id, r1!, Date.now());
    expect([codeOf(o1), codeOf(await p2), codeOf(await follower)]).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    expect(codeOf(await late)).toBe('receipt');
    expect(codeOf(await pipeline.process(dev.id, r2!, Date.now()))).toBe('receipt');
    expect(ledger.size()).toBe(2);
  } finally {
    await pool.close();
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
    await t.stop();
  }
});
