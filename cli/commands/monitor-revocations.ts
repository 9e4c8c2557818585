/**
 * The monitor's watch on the checkpoints' `revocations` line (protocol/revocation-log.ts): revocations are only ever
 * appended, so each checkpoint's commitment must extend the last one seen. When the line changes (or is first
 * seen), the gateway's revocation entries logged since the last checkpoint seen (all of them, the first time) are
 * fetched at the new checkpoint's tree size (GET /v1/revocations?treeSize=&after=), and the commitment seen before,
 * extended by them, must be the new one: a gateway that drops or alters a revocation it once committed to, or commits
 * to fewer or to entries it does not show, is caught. The list comes with the checkpoint at that size, which must be
 * the one the monitor verified (same root and line): a fork shown only to the list's readers is caught too. What
 * this cannot see: a revocation entry the gateway never committed to at all (only replaying the log, `ledger
 * verify`, finds that).
 */
import { bytesEqual, fromBase64, toBase64 } from '../../protocol/bytes.js';
import { openCheckpoint, type Checkpoint, type NoteVerifier } from '../../protocol/checkpoint.js';
import { OriginProofError } from '../../protocol/errors.js';
import { appendRevocation, EMPTY_REVOCATIONS, revocationsOfCheckpoint, type RevocationCommitment } from '../../protocol/revocation-log.js';
import { collectRevocationListing, type RevocationListing } from '../../protocol/revocation-listing.js';
import { revocationPages } from './fetch-revocations.js';
import type { GatewayRequest } from '../gateway-http.js';

/** A checkpoint's revocation commitment, as the monitor's state file keeps it. */
export interface SeenRevocations {
  size: number;
  count: number;
  /** base64 R */
  digest: string;
}

/** The commitment a verified checkpoint carries (undefined: no line); a malformed line is CHECKPOINT_INVALID. */
export function seenRevocations(cp: Checkpoint): SeenRevocations | undefined {
  const c = revocationsOfCheckpoint(cp.extensions);
  return c ? { size: cp.size, count: c.count, digest: toBase64(c.digest) } : undefined;
}

/**
 * The entries after `sinceSize` (all when undefined) below the checkpoint at `size`, or a problem. `most`: how many
 * the verified lines say were logged since, which bounds the pages (collectRevocationListing): a round ends even
 * with a hostile gateway.
 */
async function fetchSince(gateway: string, size: number, most: number, sinceSize: number | undefined, req: GatewayRequest): Promise<RevocationListing | string> {
  try {
    return await collectRevocationListing(revocationPages(gateway, req), { treeSize: size, ...(sinceSize ? { after: sinceSize - 1 } : {}) }, most);
  } catch (err) {
    if ((err as { status?: number }).status !== undefined) return `the gateway cannot show the revocations its checkpoint at tree size ${size} commits to: ${(err as Error).message}`;
    if (err instanceof OriginProofError && (err.code === 'MALFORMED' || err.code === 'TOO_LARGE')) return `the gateway answered a malformed revocation list: ${err.message}`;
    throw err;
  }
}

/**
 * A problem (text for an alarm), or undefined when `now` extends `last`. `keys`/`origin`: those the monitor trusts;
 * `nowRoot`: the root (base64) of the verified checkpoint `now` was read from; `req`: each request's time limit.
 */
export async function revocationProblem(
  gateway: string, keys: readonly NoteVerifier[], origin: string, last: SeenRevocations | undefined, now: SeenRevocations | undefined, nowRoot: string,
  req: GatewayRequest = {},
): Promise<string | undefined> {
  if (!now) return last ? `the checkpoint has no revocations line, though the one at tree size ${last.size} had (${last.count} revocations)` : undefined;
  if (last) {
    if (now.count < last.count) return `the checkpoint at tree size ${now.size} commits to ${now.count} revocation(s), fewer than the ${last.count} committed at tree size ${last.size}`;
    if (now.count === last.count) {
      return now.digest === last.digest ? undefined : `the checkpoint at tree size ${now.size} commits to other revocations than the one at tree size ${last.size} (both ${now.count})`;
    }
  }
  const list = await fetchSince(gateway, now.size, now.count - (last?.count ?? 0), last?.size, req);
  if (typeof list === 'string') return list;
  if (list.checkpoint === null) return `the gateway offers no checkpoint for its revocation list at tree size ${now.size}`;
  let listed: Checkpoint;
  try {
    listed = openCheckpoint(list.checkpoint, keys, { origin });
  } catch (err) {
    if (err instanceof OriginProofError) return `the revocation list's checkpoint does not open: ${err.message}`;
    throw err;
  }
  // Of the size just verified, it must be that checkpoint: another root is a fork, another line two lists.
  if (toBase64(listed.root) !== nowRoot) return `the revocation list's checkpoint (tree size ${listed.size}) has another root than the checkpoint seen at that size: a forked log`;
  const line = seenRevocations(listed);
  if (!line || line.count !== now.count || line.digest !== now.digest) return `the revocation list's checkpoint (tree size ${listed.size}) commits to other revocations than the checkpoint seen at that size`;
  let c: RevocationCommitment = last ? { count: last.count, digest: fromBase64(last.digest) } : EMPTY_REVOCATIONS;
  for (const r of list.revocations) c = appendRevocation(c, r.index, r.statement);
  if (c.count !== now.count || !bytesEqual(c.digest, fromBase64(now.digest))) {
    const from = last ? `the ${last.count} committed at tree size ${last.size}` : 'none';
    return `the gateway lists ${list.revocations.length} revocation(s) logged ${last ? `from tree size ${last.size} ` : ''}below tree size ${now.size}, which do not extend ${from} to the ${now.count} committed at tree size ${now.size}: a revocation dropped, changed or not shown`;
  }
  return undefined;
}
