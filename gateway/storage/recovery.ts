/**
 * What the gateway does when its store fails to write (disk full, I/O error), and how it comes back:
 *  1. at the first failed write: stop taking readings and registry writes (STORAGE_UNAVAILABLE), readiness red;
 *     nothing more is written to the store (FailStopBackend), so nothing unwritten is ever receipted;
 *  2. every `retryMs`: probe the data directory (write and fsync a file of PROBE_BYTES, then delete it);
 *  3. when the probe succeeds: close and reopen the store (state re-derived from disk), then `onRecovered`
 *     (the gateway reloads the registry, resumes the pipeline, closes device connections from before) and
 *     readiness is green again. A reopen that fails (still no room for LevelDB's recovery) goes back to 2.
 * The gateway stays up throughout: health, reads of the log (from the old handle until the reopen) and metrics.
 */
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { OriginProofError } from '../../protocol/errors.js';
import type { GatewayLedger } from '../ledger-adapter.js';

/** Room the probe must find: a few LevelDB log blocks and a small table, not a guarantee for the reopen. */
export const PROBE_BYTES = 1 << 20;
export const PROBE_FILE = '.storage-probe';

export interface StorageRecoveryOptions {
  dataDir: string;
  ledger: () => GatewayLedger;
  retryMs: number;
  onFailure: (err: OriginProofError) => void;
  onRecovered: () => Promise<void>;
  log: (level: 'error' | 'info', msg: string) => void;
}

export class StorageRecovery {
  #failure: OriginProofError | null = null;
  #timer: NodeJS.Timeout | null = null;
  #attempt: Promise<void> | null = null;
  #stopped = false;

  constructor(private readonly opts: StorageRecoveryOptions) {}

  /** The failure being recovered from (null while the store is writable). */
  get failure(): OriginProofError | null {
    return this.#failure;
  }

  /** A write failed (called once per episode by the ledger). */
  failed(err: OriginProofError): void {
    if (this.#failure || this.#stopped) return;
    this.#failure = err;
    this.opts.log('error', `${err.message}: not taking readings until the store is writable again`);
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
    try {
      await probe(this.opts.dataDir);
      if (this.#stopped) return;
      await this.opts.ledger().reopen();
      if (this.#stopped) return;
      await this.opts.onRecovered();
      this.#failure = null;
      this.opts.log('info', 'store writable again: reopened, state re-derived from disk, taking readings');
    } catch {
      this.#schedule();
    }
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
