/**
 * `ledger verify`'s check of the LevelDB indexes (ledger/keys.ts) against the log, streaming: verify hands over each
 * block as it read it from its entries (types, receivedAtMs), in log order, and the index records are read in key
 * order alongside, so memory stays bounded by one block (and 16 bytes per 65,536 entries):
 *   b  block ends      one per block, at its last entry, naming its height; none elsewhere
 *   y  type index      one row per entry that is not a reading, none for readings or other indexes
 *   t  time clusters   exactly the records the block's receivedAtMs make (recomputed), no others (counted at the end)
 *   D  device rows     of a block not merged yet: rows of that block's readings, with their receivedAtMs, each once
 *   d/l device runs    ascending, keyed by their last seq, not overlapping, the head record at the highest seq, rows
 *                      inside the log; with `readingsIndexed`, the rows of runs and D records are exactly one per
 *                      reading, with its receivedAtMs (compared as per-65,536-entry sums of a 64-bit hash per row,
 *                      then, where they differ, entry by entry to name the first reading that is wrong)
 * Which (device id, seq) a reading has is not in its log entry (the ledger is given it beside the payload), so a row's
 * device id and seq are checked for order and consistency, not against the reading's payload.
 */
import type { Level } from 'level';
import { decodeBlockHeader } from '../protocol/bundle.js';
import { decodeLogEntry, ENTRY_READING, ENTRY_TYPES } from '../protocol/log-entry.js';
import type { IndexAudit, IndexAuditOptions, IndexBlock, IndexProblem, LedgerBackend } from './backend.js';
import {
  blockEndKey, blockRowsKey, P_BLOCK_END, P_DEVICE, P_DEVICE_HEAD, P_DEVICE_ROWS, P_TIME, P_TYPE, prefixEnd, readU64, timeClusters, typeKey,
} from './keys.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const text = new TextDecoder();
const ROW = 24;
/** Entries per device-index sum (the sums cost 16 bytes each). */
const BUCKET = 65_536;
const TWO32 = 2 ** 32;
const MAX_TYPE = Math.max(...ENTRY_TYPES);

/** Records of one key range in key order, read in pages. */
class Cursor {
  readonly #it: { nextv(size: number): Promise<[Bytes, Bytes][]>; close(): Promise<void> };
  #page: [Bytes, Bytes][] = [];
  #at = 0;
  #done = false;

  constructor(db: Db, gte: Bytes, lt: Bytes) {
    this.#it = db.iterator({ gte, lt }) as never;
  }

  async peek(): Promise<[Bytes, Bytes] | undefined> {
    if (this.#at < this.#page.length) return this.#page[this.#at];
    if (this.#done) return undefined;
    this.#page = (await this.#it.nextv(256)).map(([k, v]) => [plain(k), plain(v)]);
    this.#at = 0;
    if (this.#page.length === 0) this.#done = true;
    return this.#page[0];
  }

  shift(): void {
    this.#at++;
  }

  close(): Promise<void> {
    return this.#it.close();
  }
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Per-bucket sums (mod 2^32, two lanes) of a 64-bit hash of each device-index row (index, receivedAtMs). */
class RowSums {
  readonly sums: number[] = [];

  add(index: number, ms: number): void {
    const a = index % TWO32;
    const b = Math.floor(index / TWO32);
    const c = ms % TWO32;
    const d = Math.floor(ms / TWO32);
    const at = 2 * Math.floor(index / BUCKET);
    while (this.sums.length < at + 2) this.sums.push(0);
    this.sums[at] = (this.sums[at]! + fmix(fmix(fmix(fmix(a ^ 0x9e3779b9) ^ b) ^ c) ^ d)) >>> 0;
    this.sums[at + 1] = (this.sums[at + 1]! + fmix(fmix(fmix(fmix(d ^ 0x7f4a7c15) ^ c) ^ b) ^ a)) >>> 0;
  }

  /** The first bucket whose sums differ from `other`'s. */
  firstDifference(other: RowSums): number | undefined {
    const n = Math.max(this.sums.length, other.sums.length);
    for (let i = 0; i < n; i++) if ((this.sums[i] ?? 0) !== (other.sums[i] ?? 0)) return Math.floor(i / 2);
    return undefined;
  }
}

/** A device's key bytes (u8 length | id) as text, for messages. */
const idOf = (k: Bytes): string => text.decode(k.subarray(2, 2 + k[1]!));
const sameBytes = (a: Bytes, b: Bytes): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

export class LevelIndexAudit implements IndexAudit {
  readonly #db: Db;
  readonly #backend: LedgerBackend;
  readonly #opts: IndexAuditOptions;
  readonly #ends: Cursor;
  readonly #types = new Map<number, Cursor>();
  readonly #rows: Cursor;
  /** Rows the readings need (readingsIndexed) and rows the device index holds. */
  readonly #want = new RowSums();
  readonly #have = new RowSums();
  #timeRecords = 0;

  constructor(db: Db, backend: LedgerBackend, opts: IndexAuditOptions) {
    this.#db = db;
    this.#backend = backend;
    this.#opts = opts;
    this.#ends = new Cursor(db, blockEndKey(0), prefixEnd(new Uint8Array([P_BLOCK_END])));
    for (const t of ENTRY_TYPES) this.#types.set(t, new Cursor(db, typeKey(t, 0), typeKey(t + 1, 0)));
    this.#rows = new Cursor(db, blockRowsKey(0), prefixEnd(new Uint8Array([P_DEVICE_ROWS])));
  }

  async block(b: IndexBlock): Promise<IndexProblem | undefined> {
    const { height, firstIndex, lastIndex, types, receivedAtMs } = b;
    const n = lastIndex - firstIndex + 1;
    const times = this.#checkTime(b);
    times.catch(() => undefined);
    // Block end: the next record is this block's.
    const end = await this.#ends.peek();
    const endAt = end ? readU64(end[0], 1) : undefined;
    if (endAt !== undefined && endAt < lastIndex) return { block: height, entry: endAt, message: `block-end record at entry ${endAt} is not the end of a block` };
    if (endAt !== lastIndex) return { block: height, entry: lastIndex, message: `block-end record of block ${height} (at entry ${lastIndex}) is missing` };
    if (end![1].length !== 8 || readU64(end![1]) !== height) return { block: height, entry: lastIndex, message: `block-end record at entry ${lastIndex} names block ${end![1].length === 8 ? readU64(end![1]) : '(malformed)'}, not ${height}` };
    this.#ends.shift();
    // Type index: a row for each entry that is not a reading, in each type's own key range.
    for (let i = 0; i < n; i++) {
      const type = types[i]!;
      if (type !== ENTRY_READING) {
        const index = firstIndex + i;
        const cur = this.#types.get(type)!;
        const row = await cur.peek();
        const at = row ? readU64(row[0], 2) : undefined;
        if (at !== undefined && at < index) return this.#wrongType(b, type, at);
        if (at !== index) return { block: height, entry: index, message: `entry ${index} (type ${type}) is missing from the type index` };
        cur.shift();
      }
      if (type === ENTRY_READING && this.#opts.readingsIndexed) this.#want.add(firstIndex + i, receivedAtMs[i]!);
    }
    for (const [type, cur] of this.#types) {
      const row = await cur.peek();
      const at = row ? readU64(row[0], 2) : undefined;
      if (at !== undefined && at <= lastIndex) return this.#wrongType(b, type, at);
    }
    // Device rows of this block, if it has a record (until the next merge).
    const rec = await this.#rows.peek();
    const recHeight = rec ? readU64(rec[0], 1) : undefined;
    if (recHeight !== undefined && recHeight < height) return { block: recHeight, message: `device rows record of block ${recHeight}, which is not in the log` };
    if (recHeight === height) {
      const problem = this.#blockRows(b, rec![1]);
      if (problem) return problem;
      this.#rows.shift();
    }
    return await times;
  }

  #wrongType(b: IndexBlock, type: number, at: number): IndexProblem {
    const actual = b.types[at - b.firstIndex]!;
    return { block: b.height, entry: at, message: `type index row (type ${type}) for entry ${at}, which is of type ${actual}${actual === ENTRY_READING ? ' (a reading)' : ''}` };
  }

  /** A block's D record: rows of its readings, receivedAtMs as logged, each entry once. */
  #blockRows(b: IndexBlock, v: Bytes): IndexProblem | undefined {
    const seen = new Set<number>();
    for (let at = 0; at < v.length; ) {
      const len = v[at]!;
      if (len === 0 || at + 1 + len + ROW > v.length) return { block: b.height, message: `device rows record of block ${b.height} is malformed` };
      const deviceId = text.decode(v.subarray(at + 1, at + 1 + len));
      at += 1 + len;
      const seq = readU64(v, at);
      const index = readU64(v, at + 8);
      const ms = readU64(v, at + 16);
      at += ROW;
      const row = `device index row (${deviceId}, seq ${seq})`;
      if (index < b.firstIndex || index > b.lastIndex) return { block: b.height, message: `${row} in the record of block ${b.height} names entry ${index}, outside the block` };
      const k = index - b.firstIndex;
      if (b.types[k] !== ENTRY_READING) return { block: b.height, entry: index, message: `${row} names entry ${index}, which is not a reading` };
      if (b.receivedAtMs[k] !== ms) return { block: b.height, entry: index, message: `${row} for entry ${index} says receivedAtMs ${ms}, the entry ${b.receivedAtMs[k]}` };
      if (seen.has(index)) return { block: b.height, entry: index, message: `entry ${index} is in the device rows of block ${b.height} twice` };
      seen.add(index);
      this.#have.add(index, ms);
    }
    return undefined;
  }

  /** The block's time clusters, recomputed from its entries, are stored as they are. */
  async #checkTime(b: IndexBlock): Promise<IndexProblem | undefined> {
    const want = timeClusters(b.firstIndex, b.receivedAtMs);
    this.#timeRecords += want.length;
    const got = await this.#db.getMany(want.map(([k]) => k));
    for (let i = 0; i < want.length; i++) {
      const [k, v] = want[i]!;
      const what = `time index record of block ${b.height} (receivedAtMs ${readU64(k, 1)}, from entry ${readU64(k, 9)})`;
      if (got[i] === undefined) return { block: b.height, entry: readU64(k, 9), message: `${what} is missing` };
      if (!sameBytes(plain(got[i]!), v)) return { block: b.height, entry: readU64(k, 9), message: `${what} does not match the entries` };
    }
    return undefined;
  }

  async finish(entries: number): Promise<IndexProblem | undefined> {
    const end = await this.#ends.peek();
    if (end) return { entry: readU64(end[0], 1), message: `block-end record at entry ${readU64(end[0], 1)}, past the last block` };
    for (const [type, cur] of this.#types) {
      const row = await cur.peek();
      if (row) return { entry: readU64(row[0], 2), message: `type index row (type ${type}) for entry ${readU64(row[0], 2)}, past the last block` };
    }
    for (const [gte, lt] of [[typeKey(0, 0), typeKey(1, 0)], [typeKey(MAX_TYPE + 1, 0), prefixEnd(new Uint8Array([P_TYPE]))]] as const) {
      for await (const k of this.#db.keys({ gte, lt, limit: 1 })) return { entry: readU64(k, 2), message: `type index row of unknown type ${k[1]} for entry ${readU64(k, 2)}` };
    }
    const rec = await this.#rows.peek();
    if (rec) return { block: readU64(rec[0], 1), message: `device rows record of block ${readU64(rec[0], 1)}, which is not in the log` };
    const time = await this.#extraTimeRecord();
    if (time) return time;
    const runs = await this.#checkRuns(entries);
    if (runs) return runs;
    if (!this.#opts.readingsIndexed) return undefined;
    const bucket = this.#want.firstDifference(this.#have);
    return bucket === undefined ? undefined : this.#findRowProblem(bucket * BUCKET, Math.min(entries, (bucket + 1) * BUCKET));
  }

  /** Every expected time record was found, and they have distinct keys: more records than that means one too many. */
  async #extraTimeRecord(): Promise<IndexProblem | undefined> {
    const prefix = new Uint8Array([P_TIME]);
    let stored = 0;
    for await (const _ of this.#db.keys({ gt: prefix, lt: prefixEnd(prefix) })) stored++;
    if (stored === this.#timeRecords) return undefined;
    // Rare: find it (a record whose entries' block does not make it).
    const cache = new Map<number, Set<string>>();
    for await (const k of this.#db.keys({ gt: prefix, lt: prefixEnd(prefix) })) {
      const minIndex = readU64(k, 9);
      const height = await this.#backend.blockHeightFor(minIndex);
      const what = `time index record (receivedAtMs ${readU64(k, 1)}, from entry ${minIndex})`;
      if (height === undefined) return { entry: minIndex, message: `${what} is past the last block` };
      let keys = cache.get(height);
      if (!keys) {
        keys = new Set((await this.#recomputeTime(height)).map(([key]) => Buffer.from(key).toString('hex')));
        cache.clear();
        cache.set(height, keys);
      }
      if (!keys.has(Buffer.from(k).toString('hex'))) return { block: height, entry: minIndex, message: `${what} does not belong to block ${height}` };
    }
    return { message: `time index holds ${stored} records, the blocks make ${this.#timeRecords}` };
  }

  async #recomputeTime(height: number): Promise<[Bytes, Bytes][]> {
    const { firstIndex: first, lastIndex: last } = decodeBlockHeader((await this.#backend.getHeader(height))!);
    const ms = new Float64Array(last - first + 1);
    let k = 0;
    for await (const [, run] of this.#backend.entriesFrom(first)) {
      for (const bytes of run) {
        if (k === ms.length) break;
        ms[k++] = decodeLogEntry(bytes).receivedAtMs;
      }
      if (k === ms.length) break;
    }
    return timeClusters(first, ms);
  }

  /**
   * The device runs (d) and heads (l), in key order side by side: per device ascending rows, each run keyed by its
   * last seq and above the run before, the head at the last seq, every row inside the log.
   */
  async #checkRuns(entries: number): Promise<IndexProblem | undefined> {
    const heads = new Cursor(this.#db, new Uint8Array([P_DEVICE_HEAD]), prefixEnd(new Uint8Array([P_DEVICE_HEAD])));
    const it = this.#db.iterator({ gt: new Uint8Array([P_DEVICE]), lt: prefixEnd(new Uint8Array([P_DEVICE])) });
    let device: Bytes | undefined; // u8 len | id of the device being read
    let lastSeq = -1;
    const closeDevice = async (): Promise<IndexProblem | undefined> => {
      if (!device) return undefined;
      const h = await heads.peek();
      const hd = h?.[0].subarray(1);
      if (hd && Buffer.compare(hd, device) < 0) return { message: `device index head record of device ${idOf(h![0])} has no runs` };
      if (!hd || !sameBytes(hd, device)) return { message: `device index head record of device ${idOf(new Uint8Array([0, ...device]))} is missing` };
      if (h![1].length !== 8 || readU64(h![1]) !== lastSeq) return { message: `device index head record of device ${idOf(h![0])} says seq ${h![1].length === 8 ? readU64(h![1]) : '(malformed)'}, its runs end at ${lastSeq}` };
      heads.shift();
      return undefined;
    };
    try {
      for (;;) {
        const page = await it.nextv(64);
        if (page.length === 0) break;
        for (const [key, value] of page) {
          const k = plain(key);
          const v = plain(value);
          const len = k[1]!;
          if (len === 0 || k.length !== 2 + len + 8) return { message: 'device index run key is malformed' };
          const dev = k.subarray(1, 2 + len);
          if (!device || !sameBytes(dev, device)) {
            const problem = await closeDevice();
            if (problem) return problem;
            device = dev.slice();
            lastSeq = -1;
          }
          const id = idOf(k);
          if (v.length === 0 || v.length % ROW !== 0) return { message: `device index run of device ${id} up to seq ${readU64(k, 2 + len)} is malformed` };
          for (let o = 0; o < v.length; o += ROW) {
            const seq = readU64(v, o);
            const index = readU64(v, o + 8);
            const row = `device index row (${id}, seq ${seq})`;
            if (seq <= lastSeq) return { entry: index, message: `${row} is not above the row before it (seq ${lastSeq})` };
            lastSeq = seq;
            if (index >= entries) return { message: `${row} names entry ${index}, past the log (${entries} entries)` };
            this.#have.add(index, readU64(v, o + 16));
          }
          if (readU64(k, 2 + len) !== lastSeq) return { message: `device index run of device ${id} is keyed by seq ${readU64(k, 2 + len)}, its last row is seq ${lastSeq}` };
        }
      }
      const problem = await closeDevice();
      if (problem) return problem;
      const h = await heads.peek();
      if (h) return { message: `device index head record of device ${idOf(h[0])} has no runs` };
      return undefined;
    } finally {
      await it.close();
      await heads.close();
    }
  }

  /**
   * Entries [lo, hi) and the device index rows that name them differ: read both (the rows of that range only, at
   * most a few per entry) and name the first entry that is wrong.
   */
  async #findRowProblem(lo: number, hi: number): Promise<IndexProblem> {
    const rows = new Map<number, { row: string; ms: number; n: number }>();
    const note = (deviceId: string, seq: number, index: number, ms: number): void => {
      if (index < lo || index >= hi) return;
      const r = rows.get(index);
      if (r) r.n++;
      else rows.set(index, { row: `device index row (${deviceId}, seq ${seq})`, ms, n: 1 });
    };
    const blockRows = new Uint8Array([P_DEVICE_ROWS]);
    for await (const v of this.#db.values({ gt: blockRows, lt: prefixEnd(blockRows) })) {
      for (let at = 0; at < v.length; ) {
        const len = v[at]!;
        const id = text.decode(v.subarray(at + 1, at + 1 + len));
        at += 1 + len;
        note(id, readU64(v, at), readU64(v, at + 8), readU64(v, at + 16));
        at += ROW;
      }
    }
    for await (const [k, v] of this.#db.iterator({ gt: new Uint8Array([P_DEVICE]), lt: prefixEnd(new Uint8Array([P_DEVICE])) })) {
      const id = idOf(k);
      for (let o = 0; o < v.length; o += ROW) note(id, readU64(v, o), readU64(v, o + 8), readU64(v, o + 16));
    }
    const where = async (index: number): Promise<{ block?: number; entry: number }> => {
      const block = await this.#backend.blockHeightFor(index);
      return block === undefined ? { entry: index } : { block, entry: index };
    };
    let index = lo;
    for await (const [first, run] of this.#backend.entriesFrom(lo)) {
      for (let k = 0; k < run.length && first + k < hi; k++) {
        index = first + k;
        const e = decodeLogEntry(run[k]!);
        const r = rows.get(index);
        if (!r) {
          if (e.type === ENTRY_READING) return { ...(await where(index)), message: `reading ${index} is not in the device index` };
          continue;
        }
        if (e.type !== ENTRY_READING) return { ...(await where(index)), message: `${r.row} names entry ${index}, which is not a reading` };
        if (r.n > 1) return { ...(await where(index)), message: `entry ${index} is in the device index ${r.n} times` };
        if (r.ms !== e.receivedAtMs) return { ...(await where(index)), message: `${r.row} for entry ${index} says receivedAtMs ${r.ms}, the entry ${e.receivedAtMs}` };
      }
      if (first + run.length >= hi) break;
    }
    return { message: `device index does not match the readings of entries ${lo} to ${hi - 1}` };
  }

  async close(): Promise<void> {
    await Promise.all([this.#ends.close(), this.#rows.close(), ...[...this.#types.values()].map((c) => c.close())]);
  }
}
