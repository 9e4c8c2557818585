/**
 * A start on a full disk is refused DATA_DIR_UNUSABLE (free space), never LEDGER_DAMAGED (restore a backup: a
 * rollback of the log) nor a plain Error without a start code. Real: a small tmpfs filled up (test/crash/tmpfs.ts:
 * needs root or CAP_SYS_ADMIN, as CI has; the test fails, not skips, without it).
 * Found by review: a store on a full disk was named LEDGER_DAMAGED (LevelDB's I/O errors carry no errno code), and
 * the checkpoint key's creation on a full disk threw node's ENOSPC, no ConfigError, so no start code at all.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../../gateway/config.js';
import { mountTmpfs, type Tmpfs } from '../crash/tmpfs.js';
import { Pki, startTestGateway } from './harness.js';

describe('a start on a full disk', () => {
  let pki: Pki;
  let fs: Tmpfs;
  const dirs: string[] = [];
  beforeAll(async () => {
    pki = await Pki.create();
    fs = await mountTmpfs(4);
  });
  afterAll(async () => {
    await fs?.unmount();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  /** The test gateway's own files (its trust file) off the full disk; its data directory on it. */
  const gatewayDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'op-full-disk-gw-'));
    dirs.push(d);
    return d;
  };
  const refusal = async (dataDir: string): Promise<ConfigError> => {
    const err = await startTestGateway(pki, { dataDir }, await gatewayDir()).then(
      async (t) => (await t.stop(), null),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  };

  test('a data directory with a log: DATA_DIR_UNUSABLE; a new one (the key cannot be written): DATA_DIR_UNUSABLE', async () => {
    const withLog = join(fs.dir, 'with-log');
    const t = await startTestGateway(pki, { dataDir: withLog }, await gatewayDir());
    await t.gw.close();
    await fs.fill();
    const held = await refusal(withLog);
    expect(held.code).toBe('DATA_DIR_UNUSABLE');
    expect(held.message).toMatch(/No space left on device/);
    const fresh = await refusal(join(fs.dir, 'fresh'));
    expect(fresh.code).toBe('DATA_DIR_UNUSABLE');
    expect(fresh.message).toMatch(/no space left on device/i);
    await fs.free();
    const again = await startTestGateway(pki, { dataDir: withLog }, await gatewayDir());
    await again.gw.close();
  }, 60_000);
});
