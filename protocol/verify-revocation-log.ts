/**
 * The revocation check made complete (verify-bundle.ts `revocationLog`): the verifier brings the log's whole
 * revocation list with the checkpoint that commits to it (GET /v1/revocations; protocol/revocation-log.ts). The
 * list is opened once, before the checks: its statements join the revocations the verifier holds, and the
 * revocation check then says up to which tree size no revocation can be missing. A list that does not hash to
 * its checkpoint's line, or a checkpoint not signed by a trusted key or of another log, fails the revocation check
 * (CHECKPOINT_INVALID): the verifier asked for completeness and cannot have it.
 */
import type { BundleConsistency } from './bundle.js';
import type { Checkpoint, Ed25519Verify } from './checkpoint.js';
import { bytesEqual } from './bytes.js';
import { fail, OriginProofError } from './errors.js';
import { verifyConsistency } from './merkle/verify.js';
import { openRevocationLog, type LoggedRevocation, type OpenedRevocationLog } from './revocation-log.js';
import type { RevocationCertificates } from './revocation-listing.js';
import { checkpointKeysAt, type TrustMaterial } from './trust.js';
import { run, type Check } from './verify-checks.js';

export interface RevocationLogInput {
  /** The signed checkpoint note whose `revocations` line commits to `revocations`. */
  checkpoint: string;
  /**
   * Every revocation entry of the log below the checkpoint's tree size: index and statement (the logged payload);
   * for an agency's revocation, the certificate it names; for a device's keyCompromise, the certificate it names and
   * its agency's (`issuer`). Not committed to by the checkpoint: they are checked against the statement's certRef and
   * their issuers' signatures up to a trusted root (agency-renewal.ts, key-compromise.ts).
   */
  revocations: readonly (LoggedRevocation & RevocationCertificates)[];
  /**
   * An RFC 9162 consistency proof between the list's checkpoint and the bundle's (from the smaller tree size to the
   * larger: GET /v1/proofs/consistency), when they differ in size: it shows they are one log's. The bundle's own
   * consistency proof, if it starts at the list's size (fetch-bundle --since), is tried too: either linking them is
   * enough; one that does not link them, without another that does, fails the check; without either, the verdict says
   * they are not linked.
   */
  consistency?: readonly Uint8Array[];
}

export type HeldRevocationLog = { opened: OpenedRevocationLog; consistency?: readonly Uint8Array[] } | { failed: Check };

/**
 * Open the list against the trust material's checkpoint keys valid at `now`: the list speaks of now, so a retired key
 * (notAfter passed), kept to verify what it signed in its time, cannot vouch for it.
 */
export function openHeldRevocationLog(
  input: RevocationLogInput, trust: TrustMaterial, now: number, cpOpts: { origin?: string; verify?: Ed25519Verify },
): HeldRevocationLog {
  let opened: OpenedRevocationLog | undefined;
  const check = run('revocation', () => {
    const keys = checkpointKeysAt(trust, now);
    if (keys.length === 0) fail('CHECKPOINT_INVALID', `the trust material has no checkpoint key valid now (${now})`, 'trust.checkpointKeys');
    opened = openRevocationLog(input.revocations, input.checkpoint, keys, cpOpts);
    return '';
  });
  if (!opened) return { failed: { ...check, message: `revocation log: ${check.message}` } };
  return input.consistency ? { opened, consistency: input.consistency } : { opened };
}

/** The statements the list adds to what the verifier holds (none if it failed to open). */
export function heldStatements(held: HeldRevocationLog | undefined): Uint8Array[] {
  return held && 'opened' in held ? held.opened.revocations.map((r) => r.statement) : [];
}

/** The certificates the list carries beside its statements (none if it failed to open). */
export function heldCertificates(input: RevocationLogInput, held: HeldRevocationLog | undefined): Uint8Array[] {
  return held && 'opened' in held ? input.revocations.flatMap((r) => [r.certificate, r.issuer].filter((c): c is Uint8Array => c !== undefined)) : [];
}

/**
 * What is wrong with an opened list against the bundle's trusted checkpoint: another log, or a fork of it. The two
 * checkpoints are one log's if they are of the same tree size with the same root, or (a list older than the bundle)
 * a consistency proof leads from the smaller's root to the larger's: the one given with the list, or the bundle's own
 * if it starts at the list's size (fetch-bundle --since SIZE). Otherwise nothing here links them: `linked` false, and
 * the verdict says how to link them.
 */
function listProblem(
  log: OpenedRevocationLog, cp: Checkpoint | undefined, given: readonly Uint8Array[] | undefined, bundleProof: BundleConsistency | undefined,
): { problem?: Check; linked: boolean } {
  const failed = (message: string): { problem: Check; linked: boolean } => ({
    problem: { name: 'revocation', status: 'fail', code: 'CHECKPOINT_INVALID', message: `revocation log: ${message}` }, linked: false,
  });
  if (!cp) return { linked: false };
  if (cp.origin !== log.origin) return failed(`of the log ${log.origin}, not ${cp.origin}`);
  if (cp.size === log.size) {
    return bytesEqual(cp.root, log.root) ? { linked: true } : failed(`its checkpoint and the bundle's are both of tree size ${cp.size} with different roots: a forked log`);
  }
  // Both proofs are tried, the given one first: either that verifies links them, since a valid proof between two
  // trusted checkpoints shows one log whatever else came with them (a wrong proof given with the list failed a
  // bundle whose own proof linked it, suspected last session).
  const own = bundleProof && bundleProof.fromSize === log.size && log.size < cp.size ? bundleProof.proof : undefined;
  const proofs = [given, own].filter((p): p is readonly Uint8Array[] => p !== undefined);
  if (proofs.length === 0) return { linked: false };
  const [small, large] = log.size < cp.size ? [log, cp] : [cp, log];
  let first: OriginProofError | undefined;
  for (const proof of proofs) {
    try {
      verifyConsistency(small.size, large.size, proof, small.root, large.root);
      return { linked: true };
    } catch (err) {
      if (!(err instanceof OriginProofError)) throw err;
      first ??= err;
    }
  }
  return failed(`the log of tree size ${large.size} does not extend the log of tree size ${small.size} (the list's checkpoint is at ${log.size}, the bundle's at ${cp.size}; ${first!.message}): a forked log`);
}

/**
 * The revocation check with the list's verdict. A list that did not open, is of another log than the bundle's
 * trusted checkpoint or of a fork of it fails the check (CHECKPOINT_INVALID); a check that failed already keeps its
 * own code (say CERT_REVOKED from the bundle's own revocation) with the list's problem added to its message. A
 * passed check says how far it is complete; a skipped one is kept.
 */
export function withRevocationLog(
  check: Check, held: HeldRevocationLog, entryIndex: number | undefined, cp: Checkpoint | undefined, consistency?: BundleConsistency,
  /** The tree size of the entry's own block (its header's): fetch-bundle without --tree-size proves against it. */
  ownBlockSize?: number,
): Check {
  const { problem, linked } = 'failed' in held ? { problem: held.failed, linked: false } : listProblem(held.opened, cp, held.consistency, consistency);
  if (problem) return check.status === 'fail' ? { ...check, message: `${check.message}; ${problem.message}` } : problem;
  const log = (held as { opened: OpenedRevocationLog }).opened;
  if (check.status !== 'pass') return check;
  const after = entryIndex !== undefined && entryIndex >= log.size ? ` (this entry, at index ${entryIndex}, is past it: revocations logged since are not covered)` : '';
  // Two checkpoints of different sizes, each signed by a trusted key, could be of two forks (found by review): say so.
  let unlinked = '';
  if (!linked && cp) {
    // fetch-bundle --since alone proves against the entry's own block, and the gateway refuses a since beyond that
    // (found by review: an entry whose block is before the list was told --since M, answered 400): then the bundle's
    // own tree size is named with it.
    const since = ownBlockSize !== undefined && ownBlockSize < log.size ? `--since ${log.size} --tree-size ${cp.size}` : `--since ${log.size}`;
    const ways = [log.size < cp.size ? since : '', entryIndex === undefined || entryIndex < log.size ? `--tree-size ${log.size}` : ''].filter(Boolean);
    unlinked = `; its checkpoint (tree size ${log.size}) is not linked to the bundle's (tree size ${cp.size}): fetch the bundle with ${ways.join(' or ')} to check they are one log`;
  }
  return {
    ...check,
    message: `${check.message}; complete up to tree size ${log.size}: the log's ${log.revocations.length} revocation(s) below it, committed to by a checkpoint signed by ${log.signedBy.join(', ')}${after}${unlinked}`,
  };
}
