/**
 * Query parameters a /v1 route does not take are refused BAD_REQUEST, naming the parameter (schemas.ts
 * knownQueryCheck). Before, Fastify ignored them: `GET /v1/entries?fromMs=0&toMs=…&limit=5&aftr=…` (a misspelt
 * cursor) answered the first page again, and a misspelt filter answered as if none had been asked for.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { routesOf } from '../../gateway/http/app.js';
import { connectDevice, gatewayWithDevices, reading, type Device, type TestGateway } from './harness.js';

describe('unknown query parameters on /v1 routes', () => {
  let t: TestGateway;
  let dev: Device;
  const get = (url: string) => t.gw.app.inject({ method: 'GET', url });

  beforeAll(async () => {
    const fx = await gatewayWithDevices(1, { blockMaxMs: 5 });
    t = fx.t;
    dev = fx.devices[0]!;
    const c = await connectDevice(t.gw, dev);
    for (let seq = 1; seq <= 3; seq++) {
      await c.publish(await reading(dev, seq));
      expect((await c.next()).kind).toBe('receipt');
    }
    await c.end();
  });
  afterAll(() => t.stop());

  test('a misspelt parameter is refused where it used to be ignored; the correct spelling answers', async () => {
    const first = await get(`/v1/devices/${dev.id}/entries?limit=2`);
    expect(first.statusCode).toBe(200);
    const { next } = first.json() as { next: number };
    // `after` spelt right: the second page
    const second = await get(`/v1/devices/${dev.id}/entries?limit=2&after=${next}`);
    expect(second.statusCode).toBe(200);
    expect((second.json() as { entries: { reading: { seq: number } }[] }).entries.map((e) => e.reading.seq)).toEqual([3]);
    // spelt wrong: before this check, the first page again, as if it were the second
    const misspelt = await get(`/v1/devices/${dev.id}/entries?limit=2&aftr=${next}`);
    expect([misspelt.statusCode, misspelt.json().code]).toEqual([400, 'BAD_REQUEST']);
    expect(misspelt.json().message).toContain('"aftr"');

    const now = Date.now();
    expect((await get(`/v1/entries?fromMs=0&toMs=${now}`)).statusCode).toBe(200);
    const wrongCase = await get(`/v1/entries?fromMs=0&toMs=${now}&toMS=1`);
    expect([wrongCase.statusCode, wrongCase.json().code]).toEqual([400, 'BAD_REQUEST']);
    // a parameter a route takes, on a route that does not take it
    const elsewhere = await get('/v1/log?limit=1');
    expect([elsewhere.statusCode, elsewhere.json().code]).toEqual([400, 'BAD_REQUEST']);
  });

  test('every /v1 route and method refuses a parameter it does not take, naming it', async () => {
    const routes = routesOf(t.gw.app).filter((r) => r.url.startsWith('/v1/'));
    expect(routes.length).toBeGreaterThan(20);
    for (const r of routes) {
      // Path parameters get a syntactically plausible value; the query check runs before any other validation.
      const url = r.url.replace(':deviceId', dev.id).replace(/:[A-Za-z]+/g, '1');
      const res = await t.gw.app.inject({ method: r.method as 'GET', url: `${url}?zzUnknown=1` });
      if (r.method === 'HEAD') {
        expect([r.method, r.url, res.statusCode]).toEqual([r.method, r.url, 400]);
        continue;
      }
      expect([r.method, r.url, res.statusCode, res.json().code]).toEqual([r.method, r.url, 400, 'BAD_REQUEST']);
      expect(res.json().message, `${r.method} ${r.url}`).toContain('"zzUnknown"');
    }
  });
});
