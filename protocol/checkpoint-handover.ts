/**
 * A gateway's checkpoint key handed over to its next key, as a device follows it (firmware-specs/SPEC.md §7, "A new
 * checkpoint key"). Devices check their receipts with the key they were provisioned with, so a gateway that simply
 * switched keys would have every device fail its receipts (CHECKPOINT_INVALID) and resend for good. Instead the
 * rotation is announced first: while it is, each checkpoint carries the extension line `next-key <verifier key>`,
 * covered by the current key's signature, and a signature line by that next key too (the gateway holds it). Then:
 *  - a note the device's current key signed decides the next key: the key its `next-key` line names, if that key
 *    signed the note as well; none otherwise (an announcement withdrawn, one whose key did not sign, a malformed
 *    line: never a reason to reject the receipt);
 *  - a note signed by the next key and not by the current one makes the next key current (the switch happened);
 *  - anything else is CHECKPOINT_INVALID, as for any receipt whose checkpoint no trusted key signed.
 * Only the current key can name a next one. A leaked current key could name an attacker's, but it can forge receipts
 * already: that is a re-provisioning, not a rotation. Pure: no IO, runs in a browser.
 */
import { openNote, parseCheckpoint, parseNote, parseVerifierKey, type Checkpoint, type Ed25519Verify, type NoteSignature, type NoteVerifier } from './checkpoint.js';
import { bytesEqual } from './bytes.js';
import { fail } from './errors.js';

/** The extension line's first word (C2SP tlog-checkpoint extension lines: free text, one line each). */
export const NEXT_KEY_EXTENSION = 'next-key';

/** The gateway checkpoint keys a device holds: the one it checks with, and the announced next one. */
export interface CheckpointKeys {
  current: NoteVerifier;
  next: NoteVerifier | null;
}

/** The extension line announcing `vkey` (C2SP note verifier key text) as the log's next checkpoint key. */
export function nextKeyExtension(vkey: string): string {
  parseVerifierKey(vkey); // CHECKPOINT_INVALID unless a verifier key
  return `${NEXT_KEY_EXTENSION} ${vkey}`;
}

/** The next key a checkpoint names (null: none). A malformed `next-key` line, or two, is CHECKPOINT_INVALID. */
export function announcedNextKey(cp: Checkpoint): NoteVerifier | null {
  const lines = cp.extensions.filter((e) => e === NEXT_KEY_EXTENSION || e.startsWith(`${NEXT_KEY_EXTENSION} `));
  if (lines.length === 0) return null;
  if (lines.length > 1) fail('CHECKPOINT_INVALID', `the checkpoint names more than one next key`, 'checkpoint.next-key');
  const words = lines[0]!.split(' ');
  if (words.length !== 2) fail('CHECKPOINT_INVALID', `a next-key line is "next-key <verifier key>"`, 'checkpoint.next-key');
  return parseVerifierKey(words[1]!);
}

const sameKey = (a: NoteVerifier, b: NoteVerifier) => a.name === b.name && bytesEqual(a.keyId, b.keyId) && bytesEqual(a.publicKey, b.publicKey);
const hasLineOf = (signatures: readonly NoteSignature[], k: NoteVerifier) => signatures.some((s) => s.name === k.name && bytesEqual(s.keyId, k.keyId));

/** Whether `k` signed `note`: its line there and verifying (a line of it that does not verify: false). */
function signedBy(note: string, signatures: readonly NoteSignature[], k: NoteVerifier, verify?: Ed25519Verify): boolean {
  if (!hasLineOf(signatures, k)) return false;
  try {
    openNote(note, [k], verify);
    return true;
  } catch {
    return false;
  }
}

/**
 * The keys a device holds after the checkpoint `note` of a receipt it received (the note's signature is checked
 * here; a receipt's other checks are verifyReceipt's). `switched`: the note made the next key current. Throws
 * CHECKPOINT_INVALID when neither key signed it, or when the current key's line is there and does not verify.
 */
export function followCheckpointKeys(note: string, keys: CheckpointKeys, verify?: Ed25519Verify): { keys: CheckpointKeys; checkpoint: Checkpoint; switched: boolean } {
  const { text, signatures } = parseNote(note);
  let current = keys.current;
  let switched = false;
  if (hasLineOf(signatures, current)) {
    openNote(note, [current], verify); // a bad signature by the current key rejects the note, whatever else signed it
  } else if (keys.next && signedBy(note, signatures, keys.next, verify)) {
    current = keys.next;
    switched = true;
  } else {
    fail('CHECKPOINT_INVALID', 'note is not signed by a trusted key', 'signature');
  }
  const checkpoint = parseCheckpoint(text);
  let named: NoteVerifier | null = null;
  try {
    named = announcedNextKey(checkpoint);
  } catch {
    // a malformed announcement names no key; the receipt still holds (never rejected for an extension line)
  }
  const next = named && !sameKey(named, current) && signedBy(note, signatures, named, verify) ? named : null;
  return { keys: { current, next }, checkpoint, switched };
}
