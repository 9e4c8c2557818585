/**
 * Starting the gateway on a data directory whose ledger is damaged or incomplete (an incomplete restore, a copy
 * made file by file, a disk problem, a manual mistake): the start is refused with a message naming what is wrong,
 * and nothing on disk is changed, instead of the gateway starting a log that hides, drops or overwrites entries it
 * accepted before.
 */
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { BLOCK_MAX_ENTRIES_LIMIT } from '../../gateway/config-defaults.js';
import type { StartErrorCode } from '../../gateway/config.js';
import { CLI_MAIN } from '../cli/cli-sandbox.js';
import { gatewayWithDevices, publishEach, reading, startTestGateway, type TestGateway } from './harness.js';

const segmentFiles = (led: string): Record<string, string> =>
  Object.fromEntries(readdirSync(join(led, 'entries')).map((n) => [n, readFileSync(join(led, 'entries', n)).toString('hex')]));

describe('a damaged ledger directory', () => {
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.stop(); // the first gateway was closed already: removes the directory
    t = undefined;
  });

  /** A gateway that logged a few entries, stopped: its ledger directory. */
  async function stoppedGateway(): Promise<{ led: string; size: number }> {
    ({ t } = await gatewayWithDevices(2));
    const size = t.gw.ledger.size();
    expect(size).toBeGreaterThan(0); // the agency's and the devices' registrations
    await t.gw.close();
    return { led: join(t.dir, 'data', 'ledger'), size };
  }

  /** A start on `t`'s data directory is refused: a ConfigError with `code`, its message naming what is wrong. */
  async function refusedStart(code: StartErrorCode, message: RegExp, what?: string): Promise<void> {
    const err = await startTestGateway(t!.pki, {}, t!.dir).then(
      async (started) => (await started.gw.close(), null),
      (e: unknown) => e,
    );
    expect(err, what).toMatchObject({ name: 'ConfigError', code });
    expect((err as Error).message, what).toMatch(message);
  }

  test("LevelDB's files gone, the entry segment files left: refused, no new store made, the segments untouched", async () => {
    // Found by review: LevelDB made a new, empty store (createIfMissing), the gateway started a log at index 0, and
    // its first block cut the segment files back to nothing: every entry accepted before was gone.
    const { led } = await stoppedGateway();
    for (const name of readdirSync(led)) if (name !== 'entries') rmSync(join(led, name), { recursive: true });
    const before = segmentFiles(led);
    await refusedStart('LEDGER_DAMAGED', /holds a log's files \(entries\/0+\.cbor, .*\) but no LevelDB store \(its CURRENT file is missing\)/);
    expect(readdirSync(led)).toEqual(['entries']);
    expect(segmentFiles(led)).toEqual(before);
    // `ledger verify` names it too (it said only "no ledger in DIR"), and creates nothing either.
    const verify = spawnSync(process.execPath, [CLI_MAIN, 'ledger', 'verify', '--data', join(t!.dir, 'data')], { encoding: 'utf8', timeout: 30_000 });
    // A check that ran and said no: a BAD report and exit 1, like a bad entry (it was exit 2, "no verdict").
    expect(verify.status).toBe(1);
    expect(verify.stdout).toMatch(/^BAD ledger: .*ledger holds entry segment files but no LevelDB store \(its CURRENT file is missing\)/);
    const json = spawnSync(process.execPath, [CLI_MAIN, 'ledger', 'verify', '--json', '--data', join(t!.dir, 'data')], { encoding: 'utf8', timeout: 30_000 });
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, entries: 0, problem: { message: expect.stringMatching(/but no LevelDB store/) } });
    expect(readdirSync(led)).toEqual(['entries']);
  }, 30_000);

  test('its CURRENT file alone gone: refused, naming the write-ahead log left, no new store made', async () => {
    // LevelDB would make a new manifest and CURRENT, replay the old write-ahead log into it and drop the tables the
    // lost manifest named: a store holding part of the log, or none of it.
    const { led } = await stoppedGateway();
    rmSync(join(led, 'CURRENT'));
    const before = readdirSync(led);
    await refusedStart('LEDGER_DAMAGED', /holds a log's files \([0-9]+\.log, .*\) but no LevelDB store/);
    expect(readdirSync(led)).toEqual(before);
    expect(existsSync(join(led, 'CURRENT'))).toBe(false);
  }, 30_000);

  test("LevelDB's tables and logs gone, its CURRENT and MANIFEST left: refused, the segments untouched", async () => {
    // Found by review: LevelDB opened the empty store its manifest described, the gateway started a log at entry 0
    // (`ledger verify` said BAD: no ledger meta record) and its first block would have cut the segment files back.
    const { led } = await stoppedGateway();
    for (const name of readdirSync(led)) if (/\.(log|ldb|sst)$/.test(name)) rmSync(join(led, name));
    const before = segmentFiles(led);
    await refusedStart('LEDGER_DAMAGED', /its LevelDB store holds no ledger \(no meta record.*\), but .*entries holds entry segment files/);
    expect(segmentFiles(led)).toEqual(before);
  }, 30_000);

  test("a LevelDB file replaced by a directory: refused, naming LevelDB's reason, not only 'Database failed to open'", async () => {
    const { led } = await stoppedGateway();
    rmSync(join(led, 'CURRENT'));
    mkdirSync(join(led, 'CURRENT'));
    await refusedStart('LEDGER_DAMAGED', /ledger store .*ledger cannot be opened: IO error: .*CURRENT: Is a directory/);
  }, 30_000);

  test('entry segment files missing, cut short, or older than the store: refused, naming the file; whole again, the log starts as it was', async () => {
    // Found by review: a segment file cut short after the registrations (which the start reads) went unnoticed: the
    // gateway started, answered the lost entries' bundles with 500 INTERNAL and appended the next reading past the
    // hole. Now every committed entry must be in the segment files before the store is used.
    let devices;
    ({ t, devices } = await gatewayWithDevices(1, { blockMaxEntries: 4 }));
    const ent = join(t.dir, 'data', 'ledger', 'entries');
    const cbor = join(ent, '0000000000000000.cbor');
    const leaves = join(ent, '0000000000000000.leaves');
    const older = { cbor: statSync(cbor).size, leaves: statSync(leaves).size }; // the registrations only
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => reading(devices[0]!, i)));
    expect((await publishEach(t, devices[0]!, rs)).every((o) => typeof o === 'object')).toBe(true);
    const size = t.gw.ledger.size();
    await t.gw.close();
    const whole = { cbor: readFileSync(cbor), leaves: readFileSync(leaves) };
    const damages: [string, () => void, RegExp][] = [
      ['entries file cut short', () => truncateSync(cbor, whole.cbor.length - 100), /0+\.cbor holds \d+ bytes, but the store's index says it holds entries 0 to 11/],
      ['leaves file cut short', () => truncateSync(leaves, 32 * 3), /0+\.leaves holds 96 bytes, but the store's index says it holds entries 0 to 11 \(384 bytes\)/],
      ['entries file missing', () => rmSync(cbor), /0+\.cbor is missing, but the store's index says/],
      ['both from an older copy', () => (truncateSync(cbor, older.cbor), truncateSync(leaves, older.leaves)), /0+\.cbor holds \d+ bytes, but the store's index says/],
    ];
    for (const [what, damage, message] of damages) {
      damage();
      const left = readdirSync(ent).map((n) => [n, statSync(join(ent, n)).size]);
      await refusedStart('LEDGER_DAMAGED', message, what);
      expect(readdirSync(ent).map((n) => [n, statSync(join(ent, n)).size]), what).toEqual(left); // nothing cut or extended
      writeFileSync(cbor, whole.cbor);
      writeFileSync(leaves, whole.leaves);
    }
    const again = await startTestGateway(t.pki, {}, t.dir);
    expect(again.gw.ledger.size()).toBe(size);
    await again.gw.close();
  }, 60_000);

  test('the entry segment directory replaced by a file: refused, naming it (it was a raw ENOTDIR)', async () => {
    const { led, size } = await stoppedGateway();
    const ent = join(led, 'entries');
    rmSync(ent, { recursive: true });
    writeFileSync(ent, '');
    await refusedStart('LEDGER_DAMAGED', new RegExp(`ledger entries directory .*entries is not a directory, but the store's index says it holds entries 0 to ${size - 1}`));
    expect(statSync(ent).isFile()).toBe(true);
  }, 30_000);

  test('more entries in the segment files past the store\'s than one block holds (a store older than its segments): refused; one block\'s (a crash\'s leftovers) is not', async () => {
    // A store older than its segment files (restored or copied apart from them) started, and its first block cut the
    // newer entries, receipted ones, and logged others at their indexes (found by review). A crash leaves one
    // block's entries at most past the committed ones (BLOCK_MAX_ENTRIES_LIMIT): those are cut at the first write.
    const { led, size } = await stoppedGateway();
    const leaves = join(led, 'entries', '0000000000000000.leaves');
    truncateSync(leaves, (size + BLOCK_MAX_ENTRIES_LIMIT + 1) * 32); // zeros: only the count is looked at
    await refusedStart('LEDGER_DAMAGED', new RegExp(`hold ${BLOCK_MAX_ENTRIES_LIMIT + 1} entries past the ${size} its LevelDB store indexes, more than one block holds`));
    expect(statSync(leaves).size).toBe((size + BLOCK_MAX_ENTRIES_LIMIT + 1) * 32);
    truncateSync(leaves, (size + BLOCK_MAX_ENTRIES_LIMIT) * 32);
    const again = await startTestGateway(t!.pki, {}, t!.dir);
    expect(again.gw.ledger.size()).toBe(size);
    await again.gw.close();
  }, 30_000);

  test('a store restored from a copy a few blocks older than its segment files: refused, the segments untouched; `ledger verify` says the same', async () => {
    // A gap smaller than one block's maximum was taken for a crash's leftovers: the gateway started on the older store
    // and its first block cut the newer entries, receipted readings, and logged others at their indexes. The
    // committed-size hint (entries/committed), written after each committed block, tells the two apart.
    let devices;
    ({ t, devices } = await gatewayWithDevices(1, { blockMaxEntries: 2 }));
    const led = join(t.dir, 'data', 'ledger');
    const older = join(t.dir, 'older-store');
    await t.restart(async () => {
      mkdirSync(older);
      for (const name of readdirSync(led)) if (name !== 'entries') cpSync(join(led, name), join(older, name), { recursive: true });
    });
    const olderSize = t.gw.ledger.size();
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => reading(devices[0]!, i)));
    expect((await publishEach(t, devices[0]!, rs)).every((o) => typeof o === 'object')).toBe(true); // receipted: 3 blocks or more
    const size = t.gw.ledger.size();
    await t.gw.close();
    const newer = join(t.dir, 'newer-store');
    mkdirSync(newer);
    for (const name of readdirSync(led)) {
      if (name === 'entries') continue;
      cpSync(join(led, name), join(newer, name), { recursive: true });
      rmSync(join(led, name), { recursive: true });
    }
    for (const name of readdirSync(older)) cpSync(join(older, name), join(led, name), { recursive: true });
    const before = segmentFiles(led);
    const refused = new RegExp(`entries/committed says ${size} entries were committed \\(blocks 0 to \\d+\\), but its LevelDB store holds ${olderSize} \\(blocks 0 to \\d+\\): the store is older than its segment files`);
    await refusedStart('LEDGER_DAMAGED', refused);
    expect(segmentFiles(led)).toEqual(before);
    const verify = spawnSync(process.execPath, [CLI_MAIN, 'ledger', 'verify', '--data', join(t!.dir, 'data')], { encoding: 'utf8', timeout: 30_000 });
    expect([verify.status, verify.stdout]).toEqual([1, expect.stringMatching(new RegExp(`^BAD ledger: .*${refused.source}`))]);
    expect(segmentFiles(led)).toEqual(before);
    // The whole directory again (its own store back): it starts as it was.
    for (const name of readdirSync(led)) if (name !== 'entries') rmSync(join(led, name), { recursive: true });
    for (const name of readdirSync(newer)) cpSync(join(newer, name), join(led, name), { recursive: true });
    const again = await startTestGateway(t.pki, {}, t.dir);
    expect(again.gw.ledger.size()).toBe(size);
    await again.gw.close();
  }, 60_000);

  test('a registration entry damaged in its segment file: refused, naming the log and `ledger verify`; the store closed, so a start again says the same', async () => {
    // Found by review: the start failed in the registry's load with only the decoder's message, and left the store
    // open: a second start in the same process was refused `LOCK: already held by process`.
    const { led } = await stoppedGateway();
    const fd = openSync(join(led, 'entries', '0000000000000000.cbor'), 'r+');
    writeSync(fd, Buffer.from([0xff, 0xff, 0xff]), 0, 3, 5); // inside entry 0, the agency's registration
    closeSync(fd);
    // The replay reads it checked against its leaf: named as the damaged entry (it was the decoder's "log entry is not
    // well-formed CBOR"; a change that still decoded was replayed as it was: test/gateway/registry-replay-self-check.test.ts).
    const refused = /the log in .*ledger cannot be read back: entry 0 is damaged in the gateway's store: its bytes do not hash to the leaf .*originproof ledger verify --data/;
    await refusedStart('LEDGER_DAMAGED', refused);
    await refusedStart('LEDGER_DAMAGED', refused);
  }, 30_000);

  test('the checkpoint key kept, its ledger directory gone: refused (ConfigError), no new log made under the key', async () => {
    // Found by review: the gateway started a new log at entry 0 signed with the old log's key: a second log under
    // one key, its checkpoints forking the ones the old log's verifiers hold. The ledger directory is now made before
    // the key, so a key without it lost its log (a first start cut short between the two leaves the directory).
    const { led } = await stoppedGateway();
    rmSync(led, { recursive: true });
    await refusedStart('LEDGER_MISSING', /checkpoint key file .* is there, but the log it signs \(.*ledger\) is missing/);
    expect(existsSync(led)).toBe(false);
  }, 30_000);
});
