/**
 * GET /v1/entries pages by (receivedAtMs, index), but entries are logged in index order, not arrival order:
 * signatures are checked in parallel, so a reading that arrived earlier can be logged after one that arrived later.
 * Found by review: a client paging a range while devices published skipped every such reading for good (300-664 of
 * 2,000 in a burst). Now a time query lists entries only below the settled time (no reading that arrived before it
 * is still being checked, no entry before it still being written) and says `unsettledFromMs` when the range reaches
 * past it; a client continues from its last entry and misses nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunningGateway } from '../../gateway/gateway.js';
import { connectDevice, gatewayWithDevices, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';
import { HeldPool } from './held-pool.js';

type Page = { entries: { index: number; receivedAtMs: number }[]; next: string | null; unsettledFromMs?: number };

describe('a reading still being verified holds back the entries received after it', () => {
  let t: TestGateway;
  let gw: RunningGateway;
  let pool!: HeldPool;
  let a: Device;
  let b: Device;
  const get = async (url: string) => (await gw.app.inject({ method: 'GET', url })).json() as Page;

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 }, undefined, { verifyPool: (workers) => (pool = new HeldPool(workers)) });
    gw = t.gw;
    const agency = await pki.agency('psb.example');
    [a, b] = [await pki.device(agency), await pki.device(agency)];
    await register(gw, agency, [a, b]);
  }, 60_000);
  afterAll(() => t.stop());

  test('B, received after A, is logged first: it is not listed until A is decided; paging then gets both', async () => {
    const ta = Date.now();
    const [from, to] = [ta, ta + 3_600_000];
    pool.holding = true;
    const decidedA = gw.pipeline.process(a.id, await reading(a, 1), ta);
    while (pool.waiting === 0) await new Promise((r) => setTimeout(r, 5));
    pool.holding = false; // A's answer stays held; B's is not
    const decidedB = await gw.pipeline.process(b.id, await reading(b, 1), ta + 10);
    if (!decidedB.ok) throw new Error(`B: ${decidedB.error.code}`);

    const early = await get(`/v1/entries?fromMs=${from}&toMs=${to}&limit=1`);
    expect(early).toEqual({ entries: [], next: null, unsettledFromMs: ta });
    // a range that ends before A arrived is settled: nothing held back, no unsettledFromMs
    expect(await get(`/v1/entries?fromMs=0&toMs=${ta - 1}&limit=1000`)).not.toHaveProperty('unsettledFromMs');

    pool.release();
    const decidedA2 = await decidedA;
    if (!decidedA2.ok) throw new Error(`A: ${decidedA2.error.code}`);
    expect(decidedA2.receipt.index).toBeGreaterThan(decidedB.receipt.index); // logged after B
    const paged: number[] = [];
    let after: string | null = null;
    for (let i = 0; i < 4; i++) {
      const page: Page = await get(`/v1/entries?fromMs=${from}&toMs=${to}&limit=1${after ? `&after=${after}` : ''}`);
      paged.push(...page.entries.map((e) => e.index));
      after = page.next;
      if (!after) break;
    }
    expect(paged).toEqual([decidedA2.receipt.index, decidedB.receipt.index]); // by receivedAtMs: A first
  });
});

// A client tailing a range (pages of 1000, continuing from its last entry) while 20 devices each publish 100
// readings unpaced over MQTT: it must end with every entry of the range.
describe('tailing a time range during a burst', () => {
  let t: TestGateway;
  let devs: Device[];
  const get = async (url: string) => (await t.gw.app.inject({ method: 'GET', url })).json() as Page;
  beforeAll(async () => {
    const fx = await gatewayWithDevices(20, { blockMaxMs: 5, verifyWorkers: 2 });
    t = fx.t;
    devs = fx.devices;
  }, 60_000);
  afterAll(() => t.stop());

  test('misses no entry', async () => {
    const cs = await Promise.all(devs.map((d) => connectDevice(t.gw, d)));
    const from = Date.now();
    const to = from + 3_600_000;
    const seen = new Set<number>();
    let cursor: string | null = null;
    let bursting = true;
    let withheld = 0;
    const pageOnce = async (): Promise<Page> => {
      const asked = Date.now();
      const page = await get(`/v1/entries?fromMs=${from}&toMs=${to}&limit=1000${cursor ? `&after=${cursor}` : ''}`);
      for (const e of page.entries) seen.add(e.index);
      const last = page.entries[page.entries.length - 1];
      if (last) cursor = `${last.receivedAtMs}:${last.index}`;
      if (page.unsettledFromMs !== undefined && page.unsettledFromMs < asked) withheld++; // a reading from before the ask in flight
      return page;
    };
    const tail = (async () => {
      while (bursting) {
        await pageOnce();
        await new Promise((r) => setTimeout(r, 2));
      }
      while ((await pageOnce()).next !== null);
    })();
    await Promise.all(
      cs.map(async (c, k) => {
        const rs = [];
        for (let s = 1; s <= 100; s++) rs.push(await reading(devs[k]!, s));
        await Promise.all(rs.map((r) => c.publish(r)));
        for (let s = 1; s <= 100; s++) expect((await c.next()).kind).toBe('receipt');
      }),
    );
    bursting = false;
    await tail;
    await Promise.all(cs.map((c) => c.end()));
    const all: number[] = [];
    let after: string | null = null;
    do {
      const p: Page = await get(`/v1/entries?fromMs=${from}&toMs=${to}&limit=1000${after ? `&after=${after}` : ''}`);
      all.push(...p.entries.map((e) => e.index));
      after = p.next;
    } while (after);
    expect(all.length).toBe(2000);
    expect(all.filter((i) => !seen.has(i))).toEqual([]);
    expect(withheld).toBeGreaterThan(0); // the tail did run while readings were in flight
  }, 120_000);
});
