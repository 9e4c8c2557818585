// Entry bytes in segment files (ledger/entry-segments.ts), with segments of one bundle (256 entries) so that
// blocks cross segment ends: every entry reads back, `ledger verify` passes, and bytes a crash left past the
// last committed block (in the last segment, or a segment of its own) are cut off by the next write, while
// opening alone (as `ledger verify` does) leaves the files as they are.
import { afterEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { HINT_NAME } from '../../ledger/committed-hint.js';
import { segmentName } from '../../ledger/entry-segments.js';
import { verifyLedger } from '../../ledger/verify.js';
import { concatBytes } from '../../protocol/bytes.js';
import { decodeLogEntry, leafHash } from '../../protocol/log-entry.js';
import { ORIGIN, reading, signer } from './contract.js';
import { entryLocation } from './entry-location.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'op-ledger-seg-'));
  dirs.push(dir);
  // segmentBundles is kept in the store: later opens without it still use 1
  const open = async (first = false) => Ledger.open({ backend: await LevelBackend.open(dir, first ? { segmentBundles: 1 } : {}), origin: ORIGIN, signer });
  return { dir, open };
}

async function expectAll(ledger: Ledger, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect(decodeLogEntry((await ledger.getEntry(i))!).index).toBe(i);
  const backend = (ledger as unknown as { backend: LevelBackend }).backend;
  const r = await verifyLedger(backend, { workers: 0 });
  expect(r).toMatchObject({ ok: true, entries: n });
}

describe('entry segment files', () => {
  it('blocks across segment ends read back and verify, before and after reopen', async () => {
    const { dir, open } = await setup();
    let ledger = await open(true);
    let n = 0;
    for (const size of [100, 300, 1, 600, 155, 45]) {
      await ledger.appendBlock(Array.from({ length: size }, (_, i) => reading(n + i)));
      n += size;
    }
    await expectAll(ledger, n);
    expect((await readdir(join(dir, 'entries'))).filter((f) => f !== HINT_NAME).length).toBe(2 * Math.ceil(n / 256)); // .cbor and .leaves (and the committed-size hint)
    // level-0 tiles come from the leaves files: the leaf hashes of entries 1024.., the last tile, partial
    const backend = (ledger as unknown as { backend: LevelBackend }).backend;
    const [tile] = await backend.getTiles([{ level: 0, tile: 4 }]);
    const want = await Promise.all(Array.from({ length: n - 1024 }, async (_, k) => leafHash((await ledger.getEntry(1024 + k))!)));
    expect(tile).toEqual(concatBytes(...want));
    await ledger.close();
    ledger = await open();
    await expectAll(ledger, n);
    await ledger.appendBlock(Array.from({ length: 300 }, (_, i) => reading(n + i)));
    n += 300;
    await expectAll(ledger, n);
    await ledger.close();
  });

  it('bytes past the last committed entry are cut off by the next write, in its segment and in later ones', async () => {
    const { dir, open } = await setup();
    let ledger = await open(true);
    await ledger.appendBlock(Array.from({ length: 300 }, (_, i) => reading(i))); // ends inside segment 1
    await ledger.close();
    const last = await entryLocation(dir, 299);
    // what a crash between the segment write and the LevelDB batch leaves behind
    const leaves = join(dir, 'entries', segmentName(1, 'leaves'));
    await appendFile(last.file, new Uint8Array(5000).fill(0xee));
    await appendFile(leaves, new Uint8Array(5000).fill(0xee));
    await writeFile(join(dir, 'entries', segmentName(2)), new Uint8Array(10).fill(0xee));
    await writeFile(join(dir, 'entries', segmentName(2, 'leaves')), new Uint8Array(64).fill(0xee));
    ledger = await open();
    expect((await stat(last.file)).size).toBe(last.end + 5000); // opening changed nothing
    await ledger.appendBlock([reading(300)]);
    await ledger.close();
    expect((await stat(last.file)).size).toBe((await entryLocation(dir, 300)).end);
    expect((await stat(leaves)).size).toBe((301 - 256) * 32);
    expect((await readdir(join(dir, 'entries'))).filter((f) => f !== HINT_NAME).sort()).toEqual([0, 1].flatMap((x) => [segmentName(x), segmentName(x, 'leaves')]).sort());
    ledger = await open();
    await ledger.appendBlock(Array.from({ length: 299 }, (_, i) => reading(301 + i)));
    await expectAll(ledger, 600);
    await ledger.close();
  });

  it('a block that fails after its bytes reached the segment leaves nothing behind once the next one is written', async () => {
    const { dir, open } = await setup();
    let ledger = await open(true);
    await ledger.appendBlock(Array.from({ length: 20 }, (_, i) => reading(i)));
    const backend = (ledger as unknown as { backend: LevelBackend }).backend;
    const real = backend.writeBlock.bind(backend);
    // fails in the LevelDB batch (no header value), after the segment write
    backend.writeBlock = (b) => real({ ...b, header: undefined as never });
    await expect(ledger.appendBlock(Array.from({ length: 200 }, (_, i) => reading(20 + i)))).rejects.toMatchObject({ code: 'LEVEL_INVALID_VALUE' });
    backend.writeBlock = real;
    await ledger.appendBlock(Array.from({ length: 10 }, (_, i) => reading(20 + i)));
    await ledger.close();
    const last = await entryLocation(dir, 29);
    expect((await stat(last.file)).size).toBe(last.end);
    expect((await stat(last.file.replace(/\.cbor$/, '.leaves'))).size).toBe(30 * 32);
    ledger = await open();
    await expectAll(ledger, 30);
    await ledger.close();
  });

  it('a new segment that only a crash wrote is cut when the committed entries end a segment', async () => {
    const { dir, open } = await setup();
    let ledger = await open(true);
    await ledger.appendBlock(Array.from({ length: 512 }, (_, i) => reading(i))); // exactly segments 0 and 1
    await ledger.close();
    const stale = join(dir, 'entries', segmentName(2));
    const staleLeaves = join(dir, 'entries', segmentName(2, 'leaves'));
    await writeFile(stale, new Uint8Array(5000).fill(0xee));
    await writeFile(staleLeaves, new Uint8Array(5000).fill(0xee));
    ledger = await open();
    expect((await stat(stale)).size).toBe(5000);
    await ledger.appendBlock([reading(512)]);
    await ledger.close();
    expect((await stat(stale)).size).toBe((await entryLocation(dir, 512)).end);
    expect((await stat(staleLeaves)).size).toBe(32);
    ledger = await open();
    await expectAll(ledger, 513);
    await ledger.close();
  });
});
