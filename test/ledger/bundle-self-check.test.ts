/**
 * The bundle self-check (ledger/bundle-self-check.ts) never fires on a whole store: every entry's bundle, proven
 * against its own block's checkpoint and against each later one, passes it, over blocks of 1 to 300 entries (a first
 * entry, trees of size 1 and 2, tile edges at 256, revocations among the readings).
 * Before the check, a false alarm here would have been a 500 on a healthy log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { openStoredCheckpoint } from '../../ledger/checkpoint-self-check.js';
import { decodeBlockHeader, encodeBlockHeader, type BlockHeader } from '../../protocol/bundle.js';
import { ORIGIN, reading, revocation, signer } from './contract.js';
import { editStoredHeader } from './entry-location.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('the bundle self-check on a whole store', () => {
  it('passes every entry against its own and every later checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-bundle-check-'));
    dirs.push(dir);
    const ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { sync: false }), origin: ORIGIN, signer });
    const sizes: number[] = [];
    for (const n of [1, 1, 2, 5, 247, 1, 300, 3]) {
      const first = ledger.size;
      await ledger.appendBlock(Array.from({ length: n }, (_, i) => ((first + i) % 37 === 5 ? revocation(first + i) : reading(first + i))));
      sizes.push(ledger.size);
    }
    let checked = 0;
    for (let index = 0; index < ledger.size; index++) {
      const own = sizes.find((s) => s > index)!;
      for (const treeSize of [undefined, ...sizes.filter((s) => s > own)]) {
        if (treeSize !== undefined && index % 7 !== 0 && treeSize !== ledger.size) continue; // a sample of the later ones
        const b = await ledger.proofBundle(index, treeSize === undefined ? {} : { treeSize });
        expect(b.treeSize).toBe(treeSize ?? own);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(ledger.size);
    await ledger.close();
  }, 60_000);
});

describe('the checkpoint self-check of two logs in one process', () => {
  // Found by review: notes verified were remembered by key and text, not by origin, so a note verified for one log was
  // taken, unverified, for another log of the same key (a store restored from another log's backup, two gateways in
  // one process), and served though its origin is not that log's.
  it("a note verified for one log is refused for another log of the same key: its origin is not the other's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-checkpoint-logs-'));
    dirs.push(dir);
    const ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { sync: false }), origin: ORIGIN, signer });
    await ledger.appendBlock([reading(0)]);
    const note = (await ledger.checkpoint(1))!;
    expect(openStoredCheckpoint(note, 1, ledger).size).toBe(1);
    const other = { origin: `${ORIGIN}/other`, verifierKey: ledger.verifierKey };
    let err: unknown;
    try {
      openStoredCheckpoint(note, 1, other);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('LEDGER_DAMAGED');
    await ledger.close();
  });
});

describe("a block header changed on disk, in its entries' bundles", () => {
  // Found by review: a bundle proven to a later checkpoint (GET /v1/entries/:index/bundle?treeSize=) carried its
  // block's header unchecked (the later checkpoint does not bind it, nor does the verifier then), so a header changed
  // on disk was served: a verifier fails it (CHECKPOINT_INVALID) when its indexes or tree size changed, and takes it
  // otherwise. And a header whose tree size changed to one no checkpoint was signed at made the bundle the client's
  // error (MALFORMED 'no checkpoint at tree size'). Each is damage, named: LEDGER_DAMAGED.
  const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'SERVED', (err: { code?: string; message?: string }) => `${err.code} ${err.message?.split(' is damaged')[0]}`);

  async function damagedStore(edit: (h: BlockHeader) => BlockHeader): Promise<Ledger> {
    const dir = await mkdtemp(join(tmpdir(), 'op-bundle-header-'));
    dirs.push(dir);
    let ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { sync: false }), origin: ORIGIN, signer });
    for (const n of [2, 3, 2]) {
      const first = ledger.size;
      await ledger.appendBlock(Array.from({ length: n }, (_, i) => reading(first + i)));
    }
    expect(ledger.size).toBe(7); // blocks 0 (entries 0, 1), 1 (2 to 4), 2 (5, 6): checkpoints at 2, 5 and 7
    await ledger.close();
    await editStoredHeader(dir, 1, (bytes) => encodeBlockHeader(edit(decodeBlockHeader(bytes))));
    ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { sync: false }), origin: ORIGIN, signer });
    return ledger;
  }

  it('its time a millisecond later: every bundle of its entries, to its own checkpoint or a later one, is refused naming the entry', async () => {
    const ledger = await damagedStore((h) => ({ ...h, timeMs: h.timeMs + 1 }));
    for (const index of [2, 3, 4]) {
      for (const treeSize of [undefined, 7]) {
        expect([index, treeSize, await codeOf(ledger.proofBundle(index, treeSize === undefined ? {} : { treeSize }))]).toEqual([index, treeSize, `LEDGER_DAMAGED entry ${index}`]);
      }
    }
    for (const index of [0, 1, 5, 6]) expect([index, await codeOf(ledger.proofBundle(index, { treeSize: 7 }))]).toEqual([index, 'SERVED']);
    await ledger.close();
  });

  it('its tree size changed (to one no checkpoint was signed at, or to a later checkpoint): refused naming the entry, not MALFORMED', async () => {
    for (const size of [6, 7]) {
      const ledger = await damagedStore((h) => ({ ...h, lastIndex: size - 1, treeSize: size }));
      for (const treeSize of [undefined, 7]) {
        expect([size, treeSize, await codeOf(ledger.proofBundle(3, treeSize === undefined ? {} : { treeSize }))]).toEqual([size, treeSize, 'LEDGER_DAMAGED entry 3']);
      }
      await ledger.close();
    }
  });

  it('a header that no longer decodes: its bundles and the block itself are damage (LEDGER_DAMAGED), not the client\'s MALFORMED', async () => {
    const ledger = await damagedStore((h) => ({ ...h, lastIndex: h.firstIndex - 1 })); // indexes inconsistent
    for (const treeSize of [undefined, 7]) {
      expect([treeSize, await codeOf(ledger.proofBundle(3, treeSize === undefined ? {} : { treeSize }))]).toEqual([treeSize, 'LEDGER_DAMAGED entry 3']);
    }
    expect(await codeOf(ledger.servedBlock(1))).toBe('LEDGER_DAMAGED block 1');
    expect(await codeOf(ledger.servedBlock(2))).toBe('SERVED');
    await ledger.close();
  });
});
