/**
 * Files the CLI and the gateway read whole are read only when they are regular files of a plausible size (found by
 * the CLI review): a device such as /dev/zero never ends (the command hung until memory ran out, or the gateway's
 * start ended in "Invalid string length"), a directory was a bare EISDIR. And a trust file that does not parse is
 * named without the text the JSON parser quotes: a key file given as the trust file by mistake showed ten
 * characters of its secret either side of the fault.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CLI_MAIN, cliSandbox } from './cli-sandbox.js';
import { RootAuthority } from '../../device-sim/index.js';
import { formatVerifierKey } from '../../protocol/checkpoint.js';
import { ed25519 } from '@noble/curves/ed25519.js';

const { dir, p, cli } = cliSandbox('op-bounded-');
mkdirSync(p('a-directory'));
// a usable trust file, so that verify goes on to read the bundle
writeFileSync(p('trust.json'), (await RootAuthority.create('root.example')).trustJson([formatVerifierKey('log.example', ed25519.getPublicKey(ed25519.utils.randomSecretKey()))]));
// a key file whose secret lost its quotes: V8's message quotes the ten characters after the fault, its first digits
const SECRET = 'cf3a9c1d7e2b4f6a0c5d9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f1e2d3';
writeFileSync(p('broken.key'), `{"alg": "EdDSA", "secretKey": ${SECRET}}\n`);

const quick = { timeout: 20_000 };

describe('a device or a directory where a file is expected: exit 2, named, not read', () => {
  test.each([
    ['verify --trust', ['verify', '--trust', '/dev/zero', 'none.cbor'], /trust file \/dev\/zero: is not a regular file/],
    ['verify (a directory as the trust file)', ['verify', '--trust', 'a-directory', 'none.cbor'], /trust file a-directory: is a directory/],
    ['verify (the bundle)', ['verify', '--trust', 'trust.json', '/dev/zero'], /bundle \/dev\/zero: is not a regular file/],
    ['monitor --trust', ['monitor', '--gateway', 'http://127.0.0.1:1', '--state', 'never.json', '--trust', '/dev/zero', '--once'], /\[MALFORMED\] trust file \/dev\/zero: is not a regular file/],
    ['monitor --state', ['monitor', '--gateway', 'http://127.0.0.1:1', '--state', '/dev/zero', '--once'], /\[MALFORMED\] \/dev\/zero: is not a regular file/],
    ['sim run --config', ['sim', 'run', '--config', '/dev/zero', '--no-progress'], /\/dev\/zero: is not a regular file/],
  ])('%s', (_name, args, message) => {
    const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { cwd: dir, encoding: 'utf8', ...quick });
    expect(r.signal, 'the command hung reading the device').toBeNull();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toMatch(message); // verify says it on stdout, with its verdicts
  }, 30_000);

  test('the gateway: --trust /dev/zero stops the start, TRUST_FILE_UNUSABLE', () => {
    const r = spawnSync(process.execPath, [CLI_MAIN, 'gateway', '--trust', '/dev/zero'], { cwd: dir, env: { ...process.env, ORIGINPROOF_DATA_DIR: p('data') }, encoding: 'utf8', ...quick });
    expect(r.signal, 'the start hung reading the device').toBeNull();
    expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(/^\[TRUST_FILE_UNUSABLE\] trust file \/dev\/zero is unusable: it is not a regular file/)]);
  }, 30_000);
});

describe('a trust file that does not parse: named, its text not quoted', () => {
  const noSecret = (text: string) => {
    for (let i = 0; i + 6 <= SECRET.length; i++) expect(text, 'a part of the secret key was printed').not.toContain(SECRET.slice(i, i + 6));
  };

  test('verify --trust', () => {
    const r = cli('verify', '--trust', 'broken.key', 'none.cbor');
    expect(r.code, r.err).toBe(2);
    expect(r.out).toMatch(/trust file broken\.key is unusable: trust file is not JSON/);
    noSecret(r.out);
  });

  test('monitor --trust', () => {
    const r = cli('monitor', '--gateway', 'http://127.0.0.1:1', '--state', 'never.json', '--trust', 'broken.key', '--once');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('trust file broken.key is unusable: trust file is not JSON');
    noSecret(r.out);
  });

  test('the gateway\'s --trust', () => {
    const r = spawnSync(process.execPath, [CLI_MAIN, 'gateway', '--trust', 'broken.key'], { cwd: dir, env: { ...process.env, ORIGINPROOF_DATA_DIR: p('data') }, encoding: 'utf8', ...quick });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^\[TRUST_FILE_UNUSABLE\] trust file broken\.key is unusable: trust file is not JSON/);
    noSecret(r.stdout + r.stderr);
  }, 30_000);
});
