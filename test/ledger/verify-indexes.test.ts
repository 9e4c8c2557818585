// `ledger verify` checks the indexes against the log: block ends, the type index, the time index, the device index
// (rows of unmerged blocks, merged runs, heads). One record at a time is deleted, altered or added in LevelDB, and
// verify must name it (block, entry).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Ledger, type EntryInput } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import {
  blockEndKey, blockRowsKey, checkpointKey, deviceHeadKey, P_DEVICE, P_TIME, prefixEnd, readU64, timeKey, typeKey, u64,
} from '../../ledger/keys.js';
import { verifyLedger, type VerifyOptions, type VerifyReport } from '../../ledger/verify.js';
import { ORIGIN, reading, signer } from './contract.js';

type Db = Level<Uint8Array, Uint8Array>;
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const registry = (type: 2 | 3 | 4, n: number): EntryInput => ({ type, payload: new Uint8Array([type, n]) });
const readings = (deviceId: string, from: number, n: number): EntryInput[] => Array.from({ length: n }, (_, i) => reading(from + i, deviceId));

/**
 * Five blocks; device rows are merged into runs at block 2 (blocks 0-2 in runs), blocks 3 and 4 keep D records.
 * Registry entries take the block's time, readings 1000 + seq: blocks hold several time clusters.
 */
const BLOCKS: EntryInput[][] = [
  [...readings('dev-a', 0, 10), registry(2, 0)], // 0..10
  [...readings('dev-b', 0, 10), registry(3, 0), registry(4, 0)], // 11..22
  readings('dev-a', 10, 10), // 23..32
  [...readings('dev-c', 0, 5), registry(3, 1)], // 33..38
  readings('dev-a', 20, 5), // 39..43
];
const first = (h: number): number => BLOCKS.slice(0, h).reduce((n, b) => n + b.length, 0);
const last = (h: number): number => first(h + 1) - 1;
const ENTRIES = first(BLOCKS.length);

async function build(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'op-ledger-vidx-'));
  dirs.push(dir);
  const ledger = await Ledger.open({ backend: await LevelBackend.open(dir, { deviceMerge: { rows: 10_000, blocks: 3 } }), origin: ORIGIN, signer });
  for (const b of BLOCKS) await ledger.appendBlock(b);
  await ledger.close();
  return dir;
}

async function tamper(dir: string, fn: (db: Db) => Promise<void>): Promise<void> {
  const db: Db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

async function verify(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const backend = await LevelBackend.open(dir, { sync: false });
  try {
    return await verifyLedger(backend, { workers: 0, ...opts });
  } finally {
    await backend.close();
  }
}

async function keysWith(db: Db, prefix: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const k of db.keys({ gt: new Uint8Array([prefix]), lt: prefixEnd(new Uint8Array([prefix])) })) out.push(k.slice());
  return out;
}

describe('ledger verify checks the indexes', () => {
  it('a clean ledger with runs, D records, registry entries and several time clusters per block verifies', async () => {
    const dir = await build();
    await tamper(dir, async (db) => {
      expect((await keysWith(db, P_DEVICE)).length).toBeGreaterThan(0);
      expect(await db.get(blockRowsKey(2))).toBeUndefined(); // merged
      expect(await db.get(blockRowsKey(3))).toBeDefined();
      expect((await keysWith(db, P_TIME)).length).toBeGreaterThan(BLOCKS.length);
    });
    expect(await verify(dir)).toMatchObject({ ok: true, blocks: BLOCKS.length, entries: ENTRIES });
  });

  describe('block-end records', () => {
    it('missing', async () => {
      const dir = await build();
      await tamper(dir, (db) => db.del(blockEndKey(last(1))));
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: last(1), message: `block-end record of block 1 (at entry ${last(1)}) is missing` });
    });
    it('naming another block', async () => {
      const dir = await build();
      await tamper(dir, (db) => db.put(blockEndKey(last(3)), u64(7)));
      expect((await verify(dir)).problem).toEqual({ block: 3, entry: last(3), message: `block-end record at entry ${last(3)} names block 7, not 3` });
    });
    it('one too many, inside a block and past the last one', async () => {
      let dir = await build();
      await tamper(dir, (db) => db.put(blockEndKey(first(2) + 3), u64(2)));
      expect((await verify(dir)).problem).toEqual({ block: 2, entry: first(2) + 3, message: `block-end record at entry ${first(2) + 3} is not the end of a block` });
      dir = await build();
      await tamper(dir, (db) => db.put(blockEndKey(ENTRIES + 5), u64(5)));
      expect((await verify(dir)).problem).toEqual({ entry: ENTRIES + 5, message: `block-end record at entry ${ENTRIES + 5}, past the last block` });
    });
  });

  describe('checkpoint records', () => {
    it('one too many (a block\'s note copied to a size inside a later block, or past the last block) is named', async () => {
      // Found by review: verify read each block's checkpoint by its tree size and never saw another one, which
      // GET /v1/checkpoints/SIZE would serve.
      let dir = await build();
      await tamper(dir, async (db) => db.put(checkpointKey(first(2) + 3), (await db.get(checkpointKey(first(3))))!));
      expect((await verify(dir)).problem).toEqual({ block: 2, message: `checkpoint record at tree size ${first(2) + 3} is not at the end of a block` });
      dir = await build();
      await tamper(dir, async (db) => db.put(checkpointKey(ENTRIES + 5), (await db.get(checkpointKey(ENTRIES)))!));
      expect((await verify(dir)).problem).toEqual({ message: `checkpoint record at tree size ${ENTRIES + 5}, past the last block` });
    });
  });

  describe('type index', () => {
    it('a registry entry missing', async () => {
      const dir = await build();
      await tamper(dir, (db) => db.del(typeKey(3, last(3))));
      expect((await verify(dir)).problem).toEqual({ block: 3, entry: last(3), message: `entry ${last(3)} (type 3) is missing from the type index` });
    });
    it('a row for a reading, for an entry of another type, of an unknown type, past the log', async () => {
      const cases: [Uint8Array, VerifyReport['problem']][] = [
        [typeKey(2, 4), { block: 0, entry: 4, message: 'type index row (type 2) for entry 4, which is of type 1 (a reading)' }],
        [typeKey(1, 12), { block: 1, entry: 12, message: 'type index row (type 1) for entry 12, which is of type 1 (a reading)' }],
        [typeKey(4, last(1) - 1), { block: 1, entry: last(1) - 1, message: `type index row (type 4) for entry ${last(1) - 1}, which is of type 3` }],
        [typeKey(9, 2), { entry: 2, message: 'type index row of unknown type 9 for entry 2' }],
        [typeKey(2, ENTRIES), { entry: ENTRIES, message: `type index row (type 2) for entry ${ENTRIES}, past the last block` }],
      ];
      for (const [key, problem] of cases) {
        const dir = await build();
        await tamper(dir, (db) => db.put(key, new Uint8Array(0)));
        expect((await verify(dir)).problem).toEqual(problem);
      }
    });
  });

  describe('time index', () => {
    it('a record missing, altered, or one too many', async () => {
      // Block 1: its readings at 1000..1009 (one cluster from entry 11), its registry entries at the block's time.
      const readingsCluster = timeKey(1000, first(1));
      let dir = await build();
      await tamper(dir, async (db) => {
        expect(await db.get(readingsCluster)).toBeDefined();
        await db.del(readingsCluster);
      });
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: first(1), message: `time index record of block 1 (receivedAtMs 1000, from entry ${first(1)}) is missing` });

      dir = await build();
      await tamper(dir, async (db) => {
        const v = (await db.get(readingsCluster))!.slice();
        v[8 * 3 + 7]! ^= 1; // the fourth row's entry offset
        await db.put(readingsCluster, v);
      });
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: first(1), message: `time index record of block 1 (receivedAtMs 1000, from entry ${first(1)}) does not match the entries` });

      dir = await build();
      await tamper(dir, (db) => db.put(timeKey(1003, first(1) + 3), new Uint8Array(8)));
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: first(1) + 3, message: `time index record (receivedAtMs 1003, from entry ${first(1) + 3}) does not belong to block 1` });

      dir = await build();
      await tamper(dir, (db) => db.put(timeKey(5, ENTRIES + 1), new Uint8Array(8)));
      expect((await verify(dir)).problem).toEqual({ entry: ENTRIES + 1, message: `time index record (receivedAtMs 5, from entry ${ENTRIES + 1}) is past the last block` });
    });
  });

  describe('device index', () => {
    it('the device rows record of a block not merged yet, deleted: its first reading is named', async () => {
      const dir = await build();
      await tamper(dir, (db) => db.del(blockRowsKey(4)));
      expect((await verify(dir)).problem).toEqual({ block: 4, entry: first(4), message: `reading ${first(4)} is not in the device index` });
    });

    it('a merged run, deleted', async () => {
      const dir = await build();
      await tamper(dir, async (db) => {
        const runs = await keysWith(db, P_DEVICE);
        const devB = runs.find((k) => new TextDecoder().decode(k.subarray(2, 2 + k[1]!)) === 'dev-b')!;
        await db.del(devB);
        await db.del(deviceHeadKey('dev-b'));
      });
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: first(1), message: `reading ${first(1)} is not in the device index` });
    });

    it('a row of a D record naming a registry entry, or with another receivedAt', async () => {
      // D record of block 3: dev-c seqs 0..4 at entries 33..37, then the registry entry 38
      const row = (db: Db) => db.get(blockRowsKey(3)).then((v) => v!.slice());
      const at = 1 + 'dev-c'.length; // first row's seq, index, receivedAtMs
      let dir = await build();
      await tamper(dir, async (db) => {
        const v = await row(db);
        v[at + 15] = last(3) & 0xff; // index of the first row -> the registry entry
        await db.put(blockRowsKey(3), v);
      });
      expect((await verify(dir)).problem).toEqual({ block: 3, entry: last(3), message: `device index row (dev-c, seq 0) names entry ${last(3)}, which is not a reading` });

      dir = await build();
      await tamper(dir, async (db) => {
        const v = await row(db);
        v[at + 23]! ^= 1;
        await db.put(blockRowsKey(3), v);
      });
      expect((await verify(dir)).problem).toEqual({ block: 3, entry: first(3), message: `device index row (dev-c, seq 0) for entry ${first(3)} says receivedAtMs 1001, the entry 1000` });
    });

    it('a run row with another receivedAt, or another entry; a head record that is wrong', async () => {
      const runOf = async (db: Db, deviceId: string) => (await keysWith(db, P_DEVICE)).find((k) => new TextDecoder().decode(k.subarray(2, 2 + k[1]!)) === deviceId)!;
      let dir = await build();
      await tamper(dir, async (db) => {
        const k = await runOf(db, 'dev-b');
        const v = (await db.get(k))!.slice();
        v[24 * 2 + 23]! ^= 2; // third row (seq 2): receivedAtMs 1002 -> 1000
        await db.put(k, v);
      });
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: first(1) + 2, message: `device index row (dev-b, seq 2) for entry ${first(1) + 2} says receivedAtMs 1000, the entry 1002` });

      dir = await build();
      await tamper(dir, async (db) => {
        const k = await runOf(db, 'dev-b');
        const v = (await db.get(k))!.slice();
        v[24 * 9 + 15] = last(1); // last row (seq 9) -> the revocation entry of its block
        await db.put(k, v);
      });
      // the sums differ in the first 65,536 entries; the first entry that is wrong there is named
      expect((await verify(dir)).problem).toEqual({ block: 1, entry: first(1) + 9, message: `reading ${first(1) + 9} is not in the device index` });

      dir = await build();
      await tamper(dir, (db) => db.put(deviceHeadKey('dev-a'), u64(3)));
      expect((await verify(dir)).problem).toEqual({ message: 'device index head record of device dev-a says seq 3, its runs end at 19' });
    });

    it('a D record of a block that is not in the log', async () => {
      const dir = await build();
      await tamper(dir, async (db) => db.put(blockRowsKey(9), (await db.get(blockRowsKey(4)))!));
      expect((await verify(dir)).problem).toEqual({ block: 9, message: 'device rows record of block 9, which is not in the log' });
    });

    it('readingsIndexed: false checks the rows there, not that every reading has one', async () => {
      let dir = await build();
      await tamper(dir, (db) => db.del(blockRowsKey(4)));
      expect(await verify(dir, { readingsIndexed: false })).toMatchObject({ ok: true });
      dir = await build();
      await tamper(dir, (db) => db.put(deviceHeadKey('dev-a'), u64(3)));
      expect((await verify(dir, { readingsIndexed: false })).problem?.message).toBe('device index head record of device dev-a says seq 3, its runs end at 19');
    });
  });

  it('the indexes are read back as the queries use them (a check of the fixture)', async () => {
    const dir = await build();
    const ledger = await Ledger.open({ dir, origin: ORIGIN, signer });
    expect(await ledger.lastSeq('dev-a')).toBe(24);
    expect(await ledger.indexesByType(3)).toEqual([last(1) - 1, last(3)]);
    expect((await ledger.blockForIndex(first(2) + 1))?.height).toBe(2);
    await ledger.close();
    expect(readU64(u64(ENTRIES))).toBe(ENTRIES);
  });
});
