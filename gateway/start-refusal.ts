/**
 * The start's failures to open or read back the log, as ConfigErrors with a start code (config-defaults.ts
 * START_ERROR_CODES), so that a supervisor or script can tell "another gateway holds this directory" (stop it, or
 * wait) from "the log is damaged" (restore it) or "the key file is not this log's" (put the log's back): all exit 2,
 * and none changes anything on disk.
 */
import { errorChain, OriginProofError, type ErrorLink } from '../protocol/errors.js';
import { dirname } from 'node:path';
import { LedgerFormatError, LedgerKeyMismatchError } from '../ledger/errors.js';
import { ConfigError } from './config-defaults.js';
import { errnoOf } from '../ledger/errno.js';

/**
 * Errno codes that say the directory cannot be used as it stands (permissions, a read-only file system, no room), not
 * that the log is damaged: node's own, or the one LevelDB's I/O error names in its text (errnoOf: classic-level's
 * LEVEL_IO_ERROR carries no errno; measured on a full tmpfs and a read-only one). Found by review: both were named
 * LEDGER_DAMAGED, whose remedy (restore a backup) rolls the log back for a disk that only needed room.
 */
const UNUSABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/**
 * The process out of file descriptors (its RLIMIT_NOFILE, or the system's table): EMFILE/ENFILE, node's or in
 * LevelDB's text (measured: a start under `prlimit --nofile` with a few descriptors left failed on the store's LOCK,
 * CURRENT or MANIFEST file). A limit of the process, not damage: it was LEDGER_DAMAGED, whose remedy (a backup's
 * restore) rolls the log back and leaves the limit as it was.
 */
const FILE_LIMIT = new Set(['EMFILE', 'ENFILE']);

/** Whether `err` (or one of its causes) says the process has no file descriptor left. */
export function isOpenFilesLimit(err: unknown): boolean {
  return errorChain(err).some((c) => FILE_LIMIT.has(errnoOf(c) ?? ''));
}

/**
 * `new Worker` that cannot make its thread throws node's ERR_WORKER_INIT_FAILED at once, its text the errno: EAGAIN
 * at the process's limit on threads (RLIMIT_NPROC, counted per user; a cgroup's pids.max, systemd's TasksMax=; the
 * kernel's threads-max), or no memory for the thread. `workers`: the verifyWorkers setting. Null for any other error.
 */
export function threadsRefusal(err: unknown, workers: number): ConfigError | null {
  const failed = errorChain(err).find((c) => c.code === 'ERR_WORKER_INIT_FAILED');
  if (!failed) return null;
  return new ConfigError('THREADS_UNAVAILABLE', `verifyWorkers ${workers}: a verify worker thread cannot be made (${errnoOf(failed) ?? String(failed.message)}): the process is at its limit of threads (ulimit -u; TasksMax= under systemd; a container's pids limit) or short of memory: raise the limit, or set fewer verifyWorkers (0 verifies on the main thread); no thread is left running, nothing is damaged`, { cause: err });
}

/** What to do about it, appended to the refusal's message. */
export const OPEN_FILES_LIMIT_REMEDY = "the gateway has no file descriptor left: raise its open-files limit (ulimit -n; LimitNOFILE= under systemd), then start again; nothing is damaged";

const isUnusable = (c: ErrorLink): boolean => UNUSABLE.has(errnoOf(c) ?? '');

/**
 * `err`, thrown while opening the store in `ledgerDir` with the key in `keyFile`, as a ConfigError (an error already
 * one is kept).
 */
export function ledgerOpenRefusal(err: unknown, ledgerDir: string, keyFile = 'the checkpoint key file'): ConfigError {
  if (err instanceof ConfigError) return err;
  const chain = errorChain(err);
  const message = typeof chain[0]?.message === 'string' ? chain[0].message : String(err);
  // The key file is not the one this log is signed with now (Ledger.open, before anything is written): another log's,
  // a wrong backup's, or the key the log retired at a rotation (a key file from before it).
  const mismatch = chain.find((c): c is LedgerKeyMismatchError => c instanceof LedgerKeyMismatchError);
  if (mismatch?.retired) {
    return new ConfigError('CHECKPOINT_KEY_MISMATCH', `${keyFile} holds the checkpoint key ${mismatch.signerKey}, which the log in ${ledgerDir} retired at tree size ${mismatch.retired.lastTreeSize}; the log is signed with ${mismatch.logKey} now: if a rotation was cut short, run \`originproof ledger rotate-key --data-dir ${dirname(keyFile)}\` again to finish it; else restore that key's file (from this data directory's backup); nothing was written`, { cause: err });
  }
  if (mismatch) {
    return new ConfigError('CHECKPOINT_KEY_MISMATCH', `${keyFile} holds the checkpoint key ${mismatch.signerKey}, but the log in ${ledgerDir} is signed with ${mismatch.logKey}: restore the log's own key file (from this data directory's backup); nothing was written. To change the log's key, announce a next one and rotate (originproof ledger announce-key, then rotate-key)`, { cause: err });
  }
  const format = chain.find((c): c is LedgerFormatError => c instanceof LedgerFormatError);
  if (format) return new ConfigError('LEDGER_FORMAT_UNSUPPORTED', `the log in ${ledgerDir}: ${format.message}; nothing was written`, { cause: err });
  // The log's origin is not the `origin` setting (Ledger.open: MALFORMED at path `origin`): a setting to put back, not
  // damage (found by review: it was LEDGER_DAMAGED, whose remedy, a backup's restore, changes nothing here).
  if (err instanceof OriginProofError && err.path === 'origin') {
    return new ConfigError('CONFIG_INVALID', `invalid gateway configuration:\n  origin: ${message}: the log in ${ledgerDir} signs its checkpoints with its own origin; set origin back to it, or move the log away to start a new one`, { cause: err });
  }
  if (chain.some((c) => c.code === 'LEVEL_LOCKED')) {
    return new ConfigError('DATA_DIR_IN_USE', `the log in ${ledgerDir} is in use by another process (a running gateway?): stop it first (${message})`, { cause: err });
  }
  if (isOpenFilesLimit(err)) {
    return new ConfigError('DATA_DIR_UNUSABLE', `the log in ${ledgerDir} cannot be opened: ${message}: ${OPEN_FILES_LIMIT_REMEDY}`, { cause: err });
  }
  if (chain.some(isUnusable)) {
    return new ConfigError('DATA_DIR_UNUSABLE', `the log in ${ledgerDir} cannot be opened: ${message}`, { cause: err });
  }
  return new ConfigError('LEDGER_DAMAGED', message, { cause: err });
}
