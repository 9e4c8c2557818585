/**
 * A stored checkpoint note is checked with the log's own key before it leaves the store (in a proof bundle, from
 * GET /v1/checkpoints/..., GET /v1/log): its signature must verify with the log's verifier key and its origin be the
 * log's. A byte changed on disk in a note (its text or its signature line) otherwise reached a verifier, where it
 * fails as CHECKPOINT_INVALID: what a forged checkpoint looks like. Now the read fails (LedgerDamagedError).
 * Cost: one Ed25519 verification per distinct note, then a lookup: a note whose exact text (tree size included) was
 * verified with this key for this log (origin) is not verified again in this process; at most KEPT notes are
 * remembered (oldest dropped), so a bundle proven against an old block's checkpoint costs one verification (~50 us)
 * at worst.
 */
import { openCheckpoint, parseVerifierKey, type Checkpoint, type NoteVerifier } from '../protocol/checkpoint.js';
import { damagedInStore } from './errors.js';
import { nodeEd25519Verify } from './signer.js';

/**
 * The log a note must be signed for: its origin and its verifier key (Ledger.origin, Ledger.verifierKey), or the key
 * of each tree size when the log's key was rotated (Ledger.verifierKeyAt).
 */
export interface LogKey {
  readonly origin: string;
  readonly verifierKey: string;
  verifierKeyAt?(treeSize: number): string;
}

const KEPT = 1024;
/**
 * Notes verified, by origin + "\n" + verifier key + "\n" + exact note text (insertion order: the first is the oldest).
 * The origin is in the key: one key may sign two logs (two gateways in one process), and a note verified for one
 * is not the other's (found by review: it was taken for it unverified).
 */
const verified = new Map<string, Checkpoint>();
const verifiers = new Map<string, NoteVerifier>();

/**
 * The checkpoint of `note`, stored at `treeSize`, once its signature verifies with the log's key; else throws
 * `damaged(problem)`, `problem` saying what is wrong with the note ("does not verify ..."); by default a
 * LedgerDamagedError naming the checkpoint.
 */
export function openStoredCheckpoint(
  note: string,
  treeSize: number,
  log: LogKey,
  damaged: (problem: string) => Error = (problem) => damagedInStore(`the checkpoint stored at tree size ${treeSize}`, `it ${problem}`),
): Checkpoint {
  // The key of the size the note is stored at: a note of another size fails below (its size), and one signed by a
  // key of another part of the log's life does not verify (a later key cannot vouch for an earlier part).
  const vkey = log.verifierKeyAt?.(treeSize) ?? log.verifierKey;
  const key = `${log.origin}\n${vkey}\n${note}`;
  let cp = verified.get(key);
  if (!cp) {
    let verifier = verifiers.get(vkey);
    if (!verifier) {
      verifier = parseVerifierKey(vkey); // the ledger's own key: it parses
      if (verifiers.size >= 16) verifiers.clear();
      verifiers.set(vkey, verifier);
    }
    try {
      cp = openCheckpoint(note, [verifier], { origin: log.origin, verify: nodeEd25519Verify });
    } catch (err) {
      throw damaged(`does not verify with the log's own key (${(err as Error).message})`);
    }
    if (verified.size >= KEPT) verified.delete(verified.keys().next().value!);
    verified.set(key, cp);
  }
  if (cp.size !== treeSize) throw damaged(`says tree size ${cp.size}`);
  return cp;
}
