// A device query reads a bounded number of index rows (ledger/queries.ts devicePage): the device index is in seq
// order, so rows outside [fromMs, toMs] are read and skipped; a call stops after `maxScan` rows and hands back the
// seq to continue from. Rows read are counted twice: by the query itself (`scanned`) and by a pass-through wrapper
// around the real LevelDB backend that counts the rows it yields.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceHit, LedgerBackend } from '../../ledger/backend.js';
import { Ledger, type EntryInput } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { DEVICE_SCAN_ROWS, type DeviceQuery } from '../../ledger/queries.js';
import { readU64, u64 } from '../../ledger/keys.js';
import { ORIGIN, signer } from './contract.js';

const DEVICE = 'dev-scan';
const ROWS = DEVICE_SCAN_ROWS + 500;
/** receivedAtMs of seq s (1-based): not monotone in seq, as a wall clock stepped back could make it. */
const msOf = (s: number): number => 1_000_000 + ((s * 7_919) % ROWS);
const rowOf = (s: number): EntryInput => ({
  type: 1, payload: new TextEncoder().encode(`r${s}`), certRef: new Uint8Array(32).fill(1), receivedAtMs: msOf(s), deviceId: DEVICE, seq: s,
});

/** The real backend, with the device rows it yields counted (everything else passes through untouched). */
function counting(inner: LedgerBackend): { backend: LedgerBackend; rows: () => number; reset: () => void } {
  let rows = 0;
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'deviceHits') {
        return async function* (deviceId: string, opts: Parameters<LedgerBackend['deviceHits']>[1]): AsyncIterable<DeviceHit> {
          for await (const h of target.deviceHits(deviceId, opts)) {
            rows++;
            yield h;
          }
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { backend, rows: () => rows, reset: () => { rows = 0; } };
}

let dir = '';
let ledger: Ledger;
let counter: ReturnType<typeof counting>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'op-ledger-scan-'));
  counter = counting(await LevelBackend.open(dir));
  ledger = await Ledger.open({ backend: counter.backend, origin: ORIGIN, signer });
  for (let s = 1; s <= ROWS; s += 1_000) {
    await ledger.appendBlock(Array.from({ length: Math.min(1_000, ROWS - s + 1) }, (_, i) => rowOf(s + i)));
  }
}, 60_000);

afterAll(async () => {
  await ledger?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Pages through a query with `after = next`; every call must read at most its budget. */
async function pageAll(q: DeviceQuery, budget: number): Promise<{ seqs: number[]; calls: number; scanned: number }> {
  const seqs: number[] = [];
  let after: number | undefined;
  let calls = 0;
  let scanned = 0;
  for (;;) {
    counter.reset();
    const page = await ledger.devicePage(DEVICE, { ...q, ...(after === undefined ? {} : { after }) });
    calls++;
    scanned += page.scanned;
    expect(page.scanned).toBe(counter.rows());
    expect(page.scanned).toBeLessThanOrEqual(budget);
    seqs.push(...page.entries.map((e) => e.seq!));
    for (const e of page.entries) expect(e.receivedAtMs).toBe(msOf(e.seq!));
    if (page.next === undefined) return { seqs, calls, scanned };
    expect(page.next).toBeGreaterThan(after ?? 0);
    after = page.next;
  }
}

const all = Array.from({ length: ROWS }, (_, i) => i + 1);

describe('device query scan budget', () => {
  it('an empty range reads at most the default budget per call and returns where it stopped', async () => {
    counter.reset();
    const first = await ledger.devicePage(DEVICE, { toMs: 0, limit: 1 });
    expect(first.entries).toEqual([]);
    expect(first.scanned).toBe(DEVICE_SCAN_ROWS);
    expect(counter.rows()).toBe(DEVICE_SCAN_ROWS);
    expect(first.next).toBe(DEVICE_SCAN_ROWS); // seqs are 1..ROWS: the last row read
    counter.reset();
    const rest = await ledger.devicePage(DEVICE, { toMs: 0, limit: 1, after: first.next! });
    expect(rest).toEqual({ entries: [], scanned: ROWS - DEVICE_SCAN_ROWS });
    expect(counter.rows()).toBe(ROWS - DEVICE_SCAN_ROWS);
    // entriesByDevice is the same bounded query
    counter.reset();
    expect(await ledger.entriesByDevice(DEVICE, { fromMs: 2_000_000 })).toEqual([]);
    expect(counter.rows()).toBe(DEVICE_SCAN_ROWS);
  });

  it('fromMs after toMs (a range holding no time) reads no row and has no next', async () => {
    counter.reset();
    expect(await ledger.devicePage(DEVICE, { fromMs: msOf(1) + 1, toMs: msOf(1), limit: 1 })).toEqual({ entries: [], scanned: 0 });
    expect(counter.rows()).toBe(0);
  });

  it('a range past every row, paged with a small budget, visits every row once and finds nothing', async () => {
    const r = await pageAll({ fromMs: msOf(1) + ROWS * 10, maxScan: 1_500, limit: 10 }, 1_500);
    expect(r.seqs).toEqual([]);
    expect(r.scanned).toBe(ROWS);
    // 7 budgets of 1,500 rows; the 7th ends on the last row but cannot know that, so an 8th call reads nothing
    expect(r.calls).toBe(ROWS / 1_500 + 1);
  });

  it('a narrow range over rows out of time order: the pages together are exactly the rows in range, in seq order', async () => {
    const fromMs = 1_000_000 + 3_000;
    const toMs = 1_000_000 + 3_040; // 41 ms: 41 rows, scattered over the seqs
    const want = all.filter((s) => msOf(s) >= fromMs && msOf(s) <= toMs);
    expect(want.length).toBe(41);
    const r = await pageAll({ fromMs, toMs, limit: 7, maxScan: 700 }, 700);
    expect(r.seqs).toEqual(want);
    // edges: a one-millisecond range holds one row; fromMs == toMs at a row's time finds it
    const one = all.find((s) => msOf(s) === fromMs)!;
    expect((await pageAll({ fromMs, toMs: fromMs, limit: 1 }, DEVICE_SCAN_ROWS)).seqs).toEqual([one]);
  });

  it('a full page stops at the limit with next = its last seq; without a range the budget never cuts a page short', async () => {
    counter.reset();
    const p = await ledger.devicePage(DEVICE, { limit: 5, after: 100 });
    expect(p.entries.map((e) => e.seq)).toEqual([101, 102, 103, 104, 105]);
    expect([p.next, p.scanned, counter.rows()]).toEqual([105, 5, 5]);
    // the budget is never below the limit
    const big = await ledger.devicePage(DEVICE, { limit: 2_000, maxScan: 10 });
    expect(big.entries.length).toBe(2_000);
    expect(big.next).toBe(2_000);
    const last = await ledger.devicePage(DEVICE, { after: ROWS - 3 });
    expect(last.entries.map((e) => e.seq)).toEqual([ROWS - 2, ROWS - 1, ROWS]);
    expect(last.next).toBeUndefined();
  });
});

describe('u64 key fields', () => {
  it('round-trip every non-negative safe integer and refuse anything that would wrap or truncate', () => {
    for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) expect(readU64(u64(n))).toBe(n);
    for (const n of [-1, 0.5, 2 ** 53, 2 ** 64, 1e300, Infinity, -Infinity, NaN]) expect(() => u64(n)).toThrow(RangeError);
  });
});
