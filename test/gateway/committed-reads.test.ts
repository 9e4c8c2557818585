/**
 * Reads answer from the committed log only (ledger/queries.ts `uncommitted`). LevelDB holds a block, and its time
 * and device indexes, a moment before the ledger counts it (committedSize is set once the write resolved); that
 * moment is widened here by holding the write's continuation (GatewayRuntime.wrapBackend, below the fail-stop layer).
 * Found by review: in it, the time, device and latest queries listed an entry that /v1/entries/N, its bundle and
 * POST /v1/verify answered 404, and /v1/blocks and /v1/checkpoints served a block /v1/log did not count yet.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlockWriteHold } from './block-hold.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { toBase64 } from '../../protocol/index.js';
import { gatewayWithDevices, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

type Page = { entries: { index: number }[]; next: unknown };

describe('reads in the moment a block is stored and not yet counted', () => {
  let t: TestGateway;
  let gw: RunningGateway;
  let dev: Device;
  /** Block writes held at the store: `after` stored, not yet counted; `before` on their way, not stored. */
  const holds = new BlockWriteHold();
  const get = (url: string) => gw.app.inject({ method: 'GET', url });

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 }, undefined, { wrapBackend: holds.wrap });
    gw = t.gw;
    const agency = await pki.agency('psb.example');
    dev = await pki.device(agency);
    await register(gw, agency, [dev]);
  }, 60_000);
  afterAll(() => t.stop());

  test('nothing lists, serves or vouches for the stored block until it is counted; then all do', async () => {
    let release!: () => void;
    holds.after = new Promise((r) => (release = r));
    const inWindow = new Promise<void>((r) => (holds.entered = r));
    const envelope = await reading(dev, 1);
    const outcome = gw.pipeline.process(dev.id, envelope, Date.now());
    await inWindow;
    const size = gw.ledger.size();
    const height = gw.ledger.ledger.height;
    const range = `/v1/entries?fromMs=0&toMs=${Date.now() + 60_000}&limit=1000`;
    try {
      const byTime = (await get(range)).json() as Page;
      expect(byTime.entries.every((e) => e.index < size)).toBe(true);
      expect(((await get(`/v1/devices/${dev.id}/entries`)).json() as Page).entries).toEqual([]);
      expect(((await get(`/v1/devices/${dev.id}/latest`)).json() as Page).entries).toEqual([]);
      expect((await get(`/v1/blocks/${height + 1}`)).statusCode).toBe(404);
      expect((await get(`/v1/checkpoints/${size + 1}`)).statusCode).toBe(404);
      expect((await get(`/v1/entries/${size}`)).statusCode).toBe(404);
      // not logged as far as anyone can prove yet: a verdict, not a 404
      const verdict = await gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(envelope) } });
      expect(verdict.statusCode).toBe(200);
    } finally {
      holds.after = null;
      release();
    }
    const done = await outcome;
    if (!done.ok) throw new Error(`expected a receipt, got ${done.error.code}`);
    expect(done.receipt.index).toBe(size);
    expect(((await get(range)).json() as Page).entries.map((e) => e.index)).toContain(size);
    expect(((await get(`/v1/devices/${dev.id}/entries`)).json() as Page).entries.map((e) => e.index)).toEqual([size]);
    expect(((await get(`/v1/devices/${dev.id}/latest`)).json() as Page).entries.map((e) => e.index)).toEqual([size]);
    expect((await get(`/v1/blocks/${height + 1}`)).statusCode).toBe(200);
    expect((await get(`/v1/checkpoints/${size + 1}`)).statusCode).toBe(200);
    expect((await get(`/v1/entries/${size}/bundle`)).statusCode).toBe(200);
    const verdict = await gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(envelope) } });
    expect([verdict.statusCode, verdict.json().valid]).toEqual([200, true]);
  });
});

describe('bundle at a given tree size', () => {
  let t: TestGateway;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(1, { blockMaxMs: 5 });
    t = fx.t;
    for (let s = 1; s <= 3; s++) await t.gw.pipeline.process(fx.devices[0]!.id, await reading(fx.devices[0]!, s), Date.now());
  }, 60_000);
  afterAll(() => t.stop());

  // Found by review: answered 422 INCLUSION_INVALID, the code of a proof that does not verify.
  test('BAD_REQUEST: a checkpoint that does not hold the entry (an earlier block\'s)', async () => {
    const last = t.gw.ledger.size() - 1; // the last block's entry; checkpoint `last` is the block before's
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/checkpoints/${last}` })).statusCode).toBe(200);
    const r = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${last}/bundle?treeSize=${last}` });
    expect([r.statusCode, r.json().code]).toEqual([400, 'BAD_REQUEST']);
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${last}/bundle?treeSize=${last + 1}` })).statusCode).toBe(200);
  });
});
