/**
 * The LevelDB backend's reads of the log's content (ledger/level-backend.ts): entries (a bundle's index record,
 * then its bytes from the segment files), tiles and headers, by position or streamed from one.
 */
import type { Level } from 'level';
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
 * committed: `last` is the last bundle stored).
 */
export async function readTiles(
  db: Db, segments: EntrySegments, last: BundleIndex | undefined, ids: readonly { level: number; tile: number }[],
): Promise<(Bytes | undefined)[]> {
  const stored = ids.filter((i) => i.level > 0);
  const committed = nextEntry(last, segments).index;
  const [vs, leaves] = await Promise.all([
    db.getMany(stored.map((i) => tileKey(i.level, i.tile))),
    Promise.all(ids.filter((i) => i.level === 0).map((i) => {
      const first = i.tile * TILE_WIDTH;
      return first < committed ? segments.readLeaves(first, Math.min(TILE_WIDTH, committed - first)) : undefined;
    })),
  ]);
  let s = 0;
  let l = 0;
  return ids.map((i) => {
    if (i.level === 0) return leaves[l++];
    const v = vs[s++];
    return v === undefined ? undefined : plain(v);
  });
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
