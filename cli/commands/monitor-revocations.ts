/**
 * The monitor's watch on the checkpoints' `revocations` line (protocol/revocation-log.ts): revocations are only ever
 * appended, so each checkpoint's commitment must extend the last one seen. When the line changes (or is first
 * seen), the gateway's list (GET /v1/revocations) is fetched and opened against its own checkpoint, and the entries
 * below each of the two tree sizes must fold to the commitment seen at that size: a gateway that drops or alters a
 * revocation it once committed to, or commits to fewer, is caught. What this cannot see: a revocation entry the
 * gateway never committed to at all (only replaying the log, `ledger verify`, finds that).
 */
import { bytesEqual, fromBase64, toBase64 } from '../../protocol/bytes.js';
import type { Checkpoint, NoteVerifier } from '../../protocol/checkpoint.js';
import { OriginProofError } from '../../protocol/errors.js';
import { commitRevocations, openRevocationLog, revocationsOfCheckpoint, type LoggedRevocation } from '../../protocol/revocation-log.js';
import { parseRevocationListing } from '../../protocol/verify-revocation-log.js';
import { gatewayGet } from './fetch-bundle.js';

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

async function fetchList(gateway: string): Promise<{ checkpoint: string; revocations: LoggedRevocation[] } | string> {
  let body: unknown;
  try {
    body = await (await gatewayGet(gateway, 'v1/revocations')).json();
  } catch (err) {
    if ((err as { status?: number }).status !== undefined) return `the gateway cannot show the revocations its checkpoints commit to: ${(err as Error).message}`;
    throw err;
  }
  try {
    const { checkpoint, revocations } = parseRevocationListing(body);
    return checkpoint === null ? 'the gateway offers no checkpoint for its revocation list' : { checkpoint, revocations };
  } catch {
    return 'the gateway answered a malformed revocation list';
  }
}

/**
 * A problem (text for an alarm), or undefined when `now` extends `last`. `keys`/`origin`: those the monitor trusts.
 */
export async function revocationProblem(
  gateway: string, keys: readonly NoteVerifier[], origin: string, last: SeenRevocations | undefined, now: SeenRevocations | undefined,
  roots: ReadonlyMap<number, string> = new Map(),
): Promise<string | undefined> {
  if (!now) return last ? `the checkpoint has no revocations line, though the one at tree size ${last.size} had (${last.count} revocations)` : undefined;
  if (last) {
    if (now.count < last.count) return `the checkpoint at tree size ${now.size} commits to ${now.count} revocation(s), fewer than the ${last.count} committed at tree size ${last.size}`;
    if (now.count === last.count) {
      return now.digest === last.digest ? undefined : `the checkpoint at tree size ${now.size} commits to other revocations than the one at tree size ${last.size} (both ${now.count})`;
    }
  }
  const list = await fetchList(gateway);
  if (typeof list === 'string') return list;
  let log: ReturnType<typeof openRevocationLog>;
  try {
    log = openRevocationLog(list.revocations, list.checkpoint, keys, { origin });
  } catch (err) {
    if (err instanceof OriginProofError) return `the gateway's revocation list does not open against its checkpoint: ${err.message}`;
    throw err;
  }
  // The list's checkpoint is verified but not proven consistent with the ones seen: of a size seen, it must have its root.
  const seenRoot = roots.get(log.size);
  if (seenRoot !== undefined && seenRoot !== toBase64(log.root)) return `the revocation list's checkpoint (tree size ${log.size}) has another root than the checkpoint seen at that size: a forked log`;
  for (const seen of last ? [last, now] : [now]) {
    if (log.size < seen.size) return `the gateway's revocation list (tree size ${log.size}) is older than its checkpoint at tree size ${seen.size}`;
    const c = commitRevocations(log.revocations.filter((r) => r.index < seen.size));
    if (c.count !== seen.count || !bytesEqual(c.digest, fromBase64(seen.digest))) {
      return `the revocations committed at tree size ${seen.size} (${seen.count}) are not the first ones of the list the gateway serves now (${c.count} below that size): a revocation dropped or changed`;
    }
  }
  return undefined;
}
