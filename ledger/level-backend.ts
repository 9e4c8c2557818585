/**
 * LevelDB backend (`level` 10 / classic-level): the entries' bytes go to append-only segment files, written and
 * fdatasync'ed first (ledger/entry-segments.ts); then one chained `batch` (atomic in LevelDB's write log) commits
 * the block: few records (ledger/keys.ts): the entries' index per 256-entry bundle, one time cluster, one record
 * of device rows (merged into per-device runs now and then: ledger/device-index.ts), tiles, header, checkpoint,
 * state; only the registry-type index (rare entries) is one small row per entry.
 */
import { Level } from 'level';
import type { BlockWrite, DeviceHit, IndexAudit, IndexAuditOptions, LedgerBackend, RangeOptions, TimeHit, WriteStage } from './backend.js';
import {
  ascending, chunkRuns, columnRows, countRows, decodeBlockRows, decodeRun, DeviceOverlay, encodeBlockRows, encodeRun,
  encodeRunColumns, MERGE_BLOCKS, MERGE_ROWS, mergeRows, RUN_ROWS, sortRows, type RowColumns,
} from './device-index.js';
import { decodeBundleIndex, encodeBundleIndex, EntrySegments, SEGMENT_BUNDLES, type BundleIndex } from './entry-segments.js';
import { LevelIndexAudit } from './level-audit.js';
import {
  blockEndKey, blockRowsKey, BUNDLE_WIDTH, bundleKey, checkpointKey, CONFIG_KEY, deviceHeadKey, deviceKey, devicePrefix,
  headerKey, META_KEY, P_DEVICE_ROWS, P_ENTRY, P_HEADER, prefixEnd, readU64, STATE_KEY, TILE_WIDTH, tileKey,
  TIME_WINDOW_MS, timeClusters, timeKey, typeKey, u64,
} from './keys.js';

type Bytes = Uint8Array;
const READING = 1;
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const utf8 = new TextEncoder();
const ENTRY_END = prefixEnd(new Uint8Array([P_ENTRY]));

export interface LevelBackendOptions {
  /** fsync each block (default true: a receipt is only sent after the block is durable). */
  sync?: boolean;
  /** When device rows are merged into runs (ledger/device-index.ts; default MERGE_ROWS / MERGE_BLOCKS). */
  deviceMerge?: { rows?: number; blocks?: number };
  /** LevelDB write buffer (memtable) size (default WRITE_BUFFER_BYTES). */
  writeBufferBytes?: number;
  /** Bundles per entry segment file when the store is created (default SEGMENT_BUNDLES; then read from the store). */
  segmentBundles?: number;
}

export const WRITE_BUFFER_BYTES = 16 << 20;

export class LevelBackend implements LedgerBackend {
  readonly kind = 'leveldb';
  readonly #db: Level<Bytes, Bytes>;
  readonly #sync: boolean;
  readonly #segments: EntrySegments;
  /** Index of the last bundle stored (complete or not): where the next entry goes. */
  #last: BundleIndex | undefined;
  /** Segment bytes past the committed entries (a crash's leftovers) are cut before the first write. */
  #uncut = false;
  /** The store's config record (u32 bundles per segment file), until the first block's batch writes it. */
  #config: Bytes | undefined;
  readonly #overlay = new DeviceOverlay();
  readonly #mergeRows: number;
  readonly #mergeBlocks: number;
  /** Test-only (crash points): called at each stage of a block's write; unset, one check per block. */
  #stageHook: ((stage: WriteStage) => void) | undefined;

  private constructor(db: Level<Bytes, Bytes>, segments: EntrySegments, last: BundleIndex | undefined, opts: LevelBackendOptions) {
    this.#db = db;
    this.#segments = segments;
    this.#last = last;
    this.#sync = opts.sync ?? true;
    this.#mergeRows = opts.deviceMerge?.rows ?? MERGE_ROWS;
    this.#mergeBlocks = opts.deviceMerge?.blocks ?? MERGE_BLOCKS;
  }

  static async open(dir: string, opts: LevelBackendOptions = {}): Promise<LevelBackend> {
    // Bounded native memory whatever the log's size: block cache and open table files are capped.
    // A larger write buffer (memtable) than LevelDB's 4 MB: every block writes keys across the whole key space,
    // so each level-0 file overlaps all of level 1 and each level-0 compaction rewrites level 1; fewer, bigger
    // level-0 files halve the compaction work (README, Performance). Costs up to twice this in memory.
    const writeBufferSize = opts.writeBufferBytes ?? WRITE_BUFFER_BYTES;
    const db = new Level<Bytes, Bytes>(dir, { keyEncoding: 'view', valueEncoding: 'view', cacheSize: 8 << 20, maxOpenFiles: 256, writeBufferSize } as never);
    await db.open();
    // Opening writes nothing (`ledger verify` opens a store too): the config record goes with the first block.
    // Whatever fails after the store is open closes it (and its lock): the caller gets the original error, and
    // the next open in this process is not refused with `LOCK: already held`.
    try {
      const config = await db.get(CONFIG_KEY);
      const segments = new EntrySegments(dir, config ? new DataView(config.buffer, config.byteOffset, 4).getUint32(0) : (opts.segmentBundles ?? SEGMENT_BUNDLES));
      let last: BundleIndex | undefined;
      for await (const [k, v] of db.iterator({ gte: bundleKey(0), lt: ENTRY_END, reverse: true, limit: 1 })) last = decodeBundleIndex(readU64(k, 1), plain(v));
      const backend = new LevelBackend(db, segments, last, opts);
      backend.#uncut = true;
      if (config === undefined) backend.#config = u32(segments.entries / BUNDLE_WIDTH);
      // Device rows of the blocks not merged yet (at most MERGE_BLOCKS records).
      const rowsPrefix = new Uint8Array([P_DEVICE_ROWS]);
      for await (const [k, v] of db.iterator({ gt: rowsPrefix, lt: prefixEnd(rowsPrefix) })) {
        for (const r of decodeBlockRows(plain(v))) backend.#overlay.add(r.deviceId, r.seq, r.index, r.receivedAtMs);
        backend.#overlay.sealed(readU64(k, 1));
      }
      return backend;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  async readState(): Promise<Bytes | undefined> {
    const v = await this.#db.get(STATE_KEY);
    return v === undefined ? undefined : plain(v);
  }

  async readMeta(): Promise<Bytes | undefined> {
    const v = await this.#db.get(META_KEY);
    return v === undefined ? undefined : plain(v);
  }

  async writeMeta(meta: Bytes): Promise<void> {
    await this.#db.put(META_KEY, meta, { sync: this.#sync } as never);
  }

  async writeBlock(b: BlockWrite): Promise<void> {
    const n = b.meta.length;
    if (b.ends.length !== n || b.lastIndex !== b.firstIndex + n - 1) throw new Error(`block ${b.height} has ${n} entries for [${b.firstIndex}, ${b.lastIndex}]`);
    const next = nextEntry(this.#last, this.#segments);
    if (b.firstIndex !== next.index) throw new Error(`block ${b.height} starts at entry ${b.firstIndex}, the store at ${next.index}`);
    const bundles = bundleIndexes(b, this.#last, next.offset, this.#segments.entries);
    const ov = this.#overlay;
    const rows = countRows(b);
    const merge = ov.rows + rows > 0 && (ov.rows + rows >= this.#mergeRows || ov.heights.length + 1 >= this.#mergeBlocks);
    const merged = merge ? await this.#mergeRuns(b) : undefined;
    if (this.#uncut) {
      await this.#segments.cut(next.index, next.offset);
      this.#uncut = false;
    }
    // The entries' bytes are durable before the batch that indexes them commits. When either fails, what was
    // written past the committed entries is cut before the next write.
    this.#uncut = true;
    await this.#segments.write(b.firstIndex, b.data, b.ends, b.leaves, next.offset, this.#sync);
    this.#stageHook?.('segments-written');
    const batch = this.#db.batch();
    try {
      if (this.#config) batch.put(CONFIG_KEY, this.#config);
      for (const x of bundles) batch.put(bundleKey(x.bundle), encodeBundleIndex(x));
      for (let i = 0; i < n; i++) {
        const type = b.meta[i]!.type;
        if (type !== READING) batch.put(typeKey(type, b.firstIndex + i), EMPTY);
      }
      if (merged) {
        for (const k of merged.dels) batch.del(k); // before the puts: a rewritten run may keep its key
        for (const [k, v] of merged.puts) batch.put(k, v);
      } else if (rows > 0) {
        batch.put(blockRowsKey(b.height), encodeBlockRows(b)!);
      }
      for (const [key, value] of timeClustersOf(b)) batch.put(key, value);
      // Level-0 tiles (leaf hashes) are in the segments' leaves files.
      for (const t of b.tiles) if (t.level > 0) batch.put(tileKey(t.level, t.tile), t.hashes);
      batch.put(headerKey(b.height), b.header);
      batch.put(blockEndKey(b.lastIndex), u64(b.height));
      batch.put(checkpointKey(b.treeSize), utf8.encode(b.checkpoint));
      batch.put(STATE_KEY, b.state);
    } catch (err) {
      await batch.close();
      throw err;
    }
    // batch.write hands the batch to LevelDB's thread before it returns its promise (classic-level: binding.batch_write).
    const written = batch.write({ sync: this.#sync } as never);
    this.#stageHook?.('batch-handed-over');
    await written;
    this.#uncut = false;
    this.#last = bundles[bundles.length - 1];
    this.#config = undefined;
    if (merged) {
      ov.clear();
    } else if (rows > 0) {
      ov.addBlock(b);
    }
  }

  /**
   * The records that move the overlay's rows and this block's into per-device runs, and delete the D records.
   * A device whose new rows all come after its stored ones (the usual case) only gets new runs; otherwise the
   * runs they overlap are read, merged with them and rewritten.
   */
  async #mergeRuns(b: BlockWrite): Promise<{ dels: Bytes[]; puts: [Bytes, Bytes][] }> {
    // Per device the overlay's columns, then this block's rows (on copies: the overlay changes only once the
    // batch has committed).
    const cols = new Map<string, RowColumns>();
    for (const d of this.#overlay.devices()) cols.set(d, this.#overlay.columns(d)!);
    const copied = new Set<string>();
    for (let i = 0; i < b.meta.length; i++) {
      const m = b.meta[i]!;
      if (m.deviceId === undefined || m.seq === undefined) continue;
      let c = cols.get(m.deviceId);
      if (!copied.has(m.deviceId)) {
        c = c ? { seq: c.seq.slice(), index: c.index.slice(), ms: c.ms.slice() } : { seq: [], index: [], ms: [] };
        cols.set(m.deviceId, c);
        copied.add(m.deviceId);
      }
      c!.seq.push(m.seq);
      c!.index.push(b.firstIndex + i);
      c!.ms.push(m.receivedAtMs ?? b.timeMs);
    }
    const devices = [...cols.keys()];
    const heads = await this.#db.getMany(devices.map(deviceHeadKey));
    const dels: Bytes[] = this.#overlay.heights.map(blockRowsKey);
    const puts: [Bytes, Bytes][] = [];
    for (let i = 0; i < devices.length; i++) {
      const deviceId = devices[i]!;
      const c = cols.get(deviceId)!;
      const head = heads[i] === undefined ? undefined : readU64(heads[i]!);
      const n = c.seq.length;
      if (ascending(c) && (head === undefined || head < c.seq[0]!)) {
        // The usual case: the rows follow the stored ones and are a run already.
        for (let from = 0; from < n; from += RUN_ROWS) {
          const to = Math.min(n, from + RUN_ROWS);
          puts.push([deviceKey(deviceId, c.seq[to - 1]!), encodeRunColumns(c, from, to)]);
        }
        puts.push([deviceHeadKey(deviceId), u64(c.seq[n - 1]!)]);
        continue;
      }
      let rows = sortRows(columnRows(c));
      if (head !== undefined && head >= rows[0]!.seq) {
        const stored = await this.#runsFrom(deviceId, rows[0]!.seq);
        dels.push(...stored.keys);
        rows = mergeRows(stored.rows, rows);
      }
      for (const run of chunkRuns(rows)) puts.push([deviceKey(deviceId, run[run.length - 1]!.seq), encodeRun(run)]);
      puts.push([deviceHeadKey(deviceId), u64(rows[rows.length - 1]!.seq)]);
    }
    return { dels, puts };
  }

  /** Every stored run of a device that may hold a seq >= `seq` (keys and rows, ascending). */
  async #runsFrom(deviceId: string, seq: number): Promise<{ keys: Bytes[]; rows: DeviceHit[] }> {
    const keys: Bytes[] = [];
    let rows: DeviceHit[] = [];
    for await (const [k, v] of this.#db.iterator({ gte: deviceKey(deviceId, seq), lt: prefixEnd(devicePrefix(deviceId)) })) {
      keys.push(plain(k).slice());
      rows = rows.concat(decodeRun(plain(v)));
    }
    return { keys, rows };
  }

  /** One index read for all bundles asked for, then one file read per bundle (its entries asked for and between). */
  async getEntries(indexes: readonly number[]): Promise<(Bytes | undefined)[]> {
    const wanted = new Map<number, { lo: number; hi: number }>();
    for (const i of indexes) {
      const bundle = Math.floor(i / BUNDLE_WIDTH);
      const k = i % BUNDLE_WIDTH;
      const w = wanted.get(bundle);
      wanted.set(bundle, w ? { lo: Math.min(w.lo, k), hi: Math.max(w.hi, k) } : { lo: k, hi: k });
    }
    const bundles = [...wanted.keys()];
    const records = await this.#db.getMany(bundles.map(bundleKey));
    const got = new Map<number, { x: BundleIndex; from: number; bytes: Bytes }>();
    await Promise.all(bundles.map(async (bundle, j) => {
      const v = records[j];
      if (v === undefined) return;
      const x = decodeBundleIndex(bundle, plain(v));
      const { lo, hi } = wanted.get(bundle)!;
      if (lo >= x.ends.length) return;
      const from = lo === 0 ? 0 : x.ends[lo - 1]!;
      const to = x.ends[Math.min(hi, x.ends.length - 1)]!;
      got.set(bundle, { x, from, bytes: await this.#segments.read(this.#segments.segmentOf(bundle * BUNDLE_WIDTH), x.base + from, x.base + to) });
    }));
    return indexes.map((i) => {
      const g = got.get(Math.floor(i / BUNDLE_WIDTH));
      const k = i % BUNDLE_WIDTH;
      if (!g || k >= g.x.ends.length) return undefined;
      return g.bytes.subarray((k === 0 ? 0 : g.x.ends[k - 1]!) - g.from, g.x.ends[k]! - g.from);
    });
  }

  /** Tiles of levels >= 1 in one LevelDB read; level-0 tiles from the segments' leaves files. */
  async getTiles(ids: readonly { level: number; tile: number }[]): Promise<(Bytes | undefined)[]> {
    const stored = ids.filter((i) => i.level > 0);
    const committed = nextEntry(this.#last, this.#segments).index;
    const [vs, leaves] = await Promise.all([
      this.#db.getMany(stored.map((i) => tileKey(i.level, i.tile))),
      Promise.all(ids.filter((i) => i.level === 0).map((i) => {
        const first = i.tile * TILE_WIDTH;
        return first < committed ? this.#segments.readLeaves(first, Math.min(TILE_WIDTH, committed - first)) : undefined;
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

  async getHeader(height: number): Promise<Bytes | undefined> {
    const v = await this.#db.get(headerKey(height));
    return v === undefined ? undefined : plain(v);
  }

  async blockHeightFor(index: number): Promise<number | undefined> {
    for await (const v of this.#db.values({ gte: blockEndKey(index), lt: prefixEnd(new Uint8Array([blockEndKey(0)[0]!])), limit: 1 })) return readU64(v);
    return undefined;
  }

  async getCheckpoint(treeSize: number): Promise<string | undefined> {
    const v = await this.#db.get(checkpointKey(treeSize));
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }

  /** Stored runs merged with the overlay's rows (read first, in the same tick as the iterator's snapshot). */
  async *deviceHits(deviceId: string, opts: RangeOptions & { afterSeq?: number }): AsyncIterable<DeviceHit> {
    const after = opts.afterSeq;
    const limit = opts.limit === undefined || opts.limit < 0 ? Infinity : opts.limit;
    if (limit === 0) return;
    const reverse = opts.reverse ?? false;
    let recent = this.#overlay.hits(deviceId).filter((h) => after === undefined || h.seq > after);
    if (reverse) recent = recent.reverse();
    // A run is keyed by its last seq: runs from the first one whose last seq >= after can hold seqs > after.
    const it = this.#db.values({ gte: deviceKey(deviceId, after ?? 0), lt: prefixEnd(devicePrefix(deviceId)), reverse });
    const before = reverse ? (a: DeviceHit, b: DeviceHit) => a.seq > b.seq : (a: DeviceHit, b: DeviceHit) => a.seq < b.seq;
    let j = 0;
    let sent = 0;
    try {
      for await (const v of it) {
        const run = decodeRun(plain(v));
        if (reverse) run.reverse();
        for (const h of run) {
          if (after !== undefined && h.seq <= after) {
            if (reverse) break; // descending: nothing further qualifies in this run (earlier runs are below it)
            continue;
          }
          while (j < recent.length && before(recent[j]!, h)) {
            yield recent[j++]!;
            if (++sent >= limit) return;
          }
          if (j < recent.length && recent[j]!.seq === h.seq) continue; // the newer overlay row is yielded instead
          yield h;
          if (++sent >= limit) return;
        }
      }
      while (j < recent.length) {
        yield recent[j++]!;
        if (++sent >= limit) return;
      }
    } finally {
      await it.close();
    }
  }

  async deviceSeq(deviceId: string, seq: number): Promise<DeviceHit | undefined> {
    const recent = this.#overlay.hits(deviceId).find((h) => h.seq === seq);
    if (recent) return recent;
    for await (const v of this.#db.values({ gte: deviceKey(deviceId, seq), lt: prefixEnd(devicePrefix(deviceId)), limit: 1 })) {
      return decodeRun(plain(v)).find((h) => h.seq === seq);
    }
    return undefined;
  }

  async *timeHits(fromMs: number, toMs: number, opts: { limit?: number; after?: TimeHit }): AsyncIterable<TimeHit> {
    const limit = opts.limit === undefined || opts.limit < 0 ? Infinity : opts.limit;
    const after = opts.after;
    const lo = Math.max(fromMs, after?.receivedAtMs ?? fromMs);
    // A cluster holding an entry at time t starts at or after t - TIME_WINDOW_MS, and at or before t.
    const it = this.#db.iterator({ gte: timeKey(Math.max(0, lo - TIME_WINDOW_MS), 0), lte: timeKey(toMs, Number.MAX_SAFE_INTEGER) });
    let hits: TimeHit[] = [];
    try {
      for (;;) {
        const page = await it.nextv(64);
        if (page.length === 0) break;
        let done = false;
        for (const [k, v] of page) {
          const minMs = readU64(k, 1);
          // Every later cluster starts at or after minMs: once `limit` hits come before it, they are final.
          if (hits.length >= limit && hits[limit - 1]!.receivedAtMs < minMs) {
            done = true;
            break;
          }
          const minIndex = readU64(k, 9);
          const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
          // A cluster's rows are sorted by time: binary-search the first at or after `lo` (the rows before it, up to
          // TIME_WINDOW_MS of them, are before the range or the cursor) and stop at the first past `toMs`.
          const rows = v.length >>> 3;
          let first = 0;
          for (let hi = rows; first < hi; ) {
            const mid = (first + hi) >>> 1;
            if (minMs + dv.getUint32(mid * 8) < lo) first = mid + 1;
            else hi = mid;
          }
          for (let o = first * 8; o + 8 <= v.length; o += 8) {
            const ms = minMs + dv.getUint32(o);
            if (ms > toMs) break;
            if (ms < fromMs) continue;
            const index = minIndex + dv.getUint32(o + 4);
            if (after && (ms < after.receivedAtMs || (ms === after.receivedAtMs && index <= after.index))) continue;
            hits.push({ receivedAtMs: ms, index });
          }
          if (hits.length > limit) hits = sortHits(hits).slice(0, limit);
          else if (hits.length === limit) sortHits(hits);
        }
        if (done) break;
      }
    } finally {
      await it.close();
    }
    yield* sortHits(hits).slice(0, limit);
  }

  async *typeHits(type: number, opts: RangeOptions & { afterIndex?: number }): AsyncIterable<number> {
    const lower = opts.afterIndex === undefined ? { gte: typeKey(type, 0) } : { gt: typeKey(type, opts.afterIndex) };
    for await (const k of this.#db.keys({ ...lower, lte: typeKey(type, Number.MAX_SAFE_INTEGER), limit: opts.limit ?? -1, reverse: opts.reverse ?? false })) {
      yield readU64(k, 2);
    }
  }

  /**
   * Streams bundles: index records read in pages (`nextv`), each page's entry bytes read with one file read per
   * bundle, the next page read ahead while this one is consumed; one run per bundle.
   */
  async *entriesFrom(index: number): AsyncIterable<[number, Bytes[]]> {
    const it = this.#db.iterator({ gte: bundleKey(Math.floor(index / BUNDLE_WIDTH)), lt: ENTRY_END });
    const page = async (): Promise<[number, Bytes[]][]> => {
      const rows = await it.nextv(16);
      return Promise.all(rows.map(async ([k, v]): Promise<[number, Bytes[]]> => {
        const x = decodeBundleIndex(readU64(k, 1), plain(v));
        const bytes = await this.#segments.read(this.#segments.segmentOf(x.bundle * BUNDLE_WIDTH), x.base, x.base + (x.ends[x.ends.length - 1] ?? 0));
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

  async *headersFrom(height: number): AsyncIterable<[number, Bytes]> {
    for await (const [k, v] of this.#db.iterator({ gte: headerKey(height), lt: prefixEnd(new Uint8Array([P_HEADER])) })) yield [readU64(k, 1), plain(v)];
  }

  /** `ledger verify`'s check of the indexes (ledger/level-audit.ts). */
  auditIndexes(opts: IndexAuditOptions): IndexAudit {
    return new LevelIndexAudit(this.#db, this, opts);
  }

  setWriteStageHook(hook: ((stage: WriteStage) => void) | undefined): void {
    this.#stageHook = hook;
  }

  async close(): Promise<void> {
    await this.#segments.close();
    await this.#db.close();
  }
}

const EMPTY = new Uint8Array(0);
const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

/** The first entry not stored yet and its byte offset in its segment, from the last bundle's index. */
function nextEntry(last: BundleIndex | undefined, segments: EntrySegments): { index: number; offset: number } {
  if (!last) return { index: 0, offset: 0 };
  const index = last.bundle * BUNDLE_WIDTH + last.ends.length;
  const same = segments.segmentOf(index) === segments.segmentOf(last.bundle * BUNDLE_WIDTH);
  return { index, offset: same ? last.base + (last.ends[last.ends.length - 1] ?? 0) : 0 };
}

/** The index records of the bundles a block touches (the last stored bundle continued when it is partial). */
function bundleIndexes(b: BlockWrite, last: BundleIndex | undefined, offset: number, segmentEntries: number): BundleIndex[] {
  const out: BundleIndex[] = [];
  let cur = last && last.ends.length < BUNDLE_WIDTH ? { bundle: last.bundle, base: last.base, ends: last.ends.slice() } : undefined;
  for (let i = 0; i < b.ends.length; i++) {
    const index = b.firstIndex + i;
    if (index % segmentEntries === 0) offset = 0; // a new segment file
    const bundle = Math.floor(index / BUNDLE_WIDTH);
    if (cur?.bundle !== bundle) cur = { bundle, base: offset, ends: [] };
    if (out[out.length - 1] !== cur) out.push(cur);
    offset += b.ends[i]! - (i === 0 ? 0 : b.ends[i - 1]!);
    cur.ends.push(offset - cur.base);
  }
  return out;
}
const sortHits = (h: TimeHit[]): TimeHit[] => h.sort((a, b) => a.receivedAtMs - b.receivedAtMs || a.index - b.index);

/**
 * The block's time clusters (ledger/keys.ts): entries sorted by (receivedAtMs, index), cut whenever a cluster
 * would span more than TIME_WINDOW_MS. A block whose clock ran normally is one cluster.
 */
function timeClustersOf(b: BlockWrite): [Uint8Array, Uint8Array][] {
  const n = b.meta.length;
  const ms = new Float64Array(n);
  let ascending = true;
  for (let i = 0; i < n; i++) {
    ms[i] = b.meta[i]!.receivedAtMs ?? b.timeMs;
    if (i > 0 && ms[i]! < ms[i - 1]!) ascending = false;
  }
  return timeClusters(b.firstIndex, ms, ascending);
}

