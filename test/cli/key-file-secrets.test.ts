/**
 * A key file the CLI cannot use is named in the error, exit 2, without quoting the file's text: that text is a secret
 * key (found by the CLI review: a key file with a stray character printed V8's JSON snippet, eight hex digits of the
 * secret, and a non-hex digit printed the hex library's quote of the digits around it, with no file named).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CLI_MAIN, cliSandbox } from './cli-sandbox.js';

const { dir, p, cli } = cliSandbox('op-key-secrets-');
// A valid Ed25519 secret key (any 32 bytes are), digits only, so that no word of a message can look like a part of it.
const SECRET = '91754860'.repeat(8);
const windows = (s: string, n: number): string[] => Array.from({ length: s.length - n + 1 }, (_, i) => s.slice(i, i + n));

function certRootWith(keyText: string): { code: number | null; err: string } {
  writeFileSync(p('bad.key'), keyText, { mode: 0o600 });
  return cli('cert', 'root', '--key', 'bad.key', '--id', 'root.example', '--days', '1', '--out', 'root.cert');
}

describe('a broken key file: named, never quoted', () => {
  test('the key file is usable as written (control)', () => {
    const r = certRootWith(JSON.stringify({ alg: 'ed25519', secretKey: SECRET }));
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(p('root.cert')).length).toBeGreaterThan(0);
  });

  test.each([
    ['a stray character before the secret', `{"alg":"ed25519","secretKey":x"${SECRET}"}`],
    ['a stray character inside it', `{"alg":"ed25519","secretKey":"${SECRET.slice(0, 30)}"x"${SECRET.slice(30)}"}`],
    ['a quote missing after it', `{"alg":"ed25519","secretKey":"${SECRET}}`],
  ])('JSON that does not parse (%s): MALFORMED naming the file, no part of the secret', (_what, text) => {
    const r = certRootWith(text);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('[MALFORMED]');
    expect(r.err).toContain('bad.key');
    for (const w of windows(SECRET, 4)) expect(r.err, r.err).not.toContain(w);
  });

  test.each([
    ['a digit that is not hex', `9g${SECRET.slice(2)}`, '9g'],
    ['an odd number of digits', SECRET.slice(1), SECRET.slice(1, 5)],
    ['too many bytes', `${SECRET}0102`, '0102'],
  ])('a secretKey that is not a key (%s): MALFORMED naming the file, not quoting it', (_what, secretKey, fault) => {
    const r = certRootWith(JSON.stringify({ alg: 'ed25519', secretKey }));
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('[MALFORMED]');
    expect(r.err).toContain('bad.key');
    expect(r.err).not.toContain(fault);
  });
});

describe('a key file that cannot be one: refused before it is read', () => {
  // Run with a time limit: /dev/zero was read until memory ran out (found by the CLI review).
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI_MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  const root = (key: string, out: string) => ['cert', 'root', '--key', key, '--id', 'r.example', '--days', '1', '--out', out];

  test.each([
    ['a device (/dev/zero) as --key', root('/dev/zero', 'z1.cert'), '/dev/zero'],
    ['a directory as --key', root('keydir', 'z2.cert'), 'keydir'],
    // A key 2 MiB into a file: no key file is that large (the CLI's are under 200 bytes).
    ['a file larger than any key file as --key', root('huge.key', 'z3.cert'), 'huge.key'],
    ['a device (/dev/zero) as --subject-key', ['cert', 'agency', '--issuer-key', 'good.key', '--issuer-cert', 'root.cert', '--subject-key', '/dev/zero', '--id', 'x.example', '--days', '1', '--out', 'z4.cert'], '/dev/zero'],
  ])('%s: exit 2 at once, the file named', (_what, args, named) => {
    const key = JSON.stringify({ alg: 'ed25519', secretKey: SECRET });
    writeFileSync(p('good.key'), key, { mode: 0o600 });
    expect(cli('cert', 'root', '--key', 'good.key', '--id', 'root.example', '--days', '1', '--out', 'root.cert', '--force').code).toBe(0);
    writeFileSync(p('huge.key'), ' '.repeat(2 << 20) + key, { mode: 0o600 });
    mkdirSync(p('keydir'), { recursive: true });
    const r = run(...args);
    expect(r.error).toBeUndefined(); // not killed by the time limit
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(named);
  });
});
