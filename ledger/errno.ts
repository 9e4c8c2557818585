/**
 * The errno an error stands for, wherever it sits in its chain: node's own code, or the one a LevelDB I/O error's
 * text names (classic-level's LEVEL_IO_ERROR carries no errno, only strerror's text at the end; measured on a full
 * tmpfs and a read-only one), or a worker thread's that could not start (node's ERR_WORKER_INIT_FAILED: `Worker
 * initialization failure: EMFILE` when the started thread fails, the bare `EAGAIN` when `new Worker` cannot make it). Used by the gateway (storage/failure-reason.ts, start-refusal.ts) and `ledger verify`.
 */
import { errorChain, type ErrorLink } from '../protocol/errors.js';

const LEVEL_IO_TEXT: readonly (readonly [RegExp, string])[] = [
  [/: No space left on device$/, 'ENOSPC'],
  [/: Disk quota exceeded$/, 'EDQUOT'],
  [/: Read-only file system$/, 'EROFS'],
  [/: Permission denied$/, 'EACCES'],
  [/: Operation not permitted$/, 'EPERM'],
  [/: Too many open files$/, 'EMFILE'],
  [/: Too many open files in system$/, 'ENFILE'],
  [/: Input\/output error$/, 'EIO'],
];

/** The errno a link of an error chain stands for: node's own code, or the one LevelDB's I/O error text names. */
export function errnoOf(link: ErrorLink): string | undefined {
  if (typeof link.code !== 'string') return undefined;
  if (/^E[A-Z]+$/.test(link.code)) return link.code;
  if (link.code === 'LEVEL_IO_ERROR' && typeof link.message === 'string') {
    for (const [text, errno] of LEVEL_IO_TEXT) if (text.test(link.message)) return errno;
  }
  if (link.code === 'ERR_WORKER_INIT_FAILED' && typeof link.message === 'string') return /(?:^|: )(E[A-Z]+)$/.exec(link.message)?.[1];
  return undefined;
}

/**
 * Errnos that say the process may not use the files as it stands (permissions, its open-files limit), nothing about
 * what they hold: no verdict on a log (`ledger verify` exits 2), and no damage to the gateway's start.
 */
const NOT_THE_FILES = new Set(['EACCES', 'EPERM', 'EMFILE', 'ENFILE']);

/** Whether `err` (or one of its causes) is a permissions or open-files-limit failure (NOT_THE_FILES). */
export function isAccessFailure(err: unknown): boolean {
  return errorChain(err).some((c) => NOT_THE_FILES.has(errnoOf(c) ?? ''));
}
