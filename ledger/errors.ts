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
