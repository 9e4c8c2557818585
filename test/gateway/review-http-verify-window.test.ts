/**
 * POST /v1/verify {envelope} in the moment a block is stored and not yet counted (review-http). The envelope's REPLAY
 * check took the device's last seq from the store, which holds the block a moment before the log counts it, while
 * the lookup of the logged envelope answers from the counted log only: the very envelope being logged was told
 * REPLAY ("at or below the last accepted one, with other bytes", which tells a device to drop it; the pipeline
 * answers a resend of it with its receipt). Now it is not a replay; another envelope with its seq still is.
 * The moment is widened as in committed-reads.test.ts (the block write's continuation held).
 * Earlier still, a reading admitted by the pipeline and on its way into a block is not in the store at all: another
 * envelope with its seq passed the claims check where the pipeline answers it REPLAY. The check now takes the
 * pipeline's admitted seqs (Pipeline.admitted) as well (the block write held before it reaches the store).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlockWriteHold } from './block-hold.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { toBase64 } from '../../protocol/index.js';
import { Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

type Verdict = { valid: boolean; checks: { name: string; status: string; code?: string }[]; record?: { index?: number } };

describe('review-http: POST /v1/verify while the envelope\'s block is stored and not yet counted', () => {
  let t: TestGateway;
  let gw: RunningGateway;
  let dev: Device;
  /** Block writes held at the store: `after` stored, not yet counted; `before` on their way, not stored. */
  const holds = new BlockWriteHold();

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 }, undefined, { wrapBackend: holds.wrap });
    gw = t.gw;
    const agency = await pki.agency('psb.example');
    dev = await pki.device(agency);
    await register(gw, agency, [dev]);
  }, 60_000);
  afterAll(() => t.stop());

  const verify = async (envelope: Uint8Array) =>
    (await gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(envelope) } })).json() as Verdict;
  const claims = (v: Verdict) => v.checks.find((c) => c.name === 'claims')!;

  test('the very envelope is not REPLAY (not yet valid either); another with its seq is REPLAY; once counted, valid', async () => {
    let release!: () => void;
    holds.after = new Promise((r) => (release = r));
    const inWindow = new Promise<void>((r) => (holds.entered = r));
    const envelope = await reading(dev, 1);
    const other = await reading(dev, 1, { body: { kind: 'sensor', type: 'humidity', value: 40, scale: 0, unit: '%RH' } });
    const outcome = gw.pipeline.process(dev.id, envelope, Date.now());
    await inWindow;
    let during: Verdict;
    let otherDuring: Verdict;
    try {
      during = await verify(envelope);
      otherDuring = await verify(other);
    } finally {
      holds.after = null;
      release();
    }
    expect([claims(during).status, claims(during).code]).toEqual(['pass', undefined]); // was fail REPLAY
    expect(during.valid).toBe(false); // not proven in the log yet
    expect([claims(otherDuring).status, claims(otherDuring).code]).toEqual(['fail', 'REPLAY']);
    const done = await outcome;
    if (!done.ok) throw new Error(`expected a receipt, got ${done.error.code}`);
    const after = await verify(envelope);
    expect([after.valid, after.record?.index]).toEqual([true, done.receipt.index]);
    expect(claims(await verify(other)).code).toBe('REPLAY');
  });

  test('admitted and on its way into a block, not stored yet: another envelope with its seq is REPLAY, as the pipeline says', async () => {
    let release!: () => void;
    holds.before = new Promise((r) => (release = r));
    const inWindow = new Promise<void>((r) => (holds.entered = r));
    const envelope = await reading(dev, 2);
    const other = await reading(dev, 2, { body: { kind: 'sensor', type: 'humidity', value: 41, scale: 0, unit: '%RH' } });
    const outcome = gw.pipeline.process(dev.id, envelope, Date.now());
    await inWindow;
    let during: Verdict;
    let otherDuring: Verdict;
    let pipelineSays: string;
    try {
      during = await verify(envelope);
      otherDuring = await verify(other);
      const o = await gw.pipeline.process(dev.id, other, Date.now());
      pipelineSays = o.ok ? 'receipt' : o.error.code;
    } finally {
      holds.before = null;
      release();
    }
    expect(pipelineSays).toBe('REPLAY');
    expect([claims(otherDuring).status, claims(otherDuring).code]).toEqual(['fail', 'REPLAY']); // was pass
    expect([claims(during).status, claims(during).code, during.valid]).toEqual(['pass', undefined, false]);
    const done = await outcome;
    if (!done.ok) throw new Error(`expected a receipt, got ${done.error.code}`);
    expect((await verify(envelope)).valid).toBe(true);
  });
});
