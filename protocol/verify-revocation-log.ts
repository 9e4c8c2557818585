/**
 * The revocation check made complete (verify-bundle.ts `revocationLog`): the verifier brings the log's whole
 * revocation list with the checkpoint that commits to it (GET /v1/revocations; protocol/revocation-log.ts). The
 * list is opened once, before the checks: its statements join the revocations the verifier holds, and the
 * revocation check then says up to which tree size no revocation can be missing. A list that does not hash to
 * its checkpoint's line, or a checkpoint not signed by a trusted key or of another log, fails the revocation check
 * (CHECKPOINT_INVALID): the verifier asked for completeness and cannot have it.
 */
import type { Checkpoint, Ed25519Verify, NoteVerifier } from './checkpoint.js';
import { fail } from './errors.js';
import { openRevocationLog, type LoggedRevocation, type OpenedRevocationLog } from './revocation-log.js';
import type { TrustMaterial } from './trust.js';
import { run, type Check } from './verify-checks.js';

export interface RevocationLogInput {
  /** The signed checkpoint note whose `revocations` line commits to `revocations`. */
  checkpoint: string;
  /** Every revocation entry of the log below the checkpoint's tree size: index and statement (the logged payload). */
  revocations: readonly LoggedRevocation[];
}

export type HeldRevocationLog = { opened: OpenedRevocationLog } | { failed: Check };

/** The keys a revocation list's checkpoint may be signed by: the trust material's whose window has begun by `now`. */
export function revocationLogKeys(trust: TrustMaterial, now: number): NoteVerifier[] {
  return trust.checkpointKeys.filter((k) => k.notBefore === undefined || k.notBefore <= now).map((k) => k.verifier);
}

/** Open the list against the trust material's checkpoint keys whose window has begun by `now` (as `since`). */
export function openHeldRevocationLog(
  input: RevocationLogInput, trust: TrustMaterial, now: number, cpOpts: { origin?: string; verify?: Ed25519Verify },
): HeldRevocationLog {
  let opened: OpenedRevocationLog | undefined;
  const check = run('revocation', () => {
    const keys = revocationLogKeys(trust, now);
    if (keys.length === 0) fail('CHECKPOINT_INVALID', `the trust material has no checkpoint key valid by ${now}`, 'trust.checkpointKeys');
    opened = openRevocationLog(input.revocations, input.checkpoint, keys, cpOpts);
    return '';
  });
  return opened ? { opened } : { failed: { ...check, message: `revocation log: ${check.message}` } };
}

/** The statements the list adds to what the verifier holds (none if it failed to open). */
export function heldStatements(held: HeldRevocationLog | undefined): Uint8Array[] {
  return held && 'opened' in held ? held.opened.revocations.map((r) => r.statement) : [];
}

/**
 * The revocation check with the list's verdict: failed if the list did not open or is of another log than the
 * bundle's trusted checkpoint; a passed check says how far it is complete. A failed or skipped check is kept.
 */
export function withRevocationLog(check: Check, held: HeldRevocationLog, entryIndex: number | undefined, cp: Checkpoint | undefined): Check {
  if ('failed' in held) return held.failed;
  const log = held.opened;
  if (cp && cp.origin !== log.origin) {
    return { name: 'revocation', status: 'fail', code: 'CHECKPOINT_INVALID', message: `revocation log: of the log ${log.origin}, not ${cp.origin}` };
  }
  if (check.status !== 'pass') return check;
  const after = entryIndex !== undefined && entryIndex >= log.size ? ` (this entry, at index ${entryIndex}, is past it: revocations logged since are not covered)` : '';
  return {
    ...check,
    message: `${check.message}; complete up to tree size ${log.size}: the log's ${log.revocations.length} revocation(s) below it, committed to by a checkpoint signed by ${log.signedBy.join(', ')}${after}`,
  };
}
