/**
 * The LevelDB device index (by device id and sequence number) without one record per entry: a LevelDB batch
 * costs per record, and with many devices a block holds about one entry per device. Records (ledger/keys.ts):
 *   D|u64 height                 -> the block's device rows until they are merged (`encodeBlockRows`)
 *   d|u8 len|deviceId|u64 maxSeq -> a run: up to RUN_ROWS rows of one device ascending by seq; a device's runs
 *                                   never overlap, so the first run with maxSeq >= s is the only one that can hold s
 *   l|u8 len|deviceId            -> u64 the device's highest stored seq (lets a merge see overlaps in one read)
 * Rows of blocks not merged yet are also held in memory (`DeviceOverlay`, rebuilt from the D records on open).
 * When the overlay reaches MERGE_ROWS rows or MERGE_BLOCKS blocks, the next block's batch writes every device's
 * rows as runs and deletes the D records: a few records per device per merge instead of one per entry.
 * Sequence numbers normally ascend per device (the gateway's replay check); when they do not, the merge reads and
 * rewrites the runs the new rows overlap. For an equal (device, seq) the later entry wins, as a keyed put would.
 */
import type { BlockWrite, DeviceHit } from './backend.js';
import { readU64, writeU64 } from './keys.js';

export const MERGE_ROWS = 65_536;
export const MERGE_BLOCKS = 256;
export const RUN_ROWS = 1024;
const ROW = 24;

export interface DeviceRow extends DeviceHit {
  deviceId: string;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

// Device ids are encoded once per id (a bounded cache: it is cleared when full).
const idCache = new Map<string, Uint8Array>();
function idBytes(deviceId: string): Uint8Array {
  let b = idCache.get(deviceId);
  if (!b) {
    b = utf8.encode(deviceId);
    if (b.length === 0 || b.length > 255) throw new RangeError('deviceId must be 1..255 bytes');
    if (idCache.size >= 65_536) idCache.clear();
    idCache.set(deviceId, b);
  }
  return b;
}

/** Number of the block's entries that carry a device id and seq. */
export function countRows(b: BlockWrite): number {
  let n = 0;
  for (const m of b.meta) if (m.deviceId !== undefined && m.seq !== undefined) n++;
  return n;
}

/** D record of a block: per row u8 id length | id | u64 seq | u64 index | u64 receivedAtMs (undefined: no rows). */
export function encodeBlockRows(b: BlockWrite): Uint8Array | undefined {
  const meta = b.meta;
  const ids: Uint8Array[] = [];
  const at: number[] = [];
  let size = 0;
  for (let i = 0; i < meta.length; i++) {
    const m = meta[i]!;
    if (m.deviceId === undefined || m.seq === undefined) continue;
    const id = idBytes(m.deviceId);
    ids.push(id);
    at.push(i);
    size += 1 + id.length + ROW;
  }
  if (size === 0) return undefined;
  const out = new Uint8Array(size);
  let o = 0;
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    const m = meta[at[r]!]!;
    out[o] = id.length;
    for (let k = 0; k < id.length; k++) out[o + 1 + k] = id[k]!; // short: a loop beats set()
    o += 1 + id.length;
    writeU64(out, o, m.seq!);
    writeU64(out, o + 8, b.firstIndex + at[r]!);
    writeU64(out, o + 16, m.receivedAtMs ?? b.timeMs);
    o += ROW;
  }
  return out;
}

export function decodeBlockRows(b: Uint8Array): DeviceRow[] {
  const out: DeviceRow[] = [];
  for (let at = 0; at < b.length; ) {
    const len = b[at]!;
    if (len === 0 || at + 1 + len + ROW > b.length) throw new RangeError('device rows record is malformed');
    const deviceId = text.decode(b.subarray(at + 1, at + 1 + len));
    at += 1 + len;
    out.push({ deviceId, seq: readU64(b, at), index: readU64(b, at + 8), receivedAtMs: readU64(b, at + 16) });
    at += ROW;
  }
  return out;
}

/** Run record value: rows (u64 seq, u64 index, u64 receivedAtMs), ascending by seq. */
export function encodeRun(rows: readonly DeviceHit[]): Uint8Array {
  const out = new Uint8Array(rows.length * ROW);
  rows.forEach((r, i) => {
    writeU64(out, i * ROW, r.seq);
    writeU64(out, i * ROW + 8, r.index);
    writeU64(out, i * ROW + 16, r.receivedAtMs);
  });
  return out;
}

export function decodeRun(b: Uint8Array): DeviceHit[] {
  if (b.length % ROW !== 0) throw new RangeError('device run is malformed');
  const out: DeviceHit[] = new Array(b.length / ROW);
  for (let i = 0; i < out.length; i++) out[i] = { seq: readU64(b, i * ROW), index: readU64(b, i * ROW + 8), receivedAtMs: readU64(b, i * ROW + 16) };
  return out;
}

/** Ascending by seq; of equal seqs only the last given is kept (rows come in log order). */
export function sortRows(rows: DeviceHit[]): DeviceHit[] {
  let ascending = true;
  for (let i = 1; i < rows.length && ascending; i++) ascending = rows[i - 1]!.seq < rows[i]!.seq;
  if (ascending) return rows; // the usual case: a device's seqs ascend
  const sorted = rows.map((r, i) => ({ r, i })).sort((a, b) => a.r.seq - b.r.seq || a.i - b.i);
  const out: DeviceHit[] = [];
  for (const { r } of sorted) {
    if (out.length > 0 && out[out.length - 1]!.seq === r.seq) out[out.length - 1] = r;
    else out.push(r);
  }
  return out;
}

/** Merge two ascending row lists; on an equal seq the row from `newer` wins. */
export function mergeRows(older: readonly DeviceHit[], newer: readonly DeviceHit[]): DeviceHit[] {
  const out: DeviceHit[] = [];
  let i = 0;
  let j = 0;
  while (i < older.length || j < newer.length) {
    const a = older[i];
    const b = newer[j];
    if (b === undefined || (a !== undefined && a.seq < b.seq)) {
      out.push(a!);
      i++;
    } else {
      if (a !== undefined && a.seq === b.seq) i++;
      out.push(b);
      j++;
    }
  }
  return out;
}

/** One device's rows as columns, in log order. */
export interface RowColumns {
  seq: number[];
  index: number[];
  ms: number[];
}

/** Strictly ascending seqs: the columns are already a run (the usual case). */
export function ascending(c: RowColumns): boolean {
  for (let i = 1; i < c.seq.length; i++) if (c.seq[i - 1]! >= c.seq[i]!) return false;
  return true;
}

export function columnRows(c: RowColumns): DeviceHit[] {
  return c.seq.map((seq, i) => ({ seq, index: c.index[i]!, receivedAtMs: c.ms[i]! }));
}

/** Run record value of rows [from, to) of ascending columns (as `encodeRun`, without row objects). */
export function encodeRunColumns(c: RowColumns, from: number, to: number): Uint8Array {
  const out = new Uint8Array((to - from) * ROW);
  for (let i = from; i < to; i++) {
    const o = (i - from) * ROW;
    writeU64(out, o, c.seq[i]!);
    writeU64(out, o + 8, c.index[i]!);
    writeU64(out, o + 16, c.ms[i]!);
  }
  return out;
}

/** Rows of the stored-but-unmerged blocks, per device, in log order (as numbers: no object per row). */
export class DeviceOverlay {
  readonly #byDevice = new Map<string, RowColumns & { sorted?: DeviceHit[] }>();
  /** Heights of the blocks whose D records hold these rows. */
  readonly heights: number[] = [];
  rows = 0;

  add(deviceId: string, seq: number, index: number, receivedAtMs: number): void {
    let d = this.#byDevice.get(deviceId);
    if (!d) this.#byDevice.set(deviceId, (d = { seq: [], index: [], ms: [] }));
    d.seq.push(seq);
    d.index.push(index);
    d.ms.push(receivedAtMs);
    d.sorted = undefined;
    this.rows++;
  }

  /** A block whose rows were all added. */
  sealed(height: number): void {
    this.heights.push(height);
  }

  /** Add a written block's rows (log order) and seal it. */
  addBlock(b: BlockWrite): void {
    const meta = b.meta;
    for (let i = 0; i < meta.length; i++) {
      const m = meta[i]!;
      if (m.deviceId !== undefined && m.seq !== undefined) this.add(m.deviceId, m.seq, b.firstIndex + i, m.receivedAtMs ?? b.timeMs);
    }
    this.sealed(b.height);
  }

  /** One device's rows ascending by seq (latest wins on an equal seq). */
  hits(deviceId: string): readonly DeviceHit[] {
    const d = this.#byDevice.get(deviceId);
    if (!d) return [];
    return (d.sorted ??= sortRows(columnRows(d)));
  }

  /** One device's rows as columns in log order (not to be changed by the caller). */
  columns(deviceId: string): RowColumns | undefined {
    return this.#byDevice.get(deviceId);
  }

  devices(): IterableIterator<string> {
    return this.#byDevice.keys();
  }

  clear(): void {
    this.#byDevice.clear();
    this.heights.length = 0;
    this.rows = 0;
  }
}

/** Split ascending rows into runs of at most RUN_ROWS (each keyed by its last seq). */
export function chunkRuns(rows: readonly DeviceHit[]): DeviceHit[][] {
  const out: DeviceHit[][] = [];
  for (let i = 0; i < rows.length; i += RUN_ROWS) out.push(rows.slice(i, i + RUN_ROWS));
  return out;
}
