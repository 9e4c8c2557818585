/**
 * A key file the CLI cannot use is named in the error, exit 2, without quoting the file's text: that text is a secret
 * key (found by the CLI review: a key file with a stray character printed V8's JSON snippet, eight hex digits of the
 * secret, and a non-hex digit printed the hex library's quote of the digits around it, with no file named).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli } = cliSandbox('op-key-secrets-');
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
