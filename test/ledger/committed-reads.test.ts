// The store holds a block (and indexes it) a moment before the ledger counts it: its write has committed in LevelDB,
// the continuation that sets the ledger's size has not run yet (ledger/queries.ts `uncommitted`). Every read must
// answer from the committed log only. The moment is held open here by a pass-through backend whose writeBlock
// resolves only when the test says so (the LevelDB write itself has completed).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LedgerBackend } from '../../ledger/backend.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { ORIGIN, reading, revocation, signer } from './contract.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** The real backend; writeBlock resolves once the store has the block and `release` was called. */
function held(inner: LedgerBackend): { backend: LedgerBackend; stored: () => Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let stored!: () => void;
  const storedP = new Promise<void>((r) => (stored = r));
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'writeBlock') {
        return async (b: Parameters<LedgerBackend['writeBlock']>[0]) => {
          await target.writeBlock(b);
          if (b.height > 0) {
            stored();
            await gate;
          }
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { backend, stored: () => storedP, release };
}

describe('a block the store holds and the ledger does not count yet', () => {
  it('is in no read: entries, device and time queries, registry type index, revocations, headers, checkpoints', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-ledger-held-'));
    dirs.push(dir);
    const h = held(await LevelBackend.open(dir));
    const ledger = await Ledger.open({ backend: h.backend, origin: ORIGIN, signer });
    await ledger.appendBlock([reading(0), revocation(1)]);
    const pending = ledger.appendBlock([reading(2), revocation(3), { type: 3, payload: new Uint8Array([3]), receivedAtMs: 1_004 }]);
    await h.stored();
    expect(ledger.size).toBe(2);
    expect(await ledger.getEntry(2)).toBeUndefined();
    expect((await ledger.entriesByDevice('dev-a')).map((e) => e.index)).toEqual([0]);
    expect((await ledger.latestByDevice('dev-a')).map((e) => e.index)).toEqual([0]);
    expect(await ledger.findBySeq('dev-a', 2)).toBeUndefined();
    expect((await ledger.entriesByTime({ fromMs: 0, toMs: 10_000 })).map((e) => e.index)).toEqual([0, 1]);
    expect(await ledger.indexesByType(4)).toEqual([1]);
    expect(await ledger.indexesByType(3)).toEqual([]);
    expect((await ledger.revocationLog()).map((r) => r.index)).toEqual([1]);
    expect(await ledger.blockHeader(1)).toBeUndefined();
    expect(await ledger.checkpoint(5)).toBeUndefined();
    expect(await ledger.blockForIndex(2)).toBeUndefined();
    h.release();
    await pending;
    expect(await ledger.indexesByType(4)).toEqual([1, 3]);
    expect(await ledger.indexesByType(3)).toEqual([4]);
    await ledger.close();
  });
});
