/** LevelDB backend (`level` 10 / classic-level): one block = one `batch` (atomic in LevelDB's write log). */
import { Level } from 'level';
import type { BlockWrite, DeviceHit, LedgerBackend, RangeOptions, TimeHit } from './backend.js';
import {
  blockEndKey, checkpointKey, deviceKey, devicePrefix, entryKey, headerKey, META_KEY, P_ENTRY, P_HEADER, prefixEnd,
  readU64, STATE_KEY, tileKey, timeKey, typeKey, u64, writeU64,
} from './keys.js';

type Bytes = Uint8Array;
type Op = { type: 'put'; key: Bytes; value: Bytes };
const EMPTY = new Uint8Array(0);
const READING = 1;
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export interface LevelBackendOptions {
  /** fsync each block (default true: a receipt is only sent after the block is durable). */
  sync?: boolean;
}

export class LevelBackend implements LedgerBackend {
  readonly kind = 'leveldb';
  readonly #db: Level<Bytes, Bytes>;
  readonly #sync: boolean;

  private constructor(db: Level<Bytes, Bytes>, sync: boolean) {
    this.#db = db;
    this.#sync = sync;
  }

  static async open(dir: string, opts: LevelBackendOptions = {}): Promise<LevelBackend> {
    const db = new Level<Bytes, Bytes>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return new LevelBackend(db, opts.sync ?? true);
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

  async writeBlock(b: BlockWrite): Promise<void> {
    const ops: Op[] = [];
    for (const e of b.entries) {
      ops.push({ type: 'put', key: entryKey(e.index), value: e.bytes });
      ops.push({ type: 'put', key: timeKey(e.receivedAtMs, e.index), value: EMPTY });
      if (e.type !== READING) ops.push({ type: 'put', key: typeKey(e.type, e.index), value: EMPTY });
      if (e.deviceId !== undefined && e.seq !== undefined) {
        const v = new Uint8Array(16);
        writeU64(v, 0, e.index);
        writeU64(v, 8, e.receivedAtMs);
        ops.push({ type: 'put', key: deviceKey(e.deviceId, e.seq), value: v });
      }
    }
    for (const t of b.tiles) ops.push({ type: 'put', key: tileKey(t.level, t.tile), value: t.hashes });
    ops.push({ type: 'put', key: headerKey(b.height), value: b.header });
    ops.push({ type: 'put', key: blockEndKey(b.lastIndex), value: u64(b.height) });
    ops.push({ type: 'put', key: checkpointKey(b.treeSize), value: new TextEncoder().encode(b.checkpoint) });
    ops.push({ type: 'put', key: STATE_KEY, value: b.state });
    await this.#db.batch(ops, { sync: this.#sync } as never);
  }

  async getEntries(indexes: readonly number[]): Promise<(Bytes | undefined)[]> {
    const vs = await this.#db.getMany(indexes.map(entryKey));
    return vs.map((v) => (v === undefined ? undefined : plain(v)));
  }

  async getTiles(ids: readonly { level: number; tile: number }[]): Promise<(Bytes | undefined)[]> {
    const vs = await this.#db.getMany(ids.map((i) => tileKey(i.level, i.tile)));
    return vs.map((v) => (v === undefined ? undefined : plain(v)));
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

  async *deviceHits(deviceId: string, opts: RangeOptions & { afterSeq?: number }): AsyncIterable<DeviceHit> {
    const p = devicePrefix(deviceId);
    const range = opts.afterSeq === undefined ? { gte: deviceKey(deviceId, 0) } : { gt: deviceKey(deviceId, opts.afterSeq) };
    for await (const [k, v] of this.#db.iterator({ ...range, lt: prefixEnd(p), limit: opts.limit ?? -1, reverse: opts.reverse ?? false })) {
      yield { seq: readU64(k, p.length), index: readU64(v, 0), receivedAtMs: readU64(v, 8) };
    }
  }

  async deviceSeq(deviceId: string, seq: number): Promise<DeviceHit | undefined> {
    const v = await this.#db.get(deviceKey(deviceId, seq));
    return v === undefined ? undefined : { seq, index: readU64(v, 0), receivedAtMs: readU64(v, 8) };
  }

  async *timeHits(fromMs: number, toMs: number, opts: RangeOptions & { after?: TimeHit }): AsyncIterable<TimeHit> {
    const lower = opts.after ? { gt: timeKey(opts.after.receivedAtMs, opts.after.index) } : { gte: timeKey(fromMs, 0) };
    const upper = timeKey(toMs, Number.MAX_SAFE_INTEGER);
    for await (const k of this.#db.keys({ ...lower, lte: upper, limit: opts.limit ?? -1, reverse: opts.reverse ?? false })) {
      const hit = { receivedAtMs: readU64(k, 1), index: readU64(k, 9) };
      if (hit.receivedAtMs >= fromMs) yield hit;
    }
  }

  async *typeHits(type: number, opts: RangeOptions & { afterIndex?: number }): AsyncIterable<number> {
    const lower = opts.afterIndex === undefined ? { gte: typeKey(type, 0) } : { gt: typeKey(type, opts.afterIndex) };
    for await (const k of this.#db.keys({ ...lower, lte: typeKey(type, Number.MAX_SAFE_INTEGER), limit: opts.limit ?? -1, reverse: opts.reverse ?? false })) {
      yield readU64(k, 2);
    }
  }

  async *entriesFrom(index: number): AsyncIterable<[number, Bytes]> {
    for await (const [k, v] of this.#db.iterator({ gte: entryKey(index), lt: prefixEnd(new Uint8Array([P_ENTRY])) })) yield [readU64(k, 1), plain(v)];
  }

  async *headersFrom(height: number): AsyncIterable<[number, Bytes]> {
    for await (const [k, v] of this.#db.iterator({ gte: headerKey(height), lt: prefixEnd(new Uint8Array([P_HEADER])) })) yield [readU64(k, 1), plain(v)];
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
