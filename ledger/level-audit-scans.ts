/**
 * The checks of ledger verify's index audit (ledger/level-audit.ts) that run once the whole log has been handed
 * over: reads of whole key ranges (time records, device runs and heads) and, where something is wrong, of the log
 * again to name the first record or entry that is.
 */
import type { Level } from 'level';
import { decodeBlockHeader } from '../protocol/bundle.js';
import { decodeLogEntry, ENTRY_READING } from '../protocol/log-entry.js';
import type { IndexProblem, LedgerBackend } from './backend.js';
import { P_DEVICE, P_DEVICE_HEAD, P_DEVICE_ROWS, P_TIME, prefixEnd, readU64, timeClusters } from './keys.js';
import { idOf, ROW, sameBytes, type RowSums } from './level-audit-checks.js';
import { Cursor } from './level-cursor.js';
import { plain } from './level-records.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;
const text = new TextDecoder();

/**
 * Every expected time record was found (`timeRecords` of them), and they have distinct keys: more records than that
 * means one too many.
 */
export async function extraTimeRecord(db: Db, backend: LedgerBackend, timeRecords: number): Promise<IndexProblem | undefined> {
  const prefix = new Uint8Array([P_TIME]);
  let stored = 0;
  for await (const _ of db.keys({ gt: prefix, lt: prefixEnd(prefix) })) stored++;
  if (stored === timeRecords) return undefined;
  // Rare: find it (a record whose entries' block does not make it).
  const cache = new Map<number, Set<string>>();
  for await (const k of db.keys({ gt: prefix, lt: prefixEnd(prefix) })) {
    const minIndex = readU64(k, 9);
    const height = await backend.blockHeightFor(minIndex);
    const what = `time index record (receivedAtMs ${readU64(k, 1)}, from entry ${minIndex})`;
    if (height === undefined) return { entry: minIndex, message: `${what} is past the last block` };
    let keys = cache.get(height);
    if (!keys) {
      keys = new Set((await recomputeTime(backend, height)).map(([key]) => Buffer.from(key).toString('hex')));
      cache.clear();
      cache.set(height, keys);
    }
    if (!keys.has(Buffer.from(k).toString('hex'))) return { block: height, entry: minIndex, message: `${what} does not belong to block ${height}` };
  }
  return { message: `time index holds ${stored} records, the blocks make ${timeRecords}` };
}

async function recomputeTime(backend: LedgerBackend, height: number): Promise<[Bytes, Bytes][]> {
  const { firstIndex: first, lastIndex: last } = decodeBlockHeader((await backend.getHeader(height))!);
  const ms = new Float64Array(last - first + 1);
  let k = 0;
  for await (const [, run] of backend.entriesFrom(first)) {
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
 * last seq and above the run before, the head at the last seq, every row inside the log. Each row is added to `have`.
 */
export async function checkRuns(db: Db, entries: number, have: RowSums): Promise<IndexProblem | undefined> {
  const heads = new Cursor(db, new Uint8Array([P_DEVICE_HEAD]), prefixEnd(new Uint8Array([P_DEVICE_HEAD])));
  const it = db.iterator({ gt: new Uint8Array([P_DEVICE]), lt: prefixEnd(new Uint8Array([P_DEVICE])) });
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
          have.add(index, readU64(v, o + 16));
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
export async function findRowProblem(db: Db, backend: LedgerBackend, lo: number, hi: number): Promise<IndexProblem> {
  const rows = new Map<number, { row: string; ms: number; n: number }>();
  const note = (deviceId: string, seq: number, index: number, ms: number): void => {
    if (index < lo || index >= hi) return;
    const r = rows.get(index);
    if (r) r.n++;
    else rows.set(index, { row: `device index row (${deviceId}, seq ${seq})`, ms, n: 1 });
  };
  const blockRows = new Uint8Array([P_DEVICE_ROWS]);
  for await (const v of db.values({ gt: blockRows, lt: prefixEnd(blockRows) })) {
    for (let at = 0; at < v.length; ) {
      const len = v[at]!;
      const id = text.decode(v.subarray(at + 1, at + 1 + len));
      at += 1 + len;
      note(id, readU64(v, at), readU64(v, at + 8), readU64(v, at + 16));
      at += ROW;
    }
  }
  for await (const [k, v] of db.iterator({ gt: new Uint8Array([P_DEVICE]), lt: prefixEnd(new Uint8Array([P_DEVICE])) })) {
    const id = idOf(k);
    for (let o = 0; o < v.length; o += ROW) note(id, readU64(v, o), readU64(v, o + 8), readU64(v, o + 16));
  }
  const where = async (index: number): Promise<{ block?: number; entry: number }> => {
    const block = await backend.blockHeightFor(index);
    return block === undefined ? { entry: index } : { block, entry: index };
  };
  let index = lo;
  for await (const [first, run] of backend.entriesFrom(lo)) {
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
