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
 * ledger/level-entry-reads.ts (entries, tiles, headers) and ledger/level-index-queries.ts (device, time, type); the
 * checks before a store is used in ledger/level-open-checks.ts.
 */
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { Level } from 'level';
import { makeDirectoriesAsync } from '../node-fs/make-directories.js';
import type { BlockWrite, DeviceHit, IndexAudit, IndexAuditOptions, LedgerBackend, RangeOptions, TimeHit, WriteStage } from './backend.js';
import { countRows, decodeBlockRows, DeviceOverlay, encodeBlockRows, MERGE_BLOCKS, MERGE_ROWS } from './device-index.js';
import { LedgerDamagedError } from './errors.js';
import { CommittedHintWriter } from './committed-hint.js';
import { decodeBundleIndex, encodeBundleIndex, EntrySegments, SEGMENT_BUNDLES, syncDir, type BundleIndex } from './entry-segments.js';
import { LevelIndexAudit } from './level-audit.js';
import { checkSegmentFiles, hintPath, refuseNewStoreOverLog } from './level-open-checks.js';
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
  /**
   * How old the store directory's mtime must be at a listing of its write-ahead logs for the listing to stand until the
   * mtime changes (#syncNewLogNames; default LIST_SETTLE_MS). Tests shorten it to reach the stat-only path without
   * pauses of seconds; below the file system's timestamp granularity a new log made in the listing's tick is missed.
   */
  logListSettleMs?: number;
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
  /** The store's directory (LevelDB's files). */
  readonly #dir: string;
  /** LevelDB's write-ahead log names (`NNNNNN.log`) whose directory entries are known fsynced (#syncNewLogNames). */
  #logNames: ReadonlySet<string> = new Set();
  /** The directory's mtime when #logNames was listed, if old enough that any later change must alter it. */
  #listedAt: bigint | undefined;
  /** How old that mtime must be at the listing (LevelBackendOptions.logListSettleMs), in ns. */
  readonly #listSettleNs: bigint;
  /** The last #syncNewLogNames check: each check starts once the one before has ended (its fsync included). */
  #logCheck: Promise<void> = Promise.resolve();
  /** Test-only (crash points): called at each stage of a block's write; unset, one check per block. */
  #stageHook: ((stage: WriteStage) => void) | undefined;

  private constructor(dir: string, db: Level<Bytes, Bytes>, segments: EntrySegments, last: BundleIndex | undefined, opts: LevelBackendOptions) {
    this.#dir = dir;
    this.#db = db;
    this.#segments = segments;
    this.#last = last;
    this.#sync = opts.sync ?? true;
    this.#mergeRows = opts.deviceMerge?.rows ?? MERGE_ROWS;
    this.#mergeBlocks = opts.deviceMerge?.blocks ?? MERGE_BLOCKS;
    this.#hint = this.#sync ? new CommittedHintWriter(hintPath(this.#segments)) : undefined;
    this.#listSettleNs = listSettleNs(opts);
  }


  static async open(dir: string, opts: LevelBackendOptions = {}): Promise<LevelBackend> {
    // Bounded native memory whatever the log's size: block cache and open table files are capped.
    // A larger write buffer (memtable) than LevelDB's 4 MB: every block writes keys across the whole key space,
    // so each level-0 file overlaps all of level 1 and each level-0 compaction rewrites level 1; fewer, bigger
    // level-0 files halve the compaction work (README, Performance). Costs up to twice this in memory.
    const writeBufferSize = opts.writeBufferBytes ?? WRITE_BUFFER_BYTES;
    await refuseNewStoreOverLog(dir);
    // Made here, not by LevelDB's open (classic-level's is node's recursive mkdir, which never ends under /proc): one
    // that cannot be made is an error naming it, the error's code kept.
    await makeDirectoriesAsync(dir).catch((err: Error & { code?: unknown }) => {
      throw Object.assign(new Error(`ledger store ${dir} cannot be opened: ${err.message}`, { cause: err }), { code: err.code });
    });
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
      // LevelDB's open renames a new CURRENT into place (it names the new MANIFEST) and unlinks the old manifest and
      // logs without fsyncing the directory (LevelDB 1.20 SetCurrentFile; google/leveldb#195), and `entries/` may
      // have been made by a process killed before it fsynced it: until the directory is synced, a power cut may keep
      // neither, losing blocks this process receipts. Once per open, before any block (test/ledger/durability-order).
      // The write-ahead logs listed first are covered by this fsync; a new one is looked for after each synced write.
      const listed = await listLogNames(dir, listSettleNs(opts));
      await syncDir(dir);
      const config = await db.get(CONFIG_KEY);
      const segments = new EntrySegments(dir, config ? new DataView(config.buffer, config.byteOffset, 4).getUint32(0) : (opts.segmentBundles ?? SEGMENT_BUNDLES));
      let last: BundleIndex | undefined;
      for await (const [k, v] of db.iterator({ gte: bundleKey(0), lt: ENTRY_END, reverse: true, limit: 1 })) last = readAtOpen(dir, () => decodeBundleIndex(readU64(k, 1), plain(v)));
      const backend = new LevelBackend(dir, db, segments, last, opts);
      backend.#logNames = listed.names;
      backend.#listedAt = listed.at;
      backend.#uncut = true;
      if (config === undefined) backend.#config = u32(segments.entries / BUNDLE_WIDTH);
      // Device rows of the blocks not merged yet (at most MERGE_BLOCKS records).
      const rowsPrefix = new Uint8Array([P_DEVICE_ROWS]);
      for await (const [k, v] of db.iterator({ gt: rowsPrefix, lt: prefixEnd(rowsPrefix) })) {
        for (const r of readAtOpen(dir, () => decodeBlockRows(plain(v)))) backend.#overlay.add(r.deviceId, r.seq, r.index, r.receivedAtMs);
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
    await this.#syncNewLogNames();
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
    await this.#syncNewLogNames();
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
    await this.#syncNewLogNames();
  }

  /**
   * When its memtable fills, LevelDB (1.20) writes on into a new `NNNNNN.log`: it fdatasyncs the log at each synced
   * write, but fsyncs the directory, making the new name durable, only once the old memtable is flushed to a table, a
   * fraction of a second later. A power cut in between, on a file system whose fsync of a new file does not commit
   * its name too (ext4 and XFS do), could lose the log and every write receipted from it. So after each synced write,
   * before its caller answers anyone, the directory is checked for a new .log name, and fsynced when there is one
   * (once per memtable). The check is one stat of the directory (about 3 µs) while its mtime is the one seen at the
   * last listing; a listing (one entry per table file: 2 ms at 4,000) only when it changed (LevelDB made or removed a
   * file) or was too recent to tell (LIST_SETTLE_MS; logListSettleMs). Checks run one after another, so a write whose
   * check finds nothing new still waits for the fsync an earlier check started for the log it went to. README,
   * Durability; test/ledger/durability-order.test.ts journals each stat, listing and fsync.
   */
  #syncNewLogNames(): Promise<void> {
    if (!this.#sync) return Promise.resolve();
    const check = this.#logCheck.then(async () => {
      if (this.#listedAt !== undefined && statSync(this.#dir, { bigint: true }).mtimeNs === this.#listedAt) return;
      const listed = await listLogNames(this.#dir, this.#listSettleNs);
      for (const n of listed.names) {
        if (this.#logNames.has(n)) continue;
        await syncDir(this.#dir);
        break;
      }
      // After the fsync: one that failed is tried again at the next check.
      this.#logNames = listed.names;
      this.#listedAt = listed.at;
    });
    this.#logCheck = check.catch(() => undefined);
    return check;
  }

  /** The segment files hold every committed entry, and the store is not older than them (ledger/level-open-checks.ts). */
  checkSegmentFiles(opts: { maxUncommitted?: number } = {}): Promise<void> {
    return checkSegmentFiles({ db: this.#db, segments: this.#segments, last: this.#last, blockHeightFor: (i) => this.blockHeightFor(i) }, opts);
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
 * How long before a listing the directory's mtime must be for a later change to be sure to alter it: more than the
 * coarsest timestamp of the file systems LevelDB may be on (ext2/ext3 with small inodes: 1 s; FAT: 2 s), so that a
 * file made in the same tick as the mtime seen is never missed.
 */
const LIST_SETTLE_MS = 3000;

/** LevelBackendOptions.logListSettleMs (default LIST_SETTLE_MS) in ns, computed once per open. */
function listSettleNs(opts: LevelBackendOptions): bigint {
  return BigInt(Math.round((opts.logListSettleMs ?? LIST_SETTLE_MS) * 1e6));
}

/**
 * The names of LevelDB's write-ahead logs in the store's directory, and the directory's mtime (stat before the
 * listing, so the listing holds every name the mtime stands for) when a later change must alter it, else undefined.
 */
async function listLogNames(dir: string, settleNs: bigint): Promise<{ names: Set<string>; at: bigint | undefined }> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const { mtimeNs } = statSync(dir, { bigint: true });
  const names = new Set((await readdir(dir)).filter((n) => n.endsWith('.log')));
  return { names, at: mtimeNs < now - settleNs ? mtimeNs : undefined };
}

/**
 * A record read at open that does not decode (RangeError from its decoder) is damage, LedgerDamagedError: `ledger
 * verify` reports it (BAD, exit 1) where it said only "device rows record is malformed", exit 2 (no verdict), and
 * the gateway's start refuses LEDGER_DAMAGED as before (found by the test audit).
 */
function readAtOpen<T>(dir: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof RangeError) throw new LedgerDamagedError(`ledger store ${dir}: ${err.message} (the store is damaged)`, { cause: err });
    throw err;
  }
}
