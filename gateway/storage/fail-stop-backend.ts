/**
 * A ledger backend that stops writing after its first failed write, until it is replaced by a freshly opened one.
 *
 * Why: after LevelDB fails to append to its write-ahead log (ENOSPC, EIO), the log may hold a torn record, and the
 * log writer's idea of its position no longer matches the file. LevelDB keeps accepting writes on the same handle
 * once space is back, and reports them durable (even with fsync), but on the next open the log reader drops
 * everything after the torn record (measured on a full tmpfs: 30 of 30 `sync: true` writes made after the failure
 * were gone after a reopen). A failed fsync is worse: LevelDB says the record "may or may not show up" on reopen.
 * So the only safe continuation is close, reopen (which replays the log up to the tear and starts a new one) and
 * re-derive every in-memory state from what is on disk. Until then every write fails here, without touching the store.
 */
import { OriginProofError } from '../../protocol/errors.js';
import type { BlockWrite, LedgerBackend } from '../../ledger/backend.js';
import { storeFailureReason } from './failure-reason.js';

export class FailStopBackend implements LedgerBackend {
  readonly kind: string;
  #failure: OriginProofError | undefined;
  /** The last write queued (#write): the next starts once it has settled. */
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly inner: LedgerBackend,
    /** Called once, with the first write error (the store's own error as `cause`). */
    private readonly onFailure: (err: OriginProofError) => void,
  ) {
    this.kind = inner.kind;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  writeBlock(block: BlockWrite): Promise<void> {
    return this.#write(() => this.inner.writeBlock(block));
  }

  writeMeta(meta: Uint8Array): Promise<void> {
    return this.#write(() => this.inner.writeMeta(meta));
  }

  writeTokenIats(rows: readonly (readonly [string, number])[]): Promise<void> {
    return this.#write(() => this.inner.writeTokenIats(rows));
  }

  /**
   * One write at a time, each checked against the failures before it. Found by review: writes ran concurrently, so a
   * block whose write began before a connect token's write failed (ENOSPC in LevelDB's log) went on to the same
   * handle once space was back, was reported durable and receipted, and was gone after the reopen; the next block
   * then signed a second checkpoint at its tree size. Block writes are one at a time anyway (the ledger chains
   * them); token writes now wait for the block write in flight, and it for them: a few ms.
   */
  #write(fn: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#failure) throw this.#failure;
      try {
        await fn();
      } catch (err) {
        if (!this.#failure) {
          this.#failure = storageError(err);
          this.onFailure(this.#failure);
        }
        throw this.#failure;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  readState = () => this.inner.readState();
  readMeta = () => this.inner.readMeta();
  tokenIats = () => this.inner.tokenIats();
  getEntries: LedgerBackend['getEntries'] = (indexes) => this.inner.getEntries(indexes);
  getTiles: LedgerBackend['getTiles'] = (ids) => this.inner.getTiles(ids);
  getHeader: LedgerBackend['getHeader'] = (height) => this.inner.getHeader(height);
  blockHeightFor: LedgerBackend['blockHeightFor'] = (index) => this.inner.blockHeightFor(index);
  getCheckpoint: LedgerBackend['getCheckpoint'] = (treeSize) => this.inner.getCheckpoint(treeSize);
  deviceHits: LedgerBackend['deviceHits'] = (deviceId, opts) => this.inner.deviceHits(deviceId, opts);
  deviceSeq: LedgerBackend['deviceSeq'] = (deviceId, seq) => this.inner.deviceSeq(deviceId, seq);
  timeHits: LedgerBackend['timeHits'] = (fromMs, toMs, opts) => this.inner.timeHits(fromMs, toMs, opts);
  typeHits: LedgerBackend['typeHits'] = (type, opts) => this.inner.typeHits(type, opts);
  entriesFrom: LedgerBackend['entriesFrom'] = (index) => this.inner.entriesFrom(index);
  headersFrom: LedgerBackend['headersFrom'] = (height) => this.inner.headersFrom(height);
  close = () => this.inner.close();
}

/**
 * The stable code devices and clients see, with why in words that name no file (failure-reason.ts: "its disk is
 * full"); the store's own error, file names and all, is the cause, which the operator's log shows.
 */
export function storageError(err: unknown): OriginProofError {
  if (err instanceof OriginProofError && err.code === 'STORAGE_UNAVAILABLE') return err;
  return new OriginProofError('STORAGE_UNAVAILABLE', `the gateway cannot write to its store (${storeFailureReason(err)}); keep the reading and resend it later`, { cause: err });
}
