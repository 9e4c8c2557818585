// The LevelDB ledger's reads against a naive model of the log, at the storage layer's edges: segments of one
// bundle (256 entries, so blocks cross segment ends), device rows merged every few blocks (runs, D records and the
// in-memory overlay all in play, seqs that repeat and go back), time clusters cut by far-apart and out-of-order
// times, a reopen halfway. Every page of every paged query, walked with its own cursor, must list exactly the
// model's rows: no duplicate, no gap, at every page size. Proofs are compared with RFC 9162 §2.1.3.1 / §2.1.4.1
// computed straight from the leaves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, type EntryInput } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { decodeLogEntry, leafHash } from '../../protocol/log-entry.js';
import { splitPoint } from '../../protocol/merkle/hasher.js';
import { defaultMerkleHasher as H, verifyInclusion } from '../../protocol/merkle/index.js';
import { openCheckpoint, parseVerifierKey } from '../../protocol/checkpoint.js';
import { ORIGIN, signer } from './contract.js';
import { mulberry32 } from '../prng.js';

/** RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 SUBPROOF over leaf hashes, on ranges [b, e), memoized. */
export function referenceTree(leaves: readonly Uint8Array[]) {
  const memo = new Map<string, Uint8Array>();
  const mth = (b: number, e: number): Uint8Array => {
    if (e - b === 1) return leaves[b]!;
    const key = `${b}:${e}`;
    let h = memo.get(key);
    if (!h) {
      const k = splitPoint(e - b);
      memo.set(key, (h = H.hashChildren(mth(b, b + k), mth(b + k, e))));
    }
    return h;
  };
  const path = (m: number, b: number, e: number): Uint8Array[] => {
    if (e - b <= 1) return [];
    const k = splitPoint(e - b);
    return m < k ? [...path(m, b, b + k), mth(b + k, e)] : [...path(m - k, b + k, e), mth(b, b + k)];
  };
  const subproof = (m: number, b: number, e: number, flag: boolean): Uint8Array[] => {
    if (m === e - b) return flag ? [] : [mth(b, e)];
    const k = splitPoint(e - b);
    return m <= k ? [...subproof(m, b, b + k, flag), mth(b + k, e)] : [...subproof(m - k, b + k, e, false), mth(b, b + k)];
  };
  return {
    inclusion: (index: number, size: number) => path(index, 0, size),
    consistency: (size1: number, size2: number) => (size1 === 0 || size1 === size2 ? [] : subproof(size1, 0, size2, true)),
  };
}

interface Row { index: number; type: number; ms: number; deviceId?: string; seq?: number }

const DEVICES = ['dev-a', 'dev-b', 'dev-c'];
const rnd = mulberry32(20_240_611);
const pick = (n: number): number => Math.floor(rnd() * n);

/** The log as the model sees it, and the blocks to append. */
const rows: Row[] = [];
const blocks: EntryInput[][] = [];
{
  const nextSeq = new Map(DEVICES.map((d) => [d, 0]));
  let t = 1_000_000;
  for (let index = 0; index < 700; ) {
    const n = [1, 1, 2, 3, 17, 64, 255, 256, 257][pick(9)]!;
    const block: EntryInput[] = [];
    for (let i = 0; i < n && index < 700; i++, index++) {
      // Mostly a few ms apart; sometimes a jump past the time window (60 s), or back in time.
      const r = rnd();
      t += r < 0.05 ? 61_000 + pick(100_000) : r < 0.1 ? -pick(70_000) : pick(5);
      const ms = Math.max(0, t);
      if (rnd() < 0.1) {
        const type = 2 + pick(3);
        rows.push({ index, type, ms });
        block.push({ type: type as 2 | 3 | 4, payload: new Uint8Array([type, index & 0xff, index >> 8]), receivedAtMs: ms });
        continue;
      }
      const deviceId = DEVICES[pick(DEVICES.length)]!;
      // Mostly the next seq; sometimes a repeat or one that goes back (the later entry wins, as the index says).
      let seq = nextSeq.get(deviceId)! + 1;
      if (rnd() < 0.08) seq = Math.max(0, seq - 1 - pick(20));
      nextSeq.set(deviceId, Math.max(seq, nextSeq.get(deviceId)!));
      rows.push({ index, type: 1, ms, deviceId, seq });
      block.push({ type: 1, payload: new Uint8Array([1, index & 0xff, index >> 8]), certRef: new Uint8Array(32).fill(1), receivedAtMs: ms, deviceId, seq });
    }
    blocks.push(block);
  }
}
const N = rows.length;

/** Per device, the model's rows by seq (the last entry of a seq wins), ascending. */
function deviceRows(deviceId: string): Row[] {
  const bySeq = new Map<number, Row>();
  for (const r of rows) if (r.deviceId === deviceId) bySeq.set(r.seq!, r);
  return [...bySeq.values()].sort((a, b) => a.seq! - b.seq!);
}

let dir = '';
let ledger: Ledger;
let backend: LevelBackend;
let leaves: Uint8Array[] = [];
const sizes: number[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'op-ledger-diff-'));
  const open = async (first: boolean) => {
    backend = await LevelBackend.open(dir, { sync: false, deviceMerge: { rows: 40, blocks: 3 }, ...(first ? { segmentBundles: 1 } : {}) });
    return Ledger.open({ backend, origin: ORIGIN, signer });
  };
  ledger = await open(true);
  for (let b = 0; b < blocks.length; b++) {
    if (b === Math.floor(blocks.length / 2)) {
      await ledger.close();
      ledger = await open(false);
    }
    await ledger.appendBlock(blocks[b]!);
    sizes.push(ledger.size);
  }
  leaves = [];
  for (let i = 0; i < N; i++) leaves.push(leafHash((await ledger.getEntry(i))!));
}, 60_000);

afterAll(async () => {
  await ledger?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('LevelDB ledger against a naive model', () => {
  it('every entry reads back; the log verifies', async () => {
    expect(ledger.size).toBe(N);
    const got = await backend.getEntries(Array.from({ length: N + 2 }, (_, i) => N + 1 - i));
    for (let i = 0; i < N; i++) {
      const e = decodeLogEntry(got[N + 1 - i]!);
      expect([e.index, e.type, e.receivedAtMs]).toEqual([i, rows[i]!.type, rows[i]!.ms]);
    }
    expect(got.slice(0, 2)).toEqual([undefined, undefined]);
    expect(await ledger.getEntry(N)).toBeUndefined();
    // A (device, seq) logged twice keeps only its later entry in the device index: not every reading is in it.
    const report = await verifyLedger(backend, { workers: 0, readingsIndexed: false });
    expect(report.problem).toBeUndefined();
    expect(report).toMatchObject({ ok: true, entries: N });
  });

  it('device pages: every page size and time range, walked by `next`, are the model\'s rows once each', async () => {
    for (const deviceId of [...DEVICES, 'dev-none']) {
      const want = deviceRows(deviceId);
      for (const limit of [1, 2, 3, 7, 1000]) {
        for (const [fromMs, toMs] of [[undefined, undefined], [want[5]?.ms ?? 0, want[40]?.ms ?? 0]] as const) {
          for (const maxScan of [undefined, 5]) {
            const seqs: number[] = [];
            let after: number | undefined;
            for (let calls = 0; ; calls++) {
              expect(calls).toBeLessThan(N);
              const page = await ledger.devicePage(deviceId, { limit, ...(fromMs === undefined ? {} : { fromMs, toMs }), ...(maxScan ? { maxScan } : {}), ...(after === undefined ? {} : { after }) });
              for (const e of page.entries) {
                const d = decodeLogEntry(e.entry);
                expect([d.index, d.receivedAtMs]).toEqual([e.index, e.receivedAtMs]);
              }
              seqs.push(...page.entries.map((e) => e.seq!));
              if (page.next === undefined) break;
              after = page.next;
            }
            const inRange = want.filter((r) => fromMs === undefined || (r.ms >= fromMs && r.ms <= toMs!));
            expect(seqs).toEqual(inRange.map((r) => r.seq));
          }
        }
      }
      const byIndex = new Map(want.map((r) => [r.seq, r.index]));
      for (const r of want) expect((await ledger.findBySeq(deviceId, r.seq!))?.index).toBe(byIndex.get(r.seq));
      expect(await ledger.lastSeq(deviceId)).toBe(want[want.length - 1]?.seq);
      for (const n of [1, 5, 1000]) expect((await ledger.latestByDevice(deviceId, n)).map((e) => e.index)).toEqual(want.slice(-n).reverse().map((r) => r.index));
    }
  });

  it('time pages: every page size and range, walked by the last (receivedAtMs, index), are the model\'s entries once each', async () => {
    const times = rows.map((r) => r.ms).sort((a, b) => a - b);
    const ranges: [number, number][] = [[0, Number.MAX_SAFE_INTEGER], [times[0]!, times[0]!], [times[N - 1]!, times[N - 1]!]];
    for (let k = 0; k < 6; k++) {
      const a = times[pick(N)]!;
      const b = times[pick(N)]!;
      ranges.push([Math.min(a, b), Math.max(a, b)]);
    }
    for (const [fromMs, toMs] of ranges) {
      const want = rows.filter((r) => r.ms >= fromMs && r.ms <= toMs).sort((x, y) => x.ms - y.ms || x.index - y.index).map((r) => r.index);
      for (const limit of [1, 2, 3, 64, 65, 1000]) {
        const got: number[] = [];
        let after: { receivedAtMs: number; index: number } | undefined;
        for (;;) {
          const page = await ledger.entriesByTime({ fromMs, toMs, limit, ...(after ? { after } : {}) });
          got.push(...page.map((e) => e.index));
          if (page.length < limit) break;
          after = page[page.length - 1]!;
        }
        expect(got).toEqual(want);
      }
    }
  });

  it('type pages walked by afterIndex are the model\'s registry entries', async () => {
    for (const type of [2, 3, 4]) {
      const want = rows.filter((r) => r.type === type).map((r) => r.index);
      for (const limit of [1, 3, 1000]) {
        const got: number[] = [];
        let afterIndex: number | undefined;
        for (;;) {
          const page = await ledger.indexesByType(type, { limit, ...(afterIndex === undefined ? {} : { afterIndex }) });
          got.push(...page);
          if (page.length < limit) break;
          afterIndex = page[page.length - 1];
        }
        expect(got).toEqual(want);
      }
    }
  });

  it('inclusion proofs at every block size, and at sizes around tile ends, for every index, equal the RFC reference', async () => {
    const ref = referenceTree(leaves);
    const at = new Set([...sizes, 1, 2, 255, 256, 257, 511, 512, 513, N - 1, N]);
    for (const size of at) {
      for (let index = 0; index < size; index++) expect(await ledger.inclusionProof(index, size)).toEqual(ref.inclusion(index, size));
    }
  });

  it('consistency proofs between every pair of block sizes and sizes around tile ends equal the RFC reference', async () => {
    const ref = referenceTree(leaves);
    const at = [...new Set([...sizes, 1, 2, 3, 4, 255, 256, 257, 511, 512, 513, N - 1, N])].sort((a, b) => a - b);
    for (const s1 of [0, ...at]) for (const s2 of at) if (s1 <= s2) expect(await ledger.consistencyProof(s1, s2)).toEqual(ref.consistency(s1, s2));
    await expect(async () => ledger.consistencyProof(N, N - 1)).rejects.toMatchObject({ code: 'CONSISTENCY_INVALID' });
    await expect(async () => ledger.inclusionProof(N, N)).rejects.toMatchObject({ code: 'INCLUSION_INVALID' });
  });
});

describe('proofs across the first tile of tile level 1 (2^16 leaves) against the RFC reference', () => {
  it('inclusion and consistency at sizes around 2^8, 2^16 and the log size, through a reopen', async () => {
    const bigDir = await mkdtemp(join(tmpdir(), 'op-ledger-diff16-'));
    const open = async () => Ledger.open({ backend: await LevelBackend.open(bigDir, { sync: false }), origin: ORIGIN, signer });
    let big = await open();
    try {
      const total = 2 ** 16 + 300;
      const payload = (i: number) => new Uint8Array([i & 0xff, (i >> 8) & 0xff, i >> 16]);
      for (let first = 0, b = 0; first < total; b++) {
        if (b === 8) {
          await big.close();
          big = await open(); // the partial tiles of levels 0..2 are loaded from the store
        }
        // 4093 a block, so that block ends fall off every tile end; one block ends at exactly 2^16.
        const n = Math.min(total - first, first < 2 ** 16 && first + 4093 > 2 ** 16 ? 2 ** 16 - first : 4093);
        await big.appendBlock(Array.from({ length: n }, (_, i) => ({ type: 2, payload: payload(first + i), receivedAtMs: 1 })));
        first += n;
      }
      const bigLeaves: Uint8Array[] = [];
      for await (const [, run] of (big as unknown as { backend: LevelBackend }).backend.entriesFrom(0)) for (const e of run) bigLeaves.push(leafHash(e));
      expect(bigLeaves.length).toBe(total);
      const ref = referenceTree(bigLeaves);
      const sizes = [1, 255, 256, 257, 2 ** 16 - 257, 2 ** 16 - 256, 2 ** 16 - 1, 2 ** 16, 2 ** 16 + 1, 2 ** 16 + 256, total - 1, total];
      for (const size of sizes) {
        const indexes = new Set([0, 1, 255, 256, 2 ** 16 - 1, 2 ** 16, size - 1, size - 2, Math.floor(size / 2)].filter((i) => i >= 0 && i < size));
        for (const index of indexes) expect(await big.inclusionProof(index, size)).toEqual(ref.inclusion(index, size));
      }
      for (const s1 of sizes) for (const s2 of sizes) if (s1 <= s2) expect(await big.consistencyProof(s1, s2)).toEqual(ref.consistency(s1, s2));
    } finally {
      await big.close();
      await rm(bigDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('reads while blocks are appended', () => {
  it('every read answers from the committed log: all entries below the size before it, none at or past the size after it', async () => {
    const liveDir = await mkdtemp(join(tmpdir(), 'op-ledger-live-'));
    const live = await Ledger.open({
      backend: await LevelBackend.open(liveDir, { sync: false, segmentBundles: 1, deviceMerge: { rows: 50, blocks: 4 } }), origin: ORIGIN, signer,
    });
    let done = false;
    try {
      const ms = (i: number): number => 1_000 + i;
      const input = (i: number): EntryInput => (i % 11 === 5
        ? { type: 4, payload: new Uint8Array([4, i & 0xff, i >> 8]), receivedAtMs: ms(i) }
        : { type: 1, payload: new Uint8Array([1, i & 0xff, i >> 8]), certRef: new Uint8Array(32).fill(1), receivedAtMs: ms(i), deviceId: 'dev-a', seq: i });
      const total = 1_500;
      const writer = (async () => {
        // (its rejections, once the test failed and closed the ledger, are awaited below)
        for (let i = 0; i < total; ) {
          const n = 1 + (i % 37);
          // Several blocks in flight at once: the next is computed while the one before is written.
          await Promise.all(Array.from({ length: Math.min(n, total - i) }, (_, k) => live.submit(input(i + k))));
          i += n;
        }
        done = true;
      })();
      writer.catch(() => undefined);
      const readings = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, k) => lo + k).filter((i) => i % 11 !== 5);
      let rounds = 0;
      let proofs = 0;
      while (!done) {
        rounds++;
        const before = live.size;
        const byDevice = (await live.entriesByDevice('dev-a', { limit: 10_000, maxScan: 1e9 })).map((e) => e.index);
        const byTime = (await live.entriesByTime({ fromMs: 0, toMs: 1e9, limit: 10_000 })).map((e) => e.index);
        const revocations = await live.revocationLog();
        const latest = (await live.latestByDevice('dev-a', 3)).map((e) => e.index);
        const after = live.size;
        const all = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, k) => lo + k);
        for (const [got, want] of [[byDevice, readings], [byTime, all]] as const) {
          // A prefix of the log's (no gap, no duplicate), holding every entry committed before the reads began.
          expect(got.slice(0, want(0, before).length)).toEqual(want(0, before));
          expect(got.every((i) => i < after)).toBe(true);
          expect(got).toEqual(want(0, got.length === 0 ? 0 : got[got.length - 1]! + 1));
        }
        const revs = revocations.map((r) => r.index);
        expect(revs).toEqual(all(0, revs.length === 0 ? 0 : revs[revs.length - 1]! + 1).filter((i) => i % 11 === 5));
        expect(revs.every((i) => i < after)).toBe(true);
        expect(latest.every((i) => i < after)).toBe(true);
        expect(latest[0] ?? -1).toBeGreaterThanOrEqual(readings(0, before).pop() ?? -1);
        if (before > 0) {
          // A committed size is a block end: its checkpoint is there (the proof below was skipped when it was not).
          const note = await live.checkpoint(before);
          expect(note, `checkpoint at committed size ${before}`).toBeDefined();
          const cp = openCheckpoint(note!, [parseVerifierKey(live.verifierKey)], { origin: ORIGIN });
          expect(cp.size).toBe(before);
          const index = (rounds * 7919) % before;
          const leaf = leafHash((await live.getEntry(index))!);
          const proof = await live.inclusionProof(index, before);
          const ref = referenceTree(await Promise.all(Array.from({ length: before }, async (_, i) => leafHash((await live.getEntry(i))!))));
          expect(proof).toEqual(ref.inclusion(index, before));
          // the entry as read, proved to the signed root of its committed size (was: expect(leaf).toBeDefined())
          expect(() => verifyInclusion(index, before, leaf, proof, cp.root)).not.toThrow();
          proofs++;
        }
      }
      await writer;
      expect(rounds).toBeGreaterThan(1);
      expect(proofs).toBeGreaterThan(0);
      expect(live.size).toBe(total);
    } finally {
      done = true;
      await live.close();
      await rm(liveDir, { recursive: true, force: true });
    }
  }, 120_000);
});
