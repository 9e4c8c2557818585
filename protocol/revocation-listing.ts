/**
 * The client side of GET /v1/revocations: one page read for its shape, and the pages of one checkpoint gathered into
 * one list. Nothing here is trusted: openRevocationLog (revocation-log.ts) checks the gathered list against the
 * checkpoint's `revocations` line. Fetching is the caller's (fetch in a browser, the CLI's HTTP client), so this
 * stays free of IO; what it checks is only that the pages fit together, so that a broken or lying gateway cannot
 * make a client loop, or hand it a list stitched from two checkpoints.
 */
import { fromBase64 } from './bytes.js';
import { fail } from './errors.js';
import type { LoggedRevocation } from './revocation-log.js';

/**
 * What a list carries beside a statement so that a verifier can place it (protocol/agency-renewal.ts,
 * key-compromise.ts): the certificate it names, and for a device certificate its agency's.
 */
export interface RevocationCertificates {
  certificate?: Uint8Array;
  issuer?: Uint8Array;
}

/** GET /v1/revocations' answer, as far as a client reads it. */
export interface RevocationListing {
  treeSize: number;
  /** null while the log is empty or its checkpoint at treeSize does not commit to revocations. */
  checkpoint: string | null;
  /** Revocation entries below treeSize in all (the checkpoint line's count, if the gateway is honest). */
  count: number;
  /**
   * `certificate`: the certificate a revocation names, for an agency's revocation and a device's keyCompromise;
   * `issuer`: for such a device's, the agency certificate that certified it. Not committed to: verify checks them.
   */
  revocations: (LoggedRevocation & RevocationCertificates)[];
  /** The last index of this page when more follow (ask again with `after` = next); null at the end. */
  next: number | null;
}

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Read one page for its shape only: MALFORMED if it is not a listing. A gateway from before pagination sends neither
 * `count` nor `next`: its one page is the whole list.
 */
export function parseRevocationListing(body: unknown): RevocationListing {
  const b = body as { treeSize?: unknown; checkpoint?: unknown; count?: unknown; revocations?: unknown; next?: unknown } | null;
  if (typeof b !== 'object' || b === null || !Array.isArray(b.revocations)) fail('MALFORMED', 'not a revocation list', 'revocations');
  if (!isIndex(b.treeSize)) fail('MALFORMED', 'the revocation list has no tree size', 'treeSize');
  if (b.checkpoint !== null && typeof b.checkpoint !== 'string') fail('MALFORMED', 'the revocation list\'s checkpoint is not a note', 'checkpoint');
  if (b.count !== undefined && !isIndex(b.count)) fail('MALFORMED', 'the revocation list\'s count is not a whole number', 'count');
  if (b.next !== undefined && b.next !== null && !isIndex(b.next)) fail('MALFORMED', 'the revocation list\'s next is not a log index', 'next');
  const revocations = (b.revocations as { index?: unknown; revocation?: unknown; certificate?: unknown; issuer?: unknown }[]).map((r, i) => {
    const index = r?.index;
    if (!isIndex(index) || typeof r.revocation !== 'string') fail('MALFORMED', 'a listed revocation needs an index and base64 bytes', `revocations[${i}]`);
    const bytesOf = (v: unknown, what: string, path: string): Uint8Array | undefined => {
      if (v === undefined) return undefined;
      try {
        if (typeof v !== 'string') throw new TypeError('not a string');
        return fromBase64(v);
      } catch {
        return fail('MALFORMED', `a listed revocation${what} is not base64`, path);
      }
    };
    const statement = bytesOf(r.revocation, '', `revocations[${i}].revocation`)!;
    const certificate = bytesOf(r.certificate, "'s certificate", `revocations[${i}].certificate`);
    const issuer = bytesOf(r.issuer, "'s issuer certificate", `revocations[${i}].issuer`);
    return { index, statement, ...(certificate ? { certificate } : {}), ...(issuer ? { issuer } : {}) };
  });
  return {
    treeSize: b.treeSize,
    checkpoint: b.checkpoint as string | null,
    count: (b.count as number | undefined) ?? revocations.length,
    revocations,
    next: (b.next as number | null | undefined) ?? null,
  };
}

/** Where to start: the checkpoint's tree size (default: the gateway's latest) and the last index already held. */
export interface RevocationListingQuery {
  treeSize?: number;
  after?: number;
}

/** The relative path of one page: `v1/revocations`, with `treeSize` and `after` when given. */
export function revocationListingPath(q: RevocationListingQuery): string {
  const params = [...(q.treeSize !== undefined ? [`treeSize=${q.treeSize}`] : []), ...(q.after !== undefined ? [`after=${q.after}`] : [])];
  return params.length > 0 ? `v1/revocations?${params.join('&')}` : 'v1/revocations';
}

/** Fetch one page (GET revocationListingPath(query)) and return its JSON body. */
export type RevocationPageFetcher = (query: RevocationListingQuery) => Promise<unknown>;

/**
 * Every page of the list after `from.after`, all of one checkpoint: the first page names it (or `from.treeSize`
 * does), and the rest are asked for at its tree size. MALFORMED when a page is of another tree size, checkpoint or
 * count, when its entries are not in log order after the cursor and below the tree size, when `next` is not its
 * last index, or when the pages hold more than `count`. The result has `next` null and `count` as listed.
 *
 * The pages end: each holds at least one entry past the last, and together no more than `count`. The gateway chooses
 * `count`, though; `most` (known to a caller that verified a checkpoint: the revocations it commits to, less those
 * before the cursor) bounds them by the revocations really logged: MALFORMED as soon as the pages hold more
 * (suspected by the verifier-CLI review: one-entry pages under a huge count kept a monitor round going as long as the
 * gateway liked).
 *
 * `parsedFirst`: the page `from` asks for, parsed already by a caller that read it to learn the checkpoint (the
 * verifier page: a page of tens of megabytes was decoded twice).
 */
export async function collectRevocationListing(
  getPage: RevocationPageFetcher, from: RevocationListingQuery = {}, most = Number.POSITIVE_INFINITY, parsedFirst?: RevocationListing,
): Promise<RevocationListing> {
  const first = parsedFirst ?? parseRevocationListing(await getPage(from));
  if (from.treeSize !== undefined && first.treeSize !== from.treeSize) {
    fail('MALFORMED', `asked for the revocation list at tree size ${from.treeSize}, got tree size ${first.treeSize}`, 'treeSize');
  }
  const all: RevocationListing['revocations'] = [];
  let after = from.after ?? -1;
  for (let page = first; ; ) {
    if (page.treeSize !== first.treeSize || page.checkpoint !== first.checkpoint || page.count !== first.count) {
      fail('MALFORMED', `a page of the revocation list is of another checkpoint (tree size ${page.treeSize}, count ${page.count}) than the first (tree size ${first.treeSize}, count ${first.count})`, 'revocations');
    }
    for (const r of page.revocations) {
      if (r.index <= after) fail('MALFORMED', `revocation entry ${r.index} is not after ${after}: the pages are not in log order`, 'revocations');
      if (r.index >= first.treeSize) fail('MALFORMED', `revocation entry ${r.index} is not below the list's tree size ${first.treeSize}`, 'revocations');
      all.push(r);
      after = r.index;
    }
    if (all.length > first.count) fail('MALFORMED', `the pages hold more than the ${first.count} revocation(s) the list counts`, 'count');
    if (all.length > most) fail('MALFORMED', `the pages hold more than the ${most} revocation(s) the checkpoint commits to${from.after !== undefined ? ` after entry ${from.after}` : ''}`, 'revocations');
    if (page.next === null) break;
    const last = page.revocations[page.revocations.length - 1];
    if (last === undefined || page.next !== last.index) fail('MALFORMED', `a page's next (${page.next}) is not its last entry's index`, 'next');
    page = parseRevocationListing(await getPage({ treeSize: first.treeSize, after: page.next }));
  }
  return { treeSize: first.treeSize, checkpoint: first.checkpoint, count: first.count, revocations: all, next: null };
}
