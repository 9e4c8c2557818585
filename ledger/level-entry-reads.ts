/**
 * The LevelDB backend's reads of the log's content (ledger/level-backend.ts): entries (a bundle's index record,
 * then its bytes from the segment files), tiles and headers, by position or streamed from one.
 */
import type { Level } from 'level';
import { HASH_SIZE } from '../protocol/merkle/index.js';
import { decodeBundleIndex, type BundleIndex, type EntrySegments } from './entry-segments.js';
import { BUNDLE_WIDTH, bundleKey, headerKey, P_HEADER, prefixEnd, readU64, TILE_WIDTH, tileKey } from './keys.js';
import { ENTRY_END, nextEntry, plain } from './level-records.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;

/** One index read for all bundles asked for, then one file read per bundle (its entries asked for and between). */
export async function readEntries(db: Db, segments: EntrySegments, indexes: readonly number[]): Promise<(Bytes | undefined)[]> {
  const wanted = new Map<number, { lo: number; hi: number }>();
  for (const i of indexes) {
    const bundle = Math.floor(i / BUNDLE_WIDTH);
    const k = i % BUNDLE_WIDTH;
    const w = wanted.get(bundle);
    wanted.set(bundle, w ? { lo: Math.min(w.lo, k), hi: Math.max(w.hi, k) } : { lo: k, hi: k });
  }
  const bundles = [...wanted.keys()];
  const records = await db.getMany(bundles.map(bundleKey));
  const got = new Map<number, { x: BundleIndex; from: number; bytes: Bytes }>();
  await Promise.all(bundles.map(async (bundle, j) => {
    const v = records[j];
    if (v === undefined) return;
    const x = decodeBundleIndex(bundle, plain(v));
    const { lo, hi } = wanted.get(bundle)!;
    if (lo >= x.ends.length) return;
    const from = lo === 0 ? 0 : x.ends[lo - 1]!;
    const to = x.ends[Math.min(hi, x.ends.length - 1)]!;
    got.set(bundle, { x, from, bytes: await segments.read(segments.segmentOf(bundle * BUNDLE_WIDTH), x.base + from, x.base + to) });
  }));
  return indexes.map((i) => {
    const g = got.get(Math.floor(i / BUNDLE_WIDTH));
    const k = i % BUNDLE_WIDTH;
    if (!g || k >= g.x.ends.length) return undefined;
    return g.bytes.subarray((k === 0 ? 0 : g.x.ends[k - 1]!) - g.from, g.x.ends[k]! - g.from);
  });
}

/**
 * Tiles of levels >= 1 in one LevelDB read; level-0 tiles from the segments' leaves files (up to the entries
 * committed: `last` is the last bundle stored), one file read per run of nearby tiles (readLeafTiles).
 */
export async function readTiles(
  db: Db, segments: EntrySegments, last: BundleIndex | undefined, ids: readonly { level: number; tile: number }[],
): Promise<(Bytes | undefined)[]> {
  const stored = ids.filter((i) => i.level > 0);
  const committed = nextEntry(last, segments).index;
  const [vs, leaves] = await Promise.all([
    stored.length === 0 ? [] : db.getMany(stored.map((i) => tileKey(i.level, i.tile))),
    readLeafTiles(segments, committed, ids.filter((i) => i.level === 0).map((i) => i.tile)),
  ]);
  let s = 0;
  let l = 0;
  return ids.map((i) => {
    if (i.level === 0) return leaves[l++];
    const v = vs[s++];
    return v === undefined ? undefined : plain(v);
  });
}

/** Tiles at most this far apart are read in one file read, the leaves between them read and dropped. */
const LEAF_TILE_GAP = 4;
/** The most tiles one such read spans (1 MiB). */
const LEAF_RUN_TILES = 128;

/**
 * Level-0 tiles (leaf hashes of entries [tile * 256, ...) below `committed`), in the order asked. Nearby tiles of one
 * segment file are read in one file read: a device's entries, listed, are spread over many tiles, and one read of
 * them all measured several times faster than one each (100 entries 500 apart: 0.3 ms, not 2.0 ms;
 * ledger/entry-self-check.ts). Tiles join a run while at most LEAF_TILE_GAP apart and while the tiles read only to be
 * dropped are no more than those asked for (at most twice the bytes of reading each tile apart), up to LEAF_RUN_TILES.
 */
async function readLeafTiles(segments: EntrySegments, committed: number, tiles: readonly number[]): Promise<(Bytes | undefined)[]> {
  const sorted = [...new Set(tiles)].filter((t) => t * TILE_WIDTH < committed).sort((a, b) => a - b);
  const runs: { from: number; to: number; asked: number }[] = []; // tiles [from, to], `asked` of them asked for
  for (const t of sorted) {
    const r = runs[runs.length - 1];
    const joins = r !== undefined && t - r.to <= LEAF_TILE_GAP && t - r.from < LEAF_RUN_TILES &&
      t - r.from + 1 - (r.asked + 1) <= r.asked + 1 && segments.segmentOf(t * TILE_WIDTH) === segments.segmentOf(r.from * TILE_WIDTH);
    if (joins) {
      r.to = t;
      r.asked++;
    } else {
      runs.push({ from: t, to: t, asked: 1 });
    }
  }
  const byTile = new Map<number, Bytes>();
  await Promise.all(runs.map(async ({ from, to }) => {
    const first = from * TILE_WIDTH;
    const end = Math.min((to + 1) * TILE_WIDTH, committed);
    const bytes = await segments.readLeaves(first, end - first);
    for (let t = from; t <= to; t++) {
      const a = (t - from) * TILE_WIDTH * HASH_SIZE;
      byTile.set(t, bytes.subarray(a, Math.min(a + TILE_WIDTH * HASH_SIZE, bytes.length)));
    }
  }));
  return tiles.map((t) => byTile.get(t));
}

/**
 * Streams bundles: index records read in pages (`nextv`), each page's entry bytes read with one file read per
 * bundle, the next page read ahead while this one is consumed; one run per bundle.
 */
export async function* streamEntriesFrom(db: Db, segments: EntrySegments, index: number): AsyncIterable<[number, Bytes[]]> {
  const it = db.iterator({ gte: bundleKey(Math.floor(index / BUNDLE_WIDTH)), lt: ENTRY_END });
  const page = async (): Promise<[number, Bytes[]][]> => {
    const rows = await it.nextv(16);
    return Promise.all(rows.map(async ([k, v]): Promise<[number, Bytes[]]> => {
      const x = decodeBundleIndex(readU64(k, 1), plain(v));
      const bytes = await segments.read(segments.segmentOf(x.bundle * BUNDLE_WIDTH), x.base, x.base + (x.ends[x.ends.length - 1] ?? 0));
      return [x.bundle * BUNDLE_WIDTH, x.ends.map((end, k2) => bytes.subarray(k2 === 0 ? 0 : x.ends[k2 - 1]!, end))];
    }));
  };
  let next = page();
  try {
    for (;;) {
      const runs = await next;
      if (runs.length === 0) return;
      next = page(); // read ahead while this page is consumed
      for (const [first, list] of runs) {
        if (first >= index) yield [first, list];
        else if (first + list.length > index) yield [index, list.slice(index - first)];
      }
    }
  } finally {
    await next.catch(() => undefined);
    await it.close();
  }
}

export async function* streamHeadersFrom(db: Db, height: number): AsyncIterable<[number, Bytes]> {
  for await (const [k, v] of db.iterator({ gte: headerKey(height), lt: prefixEnd(new Uint8Array([P_HEADER])) })) yield [readU64(k, 1), plain(v)];
}
