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
