/**
 * `fetch-revocations` and a listed revocation whose `certificate` or `issuer` is no certificate (found by review): each
 * statement was decoded before anything was written, but the certificates beside them were written as they came, so
 * the fetch succeeded (exit 0) and every later `verify --revocation-log DIR` was unusable input (exit 2, "certificate
 * DIR/N.cert is unusable"), pointing at the verifier's directory rather than at the gateway. They are now decoded
 * too: MALFORMED, exit 2, nothing written.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { toBase64 } from '../../protocol/bytes.js';
import { createRevocation } from '../../protocol/revocation.js';
import { makeChain, NOW } from '../protocol/fixtures.js';

const { p, cliAsync } = cliSandbox('op-revlist-certs-');

describe.concurrent('fetch-revocations: the certificates beside a statement must be certificates', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    const c = await makeChain();
    const statement = await createRevocation(c.root, c.agencyCert, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW });
    const listing = (extra: object) => JSON.stringify({
      treeSize: 2, checkpoint: 'some.log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 some.log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', count: 1,
      revocations: [{ index: 1, revocation: toBase64(statement), ...extra }], next: null,
    });
    server = createServer((req, res) => {
      req.resume();
      const body = req.url!.startsWith('/good/') ? listing({ certificate: toBase64(c.agencyCert.bytes) })
        : req.url!.startsWith('/issuer/') ? listing({ certificate: toBase64(c.agencyCert.bytes), issuer: toBase64(new Uint8Array([0xa0])) })
          : listing({ certificate: toBase64(new TextEncoder().encode('not a certificate')) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('a certificate that decodes is written beside its statement (exit 0)', async () => {
    const r = await cliAsync('fetch-revocations', '--gateway', `${url}/good/`, '--out', p('good'));
    expect(r.code).toBe(0);
    expect(existsSync(p('good/1.cert'))).toBe(true);
  });

  test.each([['certificate', 'bad/'], ['issuer', 'issuer/']])('a listed %s that is no certificate: MALFORMED (exit 2), nothing written', async (name, path) => {
    const r = await cliAsync('fetch-revocations', '--gateway', `${url}/${path}`, '--out', p(name));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[MALFORMED\]/);
    expect(existsSync(p(name))).toBe(false);
  });
});
