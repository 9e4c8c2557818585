/**
 * A start on a full disk is refused DATA_DIR_UNUSABLE (free space), never LEDGER_DAMAGED (restore a backup: a
 * rollback of the log) nor a plain Error without a start code. Real: a small tmpfs mounted for the test and filled
 * up; run where the test may mount one (root with CAP_SYS_ADMIN, as in CI's container), skipped elsewhere.
 * Found by review: a store on a full disk was named LEDGER_DAMAGED (LevelDB's I/O errors carry no errno code), and
 * the checkpoint key's creation on a full disk threw node's ENOSPC, no ConfigError, so no start code at all.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../../gateway/config.js';
import { Pki, startTestGateway } from './harness.js';

function tryMount(at: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Fills the file system at `dir` up to its last byte. */
async function fill(dir: string): Promise<void> {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
  } catch {
    // dd stops with "No space left on device": the point
  }
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(dir, `small-${i}`), 'x'); // the last partial block, and inodes' room
    } catch {
      break;
    }
  }
}

const root = await mkdtemp(join(tmpdir(), 'op-full-disk-'));
const mountPoint = join(root, 'mnt');
execFileSync('mkdir', ['-p', mountPoint]);
const mounted = process.getuid?.() === 0 && tryMount(mountPoint);

describe.runIf(mounted)('a start on a full disk', () => {
  let pki: Pki;
  beforeAll(async () => {
    pki = await Pki.create();
  });
  afterAll(async () => {
    execFileSync('umount', [mountPoint], { stdio: 'ignore' });
    await rm(root, { recursive: true, force: true });
  });

  const refusal = async (dataDir: string): Promise<ConfigError> => {
    const err = await startTestGateway(pki, { dataDir }, await mkdtemp(join(root, 'gw-'))).then(
      async (t) => (await t.stop(), null),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  };

  test('a data directory with a log: DATA_DIR_UNUSABLE; a new one (the key cannot be written): DATA_DIR_UNUSABLE', async () => {
    const withLog = join(mountPoint, 'with-log');
    const t = await startTestGateway(pki, { dataDir: withLog }, await mkdtemp(join(root, 'gw-')));
    await t.stop();
    await fill(mountPoint);
    const held = await refusal(withLog);
    expect(held.code).toBe('DATA_DIR_UNUSABLE');
    expect(held.message).toMatch(/No space left on device/);
    const fresh = await refusal(join(mountPoint, 'fresh'));
    expect(fresh.code).toBe('DATA_DIR_UNUSABLE');
    expect(fresh.message).toMatch(/no space left on device/i);
  }, 60_000);
});
