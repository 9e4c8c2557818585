/**
 * The LevelDB backend's merge of device rows into per-device runs (ledger/device-index.ts): the records a block's
 * batch writes when the overlay is due for a merge (ledger/level-backend.ts decides when and commits them).
 */
import type { Level } from 'level';
import type { BlockWrite, DeviceHit } from './backend.js';
import {
  ascending, chunkRuns, columnRows, decodeRun, encodeRun, encodeRunColumns, mergeRows, RUN_ROWS, sortRows, type DeviceOverlay,
  type RowColumns,
} from './device-index.js';
import { blockRowsKey, deviceHeadKey, deviceKey, devicePrefix, prefixEnd, readU64, u64 } from './keys.js';
import { plain } from './level-records.js';

type Bytes = Uint8Array;
type Db = Level<Bytes, Bytes>;

/**
 * The records that move the overlay's rows and this block's into per-device runs, and delete the D records.
 * A device whose new rows all come after its stored ones (the usual case) only gets new runs; otherwise the
 * runs they overlap are read, merged with them and rewritten.
 */
export async function mergeRuns(db: Db, overlay: DeviceOverlay, b: BlockWrite): Promise<{ dels: Bytes[]; puts: [Bytes, Bytes][] }> {
  // Per device the overlay's columns, then this block's rows (on copies: the overlay changes only once the
  // batch has committed).
  const cols = new Map<string, RowColumns>();
  for (const d of overlay.devices()) cols.set(d, overlay.columns(d)!);
  const copied = new Set<string>();
  for (let i = 0; i < b.meta.length; i++) {
    const m = b.meta[i]!;
    if (m.deviceId === undefined || m.seq === undefined) continue;
    let c = cols.get(m.deviceId);
    if (!copied.has(m.deviceId)) {
      c = c ? { seq: c.seq.slice(), index: c.index.slice(), ms: c.ms.slice() } : { seq: [], index: [], ms: [] };
      cols.set(m.deviceId, c);
      copied.add(m.deviceId);
    }
    c!.seq.push(m.seq);
    c!.index.push(b.firstIndex + i);
    c!.ms.push(m.receivedAtMs ?? b.timeMs);
  }
  const devices = [...cols.keys()];
  const heads = await db.getMany(devices.map(deviceHeadKey));
  const dels: Bytes[] = overlay.heights.map(blockRowsKey);
  const puts: [Bytes, Bytes][] = [];
  for (let i = 0; i < devices.length; i++) {
    const deviceId = devices[i]!;
    const c = cols.get(deviceId)!;
    const head = heads[i] === undefined ? undefined : readU64(heads[i]!);
    const n = c.seq.length;
    if (ascending(c) && (head === undefined || head < c.seq[0]!)) {
      // The usual case: the rows follow the stored ones and are a run already.
      for (let from = 0; from < n; from += RUN_ROWS) {
        const to = Math.min(n, from + RUN_ROWS);
        puts.push([deviceKey(deviceId, c.seq[to - 1]!), encodeRunColumns(c, from, to)]);
      }
      puts.push([deviceHeadKey(deviceId), u64(c.seq[n - 1]!)]);
      continue;
    }
    let rows = sortRows(columnRows(c));
    if (head !== undefined && head >= rows[0]!.seq) {
      const stored = await runsFrom(db, deviceId, rows[0]!.seq);
      dels.push(...stored.keys);
      rows = mergeRows(stored.rows, rows);
    }
    for (const run of chunkRuns(rows)) puts.push([deviceKey(deviceId, run[run.length - 1]!.seq), encodeRun(run)]);
    puts.push([deviceHeadKey(deviceId), u64(rows[rows.length - 1]!.seq)]);
  }
  return { dels, puts };
}

/** Every stored run of a device that may hold a seq >= `seq` (keys and rows, ascending). */
async function runsFrom(db: Db, deviceId: string, seq: number): Promise<{ keys: Bytes[]; rows: DeviceHit[] }> {
  const keys: Bytes[] = [];
  let rows: DeviceHit[] = [];
  for await (const [k, v] of db.iterator({ gte: deviceKey(deviceId, seq), lt: prefixEnd(devicePrefix(deviceId)) })) {
    keys.push(plain(k).slice());
    rows = rows.concat(decodeRun(plain(v)));
  }
  return { keys, rows };
}
