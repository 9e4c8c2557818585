/**
 * Why the store failed, in words for those outside the gateway: devices (a STORAGE_UNAVAILABLE rejection) and HTTP
 * clients (503) see it. The store's own text is not passed on: LevelDB's I/O errors name the file
 * (`IO error: /srv/op/data/ledger/000123.log: No space left on device`) and node's open errors the path, which tell
 * every device how the gateway's disk is laid out (found by review). The operator's log keeps the whole text
 * (storage/recovery.ts logs the cause).
 */
import { errorChain } from '../../protocol/errors.js';
import { errnoOf } from '../../ledger/errno.js';

const WORDS: Readonly<Record<string, string>> = {
  ENOSPC: 'its disk is full',
  EDQUOT: 'its disk quota is used up',
  EROFS: 'its file system is read-only',
  EACCES: 'it may not write its files',
  EPERM: 'it may not write its files',
  EMFILE: 'it has too many files open',
  ENFILE: 'it has too many files open',
  EIO: 'an I/O error',
};

/**
 * What went wrong, naming no file: the errno's words, or the code alone for another system or LevelDB error. An error
 * without a code is the gateway's own ("the store is being reopened") and is kept as it is.
 */
export function storeFailureReason(err: unknown): string {
  const chain = errorChain(err);
  for (const link of chain) {
    const errno = errnoOf(link);
    if (errno) return WORDS[errno] ?? `a system error (${errno})`;
  }
  const coded = chain.find((c) => typeof c.code === 'string');
  if (coded) return coded.code === 'LEVEL_IO_ERROR' ? 'an I/O error' : `a store error (${String(coded.code)})`;
  return typeof chain[0]?.message === 'string' ? chain[0].message : String(err);
}

/** The whole text of the chain, for the operator's log. */
export function storeFailureDetail(err: unknown): string {
  return errorChain(err)
    .map((c) => (typeof c.message === 'string' ? c.message : ''))
    .filter(Boolean)
    .join(': ');
}
