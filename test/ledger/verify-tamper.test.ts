// `ledger verify` on a LevelDB ledger tampered so that ONE check alone can find it: the header (and its checkpoint,
// re-signed with the log key, and the state record) is rewritten consistently around the one thing left wrong.
// Also: duplicate (device, seq) rows in a device run, and blocks computed on top of a failed block write.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { BlockWrite } from '../../ledger/backend.js';
import { Ledger, type EntryInput } from '../../ledger/ledger.js';
import { LevelBackend, type LevelBackendOptions } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { bundleKey, checkpointKey, deviceKey, headerKey, STATE_KEY } from '../../ledger/keys.js';
import { decodeState, encodeState } from '../../ledger/state.js';
import { nodeMerkleHasher } from '../../ledger/hasher.js';
import { decodeBlockHeader, encodeBlockHeader, type BlockHeader } from '../../protocol/bundle.js';
import { parseCheckpoint, parseNote, signCheckpoint, type Checkpoint } from '../../protocol/checkpoint.js';
import { commitRevocations, revocationsExtension } from '../../protocol/revocation-log.js';
import { blockExtension } from '../../protocol/verify-bundle.js';
import { CompactRange } from '../../protocol/merkle/index.js';
import { decodeLogEntry } from '../../protocol/log-entry.js';
import { sha256 } from '../../protocol/hash.js';
import { entryLocation, leafLocation } from './entry-location.js';
import { ORIGIN, reading, signer } from './contract.js';

type Db = Level<Uint8Array, Uint8Array>;
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const readings = (from: number, n: number): EntryInput[] => Array.from({ length: n }, (_, i) => reading(from + i));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'op-ledger-vtamper-'));
  dirs.push(dir);
  return dir;
}

/** Blocks of 5 readings (dev-a, seq = index). */
async function build(blocks: number, opts: LevelBackendOptions = {}, dir?: string): Promise<string> {
  dir ??= await tempDir();
  const ledger = await Ledger.open({ backend: await LevelBackend.open(dir, opts), origin: ORIGIN, signer });
  const from = ledger.size;
  for (let b = 0; b < blocks; b++) await ledger.appendBlock(readings(from + 5 * b, 5));
  await ledger.close();
  return dir;
}

async function withDb<T>(dir: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const db: Db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function check(dir: string) {
  const backend = await LevelBackend.open(dir, { sync: false });
  try {
    return await verifyLedger(backend, { workers: 0 });
  } finally {
    await backend.close();
  }
}

/**
 * Rewrites the LAST block's header (`header`), re-signs its checkpoint with the log key (`checkpoint` may change it,
 * the extension line binds the rewritten header, the revocations line is kept) and patches the state record (block
 * hash, height, `frontier`).
 */
async function forgeLast(dir: string, height: number, opts: { header?: (h: BlockHeader) => BlockHeader; checkpoint?: (c: Checkpoint) => Checkpoint; frontier?: Uint8Array[] }): Promise<void> {
  await withDb(dir, async (db) => {
    const hd = (opts.header ?? ((h) => h))(decodeBlockHeader((await db.get(headerKey(height)))!));
    const bytes = encodeBlockHeader(hd);
    const old = parseCheckpoint(parseNote(new TextDecoder().decode((await db.get(checkpointKey(hd.treeSize)))!)).text);
    const kept = old.extensions.filter((e) => e.startsWith('revocations '));
    const cp = (opts.checkpoint ?? ((c) => c))({ origin: ORIGIN, size: hd.treeSize, root: hd.root, extensions: [blockExtension(height, bytes), ...kept] });
    await db.put(headerKey(height), bytes);
    await db.put(checkpointKey(hd.treeSize), new TextEncoder().encode(await signCheckpoint(cp, signer)));
    const st = decodeState((await db.get(STATE_KEY))!);
    await db.put(STATE_KEY, encodeState({ ...st, height: hd.height, blockHash: sha256(bytes), frontier: opts.frontier ?? st.frontier }));
  });
}

describe('ledger verify: each check finds what only it can find', () => {
  it('the forging helper alone leaves a ledger that verifies', async () => {
    // guards the fixture: a forge that changes nothing must pass, so each failure below is the one thing changed
    const dir = await build(2);
    await forgeLast(dir, 1, {});
    expect(await check(dir)).toMatchObject({ ok: true, blocks: 2, entries: 10 });
  });

  it('a header whose height is not its key', async () => {
    // guards verify.ts: hd.height !== height
    const dir = await build(2);
    await forgeLast(dir, 1, { header: (h) => ({ ...h, height: 7 }) });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 1, message: expect.stringMatching(/^header says height 7/) } });
  });

  it('a header whose prevHash is not the hash of the block before', async () => {
    // guards verify.ts: the prevHash chain
    const dir = await build(2);
    await forgeLast(dir, 1, { header: (h) => ({ ...h, prevHash: new Uint8Array(32).fill(9) }) });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 0, message: expect.stringMatching(/^hash of block 0 does not match prevHash of block 1/) } });
  });

  it('a header root (signed by its checkpoint) that is not the root of its entries', async () => {
    // guards verify.ts: header root/size vs the root recomputed from the entries
    const dir = await build(2);
    await forgeLast(dir, 1, { header: (h) => ({ ...h, root: new Uint8Array(32).fill(7) }) });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 1, message: expect.stringMatching(/^root or size in header of block 1/) } });
  });

  it('a checkpoint that binds the header but signs another root', async () => {
    // guards verify.ts: checkpoint size/root vs the header
    const dir = await build(2);
    await forgeLast(dir, 1, { checkpoint: (c) => ({ ...c, root: new Uint8Array(32).fill(7) }) });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 1, message: expect.stringMatching(/^checkpoint of block 1: size or root differs/) } });
  });

  it('entries stored past the last block', async () => {
    // guards verify.ts: entries after the last block (every index record is that of block 0 but the entry bundle's)
    const dir = await build(1);
    const block0 = await withDb(dir, async (db) => db.iterator().all());
    await build(1, {}, dir);
    await withDb(dir, async (db) => {
      const bundle = (await db.get(bundleKey(0)))!;
      await db.clear();
      await db.batch(block0.map(([key, value]) => ({ type: 'put' as const, key, value })));
      await db.put(bundleKey(0), bundle);
    });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { entry: 5, message: expect.stringMatching(/^entry 5 is outside every block/) } });
  });

  it('an entry carrying another index (leaf, root, checkpoint and state recomputed to match)', async () => {
    // guards verify-run.ts: e.index !== index
    const dir = await build(2);
    const at = await entryLocation(dir, 7);
    const seg = await readFile(at.file);
    expect([seg[at.start + 3], seg[at.start + 4]]).toEqual([0x02, 7]); // key 2 (index), uint 7 in one byte
    seg[at.start + 4] = 8;
    await writeFile(at.file, seg);
    const entry = seg.subarray(at.start, at.end);
    expect(decodeLogEntry(entry).index).toBe(8);
    const leaf = await leafLocation(dir, 7);
    const leaves = await readFile(leaf.file);
    leaves.set(nodeMerkleHasher.hashLeaf(entry), leaf.at);
    await writeFile(leaf.file, leaves);
    const range = new CompactRange(nodeMerkleHasher);
    const backend = await LevelBackend.open(dir, { sync: false });
    for await (const [, run] of backend.entriesFrom(0)) for (const e of run) range.append(nodeMerkleHasher.hashLeaf(e));
    await backend.close();
    await forgeLast(dir, 1, { header: (h) => ({ ...h, root: range.root() }), frontier: range.frontier() });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 1, entry: 7, message: expect.stringMatching(/^entry 7 carries index 8/) } });
  });
});

describe('ledger verify: the checkpoints\' revocations line', () => {
  const revocation = (i: number): EntryInput => ({ type: 4, payload: new TextEncoder().encode(`revocation ${i}`), certRef: new Uint8Array(32).fill(2), receivedAtMs: 1_000 + i });
  /** Two blocks: readings 0-4 and revocation 2; readings 5-9 and revocations 6 and 8. */
  async function buildWithRevocations(): Promise<string> {
    const dir = await tempDir();
    const ledger = await Ledger.open({ backend: await LevelBackend.open(dir), origin: ORIGIN, signer });
    for (const b of [0, 1]) await ledger.appendBlock(Array.from({ length: 5 }, (_, k) => (5 * b + k === 2 || 5 * b + k === 6 || 5 * b + k === 8 ? revocation(5 * b + k) : reading(5 * b + k))));
    await ledger.close();
    return dir;
  }
  const stmt = (i: number) => ({ index: i, statement: new TextEncoder().encode(`revocation ${i}`) });

  it('a ledger with revocation entries verifies, each checkpoint committing to those below its size', async () => {
    const dir = await buildWithRevocations();
    expect(await check(dir)).toMatchObject({ ok: true, entries: 10, revocations: 3 });
    await withDb(dir, async (db) => {
      const lines = async (size: number) => parseCheckpoint(parseNote(new TextDecoder().decode((await db.get(checkpointKey(size)))!)).text).extensions;
      expect(await lines(5)).toContain(revocationsExtension(commitRevocations([stmt(2)])));
      expect(await lines(10)).toContain(revocationsExtension(commitRevocations([stmt(2), stmt(6), stmt(8)])));
    });
  });

  it.each([
    ['one revocation left out', () => revocationsExtension(commitRevocations([stmt(2), stmt(6)])), /commits to 2 revocation\(s\) that are not the log's 3 up to tree size 10/],
    ['the right count over other statements', () => revocationsExtension(commitRevocations([stmt(2), stmt(6), { index: 8, statement: new Uint8Array([1]) }])), /commits to 3 revocation\(s\) that are not the log's 3/],
    ['no line after a checkpoint that had one', () => undefined, /has no revocations line, though an earlier checkpoint had one/],
    ['a malformed line', () => 'revocations 3 x', /malformed revocations line/],
  ])('a re-signed checkpoint with %s', async (_, line, message) => {
    // guards verify.ts: the revocations line against the fold of the log's revocation entries
    const dir = await buildWithRevocations();
    await forgeLast(dir, 1, { checkpoint: (c) => ({ ...c, extensions: [c.extensions[0]!, ...(line() === undefined ? [] : [line()!])] }) });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 1, message: expect.stringMatching(message) } });
  });

  it('a state record whose revocations are not the log\'s', async () => {
    // guards verify.ts: the state record's revocation fields
    const dir = await buildWithRevocations();
    await withDb(dir, async (db) => {
      const st = decodeState((await db.get(STATE_KEY))!);
      await db.put(STATE_KEY, encodeState({ ...st, revocations: { count: 2, digest: st.revocations!.digest } }));
    });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { block: 1, message: expect.stringMatching(/^state record's revocations \(2\) are not the log's \(3\)/) } });
  });
});

describe('ledger verify: device runs', () => {
  it('two rows of one device with the same seq are reported', async () => {
    // guards level-audit.ts: seq <= lastSeq (a duplicate (device, seq) row, everything else consistent)
    const dir = await build(2, { deviceMerge: { rows: 10_000, blocks: 1 } }); // every block merged into runs
    await withDb(dir, async (db) => {
      const v = (await db.get(deviceKey('dev-a', 4)))!.slice(); // the run of block 0: seqs 0..4
      expect(v[3 * 24 + 7]).toBe(3);
      v[3 * 24 + 7] = 2; // row 4 (entry 3) now says seq 2, as row 3 does
      await db.put(deviceKey('dev-a', 4), v);
    });
    expect(await check(dir)).toMatchObject({ ok: false, problem: { entry: 3, message: expect.stringMatching(/is not above the row before it/) } });
  });
});

describe('a failed block write', () => {
  it('blocks computed on top of it are rejected with its error, never written', async () => {
    // guards ledger.ts #commit: p.epoch !== this.#epoch
    const ledger = await Ledger.open({ dir: await tempDir(), origin: ORIGIN, signer, sync: false });
    await ledger.appendBlock([reading(0)]);
    const backend = (ledger as unknown as { backend: LevelBackend }).backend;
    const real = backend.writeBlock.bind(backend);
    const failure = new Error('injected');
    const written: number[] = [];
    let fail = true;
    backend.writeBlock = async (b: BlockWrite) => {
      if (fail) {
        fail = false;
        throw failure;
      }
      written.push(b.height);
      return real(b);
    };
    // both computed now, before the first one's write fails; each holds a revocation, which must not count
    const a = ledger.appendBlock([reading(1), { type: 4, payload: new Uint8Array([1]), certRef: new Uint8Array(32), receivedAtMs: 1 }]);
    const b = ledger.appendBlock([{ type: 4, payload: new Uint8Array([2]), certRef: new Uint8Array(32), receivedAtMs: 2 }]);
    await expect(a).rejects.toBe(failure);
    await expect(b).rejects.toBe(failure);
    expect(written).toEqual([]);
    const [r] = await ledger.appendBlock([reading(3)]);
    expect(r).toMatchObject({ index: 1, blockHeight: 1 });
    expect(written).toEqual([1]);
    expect(parseCheckpoint(parseNote(r!.checkpoint).text).extensions).toContain(revocationsExtension(commitRevocations([])));
    expect(await verifyLedger(backend, { workers: 0 })).toMatchObject({ ok: true, blocks: 2, entries: 2, revocations: 0 });
    await ledger.close();
  });
});
