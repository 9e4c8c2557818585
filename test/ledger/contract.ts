// The ledger contract: one suite, run against every storage backend (today LevelDB; PostgreSQL later).
import { afterEach, describe, expect, it } from 'vitest';
import type { LedgerBackend } from '../../ledger/backend.js';
import { Ledger, type EntryInput } from '../../ledger/ledger.js';
import { nodeNoteSigner } from '../../ledger/signer.js';
import { decodeBlockHeader, decodeProofBundle, encodeProofBundle, proofBundleFromJson, proofBundleToJson } from '../../protocol/bundle.js';
import { openCheckpoint, parseVerifierKey } from '../../protocol/checkpoint.js';
import { decodeLogEntry, leafHash } from '../../protocol/log-entry.js';
import { verifyConsistency, verifyInclusion } from '../../protocol/merkle/index.js';
import { sha256 } from '../../protocol/hash.js';
import { commitRevocations, revocationsOfCheckpoint } from '../../protocol/revocation-log.js';

export interface BackendFactory {
  /** A fresh, empty store; `reopen` opens the same store again after close. */
  create(): Promise<{ backend: LedgerBackend; reopen: () => Promise<LedgerBackend>; cleanup: () => Promise<void> }>;
}

export const ORIGIN = 'test.originproof/log';
export const signer = nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(3));
export const reading = (i: number, deviceId = 'dev-a'): EntryInput => ({
  type: 1, payload: new TextEncoder().encode(`reading ${i}`), certRef: new Uint8Array(32).fill(1), receivedAtMs: 1_000 + i, deviceId, seq: i,
});

export const revocation = (i: number): EntryInput => ({
  type: 4, payload: new TextEncoder().encode(`revocation ${i}`), certRef: new Uint8Array(32).fill(2), receivedAtMs: 1_000 + i,
});

export function ledgerContract(name: string, factory: BackendFactory): void {
  describe(`ledger contract: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
    });
    async function fresh(opts: { blockMaxEntries?: number; blockMaxDelayMs?: number } = {}) {
      const s = await factory.create();
      cleanups.push(s.cleanup);
      const open = async (backend: LedgerBackend) => Ledger.open({ backend, origin: ORIGIN, signer, ...opts });
      return { ledger: await open(s.backend), reopen: async () => open(await s.reopen()) };
    }

    it('submit resolves after the block is sealed, with a verifiable receipt', async () => {
      const { ledger } = await fresh({ blockMaxEntries: 4, blockMaxDelayMs: 20 });
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => ledger.submit(reading(i))));
      expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(results.map((r) => r.blockHeight)).toEqual([0, 0, 0, 0, 1, 1]);
      const key = parseVerifierKey(ledger.verifierKey);
      for (const r of results) {
        const cp = openCheckpoint(r.checkpoint, [key], { origin: ORIGIN });
        const entry = (await ledger.getEntry(r.index))!;
        expect(leafHash(entry)).toEqual(r.leafHash);
        verifyInclusion(r.index, cp.size, r.leafHash, await ledger.inclusionProof(r.index, cp.size), cp.root);
      }
      expect(ledger.size).toBe(6);
      await ledger.close();
    });

    it('submitWith answers each entry once, after its block is durable (onBlock first), and never synchronously', async () => {
      const s = await factory.create();
      cleanups.push(s.cleanup);
      const blocks: { height: number; treeSize: number; entries: number }[] = [];
      const ledger = await Ledger.open({ backend: s.backend, origin: ORIGIN, signer, blockMaxEntries: 3, blockMaxDelayMs: 20, onBlock: (b) => blocks.push(b) });
      const answers: { i: number; index?: number; blocksSeen: number; err?: unknown }[] = [];
      let sync = true;
      const all = new Promise<void>((resolve) => {
        for (const i of [0, 1, 2, 3]) {
          ledger.submitWith(reading(i), (err, r) => {
            expect(sync).toBe(false);
            answers.push({ i, index: r?.index, blocksSeen: blocks.length, err });
            if (answers.length === 4) resolve();
          });
        }
      });
      sync = false;
      await all;
      expect(answers.map((a) => [a.i, a.index, a.err])).toEqual([0, 1, 2, 3].map((i) => [i, i, undefined]));
      expect(blocks).toEqual([{ height: 0, treeSize: 3, entries: 3 }, { height: 1, treeSize: 4, entries: 1 }]);
      // An entry is answered only once its block was reported durable.
      expect(answers.map((a) => a.blocksSeen)).toEqual([1, 1, 1, 2]);
      await ledger.close();
      const closed = await new Promise<unknown>((resolve) => {
        let answered = false;
        ledger.submitWith(reading(9), (err) => {
          answered = true;
          resolve(err);
        });
        expect(answered).toBe(false);
      });
      expect((closed as { code?: string }).code).toBe('UNAVAILABLE');
      // appendBlock answers the same way: a rejected promise, never a throw at the call.
      let pending: Promise<unknown> | undefined;
      expect(() => (pending = ledger.appendBlock([reading(10)]))).not.toThrow();
      await expect(pending).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    });

    it('blocks are hash-linked; consistency between every pair of checkpoints', async () => {
      const { ledger } = await fresh();
      const key = parseVerifierKey(ledger.verifierKey);
      for (let b = 0; b < 6; b++) await ledger.appendBlock(Array.from({ length: b * 3 + 1 }, (_, i) => reading(b * 100 + i)));
      const cps = [];
      let prev = new Uint8Array(32);
      for (let h = 0; h < 6; h++) {
        const bytes = (await ledger.blockHeaderBytes(h))!;
        const hd = decodeBlockHeader(bytes);
        expect(hd.height).toBe(h);
        expect(hd.prevHash).toEqual(prev);
        prev = new Uint8Array(sha256(bytes));
        const cp = openCheckpoint((await ledger.checkpoint(hd.treeSize))!, [key]);
        expect(cp.root).toEqual(hd.root);
        cps.push(cp);
      }
      for (const a of cps) for (const b of cps) if (a.size <= b.size) verifyConsistency(a.size, b.size, await ledger.consistencyProof(a.size, b.size), a.root, b.root);
      expect((await ledger.blockForIndex(0))!.height).toBe(0);
      expect((await ledger.blockForIndex(5))!.height).toBe(2);
      expect(await ledger.blockForIndex(999)).toBeUndefined();
      await ledger.close();
    });

    it('indexes: device/seq, last seq, time range, registry types', async () => {
      const { ledger } = await fresh();
      await ledger.appendBlock([reading(1), reading(2, 'dev-b'), reading(3), { type: 3, payload: new Uint8Array([9]), receivedAtMs: 1_002 }, reading(7)]);
      expect(await ledger.lastSeq('dev-a')).toBe(7);
      expect(await ledger.lastSeq('dev-zz')).toBeUndefined();
      expect((await ledger.findBySeq('dev-b', 2))!.index).toBe(1);
      expect(await ledger.findBySeq('dev-b', 3)).toBeUndefined();
      expect((await ledger.entriesByDevice('dev-a')).map((e) => e.seq)).toEqual([1, 3, 7]);
      expect((await ledger.entriesByDevice('dev-a', { after: 1, limit: 1 })).map((e) => e.seq)).toEqual([3]);
      expect((await ledger.entriesByDevice('dev-a', { fromMs: 1_002, toMs: 1_006 })).map((e) => e.seq)).toEqual([3]);
      expect((await ledger.latestByDevice('dev-a', 2)).map((e) => [e.seq, e.index])).toEqual([[7, 4], [3, 2]]);
      expect((await ledger.latestByDevice('dev-b')).map((e) => decodeLogEntry(e.entry).index)).toEqual([1]);
      expect(await ledger.latestByDevice('dev-zz')).toEqual([]);
      const t = await ledger.entriesByTime({ fromMs: 1_002, toMs: 1_003 });
      expect(t.map((e) => e.index)).toEqual([1, 3, 2]);
      expect((await ledger.entriesByTime({ fromMs: 0, toMs: 5_000, after: t[0]!, limit: 1 })).map((e) => e.index)).toEqual([3]);
      expect(await ledger.indexesByType(3)).toEqual([3]);
      expect(decodeLogEntry((await ledger.findBySeq('dev-a', 7))!.entry).index).toBe(4);
      await ledger.close();
    });

    it('backend range queries: limit 0 yields nothing, limit 1 one (never a crash; the ledger clamps, a direct caller may not)', async () => {
      const s = await factory.create();
      cleanups.push(s.cleanup);
      const ledger = await Ledger.open({ backend: s.backend, origin: ORIGIN, signer });
      await ledger.appendBlock([reading(1), reading(2), { type: 3, payload: new Uint8Array([9]), receivedAtMs: 1_002 }, reading(3)]);
      const all = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
        const out: T[] = [];
        for await (const x of it) out.push(x);
        return out;
      };
      for (const limit of [0, 1]) {
        expect((await all(s.backend.deviceHits('dev-a', { limit }))).length).toBe(limit);
        expect((await all(s.backend.deviceHits('dev-a', { limit, reverse: true }))).length).toBe(limit);
        expect((await all(s.backend.timeHits(0, 5_000, { limit }))).length).toBe(limit);
        expect((await all(s.backend.typeHits(3, { limit }))).length).toBe(limit);
      }
      await ledger.close();
    });

    it('time index: out-of-order and far-apart times, paging, equals a naive filter', async () => {
      const { ledger } = await fresh();
      // Times jump around within and across blocks, some hours apart (several clusters per block).
      let x = 7;
      const rand = (): number => (x = (x * 1103515245 + 12345) % 2 ** 31) % 1000;
      const times: number[] = [];
      for (let b = 0; b < 6; b++) {
        const block = Array.from({ length: 40 }, (_, i) => {
          const t = 1_000_000 + (rand() % 3 === 0 ? rand() * 3_600_000 : b * 10_000 + rand());
          times.push(t);
          return { ...reading(b * 40 + i), receivedAtMs: t };
        });
        await ledger.appendBlock(block);
      }
      const naive = (from: number, to: number) => times.map((t, index) => ({ t, index })).filter((h) => h.t >= from && h.t <= to)
        .sort((a, b) => a.t - b.t || a.index - b.index).map((h) => h.index);
      for (const [from, to] of [[0, 4e9], [1_000_000, 1_030_000], [1_020_500, 1_020_900], [1_000_000 + 500 * 3_600_000, 4e9], [5, 6]] as const) {
        const want = naive(from, to);
        expect((await ledger.entriesByTime({ fromMs: from, toMs: to, limit: 10_000 })).map((e) => e.index)).toEqual(want);
        // page through 7 at a time with the cursor
        const got: number[] = [];
        let after: { receivedAtMs: number; index: number } | undefined;
        for (;;) {
          const page = await ledger.entriesByTime({ fromMs: from, toMs: to, limit: 7, ...(after ? { after } : {}) });
          if (page.length === 0) break;
          got.push(...page.map((e) => e.index));
          after = page[page.length - 1]!;
        }
        expect(got).toEqual(want);
      }
      const e = (await ledger.entriesByTime({ fromMs: times[5]!, toMs: times[5]!, limit: 1 }))[0]!;
      expect(e.receivedAtMs).toBe(times[5]);
      expect(decodeLogEntry(e.entry).receivedAtMs).toBe(times[5]);
      await ledger.close();
    });

    it('reopen recovers size, frontier, tiles and chain from the state record', async () => {
      const { ledger, reopen } = await fresh();
      for (let b = 0; b < 3; b++) await ledger.appendBlock(Array.from({ length: 300 }, (_, i) => reading(b * 300 + i)));
      const root1 = openCheckpoint(ledger.latestCheckpoint!, [parseVerifierKey(ledger.verifierKey)]).root;
      await ledger.close();
      const again = await reopen();
      expect(again.size).toBe(900);
      expect(again.height).toBe(2);
      await again.appendBlock(Array.from({ length: 333 }, (_, i) => reading(900 + i)));
      const cp = openCheckpoint(again.latestCheckpoint!, [parseVerifierKey(again.verifierKey)]);
      verifyConsistency(900, 1233, await again.consistencyProof(900), root1, cp.root);
      for (const i of [0, 255, 256, 899, 900, 1232]) {
        verifyInclusion(i, 1233, leafHash((await again.getEntry(i))!), await again.inclusionProof(i), cp.root);
      }
      expect(decodeBlockHeader((await again.blockHeaderBytes(3))!).prevHash).toEqual(sha256((await again.blockHeaderBytes(2))!));
      await again.close();
    });

    it('connect token iats: set per device, a later write replaces the row, durable across reopen, apart from the log', async () => {
      const s = await factory.create();
      cleanups.push(s.cleanup);
      const rows = async (b: LedgerBackend) => {
        const out: [string, number][] = [];
        for await (const r of b.tokenIats()) out.push(r);
        return out.sort((x, y) => (x[0] < y[0] ? -1 : 1));
      };
      expect(await rows(s.backend)).toEqual([]);
      await s.backend.writeTokenIats([['dev-a', 1_700_000_000], ['dev-b', 1_700_000_005]]);
      await s.backend.writeTokenIats([['dev-a', 1_700_000_010]]);
      await s.backend.writeTokenIats([]);
      expect(await rows(s.backend)).toEqual([['dev-a', 1_700_000_010], ['dev-b', 1_700_000_005]]);
      const ledger = await Ledger.open({ backend: s.backend, origin: ORIGIN, signer });
      await ledger.appendBlock([reading(0, 'dev-a')]);
      await ledger.close();
      const again = await s.reopen();
      expect(await rows(again)).toEqual([['dev-a', 1_700_000_010], ['dev-b', 1_700_000_005]]);
      const reopened = await Ledger.open({ backend: again, origin: ORIGIN, signer });
      expect(reopened.size).toBe(1); // the rows are no entries
      expect(await reopened.lastSeq('dev-a')).toBe(0);
      await reopened.close();
    });

    it('every entry reads back, whatever the block sizes (bundles filled by many blocks)', async () => {
      const { ledger, reopen } = await fresh();
      const sizes = [1, 2, 3, 250, 1, 7, 300, 255, 1, 1, 400, 1];
      let next = 0;
      for (const n of sizes) {
        await ledger.appendBlock(Array.from({ length: n }, (_, i) => reading(next + i, `dev-${(next + i) % 3}`)));
        next += n;
      }
      const check = async (l: Ledger) => {
        for (let i = 0; i < next; i++) expect(decodeLogEntry((await l.getEntry(i))!).index).toBe(i);
        expect(await l.getEntry(next)).toBeUndefined();
        // many entries of several bundles in one read
        const found = await l.entriesByDevice('dev-1', { limit: 10_000 });
        expect(found.map((e) => decodeLogEntry(e.entry).index)).toEqual(found.map((e) => e.index));
        expect(found.length).toBe(Math.floor((next + 1) / 3));
      };
      await check(ledger);
      await ledger.close();
      const again = await reopen();
      await check(again);
      await again.close();
    });

    it('proof bundle: CBOR and JSON views round-trip and verify', async () => {
      const { ledger } = await fresh();
      await ledger.appendBlock(Array.from({ length: 10 }, (_, i) => reading(i)));
      await ledger.appendBlock(Array.from({ length: 5 }, (_, i) => reading(10 + i)));
      const b = await ledger.proofBundle(12, { certificates: [new Uint8Array([1, 2])] });
      // compare through the JSON view (cbor-x caches a DataView on decoded inputs, which deep equality sees)
      const json = proofBundleToJson(b);
      expect(proofBundleToJson(decodeProofBundle(encodeProofBundle(b)))).toEqual(json);
      expect(proofBundleToJson(proofBundleFromJson(JSON.parse(JSON.stringify(json))))).toEqual(json);
      expect(json.certificates).toEqual(['AQI=']);
      const cp = openCheckpoint(b.checkpoint, [parseVerifierKey(ledger.verifierKey)]);
      expect(cp.size).toBe(15);
      verifyInclusion(b.index, b.treeSize, leafHash(b.entry), b.inclusionProof, cp.root);
      expect(decodeBlockHeader(b.blockHeader).root).toEqual(cp.root);
      const old = await ledger.proofBundle(3, { treeSize: 15 });
      expect(old.treeSize).toBe(15);
      expect(decodeBlockHeader(old.blockHeader).height).toBe(0);
      await ledger.close();
    });

    it('a failed block write rejects its submitters and leaves no trace', async () => {
      const { ledger } = await fresh();
      await ledger.appendBlock([reading(0)]);
      const backend = (ledger as unknown as { backend: LedgerBackend }).backend;
      const orig = backend.writeBlock.bind(backend);
      backend.writeBlock = () => Promise.reject(new Error('disk full'));
      await expect(ledger.appendBlock([reading(1), reading(2)])).rejects.toThrow('disk full');
      backend.writeBlock = orig;
      const [r] = await ledger.appendBlock([reading(3)]);
      expect(r!.index).toBe(1);
      expect(r!.blockHeight).toBe(1);
      await ledger.close();
    });

    it('every checkpoint commits to the revocation entries below its size; the commitment survives reopen and a failed write', async () => {
      const { ledger, reopen } = await fresh();
      const key = parseVerifierKey(ledger.verifierKey);
      expect(revocationsOfCheckpoint(openCheckpoint((await ledger.appendBlock([reading(0)]))[0]!.checkpoint, [key]).extensions)).toEqual(commitRevocations([]));
      await ledger.appendBlock([revocation(1), reading(2), revocation(3)]);
      const backend = (ledger as unknown as { backend: LedgerBackend }).backend;
      const orig = backend.writeBlock.bind(backend);
      backend.writeBlock = () => Promise.reject(new Error('disk full'));
      await expect(ledger.appendBlock([revocation(4)])).rejects.toThrow('disk full'); // its revocation must not count
      backend.writeBlock = orig;
      await ledger.close();
      const ledger2 = await reopen();
      const committed = async (size: number) => revocationsOfCheckpoint(openCheckpoint((await ledger2.checkpoint(size))!, [key]).extensions);
      await ledger2.appendBlock([reading(4), revocation(5)]);
      const log = await ledger2.revocationLog();
      expect(log.map((r) => r.index)).toEqual([1, 3, 5]);
      expect(new TextDecoder().decode(log[2]!.statement)).toBe('revocation 5');
      expect(await committed(6)).toEqual(commitRevocations(log));
      expect(await committed(4)).toEqual(commitRevocations(log.slice(0, 2)));
      expect(await ledger2.revocationLog(4)).toEqual(log.slice(0, 2));
      expect(await ledger2.revocationLog(1)).toEqual([]);
      // read again after growth: the entries already read are kept, only the new ones are read
      await ledger2.appendBlock([revocation(6), reading(7)]);
      const grown = await ledger2.revocationLog();
      expect(grown.map((r) => r.index)).toEqual([1, 3, 5, 6]);
      expect(await committed(8)).toEqual(commitRevocations(grown));
      expect(await ledger2.revocationLog(6)).toEqual(log);
      // pages of a checkpoint's list: `after` an index, at most `limit`, `next` while more follow
      expect(await ledger2.revocationPage(8, { limit: 3 })).toEqual({ count: 4, revocations: grown.slice(0, 3), next: 5 });
      expect(await ledger2.revocationPage(8, { after: 5, limit: 3 })).toEqual({ count: 4, revocations: grown.slice(3) });
      expect(await ledger2.revocationPage(8, { after: 2 })).toEqual({ count: 4, revocations: grown.slice(1) });
      expect(await ledger2.revocationPage(6, { after: 4, limit: 1 })).toEqual({ count: 3, revocations: [log[2]] });
      // below a smaller tree size than the list kept: only its entries, and nothing after its end
      expect(await ledger2.revocationPage(6, { limit: 2 })).toEqual({ count: 3, revocations: log.slice(0, 2), next: 3 });
      expect(await ledger2.revocationPage(4, { after: 5 })).toEqual({ count: 2, revocations: [] });
      // what callers get are copies: changing one changes no later answer
      (await ledger2.revocationLog()).pop();
      (await ledger2.revocationPage(8)).revocations.pop();
      expect(await ledger2.revocationLog()).toEqual(grown);
      const listing = await ledger2.revocationListing({ treeSize: 6, after: 1, limit: 1 });
      expect(listing).toMatchObject({ treeSize: 6, checkpoint: await ledger2.checkpoint(6), count: 3, revocations: [log[1]], next: 3 });
      expect(await ledger2.revocationListing({ treeSize: 5 })).toBeUndefined(); // no block ended at 5
      expect(await ledger2.revocationListing({ treeSize: 9 })).toBeUndefined(); // past the log
      expect(await ledger2.revocationListing()).toMatchObject({ treeSize: 8, count: 4, revocations: grown });
      await ledger2.close();
    });
  });
}
