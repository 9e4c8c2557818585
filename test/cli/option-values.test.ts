/**
 * Option values a user may get wrong, refused with exit 2 and nothing written (found by the CLI review): `--days 1e3`
 * was read as 1000 and `--days 99999999999` made a certificate expiring in the year 273 million (past what RFC 3339
 * and the verifier page can show); `keys generate --out keys/` wrote the hidden pair keys/.key and keys/.pub.json;
 * a --gateway without a scheme (`127.0.0.1:8080`) was a bare "Invalid URL (ERR_INVALID_URL)".
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli, cliAsync } = cliSandbox('op-option-values-');

beforeAll(() => {
  expect(cli('keys', 'generate', '--alg', 'ed25519', '--out', 'k/root').code).toBe(0);
  expect(cli('cert', 'root', '--key', 'k/root.key', '--id', 'root.example', '--days', '1', '--out', 'any.cert').code).toBe(0);
  mkdirSync(p('keys'));
});

// The cases below are independent (each writes, or must not write, its own file): their CLI runs go side by side.
describe.concurrent('--days', () => {
  test.each(['1e3', '0x10', '1.5', '0', '-1', '99999999999'])('--days %s: exit 2, no certificate written', async (days) => {
    const r = await cliAsync('cert', 'root', '--key', 'k/root.key', '--id', 'root.example', '--days', days, '--out', `root-${days}.cert`);
    expect(r.code, r.out).toBe(2);
    expect(existsSync(p(`root-${days}.cert`))).toBe(false);
  });

  test('--days 3650 as README has it (control)', async () => {
    expect((await cliAsync('cert', 'root', '--key', 'k/root.key', '--id', 'root.example', '--days', '3650', '--out', 'root.cert')).code).toBe(0);
  });
});

describe.concurrent('keys generate --out', () => {
  test.each(['keys/', '.', 'keys/..'])('--out %s (a directory): exit 2, no key pair written', async (out) => {
    const r = await cliAsync('keys', 'generate', '--alg', 'ed25519', '--out', out);
    expect(r.code, r.out).toBe(2);
    expect(readdirSync(p('keys'))).toEqual([]);
    expect(existsSync(p('.key'))).toBe(false);
    expect(readdirSync(p('.')).filter((f) => f.endsWith('.key'))).toEqual([]);
  });
});

describe.concurrent('--gateway', () => {
  test.each(['127.0.0.1:8080', 'localhost:8080', 'ftp://127.0.0.1/', 'http//127.0.0.1'])('--gateway %s: exit 2, MALFORMED naming --gateway', async (url) => {
    const commands = [['register', '--gateway', url, 'any.cert'], ['fetch-bundle', '--gateway', url, '--entry', '0'], ['trust', '--root', 'any.cert', '--gateway', url]];
    const runs = await Promise.all(commands.map((args) => cliAsync(...args)));
    for (const [i, args] of commands.entries()) {
      const r = runs[i]!;
      expect(r.code, r.out).toBe(2);
      expect(r.err, args.join(' ')).toMatch(/\[MALFORMED\].*--gateway/);
    }
  });
});
