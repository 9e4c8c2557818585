/**
 * A refused start names a stable code (gateway/config-defaults.ts START_ERROR_CODES), for scripts and supervisors:
 * another gateway holding the directory is not a damaged log. The damaged-log codes are asserted in
 * damaged-ledger-start.test.ts and checkpoint-key-lost.test.ts, TLS_UNUSABLE in tls.test.ts, LISTEN_FAILED in
 * listen-errors.test.ts, CONFIG_INVALID wherever a setting is refused; the rest here.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ConfigError, START_ERROR_CODES, type StartErrorCode } from '../../gateway/config.js';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { describeFailure } from '../../cli/failure.js';
import { LedgerDamagedError } from '../../ledger/errors.js';
import type { LedgerBackend } from '../../ledger/backend.js';
import { Pki, startTestGateway, type TestGateway } from './harness.js';

async function refusal(start: Promise<TestGateway>): Promise<ConfigError> {
  const err = await start.then(
    async (t) => (await t.stop(), null),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('start error codes', () => {
  const dirs: string[] = [];
  const running: TestGateway[] = [];
  afterEach(async () => {
    for (const t of running.splice(0)) await t.stop();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'op-start-codes-'));
    dirs.push(d);
    return d;
  };

  test('a second gateway on a data directory in use: DATA_DIR_IN_USE, and the first one runs on', async () => {
    const pki = await Pki.create();
    const dir = await tempDir();
    const first = await startTestGateway(pki, {}, dir);
    running.push(first);
    const err = await refusal(startTestGateway(pki, {}, dir));
    expect(err.code).toBe('DATA_DIR_IN_USE');
    expect(err.message).toMatch(/in use by another process/);
    expect((await first.gw.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  }, 30_000);

  test('a data directory that cannot be made (a file is in its place): DATA_DIR_UNUSABLE', async () => {
    const pki = await Pki.create();
    const dir = await tempDir();
    await writeFile(join(dir, 'data'), 'not a directory');
    const err = await refusal(startTestGateway(pki, {}, dir));
    expect(err.code).toBe('DATA_DIR_UNUSABLE');
    expect(err.message).toMatch(/data directory .*data is unusable/);
  }, 30_000);

  test('a checkpoint key file that is not a key: CHECKPOINT_KEY_UNUSABLE, and it is not replaced', async () => {
    const pki = await Pki.create();
    const dir = await tempDir();
    const t = await startTestGateway(pki, {}, dir);
    await t.gw.close();
    const keyFile = join(dir, 'data', CHECKPOINT_KEY_FILE);
    await writeFile(keyFile, '{"not":"a key"}');
    const err = await refusal(startTestGateway(pki, {}, dir));
    expect(err.code).toBe('CHECKPOINT_KEY_UNUSABLE');
    expect(readFileSync(keyFile, 'utf8')).toBe('{"not":"a key"}');
  }, 30_000);

  test('a checkpoint key file larger than a key file (64 KiB): CHECKPOINT_KEY_UNUSABLE, unread and not replaced', async () => {
    const pki = await Pki.create();
    const dir = await tempDir();
    const t = await startTestGateway(pki, {}, dir);
    await t.gw.close();
    const keyFile = join(dir, 'data', CHECKPOINT_KEY_FILE);
    const large = `${readFileSync(keyFile, 'utf8')}${' '.repeat(70_000)}`; // JSON still, were it read
    await writeFile(keyFile, large);
    const err = await refusal(startTestGateway(pki, {}, dir));
    expect(err.code).toBe('CHECKPOINT_KEY_UNUSABLE');
    expect(err.message).toMatch(/larger than a key file/);
    expect(readFileSync(keyFile, 'utf8')).toBe(large);
  }, 30_000);

  test('a trust file that is missing: TRUST_FILE_UNUSABLE', async () => {
    const pki = await Pki.create();
    const dir = await tempDir();
    const err = await refusal(startTestGateway(pki, { trustFile: join(dir, 'missing.json') }, dir));
    expect(err.code).toBe('TRUST_FILE_UNUSABLE');
  }, 30_000);

  test("the store's connect-token rows unreadable at start: LEDGER_DAMAGED, and nothing of the start stays open", async () => {
    // Found by review: ConnectTokenOrder.load read them after the ledger and the verify workers were up, outside the
    // start's read-back check: a store error escaped without a start code, the store's LOCK held (a start again in
    // this process was refused `LOCK: already held`).
    const pki = await Pki.create();
    const dir = await tempDir();
    await (await startTestGateway(pki, {}, dir)).gw.close();
    const unreadable = (inner: LedgerBackend): LedgerBackend =>
      new Proxy(inner, {
        get: (target, prop) => {
          if (prop === 'tokenIats') {
            return () => ({
              [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(Object.assign(new Error('Corruption: block checksum mismatch'), { code: 'LEVEL_CORRUPTION' })) }),
            });
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const err = await refusal(startTestGateway(pki, {}, dir, { wrapBackend: unreadable }));
    expect(err.code).toBe('LEDGER_DAMAGED');
    expect(err.message).toMatch(/block checksum mismatch/);
    const again = await startTestGateway(pki, {}, dir);
    running.push(again);
    expect((await again.gw.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  }, 30_000);

  test("an origin setting other than the log's: CONFIG_INVALID (set it back), not LEDGER_DAMAGED (restore a backup)", async () => {
    // Found by review: Ledger.open's origin check (MALFORMED) fell through start-refusal.ts to LEDGER_DAMAGED.
    const pki = await Pki.create();
    const dir = await tempDir();
    await (await startTestGateway(pki, { origin: 'gw.example/log' }, dir)).gw.close();
    const err = await refusal(startTestGateway(pki, { origin: 'other.example/log' }, dir));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/origin/);
    expect(err.message).toMatch(/gw\.example\/log/);
    running.push(await startTestGateway(pki, { origin: 'gw.example/log' }, dir));
  }, 30_000);

  test('the CLI shows the code in brackets, as for every other failure', () => {
    expect(describeFailure(new ConfigError('DATA_DIR_IN_USE', 'held'))).toBe('[DATA_DIR_IN_USE] held');
    expect(describeFailure(new LedgerDamagedError('cut short'))).toBe('[LEDGER_DAMAGED] cut short');
  });

  test("README's list of start codes names each code and no other", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = /\| start code \|[^\n]*\n\| ---[^\n]*\n((?:\|[^\n]*\n)+)/.exec(readme);
    expect(section, 'README has a table whose first column is "start code"').not.toBeNull();
    const listed = [...section![1]!.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1] as StartErrorCode);
    expect([...listed].sort()).toEqual([...START_ERROR_CODES].sort());
  });
});
