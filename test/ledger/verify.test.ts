// `ledger verify` over a real LevelDB: a clean ledger passes; one flipped byte in an entry, a tree node,
// a header or a checkpoint is found and named; the CLI exits 1 on a bad ledger.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { bundleKey, checkpointKey, headerKey, tileKey } from '../../ledger/keys.js';
import { entryLocation, flipFileByte, leafLocation } from './entry-location.js';
import { ORIGIN, reading, signer } from './contract.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function build(blocks = 4, perBlock = 300): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'op-ledger-verify-'));
  dirs.push(dir);
  const ledger = await Ledger.open({ dir, origin: ORIGIN, signer });
  for (let b = 0; b < blocks; b++) await ledger.appendBlock(Array.from({ length: perBlock }, (_, i) => reading(b * perBlock + i)));
  await ledger.close();
  return dir;
}

async function flip(dir: string, key: Uint8Array, at: (len: number, value: Uint8Array) => number): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const v = new Uint8Array((await db.get(key))!);
  v[at(v.length, v)]! ^= 0x01;
  await db.put(key, v);
  await db.close();
}

async function check(dir: string) {
  const backend = await LevelBackend.open(dir);
  try {
    return await verifyLedger(backend);
  } finally {
    await backend.close();
  }
}

describe('ledger verify', () => {
  it('passes a clean ledger', async () => {
    const r = await check(await build());
    expect(r).toMatchObject({ ok: true, blocks: 4, entries: 1200 });
  });
  it('names a tampered entry', async () => {
    const dir = await build();
    const at = await entryLocation(dir, 700);
    await flipFileByte(at.file, at.end - 3); // inside entry 700's payload, in its segment file
    expect((await check(dir)).problem).toMatchObject({ block: 2, entry: 700 });
  });
  it('names an entry whose index record is tampered', async () => {
    const dir = await build();
    await flip(dir, bundleKey(2), () => 8 + 4 * 10 + 3); // end of entry 522 (bundle 2, k = 10): 522 and 523 change
    expect((await check(dir)).problem).toMatchObject({ block: 1, entry: 522 });
  });
  it('names a tampered tree node (leaf and inner)', async () => {
    const dir = await build();
    const leaf = await leafLocation(dir, 261); // leaf hashes (level-0 tiles) are in the segments' leaves files
    await flipFileByte(leaf.file, leaf.at + 7);
    expect((await check(dir)).problem).toMatchObject({ block: 0, entry: 261 });
    const dir2 = await build();
    // tile level 1 holds tree level TILE_HEIGHT (8): node (8, 2) covers leaves 512..767, completed in block 2
    await flip(dir2, tileKey(1, 0), () => 32 * 2 + 1);
    expect((await check(dir2)).problem).toMatchObject({ block: 2, message: expect.stringContaining('level 8, index 2') });
  });
  it('names a tampered header and a tampered checkpoint', async () => {
    const dir = await build();
    await flip(dir, headerKey(1), (n) => n - 1); // timeMs: decodes, but the link from block 2 breaks
    expect((await check(dir)).problem).toMatchObject({ block: 1 });
    const dir2 = await build();
    await flip(dir2, checkpointKey(900), (n) => n - 10); // inside the signature
    expect((await check(dir2)).problem).toMatchObject({ block: 2 });
  });
  it('rejects a wrong trusted key', async () => {
    const dir = await build(1, 10);
    const backend = await LevelBackend.open(dir);
    const other = 'x.example/log+5cd9c7d9+AQBmqhFB2F4tDsbc/oXDCjSIlSx1eTuqmZDuRNc1wmd2';
    const r = await verifyLedger(backend, { key: other }).finally(() => backend.close());
    expect(r.ok).toBe(false);
  });
  it('detects a byte flipped in the on-disk files (LevelDB tables and log, entry segments)', async () => {
    // Enough blocks that the flip is not in the last one: LevelDB drops a record whose CRC fails (and the rest of
    // its 32 KB log block), which for the last blocks would leave a consistent, shorter ledger (as a crash does).
    const dir = await build(6, 200);
    const files = [...(await readdir(dir)).filter((f) => f.endsWith('.log') || f.endsWith('.ldb')), ...(await readdir(join(dir, 'entries'))).map((f) => join('entries', f))];
    // find a file holding an entry payload and flip one byte of it
    const needle = Buffer.from('reading 150');
    let flipped = false;
    for (const f of files) {
      const buf = await readFile(join(dir, f));
      const at = buf.indexOf(needle);
      if (at >= 0) {
        buf[at + needle.length - 1]! ^= 0x02; // 'reading 152' under the same key
        await writeFile(join(dir, f), buf);
        flipped = true;
        break;
      }
    }
    expect(flipped).toBe(true);
    // LevelDB's own block/record CRC may reject the record first; either way the ledger must not pass
    const r = await check(dir).catch((err: Error) => ({ ok: false, problem: { message: err.message } }));
    expect(r.ok).toBe(false);
  });
});

describe('crash atomicity', () => {
  it('a block is all or nothing: a killed batch leaves the previous block intact and verifiable', async () => {
    const dir = await build(2, 100);
    // Simulate a crash in the middle of writing block 2: the backend's batch never reaches LevelDB.
    const backend = await LevelBackend.open(dir);
    const ledger = await Ledger.open({ backend, origin: ORIGIN, signer });
    const real = backend.writeBlock.bind(backend);
    backend.writeBlock = async () => {
      throw new Error('crash');
    };
    await expect(ledger.appendBlock([reading(200), reading(201)])).rejects.toThrow('crash');
    backend.writeBlock = real;
    await backend.close(); // process "dies": nothing of block 2 was written
    const r = await check(dir);
    expect(r).toMatchObject({ ok: true, blocks: 2, entries: 200 });
    const again = await Ledger.open({ dir, origin: ORIGIN, signer });
    expect(again.size).toBe(200);
    const [res] = await again.appendBlock([reading(200)]);
    expect(res!.blockHeight).toBe(2);
    await again.close();
    expect((await check(dir)).ok).toBe(true);
  });
});
