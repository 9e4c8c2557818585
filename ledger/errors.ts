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

  /**
   * `logKey`: the verifier key the log recorded; `signerKey`: the one of the signer given (C2SP vkey text both);
   * `retired`: set when the signer's key is one the log retired (a key file from before a rotation).
   */
  constructor(readonly logKey: string, readonly signerKey: string, readonly retired?: { lastTreeSize: number }) {
    super(retired
      ? `the log's checkpoints are signed with ${logKey}; the signer's key ${signerKey} was retired at tree size ${retired.lastTreeSize} (a key file from before the rotation)`
      : `the log's checkpoints are signed with ${logKey}, not with the signer's key ${signerKey}`);
  }
}

/**
 * The store was written by a later version, in a layout this one does not know (its meta record's format is above
 * LEDGER_FORMAT, ledger/state.ts): opening it would misread it, and writing to it would add what that version cannot
 * read. Thrown before anything is written or checked. `code` is the gateway's start-failure code of the same name.
 */
export class LedgerFormatError extends Error {
  override readonly name = 'LedgerFormatError';
  readonly code = 'LEDGER_FORMAT_UNSUPPORTED' as const;

  constructor(readonly format: number, readonly supported: number) {
    super(`the log was written by a later version of OriginProof, in store format ${format}; this version reads format ${supported} only: run that later version (or a newer one), or restore the data directory from a backup taken before the upgrade`);
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
