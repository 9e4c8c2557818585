/**
 * Bounds of the HTTP API's inputs and budgets: every integer parameter is a safe integer (larger ones would wrap in
 * the ledger's u64 keys and answer for another record), query cursors are safe integers inside the queried range,
 * paging by time and by device across the edges of a range, one write budget per address across the registry
 * writes (POST /v1/verify has its own), and the agencies list with its device counts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRevocation, toBase64 } from '../../protocol/index.js';
import { connectDevice, nowS, Pki, post, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

const MAX = Number.MAX_SAFE_INTEGER;
const TWO64 = '18446744073709551616';

describe('integer parameters and cursors', () => {
  let t: TestGateway;
  let dev: Device;
  /** The device's readings as logged: seq, index, receivedAtMs. */
  const logged: { seq: number; index: number; receivedAtMs: number }[] = [];
  const get = (url: string) => t.gw.app.inject({ method: 'GET', url });

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 });
    const agency = await pki.agency('psb.example');
    dev = await pki.device(agency);
    await register(t.gw, agency, [dev]);
    const c = await connectDevice(t.gw, dev);
    // readings a few ms apart, so that they spread over several receivedAtMs values and blocks
    for (let s = 1; s <= 12; s++) {
      await c.publish(await reading(dev, s));
      const a = await c.next();
      if (a.kind !== 'receipt') throw new Error(`reading ${s} rejected: ${a.rejection.code}`);
      await new Promise((r) => setTimeout(r, 3));
    }
    await c.end();
    const all = (await get(`/v1/devices/${dev.id}/entries?limit=1000`)).json() as { entries: { index: number; receivedAtMs: number; reading: { seq: number } }[] };
    for (const e of all.entries) logged.push({ seq: e.reading.seq, index: e.index, receivedAtMs: e.receivedAtMs });
    expect(logged.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
  afterAll(() => t.stop());

  const expect400 = async (url: string) => {
    const r = await get(url);
    expect([url, r.statusCode, r.json().code]).toEqual([url, 400, 'BAD_REQUEST']);
  };

  test('integers above MAX_SAFE_INTEGER (2^53, 2^64, 1e300) are BAD_REQUEST on every integer parameter', async () => {
    // 1e400 and Infinity coerce to an infinite number, which Ajv takes for an integer outside minimum/maximum's reach
    for (const big of [String(MAX + 1), TWO64, '1e300', '1e16', '1e400', 'Infinity']) {
      for (const url of [
        `/v1/blocks/${big}`,
        `/v1/entries/${big}`,
        `/v1/entries/0/bundle?treeSize=${big}`,
        `/v1/entries/0/bundle?since=${big}`,
        `/v1/checkpoints/${big}`,
        `/v1/proofs/inclusion?index=${big}`,
        `/v1/proofs/inclusion?index=0&treeSize=${big}`,
        `/v1/proofs/consistency?from=${big}`,
        `/v1/proofs/consistency?from=1&to=${big}`,
        `/v1/entries?fromMs=${big}&toMs=1`,
        `/v1/entries?fromMs=0&toMs=${big}`,
        `/v1/entries?fromMs=0&toMs=1&limit=${big}`,
        `/v1/devices/${dev.id}/entries?fromMs=${big}`,
        `/v1/devices/${dev.id}/entries?toMs=${big}`,
        `/v1/devices/${dev.id}/entries?after=${big}`,
        `/v1/devices/${dev.id}/entries?limit=${big}`,
        `/v1/devices/${dev.id}/latest?limit=${big}`,
        `/v1/blocks?limit=${big}`,
      ]) await expect400(url);
    }
    for (const bad of ['-1', '-Infinity', 'NaN', '1.5']) await expect400(`/v1/blocks/${bad}`);
  });

  test('the OpenAPI description gives every integer parameter its bounds', async () => {
    const spec = (await get('/docs/json')).json() as { paths: Record<string, Record<string, { parameters?: { name: string; schema: { type: string; minimum?: number; maximum?: number } }[] }>> };
    let n = 0;
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const op of Object.values(ops)) {
        for (const p of op.parameters ?? []) {
          if (p.schema.type !== 'integer') continue;
          n++;
          expect([path, p.name, p.schema.minimum! >= 0, p.schema.maximum! <= MAX]).toEqual([path, p.name, true, true]);
        }
      }
    }
    expect(n).toBeGreaterThanOrEqual(18);
  });

  test('MAX_SAFE_INTEGER itself is a valid value: not found, or the whole range', async () => {
    for (const url of [`/v1/blocks/${MAX}`, `/v1/entries/${MAX}`, `/v1/checkpoints/${MAX}`]) {
      const r = await get(url);
      expect([url, r.statusCode, r.json().code]).toEqual([url, 404, 'NOT_FOUND']);
    }
    const all = (await get(`/v1/entries?fromMs=0&toMs=${MAX}&limit=1000`)).json();
    expect(all.entries.length).toBe(t.gw.ledger.size());
    const dev1 = (await get(`/v1/devices/${dev.id}/entries?fromMs=0&toMs=${MAX}&after=0`)).json();
    expect(dev1.entries.length).toBe(12);
    expect((await get(`/v1/devices/${dev.id}/entries?after=${MAX}`)).json()).toEqual({ entries: [], next: null });
  });

  test('the time cursor: digits that are not safe integers, or a time outside [fromMs, toMs], are BAD_REQUEST', async () => {
    const to = Date.now() + 60_000;
    await expect400(`/v1/entries?fromMs=0&toMs=${to}&after=1${'0'.repeat(400)}:0`);
    await expect400(`/v1/entries?fromMs=0&toMs=${to}&after=${MAX + 1}:0`);
    await expect400(`/v1/entries?fromMs=0&toMs=${to}&after=0:${MAX + 1}`);
    await expect400(`/v1/entries?fromMs=0&toMs=${to}&after=${'9'.repeat(17)}:0`);
    await expect400(`/v1/entries?fromMs=0&toMs=${to}&after=1e3:0`);
    const first = logged[0]!;
    await expect400(`/v1/entries?fromMs=${first.receivedAtMs}&toMs=${to}&after=${first.receivedAtMs - 1}:0`);
    await expect400(`/v1/entries?fromMs=0&toMs=${first.receivedAtMs}&after=${first.receivedAtMs + 1}:0`);
    // on the edges of the range it is a cursor
    const r = await get(`/v1/entries?fromMs=${first.receivedAtMs}&toMs=${first.receivedAtMs}&after=${first.receivedAtMs}:${first.index}`);
    expect(r.statusCode).toBe(200);
  });

  test('paging by time over a range cut at entries: every entry in [fromMs, toMs] once, in order, and nothing else', async () => {
    const lo = logged[2]!.receivedAtMs;
    const hi = logged[9]!.receivedAtMs;
    const want = logged.filter((l) => l.receivedAtMs >= lo && l.receivedAtMs <= hi).map((l) => l.index);
    expect(want.length).toBeGreaterThanOrEqual(8);
    const got: number[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page = (await get(`/v1/entries?fromMs=${lo}&toMs=${hi}&limit=3${after ? `&after=${after}` : ''}`)).json() as { entries: { index: number; receivedAtMs: number }[]; next: string | null };
      for (const e of page.entries) {
        expect(e.receivedAtMs).toBeGreaterThanOrEqual(lo);
        expect(e.receivedAtMs).toBeLessThanOrEqual(hi);
      }
      got.push(...page.entries.map((e) => e.index));
      if (page.next !== null) expect(page.next).toBe(`${page.entries[2]!.receivedAtMs}:${page.entries[2]!.index}`);
      after = page.next;
      pages++;
    } while (after !== null && pages < 20);
    expect(got).toEqual(want);
    // a range of one millisecond, at an entry's time
    const one = (await get(`/v1/entries?fromMs=${lo}&toMs=${lo}`)).json();
    expect(one.entries.map((e: { index: number }) => e.index)).toEqual(logged.filter((l) => l.receivedAtMs === lo).map((l) => l.index));
    // a range before the first entry, and an inverted range, are empty
    expect((await get(`/v1/entries?fromMs=0&toMs=1`)).json()).toEqual({ entries: [], next: null });
    expect((await get(`/v1/entries?fromMs=${hi}&toMs=${lo - 1}`)).json()).toEqual({ entries: [], next: null });
  });

  test("paging a device's readings in a time range: exactly the readings in range, cursors are seqs", async () => {
    const lo = logged[3]!.receivedAtMs;
    const hi = logged[8]!.receivedAtMs;
    const want = logged.filter((l) => l.receivedAtMs >= lo && l.receivedAtMs <= hi).map((l) => l.seq);
    const got: number[] = [];
    let after: number | null = null;
    let pages = 0;
    do {
      const page = (await get(`/v1/devices/${dev.id}/entries?fromMs=${lo}&toMs=${hi}&limit=2${after !== null ? `&after=${after}` : ''}`)).json() as { entries: { reading: { seq: number } }[]; next: number | null };
      got.push(...page.entries.map((e) => e.reading.seq));
      if (page.next !== null) expect(page.next).toBe(page.entries[page.entries.length - 1]!.reading.seq);
      after = page.next;
      pages++;
    } while (after !== null && pages < 20);
    expect(got).toEqual(want);
    // an empty range (before every reading, after every reading) is an empty last page: the device has far fewer
    // readings than one request's scan budget
    expect((await get(`/v1/devices/${dev.id}/entries?toMs=0&limit=1`)).json()).toEqual({ entries: [], next: null });
    expect((await get(`/v1/devices/${dev.id}/entries?fromMs=${Date.now() + 1e9}&limit=1`)).json()).toEqual({ entries: [], next: null });
    // a cursor past the last seq is an empty last page too
    expect((await get(`/v1/devices/${dev.id}/entries?after=12`)).json()).toEqual({ entries: [], next: null });
  });
});

describe('rate limits: one write budget per address across the registry writes', () => {
  test('with a limit of 2, the third registry write is RATE_LIMITED whichever route it goes to; verify has its own budget', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { writeRateLimit: 2 });
    try {
      const ag = await pki.agency('x.example');
      const d1 = await pki.device(ag);
      const d2 = await pki.device(ag);
      const a = await post(t.gw, '/v1/agencies', { certificate: toBase64(ag.cert.bytes) });
      const b = await post(t.gw, '/v1/devices', { certificate: toBase64(d1.cert.bytes) });
      expect([a.status, b.status]).toEqual([201, 201]);
      const rev = await createRevocation(ag.signer, d1.cert, { reason: 'unspecified', revokedFrom: nowS(), iat: nowS() });
      for (const [url, body] of [
        ['/v1/devices', { certificate: toBase64(d2.cert.bytes) }],
        ['/v1/revocations', { revocation: toBase64(rev) }],
        ['/v1/agencies', { certificate: toBase64(ag.cert.bytes) }],
      ] as const) {
        const r = await post(t.gw, url, body);
        expect([url, r.status, r.body.code]).toEqual([url, 429, 'RATE_LIMITED']);
      }
      // nothing was written past the budget
      expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d2.id}` })).json().code).toBe('NOT_FOUND');
      expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d1.id}` })).json().status).toBe('active');
      // POST /v1/verify: a budget of its own, the same size
      const env = toBase64(await reading(d1, 1));
      const v = [];
      for (let i = 0; i < 3; i++) v.push(await post(t.gw, '/v1/verify', { envelope: env }));
      expect(v.slice(0, 2).map((r) => r.status)).toEqual([200, 200]);
      expect([v[2]!.status, v[2]!.body.code]).toEqual([429, 'RATE_LIMITED']);
      // reads are not limited
      expect((await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).statusCode).toBe(200);
    } finally {
      await t.stop();
    }
  });
});

describe('GET /v1/agencies', () => {
  test('shows each agency with its number of devices', async () => {
    const pki = await Pki.create();
    const t = await startTestGateway(pki, { writeRateLimit: 1000 });
    try {
      const a = await pki.agency('a.example');
      const b = await pki.agency('b.example');
      const c = await pki.agency('c.example');
      await register(t.gw, a, [await pki.device(a), await pki.device(a), await pki.device(a)]);
      await register(t.gw, b, [await pki.device(b)]);
      await register(t.gw, c, []);
      const list = (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json() as { id: string; devices: number }[];
      expect(Object.fromEntries(list.map((x) => [x.id, x.devices]))).toEqual({ 'a.example': 3, 'b.example': 1, 'c.example': 0 });
      // the registration answer counts the same way
      expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(a.cert.bytes) })).body.devices).toBe(3);
    } finally {
      await t.stop();
    }
  });
});
