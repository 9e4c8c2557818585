/**
 * The gateway's clock never goes back (gateway/monotonic-clock.ts). A time query pages by (receivedAtMs, index); a
 * reading received after the wall clock was stepped back was dated before the entries a client had already paged
 * past, and the client never saw it (a gap found in the review of the settled-time fix). Now it is dated no earlier
 * than the latest time given, in a run and across a restart (the clock starts at the log's latest block time).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MonotonicClock } from '../../gateway/monotonic-clock.js';
import { connectDevice, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

describe('MonotonicClock', () => {
  test('gives the wall clock, or the latest time given while the wall clock is behind it', () => {
    const wall = [100, 200, 150, 199, 250, 250];
    const c = new MonotonicClock(() => wall.shift()!);
    expect([1, 2, 3, 4, 5, 6].map(() => c.now())).toEqual([100, 200, 200, 200, 250, 250]);
  });

  test('notBefore raises the floor, never lowers it', () => {
    let w = 1_000;
    const c = new MonotonicClock(() => w);
    c.notBefore(5_000);
    expect(c.now()).toBe(5_000);
    c.notBefore(10);
    w = 6_000;
    expect(c.now()).toBe(6_000);
  });

  test('a step back of more than a second is reported once per step', () => {
    const steps: number[] = [];
    const wall = [10_000, 9_500, 5_000, 6_000, 12_000, 8_000, 8_001];
    const c = new MonotonicClock(() => wall.shift()!, (behind) => steps.push(behind));
    for (let i = 0; i < 7; i++) c.now();
    expect(steps).toEqual([5_000, 4_000]); // 500 ms is jitter; the second step is reported again once caught up
  });
});

type Page = { entries: { index: number; receivedAtMs: number }[]; next: string | null; unsettledFromMs?: number };

describe('a client paging by time across a step back of the wall clock', () => {
  let t: TestGateway;
  let d: Device;
  let wall = Date.now();
  const get = async (url: string) => (await t.gw.app.inject({ method: 'GET', url })).json() as Page;
  /** Every entry from `after` on, in pages of one, as a tailing client reads them. */
  const pageFrom = async (after: string | null) => {
    const got: { index: number; receivedAtMs: number }[] = [];
    for (;;) {
      const p = await get(`/v1/entries?fromMs=0&toMs=${Number.MAX_SAFE_INTEGER}&limit=1${after ? `&after=${after}` : ''}`);
      got.push(...p.entries);
      const last = p.entries[p.entries.length - 1];
      if (last) after = `${last.receivedAtMs}:${last.index}`;
      if (p.next === null) return { got, after };
    }
  };
  const publishOne = async (seq: number) => {
    const c = await connectDevice(t.gw, d);
    await c.publish(await reading(d, seq));
    const a = await c.next();
    await c.end();
    if (a.kind !== 'receipt') throw new Error(`reading ${seq}: ${a.rejection.code}`);
    return a.receipt;
  };

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { blockMaxMs: 5 }, undefined, { now: () => wall });
    const agency = await pki.agency('psb.example');
    d = await pki.device(agency);
    await register(t.gw, agency, [d]);
  }, 60_000);
  afterAll(() => t.stop());

  test('a reading received after the step is dated no earlier than what was listed, and is paged to', async () => {
    await publishOne(1);
    wall += 1_000; // the entries so far are settled
    const first = await pageFrom(null);
    expect(first.got.length).toBeGreaterThan(0);
    const listedUpTo = first.got[first.got.length - 1]!.receivedAtMs;

    wall -= 60_000; // stepped back a minute
    const r2 = await publishOne(2);
    expect(r2.receivedAtMs).toBeGreaterThanOrEqual(listedUpTo);
    wall += 61_000; // caught up: the reading is settled
    const second = await pageFrom(first.after);
    expect(second.got.map((e) => e.index)).toEqual([r2.index]);
  }, 30_000);

  test('after a restart with the wall clock set back, new entries are dated no earlier than the log', async () => {
    const before = await pageFrom(null);
    const latest = Math.max(...before.got.map((e) => e.receivedAtMs));
    wall -= 60_000;
    await t.restart();
    const r3 = await publishOne(3);
    expect(r3.receivedAtMs).toBeGreaterThanOrEqual(latest);
    wall += 61_000;
    expect((await pageFrom(before.after)).got.map((e) => e.index)).toEqual([r3.index]);
  }, 30_000);
});
