/**
 * Integer path and query parameters are decimal digits only. Fastify's Ajv coerces a parameter's raw string with
 * Number() before the schema sees it, so without the digits check (schemas.ts decimalIntegerCheck, added to every
 * route in app.ts) " ", "\t", "0x1", "1e0", "+1", "1.0" or "0b11" were read as 0, 1 or 3 and answered for that
 * entry, block or checkpoint.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { routesOf } from '../../gateway/http/app.js';
import { connectDevice, gatewayWithDevices, reading, type Device, type TestGateway } from './harness.js';

const MAX = Number.MAX_SAFE_INTEGER;
/** Spellings Number() reads as a number but that are not a decimal integer's digits (URL-encoded as sent). */
const NOT_DIGITS = ['%20', '%09', '0x1', '1e0', '+1', '%2B1', '1.0', '0b11', '0o7', '-0', '1%20', '%201', '%0A1', '', '%C2%A01'];

describe('integer path and query parameters: decimal digits only', () => {
  let t: TestGateway;
  let dev: Device;
  const get = (url: string) => t.gw.app.inject({ method: 'GET', url });
  const expect400 = async (url: string, param: string) => {
    const r = await get(url);
    const body = r.json() as { code: string; message: string };
    expect([url, r.statusCode, body.code]).toEqual([url, 400, 'BAD_REQUEST']);
    // the usual error body, naming the parameter
    expect(Object.keys(body).sort(), url).toEqual(['code', 'message']);
    expect(body.message, url).toContain(param);
  };

  beforeAll(async () => {
    const fx = await gatewayWithDevices(1, { blockMaxMs: 5 });
    t = fx.t;
    dev = fx.devices[0]!;
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    expect((await c.next()).kind).toBe('receipt');
    await c.end();
    // entries 0 (agency), 1 (device), 2 (reading), and a checkpoint at tree size 3
    expect((await get('/v1/checkpoints/3')).statusCode).toBe(200);
  });
  afterAll(() => t.stop());

  test('path parameters: /v1/entries/:index, /v1/blocks/:height, /v1/checkpoints/:treeSize, /v1/entries/:index/bundle', async () => {
    for (const bad of NOT_DIGITS) {
      if (bad === '') continue; // an empty path segment is another route
      await expect400(`/v1/entries/${bad}`, 'index');
      await expect400(`/v1/entries/${bad}/bundle`, 'index');
      await expect400(`/v1/blocks/${bad}`, 'height');
      await expect400(`/v1/checkpoints/${bad.replace(/^0x1$/, '0x3')}`, 'treeSize');
    }
    await expect400('/v1/checkpoints/0b11', 'treeSize');
    // the HEAD route Fastify makes of each GET too
    expect((await t.gw.app.inject({ method: 'HEAD', url: '/v1/entries/0x1' })).statusCode).toBe(400);
  });

  test('query parameters: fromMs, toMs and limit of GET /v1/entries, limit elsewhere, proofs', async () => {
    await expect400('/v1/entries?fromMs=%20&toMs=0x7fffffffffff', 'fromMs');
    for (const bad of NOT_DIGITS) {
      await expect400(`/v1/entries?fromMs=${bad}&toMs=${MAX}`, 'fromMs');
      await expect400(`/v1/entries?fromMs=0&toMs=${bad}`, 'toMs');
      await expect400(`/v1/entries?fromMs=0&toMs=${MAX}&limit=${bad}`, 'limit');
      await expect400(`/v1/blocks?limit=${bad}`, 'limit');
      await expect400(`/v1/revocations?limit=${bad}`, 'limit');
      await expect400(`/v1/devices/${dev.id}/entries?after=${bad}`, 'after');
      await expect400(`/v1/proofs/inclusion?index=${bad}&treeSize=3`, 'index');
      await expect400(`/v1/proofs/consistency?from=1&to=${bad}`, 'to');
    }
    // a repeated parameter: each value must be digits
    await expect400('/v1/blocks?limit=1&limit=0x1', 'limit');
    await expect400('/v1/blocks?limit=0x1&limit=1', 'limit');
  });

  test('every integer parameter of every route the app serves refuses a non-decimal spelling', async () => {
    type Obj = { properties?: Record<string, { type?: string }>; required?: string[] };
    let checked = 0;
    for (const r of routesOf(t.gw.app)) {
      if (r.method !== 'GET') continue;
      const params = (r.schema?.params ?? {}) as Obj;
      const query = (r.schema?.querystring ?? {}) as Obj;
      const valueOf = (name: string, s: { type?: string }) => (s.type === 'integer' ? '1' : name === 'deviceId' ? dev.id : name === 'agencyId' ? 'psb.example' : name === 'format' ? 'json' : 'x');
      const ints = [
        ...Object.entries(params.properties ?? {}).filter(([, s]) => s.type === 'integer').map(([n]) => ['params', n] as const),
        ...Object.entries(query.properties ?? {}).filter(([, s]) => s.type === 'integer').map(([n]) => ['query', n] as const),
      ];
      for (const [part, name] of ints) {
        let path = r.url;
        for (const [p, s] of Object.entries(params.properties ?? {})) path = path.replace(`:${p}`, part === 'params' && p === name ? '0x1' : valueOf(p, s));
        const q = new URLSearchParams();
        for (const [p, s] of Object.entries(query.properties ?? {})) {
          if (part === 'query' && p === name) q.set(p, '1e0');
          else if (query.required?.includes(p)) q.set(p, valueOf(p, s));
        }
        await expect400(`${path}${q.size ? `?${q}` : ''}`, name);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(18);
  });

  test('plain decimals still work: 0, 1, leading zeros, MAX_SAFE_INTEGER', async () => {
    const ok = async (url: string, status = 200) => {
      const r = await get(url);
      expect([url, r.statusCode]).toEqual([url, status]);
      return r;
    };
    expect((await ok('/v1/entries/0')).json().index).toBe(0);
    expect((await ok('/v1/entries/1')).json().index).toBe(1);
    expect((await ok('/v1/entries/01')).json().index).toBe(1); // leading zeros are digits too (as the `after` cursors)
    await ok(`/v1/entries/${MAX}`, 404);
    await ok('/v1/entries/2/bundle?treeSize=3&since=1');
    expect((await ok('/v1/blocks/0')).json().height).toBe(0);
    await ok(`/v1/blocks/${MAX}`, 404);
    expect((await ok('/v1/checkpoints/3')).headers['content-type']).toMatch(/text/);
    await ok(`/v1/checkpoints/${MAX}`, 404);
    expect((await ok(`/v1/entries?fromMs=0&toMs=${MAX}&limit=1000`)).json().entries.length).toBe(3);
    expect((await ok(`/v1/entries?fromMs=0&toMs=${MAX}&limit=1`)).json().entries.length).toBe(1);
    await ok(`/v1/blocks?limit=1`);
    await ok(`/v1/revocations?limit=1`);
    await ok(`/v1/devices/${dev.id}/entries?after=0&limit=1`);
    await ok(`/v1/proofs/inclusion?index=2&treeSize=3`);
    await ok(`/v1/proofs/consistency?from=1&to=3`);
    // the schema's bounds still apply to digits
    await expect400(`/v1/entries/${MAX + 1}`, 'index');
    await expect400('/v1/entries?fromMs=0&toMs=1&limit=0', 'limit');
    await expect400(`/v1/entries/${'0'.repeat(17)}`, 'index');
  });
});
