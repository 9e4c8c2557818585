/**
 * How the CLI names a failure, and which exit code it gets. Exit 1: a check ran and said no (`verify`: the bundle is
 * invalid; `cert verify`: the chain does not hold; `register`: the gateway refused the object). Exit 2: no verdict
 * could be reached (unusable input, bad options, the gateway unreachable or unavailable). Commands mark the first
 * kind by throwing `Refused`; anything else thrown is the second.
 *
 * Names: with a code from the closed set (protocol/errors.ts, the HTTP-only codes of gateway/http/error-registry.ts,
 * the gateway's start codes and the offline ledger commands' own of gateway/config-defaults.ts) in brackets, as the
 * gateway's answers do; a library's own code (LevelDB's, node's) is not one of ours and goes after the message
 * instead. A LevelDB directory held by another process (a running gateway) is UNAVAILABLE, with what to do (the
 * gateway's own start says DATA_DIR_IN_USE).
 */
import { errorChain, isErrorCode, type ErrorLink } from '../protocol/errors.js';
import { API_ERROR_CODES } from '../gateway/http/error-registry.js';
import { LEDGER_COMMAND_ERROR_CODES, START_ERROR_CODES } from '../gateway/config-defaults.js';

const OTHER_CODES: readonly unknown[] = [...API_ERROR_CODES, ...START_ERROR_CODES, ...LEDGER_COMMAND_ERROR_CODES];
const isOurs = (code: unknown): code is string => isErrorCode(code) || OTHER_CODES.includes(code);


export function describeFailure(err: unknown): string {
  const chain = errorChain(err);
  const e: ErrorLink = chain[0] ?? {};
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (isOurs(e.code)) return `[${e.code}] ${message}`;
  if (chain.some((c) => c.code === 'LEVEL_LOCKED')) {
    return `[UNAVAILABLE] the data directory is in use by another process (a running gateway?): stop it first (${message})`;
  }
  const code = chain.map((c) => c.code).find((c) => typeof c === 'string');
  return code ? `${message} (${code})` : message;
}

/** A check that ran and said no: exit 1. Shown as the error it wraps (its code and message). */
export class Refused extends Error {
  readonly code: unknown;
  constructor(readonly refusal: Error & { code?: unknown }) {
    super(refusal.message, { cause: refusal });
    this.name = 'Refused';
    this.code = refusal.code;
  }
}

export const exitCodeFor = (err: unknown): 1 | 2 => (err instanceof Refused ? 1 : 2);
