/**
 * Comparing two checkpoints of one log that the same key signed, without a consistency proof: what a party that
 * only holds checkpoints (a device keeping the largest one its receipts carried, SPEC §7) can tell on its own.
 * An append-only log never signs a smaller tree after a larger one, and signs one root hash per size (RFC 9162: the
 * root is a function of the entries). So, for two verified checkpoints of the same origin, a smaller size is proof
 * the log went back (entries already signed for are gone), and the same size with another root is proof of a fork.
 * A larger size proves nothing either way (only a consistency proof tells a grown log from a rewritten one).
 * Extension lines are not compared: the signer may add or change them without changing the tree. Pure.
 */
import { bytesEqual } from './bytes.js';
import type { Checkpoint } from './checkpoint.js';

/** What a checkpoint tells next to one kept before (both verified with the same key). */
export type CheckpointChange =
  /** Same size, same root: nothing new. */
  | 'same'
  /** A larger tree: the new reference (its consistency with the kept one is for an auditor to check). */
  | 'grew'
  /** A smaller tree than one the same key signed before: the log went back. */
  | 'rollback'
  /** The same size with another root hash: two different logs under one key. */
  | 'fork'
  /** Another origin: another log; the two cannot be compared. */
  | 'other-origin';

export type CheckpointHead = Pick<Checkpoint, 'origin' | 'size' | 'root'>;

/** `next` compared with `kept`; only checkpoints whose signatures verified with the same key may be compared. */
export function compareCheckpoints(kept: CheckpointHead, next: CheckpointHead): CheckpointChange {
  if (kept.origin !== next.origin) return 'other-origin';
  if (next.size < kept.size) return 'rollback';
  if (next.size > kept.size) return 'grew';
  return bytesEqual(kept.root, next.root) ? 'same' : 'fork';
}

/** Whether a change is evidence of a misbehaving log (two signed checkpoints that no append-only log signs). */
export function isLogEvidence(change: CheckpointChange): change is 'rollback' | 'fork' {
  return change === 'rollback' || change === 'fork';
}
