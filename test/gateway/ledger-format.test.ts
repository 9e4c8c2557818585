/**
 * The store records its format (ledger/state.ts LEDGER_FORMAT, in the meta record), so that a later version that
 * changes the store's layout can raise it and this version refuses that store instead of misreading it or writing
 * beside it what the later version would misread (a downgrade after an upgrade): the start is refused
 * LEDGER_FORMAT_UNSUPPORTED with nothing written, and `ledger verify` gives no verdict (exit 2). A meta record written
 * before the format was recorded is format 1 and opens as before; one whose format is not a count is damage.
 * Needs the built dist/ for the CLI (npx tsc -b).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder } from 'cbor-x';
import { Level } from 'level';
import { afterEach, describe, expect, test } from 'vitest';
import { ConfigError } from '../../gateway/config.js';
import { ledgerOpenRefusal } from '../../gateway/start-refusal.js';
import { describeFailure } from '../../cli/failure.js';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';
import { LedgerFormatError } from '../../ledger/errors.js';
import { META_KEY } from '../../ledger/keys.js';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { decodeMeta, LEDGER_FORMAT } from '../../ledger/state.js';
import { verifyLedger } from '../../ledger/verify.js';
import { decode } from '../../protocol/cbor.js';
import { CLI_MAIN } from '../cli/cli-sandbox.js';
import { gatewayWithDevices, publishEach, reading, startTestGateway, type TestGateway } from './harness.js';

const origin = 'test.local/log';
const signer = nodeEd25519NoteSigner(origin, new Uint8Array(32).fill(1));

/** The meta record's CBOR map, changed by `edit`, written back (the store closed). */
async function editMeta(ledgerDir: string, edit: (m: Map<number, unknown>) => void): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(ledgerDir, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    const m = decode(await db.get(META_KEY)) as Map<number, unknown>;
    edit(m);
    // cbor-x itself, not our canonical encoder, which refuses a float: a damaged store may hold anything.
    await db.put(META_KEY, new Encoder({ useRecords: false, mapsAsObjects: false }).encode(m));
  } finally {
    await db.close();
  }
}

/** Every record of the store, as hex pairs (to show that nothing was written). */
async function records(ledgerDir: string): Promise<string[]> {
  const db = new Level<Uint8Array, Uint8Array>(ledgerDir, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    const out: string[] = [];
    for await (const [k, v] of db.iterator()) out.push(`${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
    return out;
  } finally {
    await db.close();
  }
}

describe("the store's format", () => {
  const dirs: string[] = [];
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function ledgerDir(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'op-ledger-format-'));
    dirs.push(root);
    const dir = join(root, 'ledger');
    const l = await Ledger.open({ dir, origin, signer });
    for (let i = 0; i < 3; i++) await l.appendBlock([{ type: 1, payload: new Uint8Array([i]), certRef: new Uint8Array(32), deviceId: 'dev', seq: i + 1 }]);
    await l.close();
    return dir;
  }

  // The lowest format that describes the store (ledger/state.ts metaFormat): 1 for a log never rotated, which an
  // earlier version still reads; 2 (LEDGER_FORMAT) after a key rotation (test/ledger/key-rotation.test.ts).
  test('a new store records the format this version writes for it: 1, the lowest that describes it', async () => {
    const dir = await ledgerDir();
    const backend = await LevelBackend.open(dir);
    try {
      const bytes = (await backend.readMeta())!;
      expect([(decode(bytes) as Map<number, unknown>).get(3), LEDGER_FORMAT]).toEqual([1, 2]);
      expect(decodeMeta(bytes)).toMatchObject({ origin, format: 1, retired: [] });
    } finally {
      await backend.close();
    }
  });

  test("a later version's store: the start is refused LEDGER_FORMAT_UNSUPPORTED, nothing written; ledger verify gives no verdict", async () => {
    ({ t } = await gatewayWithDevices(1));
    const size = t.gw.ledger.size();
    expect(size).toBeGreaterThan(0);
    await t.gw.close();
    const dir = join(t.dir, 'data', 'ledger');
    await editMeta(dir, (m) => m.set(3, LEDGER_FORMAT + 1));
    const before = await records(dir);

    const err = await startTestGateway(t.pki, {}, t.dir).then((g) => g.gw.close().then(() => null), (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('LEDGER_FORMAT_UNSUPPORTED');
    expect(describeFailure(err)).toMatch(/^\[LEDGER_FORMAT_UNSUPPORTED\] /); // as the CLI prints it (exit 2)
    expect(await records(dir)).toEqual(before);

    const backend = await LevelBackend.open(dir);
    try {
      await expect(verifyLedger(backend, { workers: 0 })).rejects.toBeInstanceOf(LedgerFormatError);
    } finally {
      await backend.close();
    }
    const cli = spawnSync(process.execPath, [CLI_MAIN, 'ledger', 'verify', '--json', '--data', join(t.dir, 'data')], { encoding: 'utf8', timeout: 30_000 });
    expect([cli.status, cli.stdout]).toEqual([2, '']);
    expect(cli.stderr).toMatch(/LEDGER_FORMAT_UNSUPPORTED|store format 2/);

    // Put back (as the later version would never do, but a restore of the earlier meta does): it starts and goes on.
    await editMeta(dir, (m) => m.set(3, LEDGER_FORMAT));
    await t.restart();
    expect(t.gw.ledger.size()).toBe(size);
  }, 60_000);

  test('a meta record written before the format was recorded is format 1: the log opens and goes on', async () => {
    let devices;
    ({ t, devices } = await gatewayWithDevices(1));
    const d = devices[0]!;
    const dir = join(t.dir, 'data', 'ledger');
    await t.restart(() => editMeta(dir, (m) => m.delete(3)));
    const outcomes = await publishEach(t, d, [await reading(d, 100)]);
    expect(outcomes[0]).toMatchObject({ index: expect.any(Number) });
    await t.gw.close();
    const backend = await LevelBackend.open(dir);
    try {
      expect(decodeMeta((await backend.readMeta())!).format).toBe(1);
      expect(await verifyLedger(backend, { workers: 0 })).toMatchObject({ ok: true });
    } finally {
      await backend.close();
    }
  }, 60_000);

  // Found by review: the meta's origin and key were checked for their types before its format was read, so a later
  // version's meta that gives them another shape (what the format is raised for) was "damage" (LEDGER_DAMAGED,
  // restore a backup: the log rolled back) and a BAD verdict, not LEDGER_FORMAT_UNSUPPORTED.
  test.each([
    ['without an origin', (m: Map<number, unknown>) => m.delete(1)],
    ['whose key is a map', (m: Map<number, unknown>) => m.set(2, new Map([[1, 'a key']]))],
  ])("a later version's meta %s: LEDGER_FORMAT_UNSUPPORTED, and ledger verify gives no verdict", async (_what, edit) => {
    const dir = await ledgerDir();
    await editMeta(dir, (m) => {
      m.set(3, LEDGER_FORMAT + 1);
      edit(m);
    });
    const err = await Ledger.open({ dir, origin, signer }).then((l) => l.close().then(() => null), (e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerFormatError);
    expect(ledgerOpenRefusal(err, dir).code).toBe('LEDGER_FORMAT_UNSUPPORTED');
    const backend = await LevelBackend.open(dir);
    try {
      await expect(verifyLedger(backend, { workers: 0 })).rejects.toBeInstanceOf(LedgerFormatError);
    } finally {
      await backend.close();
    }
  });

  test.each([0, -1, 1.5, 'two'])('a format of %j is damage: LEDGER_DAMAGED', async (format) => {
    const dir = await ledgerDir();
    await editMeta(dir, (m) => m.set(3, format));
    const err = await Ledger.open({ dir, origin, signer }).then((l) => l.close().then(() => null), (e: unknown) => e);
    expect(err).toMatchObject({ code: 'MALFORMED' });
    expect(ledgerOpenRefusal(err, dir).code).toBe('LEDGER_DAMAGED');
  });
});
