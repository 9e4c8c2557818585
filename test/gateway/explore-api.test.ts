/**
 * The routes behind the verifier page's trust panel and Explore view (through inject()), and the page itself as
 * static files: /v1/trust (a usable trust file), /v1/blocks, /v1/devices/:id/latest, /v1/rejections, `/` with
 * its CSP, and a clear answer when the page is not built.
 */
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeProofBundle, parseTrust, toHex, verifyBundle } from '../../protocol/index.js';
import { buildHttpApp } from '../../gateway/http/app.js';
import { defaultWebRoot, PAGE_CSP } from '../../gateway/http/web-page.js';
import { createMetrics } from '../../gateway/metrics.js';
import { connectDevice, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

let t: TestGateway;
let d1: Device;
const get = (url: string) => t.gw.app.inject({ method: 'GET', url });

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
  const psb = await pki.agency('psb.example');
  d1 = await pki.device(psb);
  await register(t.gw, psb, [d1]);
  const c = await connectDevice(t.gw, d1);
  for (const seq of [1, 2, 3]) {
    await c.publish(await reading(d1, seq));
    expect((await c.next()).kind).toBe('receipt');
  }
  await c.publish(await reading(d1, 2, { body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } })); // seq 2 again, other bytes
  const a = await c.next();
  expect(a.kind === 'rejection' ? a.rejection.code : JSON.stringify(a)).toBe('REPLAY');
  await c.end();
});
afterAll(() => t.stop());

describe('explore routes', () => {
  test('GET /v1/trust is a trust file with the root, this gateway\'s checkpoint key and origin, and it verifies a bundle', async () => {
    const res = await get('/v1/trust');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.roots).toEqual([
      { name: 'root.example', alg: 'EdDSA', publicKey: toHex(t.pki.root.cert.holderKey.raw), notBefore: t.pki.root.cert.claims.nbf, notAfter: t.pki.root.cert.claims.exp },
    ]);
    expect(body.checkpointKeys).toEqual([{ key: t.gw.checkpointVerifierKey }]);
    expect(body.origin).toBe('originproof.local/log');
    expect(body.clockSkewSeconds).toBe(300); // the gateway's config (default), for verifiers of its bundles
    const bundle = decodeProofBundle(new Uint8Array((await get('/v1/entries/2/bundle')).rawPayload));
    const verdict = verifyBundle(bundle, parseTrust(body));
    expect(verdict.valid).toBe(true);
    expect(verdict.checkpoint?.signedBy).toEqual(['originproof.local/log']);
    expect(verdict.record?.root).toBe('root.example');
  });

  test('GET /v1/blocks: the latest headers, newest first, as /v1/blocks/:height shows them', async () => {
    const res = await get('/v1/blocks?limit=2');
    expect(res.statusCode).toBe(200);
    const { height, blocks } = res.json() as { height: number; blocks: { height: number; root: string; treeSize: number }[] };
    expect(height).toBe(t.gw.ledger.ledger.height);
    expect(blocks.map((b) => b.height)).toEqual([height, height - 1]);
    const one = (await get(`/v1/blocks/${height}`)).json();
    expect(blocks[0]).toEqual({ height, firstIndex: one.firstIndex, lastIndex: one.lastIndex, treeSize: one.treeSize, root: one.root, timeMs: one.timeMs });
    const bad = await get('/v1/blocks?limit=0');
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'BAD_REQUEST']);
  });

  test("GET /v1/devices/:id/latest: a device's latest readings, newest first; NOT_FOUND and BAD_REQUEST", async () => {
    const res = await get(`/v1/devices/${d1.id}/latest?limit=2`);
    expect(res.statusCode).toBe(200);
    expect(res.json().entries.map((e: { reading: { seq: number } }) => e.reading.seq)).toEqual([3, 2]);
    const unknown = await get(`/v1/devices/${'0'.repeat(34)}/latest`);
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'NOT_FOUND']);
    const malformed = await get('/v1/devices/xyz/latest');
    expect([malformed.statusCode, malformed.json().code]).toEqual([400, 'BAD_REQUEST']);
  });

  test('GET /v1/rejections: counts by code since the gateway started', async () => {
    const res = await get('/v1/rejections');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.byCode).toEqual([{ code: 'REPLAY', count: 1 }]);
    expect(body.total).toBe(1);
    expect(body.sinceMs).toBeLessThanOrEqual(Date.now());
  });
});

describe('the verifier page as static files', () => {
  test('GET / is the built page, with a same-origin CSP; its assets are served with long caching', async () => {
    const res = await get('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(PAGE_CSP);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toContain('<div id="app">');
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(res.body)?.[1];
    const js = await get(`/${script}`);
    expect(js.statusCode).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await get('/sw.js')).statusCode).toBe(200);
  });

  test('unknown paths still get the JSON NOT_FOUND body', async () => {
    for (const url of ['/nope.html', '/v1/nope', '/assets/nope.js']) {
      const res = await get(url);
      expect([url, res.statusCode, res.json().code]).toEqual([url, 404, 'NOT_FOUND']);
    }
  });

  test('the page is found relative to the module (dist/web), and it is built', () => {
    expect(defaultWebRoot()).toBe(join(process.cwd(), 'dist', 'web'));
    expect(readdirSync(join(defaultWebRoot(), 'assets')).some((f) => f.endsWith('.js'))).toBe(true);
  });

  test('a web root that itself lies under a folder named assets: only its own assets/ are immutable', async () => {
    const root = join(t.dir, 'assets', 'web');
    cpSync(defaultWebRoot(), root, { recursive: true });
    const app = await buildHttpApp({ logLevel: 'silent', writeRateLimit: 10, bodyLimit: 1024, metrics: createMetrics(), notReady: () => null, routes: () => {}, version: '0', webRoot: root });
    try {
      const cache = async (url: string) => {
        const res = await app.inject({ method: 'GET', url });
        expect([url, res.statusCode]).toEqual([url, 200]);
        return res.headers['cache-control'];
      };
      for (const url of ['/', '/index.html', '/sw.js']) expect([url, await cache(url)]).toEqual([url, 'no-cache']);
      const script = readdirSync(join(root, 'assets')).find((f) => f.endsWith('.js'))!;
      expect(await cache(`/assets/${script}`)).toBe('public, max-age=31536000, immutable');
    } finally {
      await app.close();
    }
  });

  test('without a built page, GET / says so (NOT_FOUND naming npm run build)', async () => {
    const missing = join(t.dir, 'no-such-build');
    expect(existsSync(missing)).toBe(false);
    const app = await buildHttpApp({ logLevel: 'silent', writeRateLimit: 10, bodyLimit: 1024, metrics: createMetrics(), notReady: () => null, routes: () => {}, version: '0', webRoot: missing });
    const res = await app.inject({ method: 'GET', url: '/' });
    expect([res.statusCode, res.json().code]).toEqual([404, 'NOT_FOUND']);
    expect(res.json().message).toContain('npm run build');
    await app.close();
  });
});
