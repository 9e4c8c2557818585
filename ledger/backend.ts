/**
 * The storage interface of the ledger: what a backend must do so that LevelDB today and PostgreSQL later
 * pass the same contract tests (test/ledger/contract.ts). The Ledger (ledger.ts) owns the tree, blocks and
 * signing; a backend only stores and finds bytes. `writeBlock` MUST be atomic: all of it or none of it.
 */
export interface TileWrite {
  level: number;
  tile: number;
  /** Concatenated 32-byte hashes, from the tile's first node (a partial tile is rewritten as it grows). */
  hashes: Uint8Array;
}

/** What the indexes need of one entry (the ledger passes its inputs as they are: no object per entry). */
export interface EntryMeta {
  type: number;
  /** Absent: the block's timeMs. */
  receivedAtMs?: number;
  deviceId?: string;
  seq?: number;
}

export interface BlockWrite {
  height: number;
  header: Uint8Array;
  firstIndex: number;
  lastIndex: number;
  treeSize: number;
  checkpoint: string;
  /** The block's sealing time: receivedAtMs of the entries that have none. */
  timeMs: number;
  /** Entry firstIndex + i: meta[i], and bytes data[i ? ends[i - 1] : 0 .. ends[i]) (the entries back to back). */
  meta: readonly EntryMeta[];
  data: Uint8Array;
  ends: Uint32Array;
  /** The entries' leaf hashes, 32 bytes each (also in `tiles` at level 0). */
  leaves: Uint8Array;
  tiles: TileWrite[];
  /** The small record `open` recovers from (ledger/state.ts). */
  state: Uint8Array;
}

export interface DeviceHit {
  seq: number;
  index: number;
  receivedAtMs: number;
}

export interface TimeHit {
  receivedAtMs: number;
  index: number;
}

export interface RangeOptions {
  limit?: number;
  reverse?: boolean;
}

/** One block as `ledger verify` read it from its entries: what the indexes must say of it. */
export interface IndexBlock {
  height: number;
  firstIndex: number;
  lastIndex: number;
  /** Entry firstIndex + i: its type and receivedAtMs. */
  types: Uint8Array;
  receivedAtMs: Float64Array;
}

export interface IndexProblem {
  block?: number;
  entry?: number;
  message: string;
}

/** A backend's check of its indexes against the log (`ledger verify`), block by block in log order, streaming. */
export interface IndexAudit {
  /** The index records of one block (every block once, in order, after its entries verified). */
  block(b: IndexBlock): Promise<IndexProblem | undefined>;
  /** After the last block (`entries` in the log): records that belong to no block, and what needs the whole log. */
  finish(entries: number): Promise<IndexProblem | undefined>;
  close(): Promise<void>;
}

export interface IndexAuditOptions {
  /**
   * Every reading carries a device id and seq, and no (device id, seq) is logged twice, as the gateway logs them:
   * then every reading must be in the device index exactly once. Off, only the device index rows there are checked.
   */
  readingsIndexed: boolean;
}

/**
 * Where a block's write stands (test-only: the crash points, gateway/crash-points.ts, kill the process there):
 * `segments-written` its entries' bytes are durable in the segment files, its batch not yet handed to the store;
 * `batch-handed-over` the store has the batch (LevelDB: batch.write called, its thread appending and syncing).
 */
export type WriteStage = 'segments-written' | 'batch-handed-over';

export interface LedgerBackend {
  readonly kind: string;
  readState(): Promise<Uint8Array | undefined>;
  readMeta(): Promise<Uint8Array | undefined>;
  writeMeta(meta: Uint8Array): Promise<void>;
  /** Atomically store one block: entries, tiles, indexes, header, checkpoint and state. */
  writeBlock(block: BlockWrite): Promise<void>;
  getEntries(indexes: readonly number[]): Promise<(Uint8Array | undefined)[]>;
  getTiles(ids: readonly { level: number; tile: number }[]): Promise<(Uint8Array | undefined)[]>;
  getHeader(height: number): Promise<Uint8Array | undefined>;
  /** Height of the block holding entry `index` (first block whose lastIndex >= index). */
  blockHeightFor(index: number): Promise<number | undefined>;
  getCheckpoint(treeSize: number): Promise<string | undefined>;
  /** Device hits with seq in (afterSeq, +inf), ascending unless reverse. */
  deviceHits(deviceId: string, opts: RangeOptions & { afterSeq?: number }): AsyncIterable<DeviceHit>;
  deviceSeq(deviceId: string, seq: number): Promise<DeviceHit | undefined>;
  /** Time hits with receivedAtMs in [from, to] and (receivedAtMs, index) after the cursor, ascending by (receivedAtMs, index). */
  timeHits(fromMs: number, toMs: number, opts: { limit?: number; after?: TimeHit }): AsyncIterable<TimeHit>;
  typeHits(type: number, opts: RangeOptions & { afterIndex?: number }): AsyncIterable<number>;
  /** Streams for `ledger verify`: ascending, constant memory (entries read in big batches). */
  /** Runs of consecutive entries from `index` on: [index of the run's first entry, the entries' bytes]. */
  entriesFrom(index: number): AsyncIterable<[number, Uint8Array[]]>;
  headersFrom(height: number): AsyncIterable<[number, Uint8Array]>;
  /**
   * Beside the log, not part of it: per device, the iat of the last MQTT connect token the gateway accepted (SPEC
   * §4), so that no token is taken twice, across restarts too. `writeTokenIats` sets each row (a later write of a
   * device replaces its row) and is durable when it resolves; `tokenIats` reads every row, in no particular order.
   */
  tokenIats(): AsyncIterable<[deviceId: string, iat: number]>;
  writeTokenIats(rows: readonly (readonly [deviceId: string, iat: number])[]): Promise<void>;
  /** Optional: a check of the indexes against the log, for `ledger verify` (ledger/verify.ts). */
  auditIndexes?(opts: IndexAuditOptions): IndexAudit;
  /** Test-only, optional: `hook` is called synchronously at each stage of every writeBlock (undefined: none). */
  setWriteStageHook?(hook: ((stage: WriteStage) => void) | undefined): void;
  close(): Promise<void>;
}
