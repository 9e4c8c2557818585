/**
 * Pure checks and helpers (no IO) of ledger verify's index audit (ledger/level-audit.ts): the per-bucket sums that
 * compare the device index's rows with the readings, a block's D record checked against its entries, a type index
 * row of the wrong type, and the byte helpers the audit's messages use.
 */
import { ENTRY_READING } from '../protocol/log-entry.js';
import type { IndexBlock, IndexProblem } from './backend.js';
import { deviceIdOfKey, readU64 } from './keys.js';

type Bytes = Uint8Array;
const text = new TextDecoder();
/** Bytes of one device index row: seq, entry index, receivedAtMs (u64 each; a D record's rows have their device id before). */
export const ROW = 24;
/** Entries per device-index sum (the sums cost 16 bytes each). */
export const BUCKET = 65_536;
const TWO32 = 2 ** 32;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Per-bucket sums (mod 2^32, two lanes) of a 64-bit hash of each device-index row (index, receivedAtMs). */
export class RowSums {
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
export const idOf = deviceIdOfKey;
export const sameBytes = (a: Bytes, b: Bytes): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

export function wrongTypeProblem(b: IndexBlock, type: number, at: number): IndexProblem {
  const actual = b.types[at - b.firstIndex]!;
  return { block: b.height, entry: at, message: `type index row (type ${type}) for entry ${at}, which is of type ${actual}${actual === ENTRY_READING ? ' (a reading)' : ''}` };
}

/** A block's D record: rows of its readings, receivedAtMs as logged, each entry once (each row added to `have`). */
export function checkBlockRows(b: IndexBlock, v: Bytes, have: RowSums): IndexProblem | undefined {
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
    have.add(index, ms);
  }
  return undefined;
}
