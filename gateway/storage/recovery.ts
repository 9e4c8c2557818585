/**
 * What the gateway does when its store fails to write (disk full, I/O error), and how it comes back:
 *  1. at the first failed write: stop taking readings and registry writes (STORAGE_UNAVAILABLE), readiness red;
 *     nothing more is written to the store (FailStopBackend), so nothing unwritten is ever receipted;
 *  2. every `retryMs`: probe the data directory (write and fsync a file of PROBE_BYTES, then delete it);
 *  3. when the probe succeeds: close and reopen the store (state re-derived from disk), with writes still refused;
 *     `reload` (the gateway reloads the registry from the reopened store); then writes are taken again and
 *     `onRecovered` (the gateway resumes the pipeline, closes device connections from before) and readiness is green
 *     again. A reopen or reload that fails (still no room for LevelDB's recovery, a read error) goes back to 2;
 *     one that finds the store damaged (LedgerDamagedError: an entry that does not hash to its leaf, say) stops
 *     there: damage does not heal, and each attempt would write its probe and replay the registry again for nothing.
 *     Writes stay refused, `/readyz` (still 503 STORAGE_UNAVAILABLE) and the log say the store is damaged, the log
 *     what is damaged; reads go on (each checked). A start on the directory would be refused LEDGER_DAMAGED alike:
 *     the remedy is to restore it from a backup.
 * A failure reported while an attempt runs (the reopened store failed a write) is not lost: the attempt sees it,
 * does not resume, and goes back to 2; readiness stays red throughout.
 * The gateway stays up throughout: health, reads of the log (from the old handle until the reopen) and metrics.
 */
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { OriginProofError } from '../../protocol/errors.js';
import { LedgerDamagedError } from '../../ledger/errors.js';
import type { GatewayLedger } from '../ledger-adapter.js';
import { storageError } from './fail-stop-backend.js';
import { storeFailureDetail } from './failure-reason.js';

/** Room the probe must find: a few LevelDB log blocks and a small table, not a guarantee for the reopen. */
export const PROBE_BYTES = 1 << 20;
export const PROBE_FILE = '.storage-probe';

export interface StorageRecoveryOptions {
  dataDir: string;
  ledger: () => Pick<GatewayLedger, 'reopen' | 'resumeWrites'>;
  retryMs: number;
  /** The store failed (once per episode, i.e. until `onRecovered`): stop taking readings. */
  onFailure: (err: OriginProofError) => void;
  /** After the reopen, writes still refused: re-derive state from the store (reads only). */
  reload: () => Promise<void>;
  /** Writes are taken again: take readings again. Synchronous, so that no failure can come between. */
  onRecovered: () => void;
  log: (level: 'error' | 'info', msg: string) => void;
}

export class StorageRecovery {
  #failure: OriginProofError | null = null;
  /** Failures reported so far: an attempt that saw this change under it does not resume. */
  #reported = 0;
  #timer: NodeJS.Timeout | null = null;
  #attempt: Promise<void> | null = null;
  #stopped = false;
  /** The cause of the last failed attempt, as logged. */
  #lastAttemptError: string | null = null;
  /** Damage an attempt found: recovery has stopped for good (writes stay refused). */
  #damaged: LedgerDamagedError | null = null;

  constructor(private readonly opts: StorageRecoveryOptions) {}

  /** The failure being recovered from (null while the store is writable). */
  get failure(): OriginProofError | null {
    return this.#failure;
  }

  /** The damage that stopped recovery (null: none found). Writes stay refused (`failure` is kept). */
  get damaged(): LedgerDamagedError | null {
    return this.#damaged;
  }

  /** A write failed (the ledger calls this once per opened store that fails). */
  failed(err: OriginProofError): void {
    if (this.#stopped || this.#damaged) return;
    this.#reported++;
    if (this.#failure) {
      // Recovering already (an attempt in progress or scheduled): that attempt, or the next, starts over.
      this.#failure = err;
      this.opts.log('error', `${withCause(err)}: failed again while recovering; retrying`);
      if (!this.#timer && !this.#attempt) this.#schedule();
      return;
    }
    this.#failure = err;
    this.opts.log('error', `${withCause(err)}: not taking readings until the store is writable again`);
    this.opts.onFailure(err);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#attempt = this.#tryRecover().finally(() => (this.#attempt = null));
    }, this.opts.retryMs);
  }

  async #tryRecover(): Promise<void> {
    const reported = this.#reported;
    try {
      await probe(this.opts.dataDir);
      if (this.#stopped) return;
      const ledger = this.opts.ledger();
      await ledger.reopen();
      if (this.#stopped) return;
      await this.opts.reload();
      if (this.#stopped) return;
      // Nothing awaited from here on: a failure is either seen now or reported after `onRecovered` (a new episode).
      if (this.#reported !== reported) throw this.#failure;
      ledger.resumeWrites(); // throws if the reopened store failed meanwhile
    } catch (err) {
      if (err instanceof LedgerDamagedError) {
        this.#damaged = err;
        this.opts.log('error', `the store is damaged: recovery stopped, writes stay refused until the data directory is restored from a backup: ${err.message}`);
        return;
      }
      // Said once per distinct cause (found by review: a reopen that failed for good, its LOCK still held, was silent).
      const why = err instanceof Error ? err.message : String(err);
      if (why !== this.#lastAttemptError) this.opts.log('error', `recovery attempt failed: ${why}; trying again every ${this.opts.retryMs} ms`);
      this.#lastAttemptError = why;
      this.#schedule();
      return;
    }
    this.#lastAttemptError = null;
    this.#failure = null;
    try {
      this.opts.onRecovered();
    } catch (err) {
      this.failed(storageError(err)); // not expected; start over rather than run half-resumed
      return;
    }
    this.opts.log('info', 'store writable again: reopened, state re-derived from disk, taking readings');
  }

  /** Stop probing (gateway shutdown); waits for an attempt in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#attempt;
  }
}

/** Write PROBE_BYTES to the data directory and fsync them; throws if the file system refuses. */
async function probe(dir: string): Promise<void> {
  const path = join(dir, PROBE_FILE);
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(new Uint8Array(PROBE_BYTES)); // loops over short writes; ENOSPC throws
    await fh.sync();
  } finally {
    await fh.close();
    await unlink(path).catch(() => undefined);
  }
}

/** The failure as the operator's log shows it: what devices are told, then the store's own error (file names and all). */
function withCause(err: OriginProofError): string {
  const detail = err.cause === undefined ? '' : storeFailureDetail(err.cause);
  return detail ? `${err.message} [${detail}]` : err.message;
}
