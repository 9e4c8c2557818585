/**
 * The one registry of error codes the HTTP API returns, with their statuses. Protocol codes come from
 * protocol/errors.ts; the API adds a few of its own. Every error body is `{ code, message, path? }`.
 */
import { ERROR_CODES, OriginProofError, type ErrorCode } from '../../protocol/errors.js';

export const API_ERROR_CODES = ['NOT_FOUND', 'BAD_REQUEST', 'RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'NOT_READY', 'INTERNAL', 'CONFLICT'] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];
export type AnyErrorCode = ErrorCode | ApiErrorCode;

export const HTTP_STATUS: Record<AnyErrorCode, number> = {
  MALFORMED: 400,
  TOO_LARGE: 413,
  BAD_SIGNATURE: 422,
  UNKNOWN_KEY: 422,
  UNKNOWN_DEVICE: 404,
  CERT_EXPIRED: 422,
  CERT_NOT_YET_VALID: 422,
  CERT_REVOKED: 422,
  CHAIN_INVALID: 422,
  ROLE_VIOLATION: 403,
  ALG_NOT_ALLOWED: 422,
  CLAIM_INVALID: 422,
  BIOMETRIC_RAW_DATA: 422,
  TYPE_NOT_ALLOWED: 422,
  FIRMWARE_MISMATCH: 422,
  REPLAY: 409,
  CLOCK_SKEW: 422,
  TOKEN_EXPIRED: 401,
  TOPIC_MISMATCH: 403,
  INCLUSION_INVALID: 422,
  CONSISTENCY_INVALID: 422,
  CHECKPOINT_INVALID: 422,
  UNAVAILABLE: 503,
  STORAGE_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  BAD_REQUEST: 400,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  NOT_READY: 503,
  INTERNAL: 500,
  CONFLICT: 409,
};

/**
 * Statuses a code is answered with besides its own (HTTP_STATUS): BAD_REQUEST is also the code of the client errors
 * HTTP itself defines, with their own status (toErrorBody and app.ts): 408 (request not whole in time), 414 (a path
 * parameter over the router's 100 characters), 415 (a body that is not JSON), 417 (an Expect other than
 * 100-continue), 431 (headers over the size limit).
 */
export const OTHER_STATUSES: Partial<Record<AnyErrorCode, readonly number[]>> = { BAD_REQUEST: [408, 414, 415, 417, 431] };

/** Every code an answer with this status can carry (what the OpenAPI description lists for it). */
export function codesWithStatus(status: number): AnyErrorCode[] {
  return ALL_ERROR_CODES.filter((c) => HTTP_STATUS[c] === status || (OTHER_STATUSES[c] ?? []).includes(status));
}

/** Fails to compile when protocol adds a code this registry does not map. */
export function statusFor(code: AnyErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly code: ApiErrorCode, message: string) {
    super(message);
  }
}

export interface ErrorBody {
  code: AnyErrorCode;
  message: string;
  path?: string;
}

export function toErrorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof OriginProofError) {
    const body: ErrorBody = { code: err.code, message: err.message };
    if (err.path) body.path = err.path;
    return { status: statusFor(err.code), body };
  }
  if (err instanceof ApiError) return { status: statusFor(err.code), body: { code: err.code, message: err.message } };
  const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  if (e && e.validation) return { status: 400, body: { code: 'BAD_REQUEST', message: e.message ?? 'invalid request' } };
  if (e && e.statusCode === 413) return { status: 413, body: { code: 'PAYLOAD_TOO_LARGE', message: e.message ?? 'request body too large' } };
  if (e && e.statusCode === 429) return { status: 429, body: { code: 'RATE_LIMITED', message: e.message ?? 'too many requests' } };
  if (e && e.statusCode === 415) return { status: 415, body: { code: 'BAD_REQUEST', message: e.message ?? 'unsupported media type' } };
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: { code: 'BAD_REQUEST', message: e.message ?? 'bad request' } };
  }
  // A read on a store closed under it: a storage recovery reopened it meanwhile (found by review: a 500).
  if (e && typeof e.code === 'string' && /^LEVEL_[A-Z_]*NOT_OPEN$/.test(e.code)) {
    return { status: statusFor('STORAGE_UNAVAILABLE'), body: { code: 'STORAGE_UNAVAILABLE', message: 'the store was reopened while this request read it: ask again' } };
  }
  // A read the store failed with an I/O error (classic-level's code for LevelDB's IOError: EIO, a disk going away):
  // the store is unavailable, as for a failed write, and the client may ask again; it was a 500 (found by the
  // OpenAPI review). LEVEL_CORRUPTION and anything else stay 500 INTERNAL: asking again will not help.
  if (e && e.code === 'LEVEL_IO_ERROR') {
    return { status: statusFor('STORAGE_UNAVAILABLE'), body: { code: 'STORAGE_UNAVAILABLE', message: 'the gateway could not read its store (I/O error): ask again later' } };
  }
  // Damage the store's own checks found (ledger/bundle-self-check.ts): said so, naming the entry (no file paths), so
  // that a client knows the record is not forged and the operator is asked to act; asking again will not help.
  if (e && e.code === 'LEDGER_DAMAGED') return { status: 500, body: { code: 'INTERNAL', message: e.message ?? 'the store is damaged' } };
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error' } };
}

export const ALL_ERROR_CODES: readonly AnyErrorCode[] = [...ERROR_CODES, ...API_ERROR_CODES];
