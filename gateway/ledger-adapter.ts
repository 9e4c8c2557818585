/**
 * The gateway's view of the ledger: what the pipeline (ReadingLog), the registry (RegistryLog) and the record
 * routes need, over ledger/Ledger. No policy here, except storage failures: the store is opened behind a
 * FailStopBackend, so after the first failed write nothing more is written until `reopen` has closed the store and
 * opened it again with its state re-derived from disk (storage/fail-stop-backend.ts says why), and the gateway has
 * re-derived its own state from it and called `resumeWrites` (storage/recovery.ts).
 */
import { Ledger, type EntryInput } from '../ledger/ledger.js';
import { LevelBackend } from '../ledger/level-backend.js';
import type { LedgerBackend } from '../ledger/backend.js';
import type { NoteSigner } from '../protocol/checkpoint.js';
import type { OriginProofError } from '../protocol/errors.js';
import { decodeLogEntry, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION, type EntryType } from '../protocol/log-entry.js';
import type { AppendedEntry, ReadingInput, ReadingLog } from './reading-log.js';
import type { RegistryLog } from './registry.js';
import type { TokenIatStore } from './mqtt/connect-token-order.js';
import { FailStopBackend, storageError } from './storage/fail-stop-backend.js';
import { BLOCK_MAX_ENTRIES_LIMIT } from './config-defaults.js';

export interface GatewayLedgerOptions {
  origin: string;
  signer: NoteSigner & { publicKey: Uint8Array };
  /** The announced next checkpoint key, signing beside `signer` (Ledger's LedgerOptions.nextSigner). */
  nextSigner?: NoteSigner & { publicKey: Uint8Array };
  blockMaxEntries: number;
  blockMaxMs: number;
  clock?: () => number;
  /** Once per durable block, with the tree size after it. */
  onBlock?: (treeSize: number) => void;
  /** Once per reading logged (durable in a block), with its device's id: set only while someone listens. */
  onReadingLogged?: (deviceId: string) => void;
  /** Called once per opened store that fails, with its first failed write (again for a reopened store that fails). */
  onStorageFailure?: (err: OriginProofError) => void;
  /** Wraps the LevelDB backend, below the fail-stop layer (test-only: crash points, gateway/crash-points.ts, and injected faults). */
  wrapBackend?: (backend: LedgerBackend) => LedgerBackend;
}

/**
 * Registry entries read and checked per batch at start: one read of their entries and one of their tiles per page,
 * not one read per entry; a page of entries (2 MB at most: certificates are 2 KiB at most) is all that is held at once.
 */
const REGISTRY_READ_PAGE = 1_000;

export class GatewayLedger implements ReadingLog, RegistryLog, TokenIatStore {
  /** The open Ledger (null between closing a failed store and opening it again). */
  #current: Ledger | null;
  #last: Ledger;
  /** The current store (the Ledger's backend): also holds the connect tokens' iats, beside the log. */
  #backend: LedgerBackend;
  /** Why writes are refused (null: writes go to the store): the failed write, or the ledger being closed. */
  #failure: OriginProofError | null = null;
  /** Which opened store is current: a failure reported by an earlier one is old news. */
  #generation = 0;
  /** The current store has failed a write (since it was opened). */
  #storeFailed = false;
  /**
   * The current Ledger, whichever that is: record routes keep this one reference while `reopen` swaps the store
   * underneath. While no store is open, using it throws STORAGE_UNAVAILABLE.
   */
  readonly ledger: Ledger;

  private constructor(
    [first, backend]: Opened,
    private readonly dir: string,
    private readonly opts: GatewayLedgerOptions,
  ) {
    this.#current = first;
    this.#last = first;
    this.#backend = backend;
    this.ledger = new Proxy({} as Ledger, {
      get: (_target, prop) => {
        const l = this.#current ?? fail(this.#failure);
        const value: unknown = Reflect.get(l, prop, l);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(l) : value;
      },
    });
  }

  static async open(dir: string, opts: GatewayLedgerOptions): Promise<GatewayLedger> {
    const gl: GatewayLedger = new GatewayLedger(await openLedger(dir, opts, (err) => gl.#failed(err, 0)), dir, opts);
    return gl;
  }

  #failed(err: OriginProofError, generation: number): void {
    if (generation !== this.#generation || this.#storeFailed) return;
    this.#storeFailed = true;
    this.#failure = err;
    this.opts.onStorageFailure?.(err);
  }

  /**
   * Close the store (pending blocks are rejected, nothing more is written) and open it again: LevelDB replays its
   * log up to the last whole record, the ledger state comes from the state record on disk. Reads go to the fresh
   * store at once; writes stay refused (STORAGE_UNAVAILABLE, the failure kept) until `resumeWrites`, so that what
   * the gateway re-derives from the store (the registry) is complete before anything is added to it. Throws (and
   * stays closed, failure kept) when the store cannot be opened yet; call again later.
   */
  async reopen(): Promise<void> {
    const old = this.#current;
    this.#current = null;
    this.#failure ??= storageError(new Error('the store is being reopened'));
    if (old) await old.close().catch(() => undefined);
    const generation = ++this.#generation;
    this.#storeFailed = false;
    const [fresh, backend] = await openLedger(this.dir, this.opts, (err) => this.#failed(err, generation));
    this.#current = fresh;
    this.#last = fresh;
    this.#backend = backend;
  }

  /**
   * Take writes again after `reopen`. Throws the failure (writes stay refused) if no store is open or the reopened
   * store has failed a write meanwhile; recovery then starts over.
   */
  resumeWrites(): void {
    if (!this.#current || this.#storeFailed) fail(this.#failure);
    this.#failure = null;
  }

  size(): number {
    return (this.#current ?? this.#last).size;
  }

  tokenIats(): AsyncIterable<[string, number]> {
    if (!this.#current) fail(this.#failure);
    return this.#backend.tokenIats();
  }

  /** Durable when it resolves; refused (STORAGE_UNAVAILABLE) while writes are (storage/recovery.ts). */
  async writeTokenIats(rows: readonly (readonly [string, number])[]): Promise<void> {
    this.#writable();
    await this.#backend.writeTokenIats(rows);
  }

  submit(input: ReadingInput, done: (err: unknown, entry?: AppendedEntry) => void): void {
    let ledger: Ledger;
    try {
      ledger = this.#writable();
    } catch (err) {
      queueMicrotask(() => done(err));
      return;
    }
    // The ledger's result carries everything a receipt needs (AppendedEntry is a subset of it).
    const logged = this.opts.onReadingLogged;
    ledger.submitWith(input as EntryInput, logged ? (err, entry) => {
      if (!err) logged(input.deviceId);
      done(err, entry);
    } : done);
  }

  /** The open Ledger if writes may go to it; else the failure. */
  #writable(): Ledger {
    if (this.#failure || !this.#current) fail(this.#failure);
    return this.#current;
  }

  async lastSeq(deviceId: string): Promise<number | undefined> {
    return this.ledger.lastSeq(deviceId);
  }

  async findBySeq(deviceId: string, seq: number) {
    const found = await this.ledger.findBySeq(deviceId, seq);
    if (!found) return undefined;
    const e = decodeLogEntry(found.entry);
    // The leaf hash the check compared the entry with (ledger/entry-self-check.ts): not hashed again.
    return { payload: e.payload, index: e.index, receivedAtMs: e.receivedAtMs, certRef: e.certRef ?? new Uint8Array(32), leafHash: found.leafHash };
  }

  /**
   * The latest checkpoint, for a resend's original receipt, checked with the log's key (once per note): the one read
   * from the store at open is otherwise handed to the device as it was stored (found by review), and a device that
   * checks it (SPEC §7) takes a damaged note for a gateway signing garbage.
   */
  latestCheckpoint(): string | undefined {
    const note = this.ledger.latestCheckpoint;
    return note === undefined ? undefined : this.ledger.checkedNote(note, this.ledger.size);
  }

  async appendRegistryEvent(type: number, payload: Uint8Array, certRef: Uint8Array | undefined, receivedAtMs?: number): Promise<{ index: number }> {
    const r = await this.#writable().submit({ type: type as EntryType, payload, ...(certRef ? { certRef } : {}), ...(receivedAtMs !== undefined ? { receivedAtMs } : {}) });
    return { index: r.index };
  }

  /**
   * Registry events of all three types, merged in log order, read page by page: each page's entries checked against
   * their leaves in the log's tree (ledger/entry-self-check.ts) in one batched read of the entries and one of their
   * tiles. An entry whose bytes changed on disk but still decode was otherwise replayed as it was (a revocation
   * moved or lost, a device's certificate changed) with nothing said; now it fails the start as LEDGER_DAMAGED
   * naming the entry (gateway.ts), and the storage recovery's reload stops (storage/recovery.ts).
   */
  async *registryEvents(): AsyncIterable<{ type: number; payload: Uint8Array; index: number }> {
    const indexes: number[] = [];
    for (const type of [ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION]) {
      let after: number | undefined;
      for (;;) {
        const page = await this.ledger.indexesByType(type, { limit: 10_000, ...(after === undefined ? {} : { afterIndex: after }) });
        indexes.push(...page);
        if (page.length < 10_000) break;
        after = page[page.length - 1];
      }
    }
    indexes.sort((a, b) => a - b);
    for (let from = 0; from < indexes.length; from += REGISTRY_READ_PAGE) {
      const page = indexes.slice(from, from + REGISTRY_READ_PAGE);
      const entries = await this.ledger.checkedEntries(page);
      for (const [k, bytes] of entries.entries()) {
        const e = decodeLogEntry(bytes);
        yield { type: e.type, payload: e.payload, index: page[k]! };
      }
    }
  }

  /** Seal the pending block now (graceful shutdown). */
  async flush(): Promise<void> {
    await this.#current?.flush();
  }

  async close(): Promise<void> {
    const l = this.#current;
    this.#current = null;
    this.#generation++; // a failure of the store being closed is nobody's business any more
    this.#failure ??= storageError(new Error('the ledger is closed'));
    await l?.close();
  }
}

function fail(failure: OriginProofError | null): never {
  throw failure ?? storageError(new Error('the store is not open'));
}

type Opened = [Ledger, LedgerBackend];

async function openLedger(dir: string, opts: GatewayLedgerOptions, onFailure: (err: OriginProofError) => void): Promise<Opened> {
  const level = await LevelBackend.open(dir, { sync: true });
  const backend = new FailStopBackend(opts.wrapBackend ? opts.wrapBackend(level) : level, onFailure);
  try {
    // Segment files missing or cut short refuse the start (or a reopen), instead of a log with a hole in it; so do
    // more entries past the committed ones than one block holds (a crash leaves one block's at most).
    await level.checkSegmentFiles({ maxUncommitted: BLOCK_MAX_ENTRIES_LIMIT });
    return [await Ledger.open({ backend, origin: opts.origin, signer: opts.signer, ...(opts.nextSigner ? { nextSigner: opts.nextSigner } : {}), blockMaxEntries: opts.blockMaxEntries, blockMaxDelayMs: opts.blockMaxMs, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.onBlock ? { onBlock: (b: { treeSize: number }) => opts.onBlock!(b.treeSize) } : {}) }), backend];
  } catch (err) {
    await level.close().catch(() => undefined);
    throw err;
  }
}

export function openGatewayLedger(dir: string, opts: GatewayLedgerOptions): Promise<GatewayLedger> {
  return GatewayLedger.open(dir, opts);
}
