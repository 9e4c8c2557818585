/**
 * gateway/start-refusal.ts: which start code a failure to open the store gets. LevelDB's I/O errors carry no errno
 * code, only its message (`IO error: <file>: <strerror>`, classic-level code LEVEL_IO_ERROR), so a full disk or a
 * read-only file system was named LEDGER_DAMAGED ("restore the whole data directory from one backup": a rollback of
 * the log, for a disk that only needed room). The chains below are the ones LevelBackend.open throws, as measured on
 * a 1 MB tmpfs filled up and one remounted read-only (found by review).
 */
import { describe, expect, test } from 'vitest';
import { ledgerOpenRefusal } from '../../gateway/start-refusal.js';
import { ConfigError } from '../../gateway/config-defaults.js';
import { LedgerDamagedError, LedgerKeyMismatchError } from '../../ledger/errors.js';

/** As LevelBackend.open wraps classic-level's open error (its code kept, LevelDB's reason as the cause's cause). */
function levelOpenError(dir: string, reason: string, code = 'LEVEL_IO_ERROR'): Error {
  const cause = Object.assign(new Error(reason), { code });
  const err = Object.assign(new Error('Database failed to open', { cause }), { code: 'LEVEL_DATABASE_NOT_OPEN' });
  return Object.assign(new Error(`ledger store ${dir} cannot be opened: ${reason}`, { cause: err }), { code: err.code });
}

describe('ledgerOpenRefusal', () => {
  const dir = '/srv/op/data/ledger';

  test.each([
    ['a full disk', `IO error: ${dir}/000005.ldb: No space left on device`],
    ['a read-only file system', `IO error: ${dir}/LOCK: Read-only file system`],
    ['a directory it may not write', `IO error: ${dir}/LOCK: Permission denied`],
    ['an operation not permitted', `IO error: ${dir}/000007.log: Operation not permitted`],
    ['a disk quota', `IO error: ${dir}/000007.log: Disk quota exceeded`],
  ])('LevelDB failing for %s is DATA_DIR_UNUSABLE, not LEDGER_DAMAGED', (_what, reason) => {
    const refusal = ledgerOpenRefusal(levelOpenError(dir, reason), dir);
    expect(refusal).toBeInstanceOf(ConfigError);
    expect(refusal.code).toBe('DATA_DIR_UNUSABLE');
    expect(refusal.message).toContain(reason);
  });

  test('a store held by another process is DATA_DIR_IN_USE', () => {
    const reason = `IO error: lock ${dir}/LOCK: already held by process`;
    expect(ledgerOpenRefusal(levelOpenError(dir, reason, 'LEVEL_LOCKED'), dir).code).toBe('DATA_DIR_IN_USE');
  });

  test('damage stays LEDGER_DAMAGED: a corrupt store, a LevelDB I/O error that is not about room or rights, the ledger\'s own checks', () => {
    expect(ledgerOpenRefusal(levelOpenError(dir, `Corruption: bad record length`, 'LEVEL_CORRUPTION'), dir).code).toBe('LEDGER_DAMAGED');
    expect(ledgerOpenRefusal(levelOpenError(dir, `IO error: ${dir}/CURRENT: Is a directory`), dir).code).toBe('LEDGER_DAMAGED');
    expect(ledgerOpenRefusal(new LedgerDamagedError('segment file cut short'), dir).code).toBe('LEDGER_DAMAGED');
  });

  test('node errors by their errno code', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(ledgerOpenRefusal(enospc, dir).code).toBe('DATA_DIR_UNUSABLE');
  });

  // Found by review: the process's open-files limit was LEDGER_DAMAGED ("restore a backup"); the start under a real
  // limit is in test/cli/start-unreadable-key-and-file-limit.test.ts.
  test.each([
    ['LevelDB, the process limit', levelOpenError(dir, `IO error: ${dir}/LOCK: Too many open files`)],
    ['LevelDB, the system table', levelOpenError(dir, `IO error: ${dir}/CURRENT: Too many open files in system`)],
    ['node, EMFILE', Object.assign(new Error(`EMFILE: too many open files, open '${dir}/000001.seg'`), { code: 'EMFILE' })],
    ['node, ENFILE', Object.assign(new Error(`ENFILE: file table overflow, open '${dir}/000001.seg'`), { code: 'ENFILE' })],
  ])('no file descriptor left (%s) is DATA_DIR_UNUSABLE, saying to raise the limit', (_what, err) => {
    const refusal = ledgerOpenRefusal(err, dir);
    expect(refusal.code).toBe('DATA_DIR_UNUSABLE');
    expect(refusal.message).toMatch(/ulimit -n/);
  });

  test('a store signed with another key than the key file\'s is CHECKPOINT_KEY_MISMATCH, naming both', () => {
    const refusal = ledgerOpenRefusal(new LedgerKeyMismatchError('log.example+01234567+AAAA', 'log.example+89abcdef+BBBB'), dir, '/srv/op/data/key.json');
    expect(refusal.code).toBe('CHECKPOINT_KEY_MISMATCH');
    expect(refusal.message).toMatch(/\/srv\/op\/data\/key\.json holds .*89abcdef.*signed with .*01234567/);
  });
});
