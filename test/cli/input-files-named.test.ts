/**
 * A certificate, revocation or proof file the CLI cannot use is named in the error (exit 2), whichever of a command's
 * inputs it is; and `register` checks every file before it posts any (found by the CLI review: a key file or an empty
 * file given as `--issuer-cert` was "[MALFORMED] certificate is not well-formed CBOR", naming none of three inputs; a
 * directory was a bare EISDIR; `register psb.cert missing.cert` registered psb.cert, then failed).
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli, cliAsync } = cliSandbox('op-input-named-');

beforeAll(() => {
  const ok = (...args: string[]) => expect(cli(...args).code).toBe(0);
  ok('keys', 'generate', '--alg', 'ed25519', '--out', 'k/root');
  ok('keys', 'generate', '--alg', 'es256', '--out', 'k/psb');
  ok('cert', 'root', '--key', 'k/root.key', '--id', 'root.example', '--days', '30', '--out', 'root.cert');
  ok('cert', 'agency', '--issuer-key', 'k/root.key', '--issuer-cert', 'root.cert', '--subject-key', 'k/psb.pub.json', '--id', 'psb.example', '--days', '30', '--out', 'psb.cert');
  writeFileSync(p('empty.cert'), '');
  mkdirSync(p('adir.cert'));
});

const agency = (issuerCert: string) =>
  ['cert', 'agency', '--issuer-key', 'k/root.key', '--issuer-cert', issuerCert, '--subject-key', 'k/psb.pub.json', '--id', 'x.example', '--days', '1', '--out', 'x.cert'];

describe('the unusable input file is named', () => {
  test.each([
    ['a public key file as --issuer-cert', agency('k/psb.pub.json'), 'k/psb.pub.json'],
    ['an empty --issuer-cert', agency('empty.cert'), 'empty.cert'],
    ['a directory as --issuer-cert', agency('adir.cert'), 'adir.cert'],
    ['an empty --cert to revoke', ['cert', 'revoke', '--issuer-key', 'k/root.key', '--cert', 'empty.cert', '--reason', 'superseded', '--out', 'x.rev'], 'empty.cert'],
    ['a key file as a chain certificate', ['cert', 'verify', '--root', 'root.cert', 'k/psb.pub.json'], 'k/psb.pub.json'],
    ['an empty --root to verify against', ['cert', 'verify', '--root', 'empty.cert', 'psb.cert'], 'empty.cert'],
    ['a directory to show', ['cert', 'show', 'adir.cert'], 'adir.cert'],
    ['an empty --root for trust', ['trust', '--root', 'empty.cert'], 'empty.cert'],
  ])('%s: exit 2, the file named', (_what, args, file) => {
    const r = cli(...args);
    expect(r.code, r.out).toBe(2);
    expect(r.err).toContain(file);
  });
});

describe('register checks every file before posting any', () => {
  let server: Server;
  let posts = 0;
  let url = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      posts++;
      req.resume();
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ index: posts - 1 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test.each([
    ['a file missing', 'missing.cert'],
    ['an empty file', 'empty.cert'],
    ['a key file', 'k/psb.pub.json'],
    ['a directory', 'adir.cert'],
  ])('a good certificate then %s: nothing posted, exit 2, the bad file named', async (_what, bad) => {
    posts = 0;
    const r = await cliAsync('register', '--gateway', url, 'psb.cert', bad);
    expect(r.code, r.out).toBe(2);
    expect(r.err).toContain(bad);
    expect(posts).toBe(0);
  });

  test('all good: each posted (control)', async () => {
    posts = 0;
    const r = await cliAsync('register', '--gateway', url, 'psb.cert');
    expect(r.code, r.out).toBe(0);
    expect(posts).toBe(1);
  });
});
