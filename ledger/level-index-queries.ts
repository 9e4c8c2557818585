/**
 * The LevelDB backend's index queries (ledger/level-backend.ts; records in ledger/keys.ts): by device and seq
 * (stored runs merged with the overlay's rows not merged yet), by receivedAtMs (time clusters) and by entry type.
 */
import type { Level } from 'level';
import type { DeviceHit, RangeOptions, TimeHit } from './backend.js';
import { decodeRun, type DeviceOverlay } from './device-index.js';
import { deviceKey, devicePrefix, prefixEnd, readU64, TIME_WINDOW_MS, timeKey, typeKey } from './keys.js';
import { plain } from './level-records.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;

const sortHits = (h: TimeHit[]): TimeHit[] => h.sort((a, b) => a.receivedAtMs - b.receivedAtMs || a.index - b.index);

/** Stored runs merged with the overlay's rows (read first, in the same tick as the iterator's snapshot). */
export async function* findDeviceHits(
  db: Db, overlay: DeviceOverlay, deviceId: string, opts: RangeOptions & { afterSeq?: number },
): AsyncIterable<DeviceHit> {
  const after = opts.afterSeq;
  const limit = opts.limit === undefined || opts.limit < 0 ? Infinity : opts.limit;
  if (limit === 0) return;
  const reverse = opts.reverse ?? false;
  let recent = overlay.hits(deviceId).filter((h) => after === undefined || h.seq > after);
  if (reverse) recent = recent.reverse();
  // A run is keyed by its last seq: runs from the first one whose last seq >= after can hold seqs > after.
  const it = db.values({ gte: deviceKey(deviceId, after ?? 0), lt: prefixEnd(devicePrefix(deviceId)), reverse });
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

export async function findDeviceSeq(db: Db, overlay: DeviceOverlay, deviceId: string, seq: number): Promise<DeviceHit | undefined> {
  const recent = overlay.hits(deviceId).find((h) => h.seq === seq);
  if (recent) return recent;
  for await (const v of db.values({ gte: deviceKey(deviceId, seq), lt: prefixEnd(devicePrefix(deviceId)), limit: 1 })) {
    return decodeRun(plain(v)).find((h) => h.seq === seq);
  }
  return undefined;
}

export async function* findTimeHits(db: Db, fromMs: number, toMs: number, opts: { limit?: number; after?: TimeHit }): AsyncIterable<TimeHit> {
  const limit = opts.limit === undefined || opts.limit < 0 ? Infinity : opts.limit;
  if (limit === 0) return; // hits[limit - 1] below needs a limit of at least one
  const after = opts.after;
  const lo = Math.max(fromMs, after?.receivedAtMs ?? fromMs);
  // A cluster holding an entry at time t starts at or after t - TIME_WINDOW_MS, and at or before t.
  const it = db.iterator({ gte: timeKey(Math.max(0, lo - TIME_WINDOW_MS), 0), lte: timeKey(toMs, Number.MAX_SAFE_INTEGER) });
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

export async function* findTypeHits(db: Db, type: number, opts: RangeOptions & { afterIndex?: number }): AsyncIterable<number> {
  const lower = opts.afterIndex === undefined ? { gte: typeKey(type, 0) } : { gt: typeKey(type, opts.afterIndex) };
  for await (const k of db.keys({ ...lower, lte: typeKey(type, Number.MAX_SAFE_INTEGER), limit: opts.limit ?? -1, reverse: opts.reverse ?? false })) {
    yield readU64(k, 2);
  }
}
