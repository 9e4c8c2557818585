/**
 * The HTTP API behind a reverse proxy (config trustProxy): the per-address write and verify budgets, and the request
 * log, key on the client a trusted proxy names in X-Forwarded-For; without the setting, or from an address it does not
 * list, the header is ignored (anyone can send it) and the connection's address counts. inject()'s remoteAddress is
 * the connection's address.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../gateway/config.js';
import { buildHttpApp } from '../../gateway/http/app.js';
import { createMetrics } from '../../gateway/metrics.js';
import { Pki, startTestGateway, type TestGateway } from './harness.js';

const PROXY = '10.9.0.5', OTHER_PROXY = '10.9.0.6', STRANGER = '198.51.100.7';
const BUDGET = 2;

/** The status of a registry write (a certificate that is none: refused, but counted against the budget first). */
async function write(t: TestGateway, from: string, forwardedFor?: string, url = '/v1/agencies'): Promise<number> {
  const body = url === '/v1/verify' ? { bundle: 'AAAA' } : { certificate: 'AAAA' };
  const r = await t.gw.app.inject({ method: 'POST', url, payload: body, remoteAddress: from, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} });
  return r.statusCode;
}

/** Spends `from`'s whole budget as client `client`, and says whether the next request is then refused. */
async function spend(t: TestGateway, from: string, client: string, url?: string): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i <= BUDGET; i++) codes.push(await write(t, from, client, url));
  return codes;
}

describe('the trustProxy setting', () => {
  test('off by default; a list from the environment or the command line (comma-separated), "off"/"none"/empty for none', () => {
    expect(loadConfig({}, {}).trustProxy).toBeNull();
    expect(loadConfig({}, { ORIGINPROOF_TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,loopback,::1,fd00::/8' }).trustProxy).toEqual(['10.0.0.1', '192.168.0.0/16', 'loopback', '::1', 'fd00::/8']);
    expect(loadConfig({ trustProxy: 'uniquelocal' }, { ORIGINPROOF_TRUST_PROXY: '10.0.0.1' }).trustProxy).toEqual(['uniquelocal']);
    for (const none of ['', 'off', 'none']) expect(loadConfig({}, { ORIGINPROOF_TRUST_PROXY: none }).trustProxy).toBeNull();
  });

  test.each([
    ['a hop count', '1'],
    ['every address', 'true'],
    ['every address (*)', '*'],
    ['a /0 range', '0.0.0.0/0'],
    ['an IPv6 /0 range', '::/0'],
    ['no address', '10.0.0.300'],
    ['a prefix past 32', '10.0.0.0/33'],
    ['a prefix past 128', 'fd00::/129'],
    ['a netmask', '10.0.0.0/255.0.0.0'],
    ['a zone id', 'fe80::1%eth0'],
    ['a host name', 'proxy.example'],
    ['an empty entry', '10.0.0.1,'],
  ])('%s (%s) is refused: CONFIG_INVALID naming trustProxy', (_what, value) => {
    let err: unknown;
    try {
      loadConfig({}, { ORIGINPROOF_TRUST_PROXY: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    expect((err as ConfigError).message).toMatch(/^ {2}trustProxy: /m);
  });

  test('every form the setting takes builds the HTTP API (Fastify compiles it)', async () => {
    for (const value of ['10.0.0.1', '192.168.0.0/16', '::1', 'fd00::/8', '::ffff:10.0.0.1', 'loopback,linklocal,uniquelocal', '10.0.0.1/32,2001:db8::/128']) {
      const trustProxy = loadConfig({}, { ORIGINPROOF_TRUST_PROXY: value }).trustProxy;
      const app = await buildHttpApp({ logLevel: 'silent', writeRateLimit: 10, trustProxy, bodyLimit: 1024, metrics: createMetrics(), notReady: () => null, routes: () => {}, version: '0', webRoot: null });
      await app.ready();
      await app.close();
    }
  });
});

describe('per-address budgets behind a reverse proxy', () => {
  const pki = Pki.create();
  let plain: TestGateway, proxied: TestGateway;
  beforeAll(async () => {
    plain = await startTestGateway(await pki, { writeRateLimit: BUDGET });
    proxied = await startTestGateway(await pki, { writeRateLimit: BUDGET, trustProxy: ['10.9.0.0/16'] });
  });
  afterAll(async () => {
    await plain?.stop();
    await proxied?.stop();
  });

  test('without the setting, X-Forwarded-For is not believed: two clients behind one address share its budget', async () => {
    const first = await spend(plain, PROXY, '203.0.113.1');
    expect(first.slice(0, BUDGET)).not.toContain(429);
    expect(first[BUDGET]).toBe(429);
    expect(await write(plain, PROXY, '203.0.113.2')).toBe(429);
    expect(await write(plain, PROXY)).toBe(429);
    // another address has a budget of its own
    expect(await write(plain, OTHER_PROXY, '203.0.113.1')).not.toBe(429);
  });

  test('from a trusted proxy, each client it names has a budget of its own, whichever of the proxies it comes through', async () => {
    const first = await spend(proxied, PROXY, '203.0.113.1');
    expect(first.slice(0, BUDGET)).not.toContain(429);
    expect(first[BUDGET]).toBe(429);
    expect(await write(proxied, PROXY, '203.0.113.2')).not.toBe(429);
    expect(await write(proxied, OTHER_PROXY, '203.0.113.1')).toBe(429);
    // a client's own X-Forwarded-For entries before the proxy's: the proxy appends the address it saw, which counts
    expect(await write(proxied, PROXY, '203.0.113.77, 203.0.113.1')).toBe(429);
    // POST /v1/verify's budget is keyed the same way
    const verify = await spend(proxied, PROXY, '203.0.113.3', '/v1/verify');
    expect(verify.slice(0, BUDGET)).not.toContain(429);
    expect(verify[BUDGET]).toBe(429);
    expect(await write(proxied, PROXY, '203.0.113.4', '/v1/verify')).not.toBe(429);
  });

  test('from an address the setting does not list, the header is ignored: its budget is the address\'s', async () => {
    const first = await spend(proxied, STRANGER, '203.0.113.5');
    expect(first.slice(0, BUDGET)).not.toContain(429);
    expect(first[BUDGET]).toBe(429);
    expect(await write(proxied, STRANGER, '203.0.113.6')).toBe(429);
    expect(await write(proxied, STRANGER)).toBe(429);
  });
});

describe('the request log behind a reverse proxy', () => {
  test('remoteAddress is the client a trusted proxy names, proxyAddress the proxy; from elsewhere the connection\'s address', async () => {
    const lines: Record<string, unknown>[] = [];
    const app = await buildHttpApp({
      logLevel: 'info', logStream: { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) },
      writeRateLimit: 10, trustProxy: ['10.9.0.0/16'], bodyLimit: 1024, metrics: createMetrics(), notReady: () => null, routes: () => {}, version: '0', webRoot: null,
    });
    try {
      const logged = async (from: string, forwardedFor: string) => {
        lines.length = 0;
        await app.inject({ method: 'GET', url: '/healthz', remoteAddress: from, headers: { 'x-forwarded-for': forwardedFor } });
        const req = lines.find((l) => l.msg === 'incoming request')?.req as Record<string, unknown> | undefined;
        return { remoteAddress: req?.remoteAddress, proxyAddress: req?.proxyAddress };
      };
      expect(await logged(PROXY, '203.0.113.9')).toEqual({ remoteAddress: '203.0.113.9', proxyAddress: PROXY });
      expect(await logged(STRANGER, '203.0.113.9')).toEqual({ remoteAddress: STRANGER, proxyAddress: undefined });
    } finally {
      await app.close();
    }
  });
});
