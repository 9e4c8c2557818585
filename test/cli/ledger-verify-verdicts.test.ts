/**
 * `originproof ledger verify`'s two kinds of failure (cli/failure.ts): a check that ran and said no (a `BAD` report,
 * `--json` `ok: false`, exit 1) and no verdict (`[CODE]`/the error on stderr, nothing on stdout, exit 2).
 *  - a segment file the verifier may not read (EACCES) says nothing about the log: exit 2, no report. Found by
 *    review: it was `BAD ledger: EACCES: permission denied, open ...`, exit 1, a damaged log to a script. The built
 *    CLI runs as root without its capabilities (setpriv), as test/cli/start-unreadable-key-and-file-limit.test.ts does;
 *  - a store LevelDB refuses to open as corrupt (its CURRENT file garbled): damage, as the gateway's start says
 *    (LEDGER_DAMAGED), so a BAD report and exit 1. Found by review: it was exit 2, "no verdict", while segment-file
 *    damage found at the same point is reported BAD.
 *  - LevelDB's tables and logs without their CURRENT, no segment files beside them: refused by the gateway's start
 *    (LEDGER_DAMAGED), so BAD too. Found by review: only segment files were looked for, and this was "no ledger", exit 2.
 *  - a --key that does not parse: exit 2 whatever the directory holds (it was BAD, exit 1, for a damaged one).
 * Needs the built dist/ (npx tsc -b).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { nodeEd25519NoteSigner } from '../../gateway/crypto/node-note-signer.js';
import { Level } from 'level';
import { Ledger } from '../../ledger/ledger.js';
import { blockRowsKey } from '../../ledger/keys.js';
import { CLI_MAIN } from './cli-sandbox.js';

const verify = (dir: string, json: boolean, asRoot = true) => {
  const args = [CLI_MAIN, 'ledger', 'verify', ...(json ? ['--json'] : []), '--data', dir];
  return asRoot
    ? spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000 })
    : spawnSync('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, ...args], { encoding: 'utf8', timeout: 30_000 });
};

describe('ledger verify: a verdict (exit 1) or none (exit 2)', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  /** A LevelDB ledger directory holding three blocks. */
  async function ledgerDir(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'op-verify-verdict-'));
    dirs.push(root);
    const dir = join(root, 'ledger');
    const signer = nodeEd25519NoteSigner('test.local/log', new Uint8Array(32).fill(1));
    const l = await Ledger.open({ dir, origin: 'test.local/log', signer });
    for (let i = 0; i < 3; i++) await l.appendBlock([{ type: 1, payload: new Uint8Array([i]), certRef: new Uint8Array(32), deviceId: 'dev', seq: i + 1 }]);
    await l.close();
    expect(verify(dir, false).status).toBe(0);
    return dir;
  }

  test.runIf(process.getuid?.() === 0)('a segment file it may not read (EACCES): exit 2, no BAD report, no JSON', async () => {
    const dir = await ledgerDir();
    const segmentFiles = (await readdir(join(dir, 'entries'))).filter((n) => /\.(cbor|leaves)$/.test(n));
    expect(segmentFiles.length, 'a segment and its leaf hashes at least').toBeGreaterThanOrEqual(2); // else the loop checks nothing
    for (const name of segmentFiles) {
      const path = join(dir, 'entries', name);
      await chmod(path, 0o000);
      try {
        for (const json of [false, true]) {
          const r = verify(dir, json, false);
          expect(r.status, `${name} ${r.stdout}`).toBe(2);
          expect(r.stdout, name).toBe('');
          expect(r.stderr, name).toMatch(/EACCES/);
        }
      } finally {
        await chmod(path, 0o644);
      }
    }
    expect(verify(dir, false).status).toBe(0);
  }, 60_000);

  test("a store's files without its CURRENT, and no segment files: BAD ledger, exit 1, as the start's LEDGER_DAMAGED", async () => {
    // Found by review: only segment files were looked for, so LevelDB's tables and logs left without their CURRENT
    // (what refuses the gateway's start: ledger/level-open-checks.ts refuseNewStoreOverLog) were "no ledger", exit 2.
    const dir = await ledgerDir();
    await rm(join(dir, 'CURRENT'));
    await rm(join(dir, 'entries'), { recursive: true });
    const before = (await readdir(dir)).sort();
    for (const data of [dir, join(dir, '..')]) {
      const r = verify(data, false);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^BAD ledger: ledger directory .* holds a log's files \([0-9]+\.(log|ldb).*\) but no LevelDB store/);
      const j = verify(data, true);
      expect(j.status, j.stderr).toBe(1);
      expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, problem: { message: expect.stringMatching(/but no LevelDB store/) } });
    }
    expect((await readdir(dir)).sort()).toEqual(before); // nothing created
  }, 60_000);

  test('a --key that does not parse is exit 2 whatever the directory holds, never a BAD report', async () => {
    // Found by review: the key was parsed after the looks for a store without its CURRENT, so a damaged directory
    // and a mistyped key gave a BAD report (exit 1) for a run that never got as far as the key.
    const dir = await ledgerDir();
    await rm(join(dir, 'CURRENT'));
    for (const json of [false, true]) {
      const r = spawnSync(process.execPath, [CLI_MAIN, 'ledger', 'verify', ...(json ? ['--json'] : []), '--key', 'not-a-key', '--data', dir], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stdout).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^originproof: \[CHECKPOINT_INVALID\] /);
    }
  }, 60_000);

  test('a store LevelDB finds corrupt at its open (CURRENT garbled): BAD ledger, --json ok:false, exit 1', async () => {
    const dir = await ledgerDir();
    await writeFile(join(dir, 'CURRENT'), 'garbage');
    const r = verify(dir, false);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^BAD ledger: .*Corruption/);
    const j = verify(dir, true);
    expect(j.status, j.stderr).toBe(1);
    expect(j.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, problem: { message: expect.stringMatching(/Corruption/) } });
  }, 60_000);

  // Found by the test audit: a record read at the store's open that does not decode was a bare RangeError, "device
  // rows record is malformed", exit 2 (no verdict), where the gateway's start refuses it LEDGER_DAMAGED.
  test("a block's device rows record that does not decode: BAD ledger, exit 1", async () => {
    const dir = await ledgerDir();
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    await db.put(blockRowsKey(2), new Uint8Array([5, 1, 2]));
    await db.close();
    const r = verify(dir, false);
    expect([r.status, r.stdout], r.stderr).toEqual([1, expect.stringMatching(/^BAD ledger: .*device rows record is malformed \(the store is damaged\)/)]);
  }, 60_000);
});
