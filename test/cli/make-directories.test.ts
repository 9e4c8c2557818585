/**
 * `keys generate --out` and the gateway's `--data-dir` make the directories of their path, and fail at once, naming the
 * directory, where one cannot be made (node-fs/make-directories.ts). Found by review: `keys generate --out /proc/x/y`
 * hung for good, and so did a gateway started with `--data-dir /proc/x/data` (node's recursive mkdir retries
 * mkdir("/proc/x"), ENOENT under the existing /proc, forever). Each run has a timeout: a hang fails the test instead of
 * holding it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { npmStartArgs } from '../../scripts/npm-start.js';
import { CLI_MAIN, cliSandbox } from './cli-sandbox.js';

const { dir, p } = cliSandbox('op-keys-dirs-');

function generate(out: string): { code: number | null; signal: NodeJS.Signals | null; err: string } {
  const r = spawnSync(process.execPath, [CLI_MAIN, 'keys', 'generate', '--alg', 'ed25519', '--out', out], { cwd: dir, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, signal: r.signal, err: r.stderr };
}

describe('keys generate: the directories of --out', () => {
  test.skipIf(process.platform !== 'linux')('under /proc, where mkdir answers ENOENT below a directory that exists: exit 2 at once, naming it', () => {
    const r = generate('/proc/op-no-such-dir/key');
    expect(r.signal, 'killed by the timeout: keys generate hung').toBeNull();
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('directory /proc/op-no-such-dir cannot be made');
  });

  test('a file on the way: exit 2 naming it as not a directory', () => {
    writeFileSync(p('plain'), 'x');
    const r = generate('plain/sub/key');
    expect(r.signal).toBeNull();
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('plain is not a directory');
  });

  test('directories that are not there yet are made (control)', () => {
    const r = generate('a/b/c/key');
    expect([r.code, r.signal], r.err).toEqual([0, null]);
    expect(lstatSync(p('a/b/c/key.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(p('a/b/c/key.pub.json'))).toBe(true);
  });
});

describe("the gateway's --data-dir", () => {
  test.skipIf(process.platform !== 'linux')('under /proc: the start is refused at once, DATA_DIR_UNUSABLE naming the directory, exit 2', () => {
    const args = [...npmStartArgs(process.cwd()), '--data-dir', '/proc/op-no-such-dir/data', '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0'];
    const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(r.signal, 'killed by the timeout: the start hung').toBeNull();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^\[DATA_DIR_UNUSABLE\] data directory \/proc\/op-no-such-dir\/data is unusable \(dataDir\): directory \/proc\/op-no-such-dir cannot be made/);
  });
});
