/**
 * A data directory whose checkpoint key file holds a valid key, but not the one its log is signed with (another
 * gateway's key, a backup of the wrong machine, a key "rotated" by hand): the start is refused
 * CHECKPOINT_KEY_MISMATCH before anything is written, naming both keys. Found by review: it started without
 * complaint, signed the log's next checkpoints with a key none of its verifiers trust, and `ledger verify` (the key
 * the log recorded at its first open) failed from there on. Once the log's own key is back, it starts and the log
 * goes on as before. The storage recovery's reopen (storage/recovery.ts) opens the store through the same check: a
 * log swapped under a running gateway is refused with the same error there (logged, retried), never written to.
 */
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE, loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { ConfigError } from '../../gateway/config.js';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';
import { GatewayLedger } from '../../gateway/ledger-adapter.js';
import { ledgerOpenRefusal } from '../../gateway/start-refusal.js';
import { describeFailure } from '../../cli/failure.js';
import { META_KEY } from '../../ledger/keys.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { formatVerifierKey } from '../../protocol/checkpoint.js';
import { gatewayWithDevices, startTestGateway, type TestGateway } from './harness.js';

describe('a checkpoint key file that did not sign the log', () => {
  const dirs: string[] = [];
  let t: TestGateway | undefined;
  let again: TestGateway | undefined;
  afterAll(async () => {
    await again?.gw.close();
    await t?.stop(); // closes the first gateway again (a no-op) and removes the directory both used
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  test('the start is refused CHECKPOINT_KEY_MISMATCH, nothing written; with its own key back the log goes on', async () => {
    ({ t } = await gatewayWithDevices(1));
    const size = t.gw.ledger.size();
    const checkpoint = t.gw.ledger.latestCheckpoint();
    const key = t.gw.checkpointVerifierKey;
    expect(size).toBeGreaterThan(0);
    await t.gw.close();

    // Another gateway's key, valid in every way, put in its place.
    const elsewhere = await mkdtemp(join(tmpdir(), 'op-key-elsewhere-'));
    dirs.push(elsewhere);
    const otherKey = await loadOrCreateCheckpointKey(elsewhere);
    const otherVkey = formatVerifierKey('originproof.local/log', otherKey.signer.publicKey);
    const keyFile = join(t.dir, 'data', CHECKPOINT_KEY_FILE);
    await rename(keyFile, `${keyFile}.own`);
    const otherFile = await readFile(otherKey.path, 'utf8');
    await writeFile(keyFile, otherFile, { mode: 0o600 });

    const err = await startTestGateway(t.pki, {}, t.dir).then((g) => g.gw.close().then(() => null), (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CHECKPOINT_KEY_MISMATCH');
    expect((err as ConfigError).message).toContain(key); // the log's key and the file's, both named
    expect((err as ConfigError).message).toContain(otherVkey);
    expect(describeFailure(err)).toMatch(/^\[CHECKPOINT_KEY_MISMATCH\] /); // as the CLI prints it (exit 2)
    expect(await readFile(keyFile, 'utf8')).toBe(otherFile); // the file is left as it was

    await rename(`${keyFile}.own`, keyFile);
    again = await startTestGateway(t.pki, {}, t.dir);
    expect(again.gw.checkpointVerifierKey).toBe(key);
    expect([again.gw.ledger.size(), again.gw.ledger.latestCheckpoint()]).toEqual([size, checkpoint]);
    await again.gw.close();
    const backend = await LevelBackend.open(join(t.dir, 'data', 'ledger'));
    try {
      expect(await verifyLedger(backend, { workers: 0 })).toMatchObject({ ok: true, entries: size });
    } finally {
      await backend.close();
    }
  }, 30_000);

  test('a store whose meta record (the recorded key) is lost, its blocks kept: LEDGER_DAMAGED, no meta written under another key', async () => {
    // Found by review: with no meta record the open wrote one with whatever key it was given, so the key check had
    // nothing to compare and a log signed by one key went on under another (its verifiers' key lost with the record).
    const dir = await mkdtemp(join(tmpdir(), 'op-key-nometa-'));
    dirs.push(dir);
    const origin = 'test.local/log';
    const ours = nodeEd25519NoteSigner(origin, new Uint8Array(32).fill(1));
    const theirs = nodeEd25519NoteSigner(origin, new Uint8Array(32).fill(2));
    const ledgerDir = join(dir, 'ledger');
    const l = await Ledger.open({ dir: ledgerDir, origin, signer: ours });
    await l.appendBlock([{ type: 1, payload: new Uint8Array([1]), certRef: new Uint8Array(32), deviceId: 'dev', seq: 1 }]);
    await l.close();
    const db = new Level<Uint8Array, Uint8Array>(ledgerDir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.del(META_KEY);
    await db.close();
    const err = await GatewayLedger.open(ledgerDir, { origin, signer: theirs, blockMaxEntries: 100, blockMaxMs: 5 }).then(
      (g) => g.close().then(() => null),
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'LedgerDamagedError', code: 'LEDGER_DAMAGED' });
    expect(ledgerOpenRefusal(err, ledgerDir).code).toBe('LEDGER_DAMAGED');
    const backend = await LevelBackend.open(ledgerDir);
    try {
      expect(await backend.readMeta()).toBeUndefined(); // nothing written
    } finally {
      await backend.close();
    }
  }, 30_000);

  test("the recovery's reopen of a store signed with another key: refused with the same error, nothing written", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'op-key-reopen-'));
    dirs.push(dir);
    const origin = 'test.local/log';
    const ours = nodeEd25519NoteSigner(origin, new Uint8Array(32).fill(1));
    const theirs = nodeEd25519NoteSigner(origin, new Uint8Array(32).fill(2));
    const ledgerDir = join(dir, 'ledger');
    const other = await Ledger.open({ dir: join(dir, 'theirs'), origin, signer: theirs });
    await other.appendBlock([{ type: 1, payload: new Uint8Array([1]), certRef: new Uint8Array(32), deviceId: 'dev', seq: 1 }]);
    const checkpoint = other.latestCheckpoint;
    await other.close();
    const ledger = await GatewayLedger.open(ledgerDir, { origin, signer: ours, blockMaxEntries: 100, blockMaxMs: 5 });
    try {
      // The directory swapped under the running gateway for a log signed by another key.
      await rename(ledgerDir, join(dir, 'ours'));
      await rename(join(dir, 'theirs'), ledgerDir);
      await expect(ledger.reopen()).rejects.toMatchObject({ name: 'LedgerKeyMismatchError', code: 'CHECKPOINT_KEY_MISMATCH' });
      const reread = await Ledger.open({ dir: ledgerDir, origin, signer: theirs });
      expect([reread.size, reread.latestCheckpoint]).toEqual([1, checkpoint]);
      await reread.close();
    } finally {
      await ledger.close();
    }
  }, 30_000);
});
