/**
 * LevelDB backend (`level` 10 / classic-level): one block = one chained `batch` (atomic in LevelDB's write log).
 * A block is few records (ledger/keys.ts): its entries packed into 256-entry bundles, one time cluster, one
 * record of device rows (merged into per-device runs now and then: ledger/device-index.ts), tiles, header,
 * checkpoint, state; only the registry-type index (rare entries) is one small row per entry.
 */
import { Level } from 'level';
import type { BlockWrite, DeviceHit, LedgerBackend, RangeOptions, TimeHit } from './backend.js';
import {
  chunkRuns, decodeBlockRows, decodeRun, DeviceOverlay, encodeBlockRows, encodeRun, MERGE_BLOCKS, MERGE_ROWS, mergeRows,
  sortRows, type DeviceRow,
} from './device-index.js';
import {
  blockEndKey, blockRowsKey, BUNDLE_WIDTH, bundleEntryRange, bundleKey, checkpointKey, deviceHeadKey, deviceKey,
  devicePrefix, headerKey, META_KEY, P_DEVICE_ROWS, P_ENTRY, P_HEADER, packBundle, prefixEnd, readU64, STATE_KEY,
  tileKey, TIME_WINDOW_MS, timeKey, typeKey, u64, unpackBundle,
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
}

/** The last, partial entry bundle as stored (kept so a block need not read it back). */
interface Tail {
  bundle: number;
  entries: Uint8Array[];
}

export class LevelBackend implements LedgerBackend {
  readonly kind = 'leveldb';
  readonly #db: Level<Bytes, Bytes>;
  readonly #sync: boolean;
  #tail: Tail | undefined;
  readonly #overlay = new DeviceOverlay();
  readonly #mergeRows: number;
  readonly #mergeBlocks: number;

  private constructor(db: Level<Bytes, Bytes>, opts: LevelBackendOptions) {
    this.#db = db;
    this.#sync = opts.sync ?? true;
    this.#mergeRows = opts.deviceMerge?.rows ?? MERGE_ROWS;
    this.#mergeBlocks = opts.deviceMerge?.blocks ?? MERGE_BLOCKS;
  }

  static async open(dir: string, opts: LevelBackendOptions = {}): Promise<LevelBackend> {
    // Bounded native memory whatever the log's size: block cache and open table files are capped.
    const db = new Level<Bytes, Bytes>(dir, { keyEncoding: 'view', valueEncoding: 'view', cacheSize: 8 << 20, maxOpenFiles: 256 } as never);
    await db.open();
    const backend = new LevelBackend(db, opts);
    // Device rows of the blocks not merged yet (at most MERGE_BLOCKS records).
    const rowsPrefix = new Uint8Array([P_DEVICE_ROWS]);
    for await (const [k, v] of db.iterator({ gt: rowsPrefix, lt: prefixEnd(rowsPrefix) })) backend.#overlay.add(readU64(k, 1), decodeBlockRows(plain(v)));
    return backend;
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

  /** Entries of the partial bundle that `firstIndex` continues (empty when it starts a bundle). */
  async #tailFor(firstIndex: number): Promise<Uint8Array[]> {
    const have = firstIndex % BUNDLE_WIDTH;
    if (have === 0) return [];
    const bundle = Math.floor(firstIndex / BUNDLE_WIDTH);
    if (this.#tail && this.#tail.bundle === bundle && this.#tail.entries.length === have) return this.#tail.entries;
    const v = await this.#db.get(bundleKey(bundle));
    const entries = v === undefined ? [] : unpackBundle(plain(v));
    if (entries.length !== have) throw new Error(`entry bundle ${bundle} holds ${entries.length} entries, expected ${have}`);
    return entries.map((e) => e.slice());
  }

  async writeBlock(b: BlockWrite): Promise<void> {
    const entries = b.entries;
    const n = entries.length;
    let bundleEntries = (await this.#tailFor(b.firstIndex)).slice();
    let bundle = Math.floor(b.firstIndex / BUNDLE_WIDTH);
    const rows: DeviceRow[] = [];
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      if (e.deviceId !== undefined && e.seq !== undefined) rows.push({ deviceId: e.deviceId, seq: e.seq, index: e.index, receivedAtMs: e.receivedAtMs });
    }
    const ov = this.#overlay;
    const merge = ov.rows + rows.length > 0 && (ov.rows + rows.length >= this.#mergeRows || ov.heights.length + 1 >= this.#mergeBlocks);
    const merged = merge ? await this.#mergeRuns(rows) : undefined;
    const batch = this.#db.batch();
    try {
      for (let i = 0; i < n; i++) {
        const e = entries[i]!;
        if (e.index !== b.firstIndex + i) throw new Error(`entry ${e.index} out of order in block ${b.height}`);
        bundleEntries.push(e.bytes);
        if (bundleEntries.length === BUNDLE_WIDTH) {
          batch.put(bundleKey(bundle), packBundle(bundleEntries));
          bundle++;
          bundleEntries = [];
        }
        if (e.type !== READING) batch.put(typeKey(e.type, e.index), EMPTY);
      }
      if (bundleEntries.length > 0) batch.put(bundleKey(bundle), packBundle(bundleEntries));
      if (merged) {
        for (const k of merged.dels) batch.del(k); // before the puts: a rewritten run may keep its key
        for (const [k, v] of merged.puts) batch.put(k, v);
      } else if (rows.length > 0) {
        batch.put(blockRowsKey(b.height), encodeBlockRows(rows));
      }
      for (const [key, value] of timeClusters(b)) batch.put(key, value);
      for (const t of b.tiles) batch.put(tileKey(t.level, t.tile), t.hashes);
      batch.put(headerKey(b.height), b.header);
      batch.put(blockEndKey(b.lastIndex), u64(b.height));
      batch.put(checkpointKey(b.treeSize), utf8.encode(b.checkpoint));
      batch.put(STATE_KEY, b.state);
    } catch (err) {
      await batch.close();
      throw err;
    }
    await batch.write({ sync: this.#sync } as never);
    this.#tail = bundleEntries.length > 0 ? { bundle, entries: bundleEntries } : undefined;
    if (merged) ov.clear();
    else if (rows.length > 0) ov.add(b.height, rows);
  }

  /**
   * The records that move the overlay's rows and this block's into per-device runs, and delete the D records.
   * A device whose new rows all come after its stored ones (the usual case) only gets new runs; otherwise the
   * runs they overlap are read, merged with them and rewritten.
   */
  async #mergeRuns(blockRows: readonly DeviceRow[]): Promise<{ dels: Bytes[]; puts: [Bytes, Bytes][] }> {
    const byDevice = new Map<string, DeviceHit[]>();
    for (const d of this.#overlay.devices()) byDevice.set(d, [...this.#overlay.hits(d)]);
    const fresh = new Map<string, DeviceHit[]>();
    for (const r of blockRows) {
      let l = fresh.get(r.deviceId);
      if (!l) fresh.set(r.deviceId, (l = []));
      l.push({ seq: r.seq, index: r.index, receivedAtMs: r.receivedAtMs });
    }
    for (const [d, l] of fresh) byDevice.set(d, mergeRows(byDevice.get(d) ?? [], sortRows(l)));
    const devices = [...byDevice.keys()];
    const heads = await this.#db.getMany(devices.map(deviceHeadKey));
    const dels: Bytes[] = this.#overlay.heights.map(blockRowsKey);
    const puts: [Bytes, Bytes][] = [];
    for (let i = 0; i < devices.length; i++) {
      const deviceId = devices[i]!;
      let rows = byDevice.get(deviceId)!;
      const head = heads[i];
      if (head !== undefined && readU64(head) >= rows[0]!.seq) {
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

  async getEntries(indexes: readonly number[]): Promise<(Bytes | undefined)[]> {
    const bundles = [...new Set(indexes.map((i) => Math.floor(i / BUNDLE_WIDTH)))];
    const vs = await this.#db.getMany(bundles.map(bundleKey));
    const byBundle = new Map(bundles.map((b, i) => [b, vs[i]]));
    return indexes.map((i) => {
      const v = byBundle.get(Math.floor(i / BUNDLE_WIDTH));
      const r = v === undefined ? undefined : bundleEntryRange(v, i % BUNDLE_WIDTH);
      return r === undefined ? undefined : v!.slice(r[0], r[1]);
    });
  }

  async getTiles(ids: readonly { level: number; tile: number }[]): Promise<(Bytes | undefined)[]> {
    const vs = await this.#db.getMany(ids.map((i) => tileKey(i.level, i.tile)));
    return vs.map((v) => (v === undefined ? undefined : plain(v)));
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
          for (let o = 0; o + 8 <= v.length; o += 8) {
            const ms = minMs + dv.getUint32(o);
            if (ms < fromMs || ms > toMs) continue;
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

  /** Streams bundles with a big-batch iterator (`nextv`, reading ahead); one run per bundle. */
  async *entriesFrom(index: number): AsyncIterable<[number, Bytes[]]> {
    const it = this.#db.iterator({ gte: bundleKey(Math.floor(index / BUNDLE_WIDTH)), lt: ENTRY_END });
    let next = it.nextv(16);
    try {
      for (;;) {
        const page = await next;
        if (page.length === 0) return;
        next = it.nextv(16); // read ahead while this page is consumed
        for (const [k, v] of page) {
          const first = readU64(k, 1) * BUNDLE_WIDTH;
          const list = unpackBundle(plain(v));
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

  close(): Promise<void> {
    return this.#db.close();
  }
}

const EMPTY = new Uint8Array(0);
const sortHits = (h: TimeHit[]): TimeHit[] => h.sort((a, b) => a.receivedAtMs - b.receivedAtMs || a.index - b.index);

/**
 * The block's time clusters (ledger/keys.ts): entries sorted by (receivedAtMs, index), cut whenever a cluster
 * would span more than TIME_WINDOW_MS. A block whose clock ran normally is one cluster.
 */
function timeClusters(b: BlockWrite): [Uint8Array, Uint8Array][] {
  const es = b.entries;
  let order: number[] | undefined;
  for (let i = 1; i < es.length; i++) {
    if (es[i]!.receivedAtMs < es[i - 1]!.receivedAtMs) {
      order = es.map((_, j) => j).sort((x, y) => es[x]!.receivedAtMs - es[y]!.receivedAtMs || x - y);
      break;
    }
  }
  const at = (i: number) => es[order ? order[i]! : i]!;
  const out: [Uint8Array, Uint8Array][] = [];
  for (let start = 0; start < es.length; ) {
    const minMs = at(start).receivedAtMs;
    let end = start + 1;
    let minIndex = at(start).index;
    while (end < es.length && at(end).receivedAtMs - minMs <= TIME_WINDOW_MS) {
      minIndex = Math.min(minIndex, at(end).index);
      end++;
    }
    const v = new Uint8Array(8 * (end - start));
    const dv = new DataView(v.buffer);
    for (let i = start; i < end; i++) {
      dv.setUint32(8 * (i - start), at(i).receivedAtMs - minMs);
      dv.setUint32(8 * (i - start) + 4, at(i).index - minIndex);
    }
    out.push([timeKey(minMs, minIndex), v]);
    start = end;
  }
  return out;
}
