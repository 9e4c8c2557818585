// The committed-size hint (entries/committed, ledger/committed-hint.ts): a LevelDB store older than its segment files
// by fewer entries than one block holds was taken for a crash's leftovers, and its first block cut entries that had
// been committed and receipted. Now a valid hint larger than the store refuses checkSegmentFiles (the gateway's start
// and the storage-recovery reopen); a hint that is missing, torn or garbage is ignored, and one older than the store
// (a crash between a block's commit and its hint write) is fine; so is a whole-directory copy, stopped or mid-block.
import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCommittedHint, encodeCommittedHint, HINT_NAME, readCommittedHint } from '../../ledger/committed-hint.js';
import { LedgerDamagedError } from '../../ledger/errors.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { BLOCK_MAX_ENTRIES_LIMIT } from '../../gateway/config-defaults.js';
import { ORIGIN, reading, signer } from './contract.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'op-ledger-hint-'));
  dirs.push(d);
  return d;
}

const BLOCK = 10;
/** Append `blocks` blocks of BLOCK readings to the ledger in `dir` (created if new), then close it. */
async function appendBlocks(dir: string, blocks: number): Promise<void> {
  const ledger = await Ledger.open({ backend: await LevelBackend.open(dir), origin: ORIGIN, signer });
  for (let b = 0; b < blocks; b++) {
    const first = ledger.size;
    await ledger.appendBlock(Array.from({ length: BLOCK }, (_, i) => reading(first + i)));
  }
  await ledger.close();
}

/** The LevelDB store's files (everything in the ledger directory but `entries/`). */
const storeFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n !== 'entries');
function copyStore(from: string, to: string): void {
  for (const n of storeFiles(from)) cpSync(join(from, n), join(to, n), { recursive: true });
}
/** The ledger's store replaced by the copy in `older` (the segment files and hint kept). */
function restoreStore(dir: string, older: string): void {
  for (const n of storeFiles(dir)) rmSync(join(dir, n), { recursive: true });
  copyStore(older, dir);
}
const entriesFiles = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(join(dir, 'entries')).map((n) => [n, readFileSync(join(dir, 'entries', n)).toString('hex')]));

/** Open the store and run the gateway's check of it (gateway/ledger-adapter.ts); always closed. */
async function check(dir: string): Promise<void> {
  const backend = await LevelBackend.open(dir);
  try {
    await backend.checkSegmentFiles({ maxUncommitted: BLOCK_MAX_ENTRIES_LIMIT });
  } finally {
    await backend.close();
  }
}
async function sizeOf(dir: string): Promise<number> {
  const ledger = await Ledger.open({ dir, origin: ORIGIN, signer });
  const size = ledger.size;
  await ledger.close();
  return size;
}

/** A ledger of 5 blocks whose store was replaced by a copy taken after its first 3 (the gap: 2 blocks, 20 entries). */
async function storeOlderThanSegments(): Promise<{ dir: string; hint: string }> {
  const dir = await tempDir();
  const older = await tempDir();
  await appendBlocks(dir, 3);
  copyStore(dir, older);
  await appendBlocks(dir, 2);
  restoreStore(dir, older);
  return { dir, hint: join(dir, 'entries', HINT_NAME) };
}

describe('the committed-size hint', () => {
  it('is written after each block and says the committed size and height; closing waits for it', async () => {
    const dir = await tempDir();
    await appendBlocks(dir, 3);
    expect(await readCommittedHint(join(dir, 'entries', HINT_NAME))).toEqual({ treeSize: 3 * BLOCK, height: 2 });
    await check(dir);
  });

  it('a store a few blocks older than its segment files (fewer entries than a block holds): refused LEDGER_DAMAGED, nothing changed', async () => {
    const { dir, hint } = await storeOlderThanSegments();
    const before = entriesFiles(dir);
    const refused = await check(dir).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(LedgerDamagedError);
    expect(refused).toMatchObject({ code: 'LEDGER_DAMAGED' });
    expect((refused as Error).message).toContain(`${hint} says 50 entries were committed (blocks 0 to 4), but its LevelDB store holds 30 (blocks 0 to 2)`);
    expect((refused as Error).message).toMatch(/the store is older than its segment files .* overwrite 20 entries already logged and receipted\. Restore the whole ledger directory from one backup/);
    expect(entriesFiles(dir)).toEqual(before);
  });

  it('the same store with its hint removed, torn, short or garbage: opens as before (the gap taken for a crash\'s leftovers)', async () => {
    const { dir, hint } = await storeOlderThanSegments();
    const valid = await readFile(hint);
    expect(decodeCommittedHint(valid)).toEqual({ treeSize: 50, height: 4 });
    const flipped = Buffer.from(valid);
    flipped[3]! ^= 0x01; // a torn write: part old, part new (the checksum no longer matches)
    const cases: [string, (() => Promise<void>)][] = [
      ['removed', () => rm(hint)],
      ['a byte changed', () => writeFile(hint, flipped)],
      ['short', () => writeFile(hint, valid.subarray(0, 20))],
      ['empty', () => writeFile(hint, '')],
      ['a byte longer', () => writeFile(hint, Buffer.concat([valid, Buffer.from([0])]))],
      ['garbage', () => writeFile(hint, Buffer.alloc(32, 0xee))],
      ['a directory', async () => (await rm(hint), await mkdir(hint))],
    ];
    for (const [what, damage] of cases) {
      await rm(hint, { recursive: true, force: true });
      await writeFile(hint, valid);
      await damage();
      await expect(check(dir), what).resolves.toBeUndefined();
    }
    expect(await sizeOf(dir)).toBe(30);
  });

  it('older than the store (a crash between a block\'s commit and its hint write): opens, and the next block writes it again', async () => {
    const dir = await tempDir();
    await appendBlocks(dir, 3);
    const old = await readFile(join(dir, 'entries', HINT_NAME));
    await appendBlocks(dir, 2);
    await writeFile(join(dir, 'entries', HINT_NAME), old);
    await check(dir);
    expect(await sizeOf(dir)).toBe(50);
    await appendBlocks(dir, 1);
    expect(await readCommittedHint(join(dir, 'entries', HINT_NAME))).toEqual({ treeSize: 60, height: 5 });
    await check(dir);
  });

  it('a store written without it (an earlier version, or `sync: false`) opens; `sync: false` writes none', async () => {
    const dir = await tempDir();
    const ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { sync: false }), origin: ORIGIN, signer });
    await ledger.appendBlock(Array.from({ length: BLOCK }, (_, i) => reading(i)));
    await ledger.close();
    expect(readdirSync(join(dir, 'entries'))).not.toContain(HINT_NAME);
    await check(dir);
    await appendBlocks(dir, 1);
    expect(await readCommittedHint(join(dir, 'entries', HINT_NAME))).toEqual({ treeSize: 2 * BLOCK, height: 1 });
  });

  it('a whole-directory copy taken while stopped, or mid-block while running (as an atomic snapshot would): opens, the copy\'s hint never ahead of its store', async () => {
    const dir = await tempDir();
    await appendBlocks(dir, 3);
    const stopped = await tempDir();
    cpSync(dir, stopped, { recursive: true });
    await check(stopped);
    expect(await sizeOf(stopped)).toBe(30);

    // While running: copied at each stage of a block's write, the ledger open (nothing else writes at these points
    // but the block's own write and the previous block's hint write, which go to the copy or not, as in a snapshot).
    const ledger = await Ledger.open({ backend: await LevelBackend.open(dir), origin: ORIGIN, signer });
    const backend = (ledger as unknown as { backend: LevelBackend }).backend;
    const snapshots: string[] = [];
    backend.setWriteStageHook((stage) => {
      if (stage !== 'segments-written') return;
      const to = join(stopped, `snapshot-${snapshots.length}`);
      cpSync(dir, to, { recursive: true });
      rmSync(join(to, 'LOCK'));
      snapshots.push(to);
    });
    for (let b = 0; b < 3; b++) await ledger.appendBlock(Array.from({ length: BLOCK }, (_, i) => reading(ledger.size + i)));
    backend.setWriteStageHook(undefined);
    await ledger.close();
    expect(snapshots).toHaveLength(3);
    for (const [k, snap] of snapshots.entries()) {
      await expect(check(snap), snap).resolves.toBeUndefined(); // its segments hold one block more: a crash's leftovers
      expect(await sizeOf(snap)).toBe((3 + k) * BLOCK);
    }
  });

  it('encodes tree size and height under a checksum', () => {
    const h = { treeSize: 2 ** 40 + 5, height: 123_456 };
    const bytes = encodeCommittedHint(h);
    expect(bytes).toHaveLength(32);
    expect(decodeCommittedHint(bytes)).toEqual(h);
    for (let i = 0; i < 32; i++) {
      const b = Uint8Array.from(bytes);
      b[i]! ^= 0x80;
      expect(decodeCommittedHint(b), `byte ${i}`).toBeUndefined();
    }
  });
});
