// The LevelDB device index (ledger/device-index.ts): rows of recent blocks in memory and in one record per block,
// merged into per-device runs now and then. Small merge thresholds make every path run: queries across the
// overlay and the runs, merges of ascending seqs, of seqs that go back (overlapping runs are rewritten), repeated
// (device, seq) pairs (the later entry wins), runs split at RUN_ROWS, and reopening with unmerged rows.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { RUN_ROWS } from '../../ledger/device-index.js';
import { P_DEVICE, P_DEVICE_ROWS } from '../../ledger/keys.js';
import { verifyLedger } from '../../ledger/verify.js';
import { ORIGIN, reading, signer } from './contract.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

type Model = Map<string, Map<number, { index: number; receivedAtMs: number }>>;

/** Deterministic pseudo-random numbers (the workload must be the same on every run). */
function rng(seed: number): (n: number) => number {
  let x = seed;
  return (n) => (x = (x * 1103515245 + 12345) % 2 ** 31) % n;
}

async function expectModel(ledger: Ledger, model: Model, rand: (n: number) => number): Promise<void> {
  for (const [deviceId, bySeq] of model) {
    const want = [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([seq, h]) => ({ seq, index: h.index, receivedAtMs: h.receivedAtMs }));
    expect(await ledger.lastSeq(deviceId)).toBe(want[want.length - 1]!.seq);
    const all = await ledger.entriesByDevice(deviceId, { limit: 10_000 });
    expect(all.map((e) => ({ seq: e.seq, index: e.index, receivedAtMs: e.receivedAtMs }))).toEqual(want);
    // paging with the seq cursor, from a random point
    const start = rand(want.length);
    const page = await ledger.entriesByDevice(deviceId, { after: want[start]!.seq, limit: 3 });
    expect(page.map((e) => e.seq)).toEqual(want.slice(start + 1, start + 4).map((h) => h.seq));
    const probe = want[rand(want.length)]!;
    expect((await ledger.findBySeq(deviceId, probe.seq))?.index).toBe(probe.index);
    expect(await ledger.findBySeq(deviceId, want[want.length - 1]!.seq + 1)).toBeUndefined();
    let gap = want[0]!.seq;
    while (bySeq.has(gap)) gap++;
    expect(await ledger.findBySeq(deviceId, gap)).toBeUndefined();
  }
}

async function countKeys(dir: string, prefix: number): Promise<number> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  let n = 0;
  for await (const _ of db.keys({ gte: new Uint8Array([prefix]), lt: new Uint8Array([prefix + 1]) })) n++;
  await db.close();
  return n;
}

describe('LevelDB device index', () => {
  it('equals a naive (device, seq) map across merges, seqs that go back, repeats and reopening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-devidx-'));
    dirs.push(dir);
    const deviceMerge = { rows: 60, blocks: 5 };
    const open = async () => Ledger.open({ backend: await LevelBackend.open(dir, { deviceMerge }), origin: ORIGIN, signer });
    let ledger = await open();
    const rand = rng(11);
    const model: Model = new Map();
    const next = new Map<string, number>();
    let index = 0;
    for (let b = 0; b < 40; b++) {
      const block = Array.from({ length: 1 + rand(25) }, () => {
        const deviceId = `dev-${rand(6)}`;
        // mostly ascending; sometimes a seq already used or below the device's last (overlapping runs)
        const last = next.get(deviceId) ?? 0;
        const seq = rand(10) === 0 ? rand(last + 1) : last + 1 + rand(3);
        next.set(deviceId, Math.max(last, seq));
        const e = { ...reading(seq, deviceId), receivedAtMs: 5_000 + index };
        if (!model.has(deviceId)) model.set(deviceId, new Map());
        model.get(deviceId)!.set(seq, { index, receivedAtMs: e.receivedAtMs });
        index++;
        return e;
      });
      await ledger.appendBlock(block);
      if (b % 3 === 0) await expectModel(ledger, model, rand);
      if (b % 13 === 12) {
        await ledger.close();
        ledger = await open();
        await expectModel(ledger, model, rand);
      }
    }
    await expectModel(ledger, model, rand);
    await ledger.close();
    // merges happened (runs exist) and the D records of merged blocks were deleted (fewer than `blocks` remain)
    expect(await countKeys(dir, P_DEVICE)).toBeGreaterThan(0);
    expect(await countKeys(dir, P_DEVICE_ROWS)).toBeLessThan(deviceMerge.blocks);
    const backend = await LevelBackend.open(dir);
    // Some (device, seq) are logged twice here, which the gateway never does: the index keeps the later entry only.
    // Every row it holds is right; the check that every reading is in it names the first superseded one.
    expect(await verifyLedger(backend, { workers: 0, readingsIndexed: false })).toMatchObject({ ok: true, entries: index });
    const live = new Set([...model.values()].flatMap((m) => [...m.values()].map((x) => x.index)));
    const superseded = Array.from({ length: index }, (_, i) => i).find((i) => !live.has(i))!;
    expect(superseded).toBeDefined();
    expect((await verifyLedger(backend, { workers: 0 })).problem).toMatchObject({ entry: superseded, message: `reading ${superseded} is not in the device index` });
    await backend.close();
  });

  it('a device with more than RUN_ROWS rows in one merge gets several runs; every seq is found', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-devidx-'));
    dirs.push(dir);
    const ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { deviceMerge: { rows: RUN_ROWS * 2 + 10 } }), origin: ORIGIN, signer });
    const n = RUN_ROWS * 2 + 10;
    for (let first = 0; first < n; first += 500) await ledger.appendBlock(Array.from({ length: Math.min(500, n - first) }, (_, i) => reading(first + i, 'dev-big')));
    await ledger.close();
    expect(await countKeys(dir, P_DEVICE)).toBe(3);
    const again = await Ledger.open({ backend: await LevelBackend.open(dir), origin: ORIGIN, signer });
    expect(await again.lastSeq('dev-big')).toBe(n - 1);
    for (const seq of [0, RUN_ROWS - 1, RUN_ROWS, 2 * RUN_ROWS, n - 1]) expect((await again.findBySeq('dev-big', seq))!.index).toBe(seq);
    const page = await again.entriesByDevice('dev-big', { after: RUN_ROWS - 2, limit: 4 });
    expect(page.map((e) => e.seq)).toEqual([RUN_ROWS - 1, RUN_ROWS, RUN_ROWS + 1, RUN_ROWS + 2]);
    await again.close();
  });
});
