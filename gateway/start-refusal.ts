/**
 * The start's failures to open or read back the log, as ConfigErrors with a start code (config-defaults.ts
 * START_ERROR_CODES), so that a supervisor or script can tell "another gateway holds this directory" (stop it, or
 * wait) from "the log is damaged" (restore it): both exit 2, and neither changes anything on disk.
 */
import { errorChain, OriginProofError, type ErrorLink } from '../protocol/errors.js';
import { ConfigError } from './config-defaults.js';

/** Errno codes that say the directory cannot be used as it stands (permissions, a read-only file system, no room), not that the log is damaged. */
const UNUSABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);
/**
 * The same reasons in LevelDB's own I/O errors, which carry no errno code (classic-level: LEVEL_IO_ERROR, message
 * `IO error: <file>: <strerror>`); measured on a full tmpfs and a read-only one. Found by review: both were named
 * LEDGER_DAMAGED, whose remedy (restore a backup) rolls the log back for a disk that only needed room.
 */
const UNUSABLE_LEVEL_IO = /: (Permission denied|Operation not permitted|Read-only file system|No space left on device|Disk quota exceeded)$/;

function isUnusable(c: ErrorLink): boolean {
  if (typeof c.code !== 'string') return false;
  if (UNUSABLE.has(c.code)) return true;
  return c.code === 'LEVEL_IO_ERROR' && typeof c.message === 'string' && UNUSABLE_LEVEL_IO.test(c.message);
}

/** `err`, thrown while opening the store in `ledgerDir`, as a ConfigError (an error already one is kept). */
export function ledgerOpenRefusal(err: unknown, ledgerDir: string): ConfigError {
  if (err instanceof ConfigError) return err;
  const chain = errorChain(err);
  const message = typeof chain[0]?.message === 'string' ? chain[0].message : String(err);
  // The log's origin is not the `origin` setting (Ledger.open: MALFORMED at path `origin`): a setting to put back, not
  // damage (found by review: it was LEDGER_DAMAGED, whose remedy, a backup's restore, changes nothing here).
  if (err instanceof OriginProofError && err.path === 'origin') {
    return new ConfigError('CONFIG_INVALID', `invalid gateway configuration:\n  origin: ${message}: the log in ${ledgerDir} signs its checkpoints with its own origin; set origin back to it, or move the log away to start a new one`, { cause: err });
  }
  if (chain.some((c) => c.code === 'LEVEL_LOCKED')) {
    return new ConfigError('DATA_DIR_IN_USE', `the log in ${ledgerDir} is in use by another process (a running gateway?): stop it first (${message})`, { cause: err });
  }
  if (chain.some(isUnusable)) {
    return new ConfigError('DATA_DIR_UNUSABLE', `the log in ${ledgerDir} cannot be opened: ${message}`, { cause: err });
  }
  return new ConfigError('LEDGER_DAMAGED', message, { cause: err });
}
