/**
 * Entries of the committed log and its device, time and type indexes: the first layer of the ledger's read side
 * (LedgerQueries, ledger/queries.ts). What it hands out is checked against the log first: entries against their
 * leaves (ledger/entry-self-check.ts); damage found is a LedgerDamagedError.
 */
import { decodeLogEntry } from '../protocol/log-entry.js';
import type { MerkleHasher } from '../protocol/merkle/index.js';
import type { DeviceHit, LedgerBackend, TimeHit } from './backend.js';
import { readCheckedEntries, readStoredEntries } from './entry-self-check.js';

export interface FoundEntry {
  index: number;
  receivedAtMs: number;
  /** The log entry bytes (protocol/log-entry.ts). */
  entry: Uint8Array;
  /** Its leaf hash, as the tree holds it (the entry's bytes were checked to hash to it). */
  leafHash: Uint8Array;
  seq?: number;
}

export interface DeviceQuery {
  fromMs?: number;
  toMs?: number;
  limit?: number;
  /** Return entries with seq greater than this (paging cursor). */
  after?: number;
  /**
   * Most index rows read by one call (default DEVICE_SCAN_ROWS, never fewer than `limit`). The device index is in
   * seq order, not time order, so rows outside [fromMs, toMs] are read and skipped: without this bound a narrow
   * range would read the device's whole index for an empty page.
   */
  maxScan?: number;
}

/** One page of a device's entries and where to continue. */
export interface DevicePage {
  entries: FoundEntry[];
  /**
   * The last seq read when the call stopped early, to pass as `after` for the rest: the page filled up, or the
   * scan budget (`maxScan`) ran out first (then `entries` may be short, even empty). Undefined: the device's index
   * was read to its end.
   */
  next?: number;
  /** Index rows read (rows past the cursor, matching the time range or not). */
  scanned: number;
}

/** Default scan budget of a device query (DeviceQuery.maxScan): about ten runs of the device index. */
export const DEVICE_SCAN_ROWS = 10_000;

export interface TimeQuery {
  fromMs: number;
  toMs: number;
  limit?: number;
  /** Paging cursor: the last (receivedAtMs, index) returned. */
  after?: TimeHit;
}

const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
const lim = (n: number | undefined): number => Math.min(Math.max(1, n ?? DEFAULT_LIMIT), MAX_LIMIT);

export abstract class EntryQueries {
  protected readonly backend: LedgerBackend;
  protected readonly hasher: MerkleHasher;
  protected committedSize: number;

  protected constructor(backend: LedgerBackend, hasher: MerkleHasher, size: number) {
    this.backend = backend;
    this.hasher = hasher;
    this.committedSize = size;
  }

  /** A committed entry's bytes, checked against its leaf (LedgerDamagedError when they differ or are missing). */
  async getEntry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    return (await this.checked([index])).entries[0];
  }

  /**
   * Committed entries' bytes (indexes below the committed size), each checked against its leaf, in one batched read
   * of the entries and one of their tiles (the registry's replay at start reads its entries so, page by page).
   */
  async checkedEntries(indexes: readonly number[]): Promise<Uint8Array[]> {
    const bad = indexes.find((i) => !Number.isSafeInteger(i) || i < 0 || i >= this.committedSize);
    if (bad !== undefined) throw new RangeError(`entry ${bad} is not committed (the log holds ${this.committedSize})`);
    return (await this.checked(indexes)).entries;
  }

  /**
   * A committed entry's bytes as stored, not checked here: for a caller that proves them to the signed checkpoint
   * (proofBundle) or has just had them checked.
   */
  async uncheckedEntry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    return (await readStoredEntries(this.backend, [index]))[0];
  }

  /** Committed entries' bytes, checked against their leaves in one batched tile read (ledger/entry-self-check.ts). */
  protected checked(indexes: readonly number[]): Promise<{ entries: Uint8Array[]; leafHashes: Uint8Array[] }> {
    return readCheckedEntries(this.backend, this.hasher, indexes);
  }

  /** A device's entries by seq (see devicePage: at most `maxScan` index rows are read). */
  async entriesByDevice(deviceId: string, q: DeviceQuery = {}): Promise<FoundEntry[]> {
    return (await this.devicePage(deviceId, q)).entries;
  }

  /**
   * A device's entries with seq > `after` and receivedAtMs in [fromMs, toMs], ascending by seq: up to `limit` of
   * them, reading at most `maxScan` index rows, and the cursor to continue from.
   */
  async devicePage(deviceId: string, q: DeviceQuery = {}): Promise<DevicePage> {
    const limit = lim(q.limit);
    // No time is in an empty range: nothing to read (found by review: it read its whole budget and handed back a
    // `next`, so a client following it paged through the device's whole index for nothing).
    if (q.fromMs !== undefined && q.toMs !== undefined && q.fromMs > q.toMs) return { entries: [], scanned: 0 };
    const budget = Math.max(limit, q.maxScan ?? DEVICE_SCAN_ROWS);
    const hits = [];
    let scanned = 0;
    let next: number | undefined;
    for await (const h of this.backend.deviceHits(deviceId, q.after === undefined ? {} : { afterSeq: q.after })) {
      // A device's seq order is its log order: from an entry not committed yet on, nothing is (uncommitted()).
      if (this.uncommitted(h.index)) break;
      scanned++;
      const inRange = (q.fromMs === undefined || h.receivedAtMs >= q.fromMs) && (q.toMs === undefined || h.receivedAtMs <= q.toMs);
      if (inRange) hits.push(h);
      if (hits.length >= limit || scanned >= budget) {
        next = h.seq;
        break;
      }
    }
    const { entries, leafHashes } = await this.checked(hits.map((h) => h.index));
    return {
      entries: hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, seq: h.seq, entry: entries[i]!, leafHash: leafHashes[i]! })),
      ...(next === undefined ? {} : { next }),
      scanned,
    };
  }

  /** A device's latest `limit` readings, newest (highest seq) first: one reverse scan of its index. */
  async latestByDevice(deviceId: string, limit?: number): Promise<FoundEntry[]> {
    const hits = await this.#latestHits(deviceId, lim(limit));
    const { entries, leafHashes } = await this.checked(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, seq: h.seq, entry: entries[i]!, leafHash: leafHashes[i]! }));
  }

  async entriesByTime(q: TimeQuery): Promise<FoundEntry[]> {
    const hits: TimeHit[] = [];
    for await (const h of this.backend.timeHits(q.fromMs, q.toMs, { limit: lim(q.limit), ...(q.after ? { after: q.after } : {}) })) {
      if (!this.uncommitted(h.index)) hits.push(h);
    }
    const { entries, leafHashes } = await this.checked(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, entry: entries[i]!, leafHash: leafHashes[i]! }));
  }

  /** Entry indexes of one registry event type (2, 3, 4), ascending, after `afterIndex`. */
  async indexesByType(type: number, q: { limit?: number; afterIndex?: number } = {}): Promise<number[]> {
    const out: number[] = [];
    for await (const i of this.backend.typeHits(type, { limit: lim(q.limit), ...(q.afterIndex === undefined ? {} : { afterIndex: q.afterIndex }) })) {
      if (this.uncommitted(i)) break; // ascending: none after it is committed either
      out.push(i);
    }
    return out;
  }

  /** Highest seq stored for a device, or undefined. */
  async lastSeq(deviceId: string): Promise<number | undefined> {
    for await (const h of this.backend.deviceHits(deviceId, { reverse: true, limit: 1 })) return h.seq;
    return undefined;
  }

  /**
   * A device's latest committed reading as the index holds it (seq, index, receivedAtMs; the entry is not read), or
   * undefined: one reverse read of its index, whatever its number of entries. A device's seq order is its log order.
   */
  async lastDeviceHit(deviceId: string): Promise<DeviceHit | undefined> {
    return (await this.#latestHits(deviceId, 1))[0];
  }

  /** A device's `n` latest committed index hits, newest first (the entries are not read). */
  async #latestHits(deviceId: string, n: number): Promise<DeviceHit[]> {
    const hits: DeviceHit[] = [];
    for await (const h of this.backend.deviceHits(deviceId, { reverse: true })) {
      if (this.uncommitted(h.index)) continue; // newest first: at most one block's worth
      hits.push(h);
      if (hits.length >= n) break;
    }
    return hits;
  }

  async findBySeq(deviceId: string, seq: number): Promise<FoundEntry | undefined> {
    const h = await this.backend.deviceSeq(deviceId, seq);
    if (!h || this.uncommitted(h.index)) return undefined;
    const { entries, leafHashes } = await this.checked([h.index]);
    return { index: h.index, receivedAtMs: h.receivedAtMs, seq, entry: entries[0]!, leafHash: leafHashes[0]! };
  }

  /**
   * The payload stored for a device's `seq`, whether its block is counted yet or not (findBySeq answers from the
   * committed log only, lastSeq from the store): POST /v1/verify tells the very envelope on its way into the log (its
   * block stored, not yet counted) from a replay of its seq.
   */
  async storedPayloadBySeq(deviceId: string, seq: number): Promise<Uint8Array | undefined> {
    const h = await this.backend.deviceSeq(deviceId, seq);
    if (!h) return undefined;
    const [entry] = await this.backend.getEntries([h.index]);
    return entry ? decodeLogEntry(entry).payload : undefined;
  }

  /**
   * Whether entry `index` is not committed yet: the store holds a block (and indexes it) a moment before the ledger
   * counts it (committedSize, set once its write resolved). Reads answer from the committed log only, so that
   * whatever a query lists can be fetched, proven and verified at once.
   */
  protected uncommitted(index: number): boolean {
    return index >= this.committedSize;
  }
}
