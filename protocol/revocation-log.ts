/**
 * Revocation completeness (docs/DESIGN.md "Revocation completeness in checkpoints"): every checkpoint commits to
 * every revocation entry in the log up to its tree size, in an extension line (c2sp.org/tlog-checkpoint allows any
 * number of non-empty extension lines):
 *   revocations <count> <base64 R>
 *   R_0 = 32 zero bytes; R_k = SHA-256(R_k-1 || u64 big-endian log index || SHA-256(statement))
 * where statement is the revocation entry's payload (the signed COSE bytes as logged) and the fold runs over the
 * log's revocation entries in index order. A verifier holding the statements of such a list, and the checkpoint
 * signed by a key it trusts, knows it holds every revocation the log had at that size: a listing that leaves one out
 * does not hash to R, and a gateway that signs a wrong R signs evidence against itself (`ledger verify` recomputes
 * it). Pure: SHA-256 injectable (node:crypto on the ledger's side).
 */
import { bytesEqual, concatBytes, fromBase64, toBase64 } from './bytes.js';
import { openCheckpoint, type Ed25519Verify, type NoteVerifier } from './checkpoint.js';
import { fail } from './errors.js';
import { sha256, type Hasher } from './hash.js';

export const REVOCATIONS_EXTENSION = 'revocations';

/** The commitment after `count` revocation entries. */
export interface RevocationCommitment {
  count: number;
  digest: Uint8Array;
}

export const EMPTY_REVOCATIONS: RevocationCommitment = Object.freeze({ count: 0, digest: new Uint8Array(32) });

/** One revocation entry of the log: its index and its payload (the statement). */
export interface LoggedRevocation {
  index: number;
  statement: Uint8Array;
}

/** R_k from R_k-1, given the entry's index and SHA-256 of its statement. */
export function nextRevocationDigest(prev: Uint8Array, index: number, statementHash: Uint8Array, hash: Hasher = sha256): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) fail('MALFORMED', 'a revocation entry index must be a non-negative integer', 'index');
  const at = new Uint8Array(8);
  new DataView(at.buffer).setBigUint64(0, BigInt(index));
  return hash(concatBytes(prev, at, statementHash));
}

/** Fold one more revocation entry into a commitment. */
export function appendRevocation(c: RevocationCommitment, index: number, statement: Uint8Array, hash: Hasher = sha256): RevocationCommitment {
  return { count: c.count + 1, digest: nextRevocationDigest(c.digest, index, hash(statement), hash) };
}

/** The commitment to a whole list; indexes must strictly increase (each entry once, in log order). */
export function commitRevocations(list: readonly LoggedRevocation[], hash: Hasher = sha256): RevocationCommitment {
  let c = EMPTY_REVOCATIONS;
  let last = -1;
  for (const r of list) {
    if (!(r.index > last)) fail('MALFORMED', `revocation entries must be in log order, each once (index ${r.index} after ${last})`, 'revocations');
    c = appendRevocation(c, r.index, r.statement, hash);
    last = r.index;
  }
  return c;
}

export function revocationsExtension(c: RevocationCommitment): string {
  return `${REVOCATIONS_EXTENSION} ${c.count} ${toBase64(c.digest)}`;
}

/**
 * The commitment a checkpoint's extension lines carry; undefined when it has none (a checkpoint signed before
 * gateways wrote the line). More than one line, or a malformed one, is CHECKPOINT_INVALID.
 */
export function revocationsOfCheckpoint(extensions: readonly string[]): RevocationCommitment | undefined {
  const lines = extensions.filter((e) => e.startsWith(`${REVOCATIONS_EXTENSION} `));
  if (lines.length === 0) return undefined;
  if (lines.length > 1) fail('CHECKPOINT_INVALID', 'the checkpoint has more than one revocations line', 'extensions');
  const m = /^revocations (0|[1-9][0-9]*) ([A-Za-z0-9+/]{43}=)$/.exec(lines[0]!);
  if (!m || !Number.isSafeInteger(Number(m[1]))) fail('CHECKPOINT_INVALID', 'malformed revocations line', 'extensions');
  const digest = fromBase64(m[2]!);
  if (digest.length !== 32) fail('CHECKPOINT_INVALID', 'malformed revocations line', 'extensions');
  return { count: Number(m[1]), digest };
}

export interface OpenedRevocationLog {
  /** The checkpoint's origin and tree size: the list holds every revocation entry below this size. */
  origin: string;
  size: number;
  /** The checkpoint's root: a bundle's checkpoint of the same size must have it too (else the log forked). */
  root: Uint8Array;
  /** Names of the trusted keys whose signatures verified. */
  signedBy: string[];
  revocations: LoggedRevocation[];
}

/**
 * The part of opening a list that depends on the list alone (revocation-log's per-statement work): the entries
 * sorted by index and, when every index is a log index and none is listed twice (`clean`), the commitment they hash
 * to. Made once per list and opened against each checkpoint (openDigestedRevocationLog): a verifier that checks many
 * bundles against one list (POST /v1/verify) does not hash every statement per verdict.
 */
export interface DigestedRevocationList {
  sorted: LoggedRevocation[];
  clean: boolean;
  /** When clean: the commitment the sorted entries hash to. */
  commitment?: RevocationCommitment;
}

export function digestRevocationList(list: readonly LoggedRevocation[], hash: Hasher = sha256, previous?: DigestedRevocationList): DigestedRevocationList {
  const sorted = [...list].sort((a, b) => a.index - b.index);
  const clean = sorted.every((r, i) => Number.isSafeInteger(r.index) && r.index >= 0 && (i === 0 || sorted[i - 1]!.index !== r.index));
  if (!clean) return { sorted, clean };
  // A list that grew (a log's list only does): fold only the entries after an earlier digest of its first ones, the
  // very same entries (objects: the caller keeps them unchanged), made with the same hash.
  const p = previous;
  if (p?.commitment && p.sorted.length <= sorted.length && p.sorted.every((r, i) => r === sorted[i])) {
    let c = p.commitment;
    for (let i = p.sorted.length; i < sorted.length; i++) c = appendRevocation(c, sorted[i]!.index, sorted[i]!.statement, hash);
    return { sorted, clean, commitment: c };
  }
  return { sorted, clean, commitment: commitRevocations(sorted, hash) };
}

/**
 * Check that `list` is exactly the log's revocation entries up to the checkpoint's tree size: the checkpoint
 * verifies with a trusted key, carries a revocations line, and the list (sorted by index here) hashes to it.
 * Fails CHECKPOINT_INVALID otherwise. Each statement's own signature is the revocation check's business.
 */
export function openRevocationLog(
  list: readonly LoggedRevocation[], checkpoint: string, trusted: readonly NoteVerifier[],
  opts: { origin?: string; verify?: Ed25519Verify; hash?: Hasher } = {},
): OpenedRevocationLog {
  return openDigestedRevocationLog(digestRevocationList(list, opts.hash), checkpoint, trusted, opts);
}

/** openRevocationLog with the list's own part done already (digestRevocationList): the same checks, in the same order. */
export function openDigestedRevocationLog(
  list: DigestedRevocationList, checkpoint: string, trusted: readonly NoteVerifier[],
  opts: { origin?: string; verify?: Ed25519Verify; hash?: Hasher } = {},
): OpenedRevocationLog {
  const cp = openCheckpoint(checkpoint, trusted, { ...(opts.origin !== undefined ? { origin: opts.origin } : {}), ...(opts.verify ? { verify: opts.verify } : {}) });
  const committed = revocationsOfCheckpoint(cp.extensions);
  if (!committed) fail('CHECKPOINT_INVALID', 'the checkpoint does not commit to the log\'s revocations (no revocations line)', 'checkpoint');
  const { sorted } = list;
  let got: RevocationCommitment;
  if (list.clean && list.commitment) {
    // Every index a log index, each once: the first problem can only be one at or past the tree size (sorted).
    if (sorted.length > 0 && sorted[sorted.length - 1]!.index >= cp.size) {
      const r = sorted.find((x) => x.index >= cp.size)!;
      fail('CHECKPOINT_INVALID', `revocation entry ${r.index} is not below the checkpoint's tree size ${cp.size}`, 'revocations');
    }
    got = list.commitment;
  } else {
    sorted.forEach((r, i) => {
      if (!Number.isSafeInteger(r.index) || r.index < 0) fail('CHECKPOINT_INVALID', `revocation entry index ${String(r.index)} is not a log index`, 'revocations');
      if (r.index >= cp.size) fail('CHECKPOINT_INVALID', `revocation entry ${r.index} is not below the checkpoint's tree size ${cp.size}`, 'revocations');
      if (i > 0 && sorted[i - 1]!.index === r.index) fail('CHECKPOINT_INVALID', `revocation entry ${r.index} is listed twice`, 'revocations');
    });
    got = commitRevocations(sorted, opts.hash);
  }
  if (got.count !== committed.count) fail('CHECKPOINT_INVALID', `the list has ${got.count} revocation(s), the checkpoint at tree size ${cp.size} commits to ${committed.count}`, 'revocations');
  if (!bytesEqual(got.digest, committed.digest)) fail('CHECKPOINT_INVALID', `the list does not hash to the revocations the checkpoint at tree size ${cp.size} commits to`, 'revocations');
  return { origin: cp.origin, size: cp.size, root: cp.root, signedBy: cp.verified, revocations: sorted };
}
