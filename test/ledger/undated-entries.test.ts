// An entry submitted without receivedAtMs is dated by its block (BlockWrite.timeMs: "receivedAtMs of the entries that
// have none"). When another entry of the block is dated after the ledger's clock, the block's time is that later
// time: the entry's own bytes, its receipt and the time and device indexes must all say the same time, or the
// receipt does not rebuild the entry (leaf hash) and `ledger verify` fails an honestly written log.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { decodeBlockHeader } from '../../protocol/bundle.js';
import { decodeLogEntry, leafHash } from '../../protocol/log-entry.js';
import { ORIGIN, signer } from './contract.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('entries without receivedAtMs', () => {
  it('are dated as their block everywhere when another entry is dated after the clock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-undated-'));
    dirs.push(dir);
    const backend = await LevelBackend.open(dir);
    const ledger = await Ledger.open({ backend, origin: ORIGIN, signer, clock: () => 1_000 });
    const results = await ledger.appendBlock([
      { type: 1, payload: new Uint8Array([1]), certRef: new Uint8Array(32).fill(1), receivedAtMs: 5_000, deviceId: 'dev-a', seq: 1 },
      { type: 3, payload: new Uint8Array([2]), certRef: new Uint8Array(32).fill(2) },
      { type: 1, payload: new Uint8Array([3]), certRef: new Uint8Array(32).fill(1), deviceId: 'dev-a', seq: 2 },
    ]);
    const header = decodeBlockHeader((await ledger.blockHeaderBytes(0))!);
    expect(header.timeMs).toBe(5_000);
    for (const r of results) {
      const bytes = (await ledger.getEntry(r.index))!;
      expect(leafHash(bytes)).toEqual(r.leafHash);
      expect(decodeLogEntry(bytes).receivedAtMs).toBe(r.receivedAtMs);
      expect(r.receivedAtMs).toBeLessThanOrEqual(header.timeMs);
    }
    const at = results.map((r) => r.receivedAtMs);
    // The time index and the device index list each entry at the time its bytes carry.
    const byTime = await ledger.entriesByTime({ fromMs: 0, toMs: 10_000 });
    expect(byTime.map((e) => [e.index, e.receivedAtMs])).toEqual([...results].sort((a, b) => a.receivedAtMs - b.receivedAtMs || a.index - b.index).map((r) => [r.index, r.receivedAtMs]));
    for (const e of byTime) expect(decodeLogEntry(e.entry).receivedAtMs).toBe(e.receivedAtMs);
    expect((await ledger.entriesByDevice('dev-a')).map((e) => e.receivedAtMs)).toEqual([at[0], at[2]]);
    expect(await verifyLedger(backend, { workers: 0 })).toMatchObject({ ok: true, entries: 3 });
    await ledger.close();
  });
});
