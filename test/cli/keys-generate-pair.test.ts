/**
 * `keys generate` writes both files of a pair or neither (found by the CLI review: with OUT.pub.json a symbolic link to
 * nothing, existsSync said absent, OUT.key was written and the public half then failed EEXIST, leaving a secret key
 * without its public file and a bare EEXIST message).
 */
import { existsSync, lstatSync, symlinkSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli } = cliSandbox('op-keys-pair-');

describe('keys generate: both files or neither', () => {
  test('OUT.pub.json a symbolic link to nothing: exit 2 naming it, no OUT.key left', () => {
    symlinkSync('nowhere', p('a.pub.json'));
    const r = cli('keys', 'generate', '--alg', 'ed25519', '--out', 'a');
    expect(r.code, r.out).toBe(2);
    expect(r.err).toContain('a.pub.json');
    expect(existsSync(p('a.key'))).toBe(false);
    expect(existsSync(p('nowhere'))).toBe(false);
  });

  test('OUT.key a symbolic link to nothing: exit 2 naming it, nothing written through it, no OUT.pub.json', () => {
    symlinkSync('nowhere-key', p('b.key'));
    const r = cli('keys', 'generate', '--alg', 'ed25519', '--out', 'b');
    expect(r.code, r.out).toBe(2);
    expect(r.err).toContain('b.key');
    expect(existsSync(p('nowhere-key'))).toBe(false);
    expect(existsSync(p('b.pub.json'))).toBe(false);
    expect(lstatSync(p('b.key')).isSymbolicLink()).toBe(true);
  });

  test('a fresh name: both written, the secret 0600 (control)', () => {
    const r = cli('keys', 'generate', '--alg', 'es256', '--out', 'c');
    expect(r.code, r.out).toBe(0);
    expect(lstatSync(p('c.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(p('c.pub.json'))).toBe(true);
    expect(r.out).not.toContain('secretKey');
  });
});
