/**
 * The client side of GET /v1/revocations (protocol/revocation-listing.ts): a page read for its shape, and pages
 * gathered into one list of one checkpoint. The pages come from an in-memory server written here the way the
 * route answers (ledger revocationPage: entries after `after`, at most `limit`, `next` = the page's last index when
 * more follow), and from hostile variants of it: a client must neither loop nor stitch a list from two checkpoints.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toBase64 } from '../../protocol/bytes.js';
import { collectRevocationListing, parseRevocationListing, revocationListingPath, type RevocationListingQuery } from '../../protocol/revocation-listing.js';
import type { LoggedRevocation } from '../../protocol/revocation-log.js';
import { codeOf, codeOfSync } from './fixtures.js';

interface Served {
  treeSize: number;
  checkpoint: string | null;
  list: LoggedRevocation[];
  limit: number;
}

/** A page as the route answers it. */
function page(s: Served, q: RevocationListingQuery): Record<string, unknown> {
  const rest = s.list.filter((r) => q.after === undefined || r.index > q.after);
  const shown = rest.slice(0, s.limit);
  return {
    origin: 'test.example/log',
    treeSize: s.treeSize,
    checkpoint: s.checkpoint,
    count: s.list.length,
    revocations: shown.map((r) => ({ index: r.index, revocation: toBase64(r.statement) })),
    next: rest.length > shown.length ? shown[shown.length - 1]!.index : null,
  };
}

const entries = (indexes: number[]): LoggedRevocation[] => indexes.map((i) => ({ index: i, statement: new Uint8Array([i & 0xff, 7]) }));

describe('parseRevocationListing (one page, read for its shape)', () => {
  it('reads a page, a page without checkpoint, and a gateway from before pagination (no count, no next: one whole page)', () => {
    expect(parseRevocationListing({ treeSize: 5, checkpoint: 'cp', count: 3, revocations: [{ index: 2, revocation: 'AQID' }], next: 2 }))
      .toEqual({ treeSize: 5, checkpoint: 'cp', count: 3, revocations: [{ index: 2, statement: new Uint8Array([1, 2, 3]) }], next: 2 });
    expect(parseRevocationListing({ treeSize: 0, checkpoint: null, count: 0, revocations: [], next: null }).checkpoint).toBeNull();
    expect(parseRevocationListing({ treeSize: 5, checkpoint: 'cp', revocations: [{ index: 2, revocation: 'AQID' }] })).toMatchObject({ count: 1, next: null });
    // an agency's revocation with the certificate it names (not committed to: the verifier checks it)
    expect(parseRevocationListing({ treeSize: 5, checkpoint: 'cp', revocations: [{ index: 2, revocation: 'AQID', certificate: 'BAU=' }] }).revocations)
      .toEqual([{ index: 2, statement: new Uint8Array([1, 2, 3]), certificate: new Uint8Array([4, 5]) }]);
    // a device's keyCompromise with the certificate it names and its agency's
    expect(parseRevocationListing({ treeSize: 5, checkpoint: 'cp', revocations: [{ index: 2, revocation: 'AQID', certificate: 'BAU=', issuer: 'Bg==' }] }).revocations)
      .toEqual([{ index: 2, statement: new Uint8Array([1, 2, 3]), certificate: new Uint8Array([4, 5]), issuer: new Uint8Array([6]) }]);
  });
  it.each([
    ['an array (the shape before the checkpoint)', []],
    ['no tree size', { checkpoint: null, revocations: [] }],
    ['a checkpoint that is no text', { treeSize: 1, checkpoint: 3, revocations: [] }],
    ['an index that is no log index', { treeSize: 1, checkpoint: null, revocations: [{ index: -1, revocation: 'AQID' }] }],
    ['bytes that are not base64', { treeSize: 1, checkpoint: null, revocations: [{ index: 0, revocation: '!!' }] }],
    ['a certificate that is not base64', { treeSize: 1, checkpoint: null, revocations: [{ index: 0, revocation: 'AQID', certificate: '!!' }] }],
    ['a certificate that is no text', { treeSize: 1, checkpoint: null, revocations: [{ index: 0, revocation: 'AQID', certificate: 3 }] }],
    ['an issuer certificate that is not base64', { treeSize: 1, checkpoint: null, revocations: [{ index: 0, revocation: 'AQID', certificate: 'BAU=', issuer: '!!' }] }],
    ['an issuer certificate that is no text', { treeSize: 1, checkpoint: null, revocations: [{ index: 0, revocation: 'AQID', certificate: 'BAU=', issuer: [6] }] }],
    ['bytes that are no text', { treeSize: 1, checkpoint: null, revocations: [{ index: 0, revocation: 7 }] }],
    ['a count that is no whole number', { treeSize: 1, checkpoint: null, count: 1.5, revocations: [] }],
    ['a next that is no log index', { treeSize: 1, checkpoint: null, count: 0, revocations: [], next: '3' }],
    ['null', null],
  ])('%s is MALFORMED', (_, body) => {
    expect(codeOfSync(() => parseRevocationListing(body))).toBe('MALFORMED');
  });
});

describe('collectRevocationListing (every page of one checkpoint)', () => {
  it('gathers every page, asking for the rest at the first page\'s tree size; from `after` on only what follows', async () => {
    const s: Served = { treeSize: 40, checkpoint: 'cp40', list: entries([1, 4, 9, 16, 25, 36]), limit: 2 };
    const asked: RevocationListingQuery[] = [];
    const got = await collectRevocationListing(async (q) => (asked.push(q), page(s, q)));
    expect(got).toEqual({ treeSize: 40, checkpoint: 'cp40', count: 6, revocations: s.list, next: null });
    expect(asked).toEqual([{}, { treeSize: 40, after: 4 }, { treeSize: 40, after: 16 }]);
    expect((await collectRevocationListing(async (q) => page(s, q), { after: 9 })).revocations).toEqual(s.list.slice(3));
    expect((await collectRevocationListing(async (q) => page(s, q), { after: 36 })).revocations).toEqual([]);
  });

  it('a first page parsed already by the caller is not asked for again; the rest are judged against it', async () => {
    const s: Served = { treeSize: 40, checkpoint: 'cp40', list: entries([1, 4, 9, 16, 25, 36]), limit: 2 };
    const first = parseRevocationListing(page(s, {}));
    const asked: RevocationListingQuery[] = [];
    const got = await collectRevocationListing(async (q) => (asked.push(q), page(s, q)), {}, Number.POSITIVE_INFINITY, first);
    expect(got).toEqual({ treeSize: 40, checkpoint: 'cp40', count: 6, revocations: s.list, next: null });
    expect(asked).toEqual([{ treeSize: 40, after: 4 }, { treeSize: 40, after: 16 }]);
    // a later page of another checkpoint than the given first one is still MALFORMED
    const other = { ...first, checkpoint: 'cp41' };
    expect(await codeOf(() => collectRevocationListing(async (q) => page(s, q), {}, Number.POSITIVE_INFINITY, other))).toBe('MALFORMED');
  });

  it('property: for any list, page size and cursor, the pages gather to the entries after the cursor, in log order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.nat({ max: 500 }), { maxLength: 40 }), fc.integer({ min: 1, max: 7 }), fc.option(fc.nat({ max: 520 }), { nil: undefined }),
        async (indexes, limit, after) => {
          const s: Served = { treeSize: 501, checkpoint: 'cp', list: entries(indexes.sort((a, b) => a - b)), limit };
          const got = await collectRevocationListing(async (q) => page(s, q), after === undefined ? {} : { after });
          expect(got.revocations).toEqual(s.list.filter((r) => after === undefined || r.index > after));
          expect(got.count).toBe(indexes.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  const s: Served = { treeSize: 40, checkpoint: 'cp40', list: entries([1, 4, 9, 16, 25, 36]), limit: 2 };
  it.each<[string, (q: RevocationListingQuery) => unknown]>([
    ['a page that repeats itself (next never moves on)', (q) => page(s, { ...q, after: undefined })],
    ['a page whose next is not its last index', (q) => ({ ...page(s, q), next: 0 })],
    ['a later page of another checkpoint', (q) => (q.after === undefined ? page(s, q) : page({ ...s, checkpoint: 'cp41', treeSize: 41 }, q))],
    ['a later page with another count', (q) => (q.after === undefined ? page(s, q) : { ...page(s, q), count: 7 })],
    ['pages that hold more than the count', (q) => ({ ...page(s, q), count: 3 })],
    ['an entry at or past the tree size', (q) => page({ ...s, list: entries([1, 4, 9, 16, 25, 40]) }, q)],
    ['next on an empty page', (q) => ({ ...page(s, q), revocations: [], next: 4 })],
    ['a page answering a tree size not asked for', (q) => ({ ...page(s, q), treeSize: q.treeSize === undefined ? 40 : 39 })],
    // each below breaks one comparison alone, the count kept (hand mutation round: `index <= after` and `next !== last`)
    ['an entry repeated within a page (the count holding it)', (q) => page({ ...s, list: entries([1, 4, 4, 9]), limit: 10 }, q)],
    ['a page whose next is past its last index', (q) => { const p = page(s, q) as { next: number | null }; return { ...p, next: p.next === null ? null : p.next + 1 }; }],
    ['a later page of another checkpoint at the same tree size', (q) => (q.after === undefined ? page(s, q) : page({ ...s, checkpoint: 'cp40-fork' }, q))],
  ])('%s: MALFORMED', async (_, serve) => {
    expect(await codeOf(() => collectRevocationListing(async (q) => serve(q)))).toBe('MALFORMED');
  });

  it('the path of a page carries only the parameters given', () => {
    expect([revocationListingPath({}), revocationListingPath({ after: 4 }), revocationListingPath({ treeSize: 40, after: 4 })])
      .toEqual(['v1/revocations', 'v1/revocations?after=4', 'v1/revocations?treeSize=40&after=4']);
  });

  it('a first page of another tree size than asked for: MALFORMED', async () => {
    expect(await codeOf(() => collectRevocationListing(async (q) => page(s, q), { treeSize: 39 }))).toBe('MALFORMED');
  });

  it('most (known from a verified checkpoint): pages holding more are MALFORMED as soon as they do', async () => {
    // One-entry pages under a count the gateway chose went on as long as it liked (all.length never passed it).
    const asked: RevocationListingQuery[] = [];
    const lying = (q: RevocationListingQuery) => (asked.push(q), { ...page({ ...s, limit: 1 }, q), count: 1_000_000 });
    expect(await codeOf(() => collectRevocationListing(async (q) => lying(q), {}, 2))).toBe('MALFORMED');
    expect(asked).toEqual([{}, { treeSize: 40, after: 1 }, { treeSize: 40, after: 4 }]);
    expect(await collectRevocationListing(async (q) => lying(q))).toMatchObject({ count: 1_000_000, revocations: s.list });
    expect((await collectRevocationListing(async (q) => page(s, q), { after: 9 }, 3)).revocations).toEqual(s.list.slice(3));
    expect(await codeOf(() => collectRevocationListing(async (q) => page(s, q), { after: 9 }, 2))).toBe('MALFORMED');
  });
});
