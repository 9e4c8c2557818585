/**
 * The ledger's one error of its own: a store that is damaged or incomplete (files lost, cut short, or restored
 * apart from each other), found when it is opened or read back. Nothing is changed when it is thrown: the caller
 * stops (the gateway's start, `ledger verify`) and the operator restores the whole directory from one backup.
 * `code` is the gateway's start-failure code of the same name (gateway/config-defaults.ts START_ERROR_CODES).
 */
export class LedgerDamagedError extends Error {
  override readonly name = 'LedgerDamagedError';
  readonly code = 'LEDGER_DAMAGED' as const;
}

/**
 * The ledger opened with a checkpoint signer other than the one it recorded at its first open (its meta record): its
 * next checkpoints would be signed with a key no verifier of this log trusts (`ledger verify` checks the recorded
 * one). Thrown before anything is written. `code` is the gateway's start-failure code of the same name.
 */
export class LedgerKeyMismatchError extends Error {
  override readonly name = 'LedgerKeyMismatchError';
  readonly code = 'CHECKPOINT_KEY_MISMATCH' as const;

  /** `logKey`: the verifier key the log recorded; `signerKey`: the one of the signer given (C2SP vkey text both). */
  constructor(readonly logKey: string, readonly signerKey: string) {
    super(`the log's checkpoints are signed with ${logKey}, not with the signer's key ${signerKey}`);
  }
}

/**
 * Damage a read found in what it was about to serve (ledger/bundle-self-check.ts, entry-self-check.ts,
 * checkpoint-self-check.ts): `subject` names the record ("entry 5"), `what` what is wrong with it. No file paths: the
 * message goes to the client (500 INTERNAL), so that it knows the record is damaged, not forged.
 */
export function damagedInStore(subject: string, what: string): LedgerDamagedError {
  return new LedgerDamagedError(`${subject} is damaged in the gateway's store: ${what}; the gateway's operator must run \`originproof ledger verify\` and restore the data directory from a backup`);
}
