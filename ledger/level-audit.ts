/**
 * `ledger verify`'s check of the LevelDB indexes (ledger/keys.ts) against the log, streaming: verify hands over each
 * block as it read it from its entries (types, receivedAtMs), in log order, and the index records are read in key
 * order alongside, so memory stays bounded by one block (and 16 bytes per 65,536 entries):
 *   b  block ends      one per block, at its last entry, naming its height; none elsewhere
 *   c  checkpoints     one per block, at its tree size (verify checks the note); none elsewhere: GET
 *                      /v1/checkpoints/SIZE would serve one at another size
 *   y  type index      one row per entry that is not a reading, none for readings or other indexes
 *   t  time clusters   exactly the records the block's receivedAtMs make (recomputed), no others (counted at the end)
 *   D  device rows     of a block not merged yet: rows of that block's readings, with their receivedAtMs, each once
 *   d/l device runs    ascending, keyed by their last seq, not overlapping, the head record at the highest seq, rows
 *                      inside the log; with `readingsIndexed`, the rows of runs and D records are exactly one per
 *                      reading, with its receivedAtMs (compared as per-65,536-entry sums of a 64-bit hash per row,
 *                      then, where they differ, entry by entry to name the first reading that is wrong)
 * Which (device id, seq) a reading has is not in its log entry (the ledger is given it beside the payload), so a row's
 * device id and seq are checked for order and consistency, not against the reading's payload.
 *
 * Pure checks in ledger/level-audit-checks.ts, the checks at the end of the log in ledger/level-audit-scans.ts,
 * the paged key-range reader in ledger/level-cursor.ts.
 */
import type { Level } from 'level';
import { ENTRY_READING, ENTRY_TYPES } from '../protocol/log-entry.js';
import type { IndexAudit, IndexAuditOptions, IndexBlock, IndexProblem, LedgerBackend } from './backend.js';
import { blockEndKey, blockRowsKey, checkpointKey, P_BLOCK_END, P_CHECKPOINT, P_DEVICE_ROWS, P_TYPE, prefixEnd, readU64, timeClusters, typeKey } from './keys.js';
import { BUCKET, checkBlockRows, RowSums, sameBytes, wrongTypeProblem } from './level-audit-checks.js';
import { checkRuns, extraTimeRecord, findRowProblem } from './level-audit-scans.js';
import { Cursor } from './level-cursor.js';
import { plain } from './level-records.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;
const MAX_TYPE = Math.max(...ENTRY_TYPES);

export class LevelIndexAudit implements IndexAudit {
  readonly #db: Db;
  readonly #backend: LedgerBackend;
  readonly #opts: IndexAuditOptions;
  readonly #ends: Cursor;
  readonly #checkpoints: Cursor;
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
    this.#checkpoints = new Cursor(db, checkpointKey(0), prefixEnd(new Uint8Array([P_CHECKPOINT])));
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
    // Checkpoint records: the next is this block's (verify read and checked it by its tree size).
    const cp = await this.#checkpoints.peek();
    const cpAt = cp ? readU64(cp[0], 1) : undefined;
    if (cpAt !== undefined && cpAt <= lastIndex) return { block: height, message: `checkpoint record at tree size ${cpAt} is not at the end of a block` };
    if (cpAt === lastIndex + 1) this.#checkpoints.shift();
    // Type index: a row for each entry that is not a reading, in each type's own key range.
    for (let i = 0; i < n; i++) {
      const type = types[i]!;
      if (type !== ENTRY_READING) {
        const index = firstIndex + i;
        const cur = this.#types.get(type)!;
        const row = await cur.peek();
        const at = row ? readU64(row[0], 2) : undefined;
        if (at !== undefined && at < index) return wrongTypeProblem(b, type, at);
        if (at !== index) return { block: height, entry: index, message: `entry ${index} (type ${type}) is missing from the type index` };
        cur.shift();
      }
      if (type === ENTRY_READING && this.#opts.readingsIndexed) this.#want.add(firstIndex + i, receivedAtMs[i]!);
    }
    for (const [type, cur] of this.#types) {
      const row = await cur.peek();
      const at = row ? readU64(row[0], 2) : undefined;
      if (at !== undefined && at <= lastIndex) return wrongTypeProblem(b, type, at);
    }
    // Device rows of this block, if it has a record (until the next merge).
    const rec = await this.#rows.peek();
    const recHeight = rec ? readU64(rec[0], 1) : undefined;
    if (recHeight !== undefined && recHeight < height) return { block: recHeight, message: `device rows record of block ${recHeight}, which is not in the log` };
    if (recHeight === height) {
      const problem = checkBlockRows(b, rec![1], this.#have);
      if (problem) return problem;
      this.#rows.shift();
    }
    return await times;
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
    const cp = await this.#checkpoints.peek();
    if (cp) return { message: `checkpoint record at tree size ${readU64(cp[0], 1)}, past the last block` };
    for (const [type, cur] of this.#types) {
      const row = await cur.peek();
      if (row) return { entry: readU64(row[0], 2), message: `type index row (type ${type}) for entry ${readU64(row[0], 2)}, past the last block` };
    }
    for (const [gte, lt] of [[typeKey(0, 0), typeKey(1, 0)], [typeKey(MAX_TYPE + 1, 0), prefixEnd(new Uint8Array([P_TYPE]))]] as const) {
      for await (const k of this.#db.keys({ gte, lt, limit: 1 })) return { entry: readU64(k, 2), message: `type index row of unknown type ${k[1]} for entry ${readU64(k, 2)}` };
    }
    const rec = await this.#rows.peek();
    if (rec) return { block: readU64(rec[0], 1), message: `device rows record of block ${readU64(rec[0], 1)}, which is not in the log` };
    const time = await extraTimeRecord(this.#db, this.#backend, this.#timeRecords);
    if (time) return time;
    const runs = await checkRuns(this.#db, entries, this.#have);
    if (runs) return runs;
    if (!this.#opts.readingsIndexed) return undefined;
    const bucket = this.#want.firstDifference(this.#have);
    return bucket === undefined ? undefined : findRowProblem(this.#db, this.#backend, bucket * BUCKET, Math.min(entries, (bucket + 1) * BUCKET));
  }

  async close(): Promise<void> {
    await Promise.all([this.#ends.close(), this.#checkpoints.close(), this.#rows.close(), ...[...this.#types.values()].map((c) => c.close())]);
  }
}
