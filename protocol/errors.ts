/**
 * One error type for everything OriginProof rejects. `code` is stable and machine-readable (tests,
 * firmware and clients switch on it); `message` is for a person; `path` names the offending field.
 * The codes are a closed union: adding one is a protocol change and must be documented in
 * firmware-specs/SPEC.md and README.
 */
export const ERROR_CODES = [
  'MALFORMED', // not CBOR, wrong CBOR shape, trailing bytes, non-deterministic encoding
  'TOO_LARGE', // over a size limit
  'BAD_SIGNATURE', // signature does not verify (or has the wrong length)
  'UNKNOWN_KEY', // kid names no known key / certificate
  'UNKNOWN_DEVICE', // device id not registered
  'CERT_EXPIRED', // time is after the certificate's exp
  'CERT_NOT_YET_VALID', // time is before the certificate's nbf
  'CERT_REVOKED', // a revocation covers the time
  'CHAIN_INVALID', // issuer/subject do not link, or the chain does not end at a trusted root
  'ROLE_VIOLATION', // a role issued or did something it may not
  'ALG_NOT_ALLOWED', // algorithm not in the allowed set, or not matching the key
  'CLAIM_INVALID', // a claim is missing, of the wrong type or out of range
  'BIOMETRIC_RAW_DATA', // a claim carries what looks like a raw fingerprint, image or template, or a subject id in clear
  'TYPE_NOT_ALLOWED', // the reading type is not in the device's profile
  'FIRMWARE_MISMATCH', // firmware measurement differs from the certified one
  'REPLAY', // sequence number at or below the last accepted one
  'CLOCK_SKEW', // issued-at too far from the receiver's clock
  'TOKEN_EXPIRED', // connect token outside its validity
  'TOPIC_MISMATCH', // published on a topic that is not the device's own
  'INCLUSION_INVALID', // Merkle inclusion proof does not lead to the root
  'CONSISTENCY_INVALID', // Merkle consistency proof fails (log rewritten or forked)
  'CHECKPOINT_INVALID', // checkpoint note malformed or its signature does not verify
  'UNAVAILABLE', // the receiver is shutting down or overloaded; resend later
  'STORAGE_UNAVAILABLE', // the receiver cannot write to its store (disk full, write error); keep the reading, resend later
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class OriginProofError extends Error {
  override readonly name = 'OriginProofError';
  readonly code: ErrorCode;
  /** Dotted path of the offending field, e.g. `claims.body.value` (empty when not about a field). */
  readonly path: string;

  constructor(code: ErrorCode, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path ?? '';
  }

  toJSON(): { code: ErrorCode; message: string; path?: string } {
    return this.path ? { code: this.code, message: this.message, path: this.path } : { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Throw an OriginProofError; shorter at call sites that validate many fields. */
export function fail(code: ErrorCode, message: string, path?: string, cause?: unknown): never {
  throw new OriginProofError(code, message, { path: path ?? '', cause });
}

/** One error in a chain of causes, as far as code, message and cause are concerned (any thrown value may be one). */
export interface ErrorLink {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The error and its causes (`cause`), outermost first, at most ten: where a library's own code may sit deeper. */
export function errorChain(err: unknown): ErrorLink[] {
  const out: ErrorLink[] = [];
  for (let e: unknown = err; e !== null && typeof e === 'object' && out.length < 10; e = (e as ErrorLink).cause) out.push(e as ErrorLink);
  return out;
}
