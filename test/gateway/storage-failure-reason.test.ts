/**
 * gateway/storage/failure-reason.ts: a failed store write is told to devices (STORAGE_UNAVAILABLE rejections) and
 * HTTP clients (503) in words that name no file. Found by review: the rejection quoted the store's error, and
 * LevelDB's I/O errors name the file (`IO error: /srv/op/data/ledger/000123.log: No space left on device`), node's
 * open errors the path. The operator's log keeps the whole text.
 */
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { storageError } from '../../gateway/storage/fail-stop-backend.js';
import { storeFailureDetail, storeFailureReason } from '../../gateway/storage/failure-reason.js';
import { errnoOf } from '../../ledger/errno.js';

const DIR = '/srv/op/data/ledger';
/** As classic-level fails a write: LEVEL_IO_ERROR, LevelDB's `IO error: <file>: <strerror>` as the message. */
const levelIoError = (reason: string) => Object.assign(new Error(`IO error: ${DIR}/000123.log: ${reason}`), { code: 'LEVEL_IO_ERROR' });

describe('storeFailureReason', () => {
  test.each([
    ['No space left on device', 'ENOSPC', 'its disk is full'],
    ['Disk quota exceeded', 'EDQUOT', 'its disk quota is used up'],
    ['Read-only file system', 'EROFS', 'its file system is read-only'],
    ['Permission denied', 'EACCES', 'it may not write its files'],
    ['Too many open files', 'EMFILE', 'it has too many files open'],
    ['Input/output error', 'EIO', 'an I/O error'],
    ['Is a directory', undefined, 'an I/O error'],
  ])('LevelDB: %s', (reason, errno, words) => {
    const err = levelIoError(reason);
    expect(errnoOf(err)).toBe(errno);
    expect(storeFailureReason(err)).toBe(words);
    const rejection = storageError(err);
    expect(rejection.code).toBe('STORAGE_UNAVAILABLE');
    expect(rejection.message).toContain(words);
    expect(rejection.message).not.toContain(DIR);
    expect(rejection.cause).toBe(err);
    // The operator's log gets the whole text.
    expect(storeFailureDetail(rejection.cause)).toContain(`${DIR}/000123.log: ${reason}`);
  });

  test("node's errors by their errno code, wherever they are in the chain; a real open error names no path", async () => {
    const missing = join(tmpdir(), 'op-no-such-dir-for-failure-reason', 'x.cbor');
    const real = await open(missing, 'r').then(() => null, (e: unknown) => e as Error);
    expect(real?.message).toContain(missing);
    expect(storeFailureReason(real)).toBe('a system error (ENOENT)');
    expect(storageError(real).message).not.toContain(missing);
    const wrapped = new Error(`segment ${missing} could not be written`, { cause: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) });
    expect(storeFailureReason(wrapped)).toBe('its disk is full');
  });

  test("another store error by its code alone; the gateway's own (no code) kept as it is", () => {
    expect(storeFailureReason(Object.assign(new Error(`Corruption: ${DIR}/000005.ldb: bad block`), { code: 'LEVEL_CORRUPTION' }))).toBe('a store error (LEVEL_CORRUPTION)');
    expect(storeFailureReason(new Error('the store is being reopened'))).toBe('the store is being reopened');
    expect(storageError(new Error('the ledger is closed')).message).toBe('the gateway cannot write to its store (the ledger is closed); keep the reading and resend it later');
  });
});
