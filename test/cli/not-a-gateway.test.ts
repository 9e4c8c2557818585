/**
 * A --gateway URL that is not an OriginProof gateway's base URL (found by review): `register` took any 2xx answer as
 * "already registered" and a wrong path's 404 as a refusal (exit 1); `trust --gateway` wrote a trust file with an
 * empty checkpoint key; `fetch-bundle` saved a web server's page as the bundle. Each is now exit 2, nothing written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliSandbox } from './cli-sandbox.js';
import { generateKeys } from '../../cli/commands/keys.js';
import { certAgency, certRoot } from '../../cli/commands/cert.js';

const { p, cliAsync } = cliSandbox('op-not-gateway-');
const NOW = 1_767_225_600;

describe('a gateway URL that is not an OriginProof gateway', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    const root = generateKeys({ alg: 'ed25519', out: p('k/root') });
    const agency = generateKeys({ alg: 'es256', out: p('k/agency') });
    await certRoot({ key: root.keyPath, id: 'root.example', days: 3650, out: p('root.cert'), now: NOW });
    await certAgency({ issuerKey: root.keyPath, issuerCert: p('root.cert'), subjectKey: agency.pubPath, id: 'psb.example', days: 365, out: p('agency.cert'), now: NOW });
    // Answers every request 200: JSON {} under /json/, an HTML page elsewhere (a proxy's or web server's page);
    // under /api/ the gateway's own 404 for an unknown route (a base URL with one path segment too many).
    server = createServer((req, res) => {
      req.resume();
      if (req.url?.startsWith('/json/')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else if (req.url?.startsWith('/api/')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` }));
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body>Welcome to nginx!</body></html>');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('register: a 200 JSON answer that is not a registration is not "already registered" (exit 2)', async () => {
    const r = await cliAsync('register', '--gateway', `${url}/json/`, p('agency.cert'));
    expect(r.out).not.toMatch(/already registered/);
    expect(r.code).toBe(2);
  });

  test("register: the gateway's 404 for an unknown route (a wrong base URL) is no verdict on the object (exit 2)", async () => {
    const r = await cliAsync('register', '--gateway', `${url}/api`, p('agency.cert'));
    expect(r.out).toMatch(/no route/);
    expect(r.code).toBe(2);
  });

  test('trust --gateway: an answer without verifierKey writes no trust file with an empty checkpoint key', async () => {
    const r = await cliAsync('trust', '--root', p('root.cert'), '--gateway', `${url}/json/`, '--out', p('t-json.json'));
    expect(existsSync(p('t-json.json')) ? readFileSync(p('t-json.json'), 'utf8') : '').not.toMatch(/"checkpointKeys": \[\s*\{\}\s*\]/);
    expect(r.code).toBe(2);
  });

  test('fetch-bundle: an HTML page is not written as the bundle (exit 2)', async () => {
    const r = await cliAsync('fetch-bundle', '--gateway', url, '--entry', '2', '--out', p('html.cbor'));
    expect(r.code).toBe(2);
    expect(existsSync(p('html.cbor'))).toBe(false);
  });
});
