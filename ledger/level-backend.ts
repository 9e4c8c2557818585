/**
 * LevelDB backend (`level` 10 / classic-level): the entries' bytes go to append-only segment files, written and
 * fdatasync'ed first (ledger/entry-segments.ts); then one chained `batch` (atomic in LevelDB's write log) commits
 * the block: few records (ledger/keys.ts): the entries' index per 256-entry bundle, one time cluster, one record
 * of device rows (merged into per-device runs now and then: ledger/device-index.ts), tiles, header, checkpoint,
 * state; only the registry-type index (rare entries) is one small row per entry. Once the batch is durable, the
 * committed tree size goes to `entries/committed` (ledger/committed-hint.ts: one unsynced write, not waited for), so
 * that opening for the gateway can tell a store older than its segment files from a crash's leftovers.
 * This class holds the db handle and the write path's state and writes the block; the records it computes come
 * from ledger/level-records.ts (pure) and ledger/level-device-merge.ts (device runs); the reads are in
 * ledger/level-entry-reads.ts (entries, tiles, headers) and ledger/level-index-queries.ts (device, time, type).
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Level } from 'level';
import type { BlockWrite, DeviceHit, IndexAudit, IndexAuditOptions, LedgerBackend, RangeOptions, TimeHit, WriteStage } from './backend.js';
import { countRows, decodeBlockRows, DeviceOverlay, encodeBlockRows, MERGE_BLOCKS, MERGE_ROWS } from './device-index.js';
import { CommittedHintWriter, HINT_NAME, readCommittedHint } from './committed-hint.js';
import { decodeBundleIndex, encodeBundleIndex, EntrySegments, SEGMENT_BUNDLES, type BundleIndex, type SegmentKind } from './entry-segments.js';
import { HASH_SIZE } from '../protocol/merkle/index.js';
import { LedgerDamagedError } from './errors.js';
import { LevelIndexAudit } from './level-audit.js';
import { mergeRuns } from './level-device-merge.js';
import { readEntries, readTiles, streamEntriesFrom, streamHeadersFrom } from './level-entry-reads.js';
import { findDeviceHits, findDeviceSeq, findTimeHits, findTypeHits } from './level-index-queries.js';
import { bundleIndexes, ENTRY_END, nextEntry, plain, timeClustersOf, u32 } from './level-records.js';
import {
  blockEndKey, blockRowsKey, BUNDLE_WIDTH, bundleKey, checkpointKey, CONFIG_KEY, deviceIdOfKey, headerKey, META_KEY, P_DEVICE_ROWS,
  P_TOKEN_IAT, prefixEnd, readU64, STATE_KEY, tileKey, tokenIatKey, typeKey, u64,
} from './keys.js';

type Bytes = Uint8Array;
const READING = 1;
const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

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
  /**
   * Writes `entries/committed` after each committed block (ledger/committed-hint.ts); only with `sync`: the hint may
   * never be ahead of the store on disk, and an unsynced batch is not on disk yet when its hint would be written.
   */
  readonly #hint: CommittedHintWriter | undefined;
  /** Test-only (crash points): called at each stage of a block's write; unset, one check per block. */
  #stageHook: ((stage: WriteStage) => void) | undefined;

  private constructor(db: Level<Bytes, Bytes>, segments: EntrySegments, last: BundleIndex | undefined, opts: LevelBackendOptions) {
    this.#db = db;
    this.#segments = segments;
    this.#last = last;
    this.#sync = opts.sync ?? true;
    this.#mergeRows = opts.deviceMerge?.rows ?? MERGE_ROWS;
    this.#mergeBlocks = opts.deviceMerge?.blocks ?? MERGE_BLOCKS;
    this.#hint = this.#sync ? new CommittedHintWriter(this.#hintPath()) : undefined;
  }

  #hintPath(): string {
    return join(dirname(this.#segments.path(0, 'cbor')), HINT_NAME);
  }

  static async open(dir: string, opts: LevelBackendOptions = {}): Promise<LevelBackend> {
    // Bounded native memory whatever the log's size: block cache and open table files are capped.
    // A larger write buffer (memtable) than LevelDB's 4 MB: every block writes keys across the whole key space,
    // so each level-0 file overlaps all of level 1 and each level-0 compaction rewrites level 1; fewer, bigger
    // level-0 files halve the compaction work (README, Performance). Costs up to twice this in memory.
    const writeBufferSize = opts.writeBufferBytes ?? WRITE_BUFFER_BYTES;
    await refuseNewStoreOverLog(dir);
    const db = new Level<Bytes, Bytes>(dir, { keyEncoding: 'view', valueEncoding: 'view', cacheSize: 8 << 20, maxOpenFiles: 256, writeBufferSize } as never);
    // LevelDB's own reason (`IO error: .../CURRENT: Is a directory`, a corrupt manifest) is the cause of its error,
    // whose message says only `Database failed to open`: named here, with the directory (the error's code kept).
    await db.open().catch((err: Error & { code?: unknown; cause?: unknown }) => {
      const why = err.cause instanceof Error ? err.cause.message : err.message;
      throw Object.assign(new Error(`ledger store ${dir} cannot be opened: ${why}`, { cause: err }), { code: err.code });
    });
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

  async *tokenIats(): AsyncIterable<[string, number]> {
    const prefix = new Uint8Array([P_TOKEN_IAT]);
    for await (const [k, v] of this.#db.iterator({ gt: prefix, lt: prefixEnd(prefix) })) {
      yield [deviceIdOfKey(k), readU64(v)];
    }
  }

  async writeTokenIats(rows: readonly (readonly [string, number])[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#db.batch(rows.map(([deviceId, iat]) => ({ type: 'put' as const, key: tokenIatKey(deviceId), value: u64(iat) })), { sync: this.#sync } as never);
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
    const merged = merge ? await mergeRuns(this.#db, this.#overlay, b) : undefined;
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
    // The batch is durable (synced) here, so the hint, written from now on and never ahead of it, cannot say more
    // than the store holds, whatever reaches the disk (ledger/committed-hint.ts). Not awaited: one write, off the
    // receipts' path.
    this.#hint?.set({ treeSize: b.treeSize, height: b.height });
  }

  /**
   * Throws, naming the file, unless the entry segment files hold every committed entry: each segment's entries file
   * at least as long as its last committed entry's end, its leaves file a leaf hash for each of its entries. A
   * segment file missing or cut short (a partial restore, a copy whose segments are older than its store, a damaged
   * disk) was otherwise found only by the reads that reach it: the gateway started, served such entries as internal
   * errors and appended past the hole (found by review). One index read per segment file, then a stat of each.
   * `maxUncommitted`: also throws when the leaves files hold more entries past the committed ones than this. A crash
   * leaves one block's at most (written before the batch indexing them); more means a LevelDB store older than its
   * segment files (restored or copied apart from them, or its log's tail lost), whose first block would cut entries
   * that were receipted and log others at their indexes. Fewer are told from a crash's leftovers by the
   * committed-size hint (`entries/committed`, ledger/committed-hint.ts), checked whatever `maxUncommitted`: a valid
   * hint larger than the store's committed size means the same (a missing or invalid one is ignored).
   */
  async checkSegmentFiles(opts: { maxUncommitted?: number } = {}): Promise<void> {
    const last = this.#last;
    const seg = this.#segments;
    if (!last) {
      // The meta record is written (synced) when a ledger is first opened, before any segment file: a store without
      // it beside segment files lost its records (its tables and logs gone, CURRENT and MANIFEST left), and would
      // start the log again at entry 0 over them (found by review).
      const dir = dirname(seg.path(0, 'cbor'));
      const files = await readdir(dir).catch(() => [] as string[]);
      if (files.length > 0 && (await this.#db.get(META_KEY)) === undefined) {
        throw new LedgerDamagedError(
          `ledger directory ${dirname(dir)}: its LevelDB store holds no ledger (no meta record: its table and log files lost?), but ${dir} holds entry segment files (${files.slice(0, 3).join(', ')}): ` +
            'a new log would start again at entry 0 and overwrite them. Restore the whole ledger directory from a backup, or move it away to start a new log',
        );
      }
      await this.#checkCommittedHint(0);
      return this.#checkUncommitted(0, opts.maxUncommitted);
    }
    const perSegment = seg.entries / BUNDLE_WIDTH;
    const lastSegment = seg.segmentOf(last.bundle * BUNDLE_WIDTH);
    const entriesDir = dirname(seg.path(0, 'cbor'));
    const dirStat = await stat(entriesDir).catch(() => null);
    if (!dirStat?.isDirectory()) {
      throw new LedgerDamagedError(
        `ledger entries directory ${entriesDir} ${dirStat ? 'is not a directory' : 'is missing'}, but the store's index says it holds entries 0 to ${last.bundle * BUNDLE_WIDTH + last.ends.length - 1}: ` +
          'restore the whole ledger directory from one backup',
      );
    }
    for (let s = 0; s <= lastSegment; s++) {
      let x = last;
      if (s < lastSegment) {
        const b = (s + 1) * perSegment - 1;
        const v = await this.#db.get(bundleKey(b));
        if (v === undefined) throw new LedgerDamagedError(`ledger store ${dirname(dirname(seg.path(s, 'cbor')))}: the index record of entry bundle ${b}, the last of segment file ${seg.path(s, 'cbor')}, is missing (the store is damaged)`);
        x = decodeBundleIndex(b, plain(v));
      }
      const count = (x.bundle - s * perSegment) * BUNDLE_WIDTH + x.ends.length;
      const need: [SegmentKind, number][] = [['cbor', x.base + (x.ends[x.ends.length - 1] ?? 0)], ['leaves', count * HASH_SIZE]];
      for (const [kind, bytes] of need) {
        const path = seg.path(s, kind);
        const st = await stat(path).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
        const have = st === null ? 'is missing' : !st.isFile() ? 'is not a file' : st.size < bytes ? `holds ${st.size} bytes` : null;
        if (have) {
          throw new LedgerDamagedError(
            `ledger entry segment file ${path} ${have}, but the store's index says it holds entries ${s * seg.entries} to ${s * seg.entries + count - 1} (${bytes} bytes): ` +
              'the segment files are incomplete, damaged or older than the LevelDB store beside them (a partial restore or copy?). ' +
              'Restore the whole ledger directory from one backup; started on it, the gateway would serve and extend a log missing entries it accepted',
          );
        }
      }
    }
    const committed = last.bundle * BUNDLE_WIDTH + last.ends.length;
    await this.#checkCommittedHint(committed);
    return this.#checkUncommitted(committed, opts.maxUncommitted);
  }

  /** Throws when the committed-size hint is valid and larger than `committed`, the entries the store indexes. */
  async #checkCommittedHint(committed: number): Promise<void> {
    const path = this.#hintPath();
    const hint = await readCommittedHint(path);
    if (!hint || hint.treeSize <= committed) return;
    const height = committed > 0 ? await this.blockHeightFor(committed - 1) : undefined;
    throw new LedgerDamagedError(
      `ledger directory ${dirname(dirname(path))}: ${path} says ${hint.treeSize} entries were committed (blocks 0 to ${hint.height}), but its LevelDB store holds ${committed}` +
        `${height === undefined ? '' : ` (blocks 0 to ${height})`}: the store is older than its segment files (restored or copied apart from them, or its log's tail lost), ` +
        `and the next block would overwrite ${hint.treeSize - committed} entries already logged and receipted. Restore the whole ledger directory from one backup`,
    );
  }

  /** Throws when the leaves files hold more than `max` entries past the first `committed` (checkSegmentFiles). */
  async #checkUncommitted(committed: number, max: number | undefined): Promise<void> {
    if (max === undefined) return;
    const seg = this.#segments;
    const dir = dirname(seg.path(0, 'cbor'));
    const from = seg.segmentOf(committed);
    let past = 0;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const m = /^([0-9a-f]{16})\.leaves$/.exec(name);
      const s = m ? Number.parseInt(m[1]!, 16) : -1;
      if (s < from) continue;
      const entries = Math.floor((await stat(join(dir, name))).size / HASH_SIZE);
      past += s === from ? Math.max(0, entries - (committed - from * seg.entries)) : entries;
    }
    if (past > max) {
      throw new LedgerDamagedError(
        `ledger directory ${dirname(dir)}: its entry segment files hold ${past} entries past the ${committed} its LevelDB store indexes, more than one block holds (a crash leaves one block's at most): ` +
          'the store is older than its segment files (restored or copied apart from them, or its log cut short?), and the next block would overwrite entries already logged. Restore the whole ledger directory from one backup',
      );
    }
  }

  /** One index read for all bundles asked for, then one file read per bundle (ledger/level-entry-reads.ts). */
  getEntries(indexes: readonly number[]): Promise<(Bytes | undefined)[]> {
    return readEntries(this.#db, this.#segments, indexes);
  }

  /** Tiles of levels >= 1 in one LevelDB read; level-0 tiles from the segments' leaves files. */
  getTiles(ids: readonly { level: number; tile: number }[]): Promise<(Bytes | undefined)[]> {
    return readTiles(this.#db, this.#segments, this.#last, ids);
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

  /** Stored runs merged with the overlay's rows (ledger/level-index-queries.ts). */
  deviceHits(deviceId: string, opts: RangeOptions & { afterSeq?: number }): AsyncIterable<DeviceHit> {
    return findDeviceHits(this.#db, this.#overlay, deviceId, opts);
  }

  deviceSeq(deviceId: string, seq: number): Promise<DeviceHit | undefined> {
    return findDeviceSeq(this.#db, this.#overlay, deviceId, seq);
  }

  timeHits(fromMs: number, toMs: number, opts: { limit?: number; after?: TimeHit }): AsyncIterable<TimeHit> {
    return findTimeHits(this.#db, fromMs, toMs, opts);
  }

  typeHits(type: number, opts: RangeOptions & { afterIndex?: number }): AsyncIterable<number> {
    return findTypeHits(this.#db, type, opts);
  }

  /** Streams bundles, one run per bundle (ledger/level-entry-reads.ts). */
  entriesFrom(index: number): AsyncIterable<[number, Bytes[]]> {
    return streamEntriesFrom(this.#db, this.#segments, index);
  }

  headersFrom(height: number): AsyncIterable<[number, Bytes]> {
    return streamHeadersFrom(this.#db, height);
  }

  /** `ledger verify`'s check of the indexes (ledger/level-audit.ts). */
  auditIndexes(opts: IndexAuditOptions): IndexAudit {
    return new LevelIndexAudit(this.#db, this, opts);
  }

  setWriteStageHook(hook: ((stage: WriteStage) => void) | undefined): void {
    this.#stageHook = hook;
  }

  async close(): Promise<void> {
    // LevelDB is closed (its LOCK freed) even if a segment file fails to close (found by review: an EIO there left the
    // lock held, and every reopen of the store in this process failed).
    try {
      await this.#hint?.close(); // the pending hint write first (it never throws)
      await this.#segments.close();
    } finally {
      await this.#db.close();
    }
  }
}

/**
 * LevelDB creates a store where it finds none (no CURRENT file): right for a new ledger, wrong where a log's files are
 * (its CURRENT lost or not restored, or the store's files gone and the entry segment files left): the new store
 * starts the log again at entry 0, and its first block cuts the segment files back, so every entry logged before
 * would be gone (found by review). Refused, naming what is there; nothing is created or changed. A store whose
 * creation was cut short before any record was written (a manifest, an empty write-ahead log) holds no log, and is
 * created again.
 */
async function refuseNewStoreOverLog(dir: string): Promise<void> {
  if (await stat(join(dir, 'CURRENT')).then(() => true, () => false)) return;
  // No directory (a new ledger), or not one: LevelDB's open makes it, or says why it cannot.
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: string[] = [];
  for (const name of names) {
    const isTable = /\.(ldb|sst)$/.test(name);
    const isWal = /^[0-9]+\.log$/.test(name);
    if (isTable || (isWal && (await stat(join(dir, name)).then((s) => s.size > 0, () => false)))) found.push(name);
  }
  // Sorted: the segment files (hex names) before `committed`, whatever order the file system lists them in.
  if (names.includes('entries')) for (const name of (await readdir(join(dir, 'entries')).catch(() => [] as string[])).sort()) found.push(`entries/${name}`);
  if (found.length === 0) return;
  const shown = found.length > 3 ? `${found.slice(0, 3).join(', ')} and ${found.length - 3} more` : found.join(', ');
  throw new LedgerDamagedError(
    `ledger directory ${dir} holds a log's files (${shown}) but no LevelDB store (its CURRENT file is missing): a new store would start the log again at entry 0 and overwrite them. ` +
      'Restore the whole ledger directory from a backup, or move it away to start a new log',
  );
}
