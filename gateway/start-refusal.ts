/**
 * The start's failures to open or read back the log, as ConfigErrors with a start code (config-defaults.ts
 * START_ERROR_CODES), so that a supervisor or script can tell "another gateway holds this directory" (stop it, or
 * wait) from "the log is damaged" (restore it): both exit 2, and neither changes anything on disk.
 */
import { errorChain } from '../protocol/errors.js';
import { ConfigError } from './config-defaults.js';

/** Errno codes that say the directory cannot be used as it stands (permissions, a read-only file system), not that the log is damaged. */
const UNUSABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC']);

/** `err`, thrown while opening the store in `ledgerDir`, as a ConfigError (an error already one is kept). */
export function ledgerOpenRefusal(err: unknown, ledgerDir: string): ConfigError {
  if (err instanceof ConfigError) return err;
  const chain = errorChain(err);
  const message = typeof chain[0]?.message === 'string' ? chain[0].message : String(err);
  if (chain.some((c) => c.code === 'LEVEL_LOCKED')) {
    return new ConfigError('DATA_DIR_IN_USE', `the log in ${ledgerDir} is in use by another process (a running gateway?): stop it first (${message})`, { cause: err });
  }
  if (chain.some((c) => typeof c.code === 'string' && UNUSABLE.has(c.code))) {
    return new ConfigError('DATA_DIR_UNUSABLE', `the log in ${ledgerDir} cannot be opened: ${message}`, { cause: err });
  }
  return new ConfigError('LEDGER_DAMAGED', message, { cause: err });
}
