/**
 * Opening one of our own signed envelopes (COSE_Sign1, RFC 9052 §4.2) before any signature check:
 * size limit, tag 18, deterministic encoding of everything (RFC 8949 §4.2.1), the expected content type
 * (RFC 9052 §3.1 label 3) in the protected bucket, an allowed alg, a 32-byte kid (RFC 9679 thumbprint),
 * an empty unprotected bucket, and a payload that is a deterministically encoded CBOR map.
 */
import { assertAlg, type Alg } from './algorithms.js';
import { decodeStrict } from './cbor.js';
import { decodeSign1, type ProtectedHeaderCache, type Sign1 } from './cose-sign1.js';
import { contentTypeName } from './content-types.js';
import { fail } from './errors.js';
import type { ClaimMap } from './schema.js';

export interface OpenedEnvelope {
  sign1: Sign1;
  alg: Alg;
  kid: Uint8Array;
  payload: ClaimMap;
}

/** `protectedCache`: see ProtectedHeaderCache (cose-sign1.ts); the checks below run on a cached bucket as well. */
export function openEnvelope(bytes: Uint8Array, contentType: number, what: string, maxBytes: number, allowedAlgs?: readonly Alg[], protectedCache?: ProtectedHeaderCache): OpenedEnvelope {
  if (!(bytes instanceof Uint8Array)) fail('MALFORMED', `${what} must be bytes`);
  if (bytes.length > maxBytes) fail('TOO_LARGE', `${what} is ${bytes.length} bytes; the limit is ${maxBytes}`);
  const sign1 = decodeSign1(bytes, protectedCache ? { strict: true, requireTag: true, what, protectedCache } : { strict: true, requireTag: true, what });
  if (sign1.contentType !== contentType) {
    const got = contentTypeName(sign1.contentType) ?? String(sign1.contentType);
    fail('MALFORMED', `${what} must have content type ${contentType}, got ${got}`, 'protected.content_type');
  }
  if (sign1.alg === undefined) fail('ALG_NOT_ALLOWED', `${what} has no alg in its protected header`, 'protected.alg');
  const alg = assertAlg(sign1.alg, 'protected.alg', allowedAlgs);
  if (sign1.unprotectedHeaders.size !== 0) fail('MALFORMED', `${what} must have an empty unprotected header`, 'unprotected');
  if (!sign1.protectedHeaders.has(4) || !(sign1.kid instanceof Uint8Array) || sign1.kid.length !== 32) {
    fail('MALFORMED', `${what} must carry a 32-byte kid (RFC 9679 thumbprint) in its protected header`, 'protected.kid');
  }
  for (const label of sign1.protectedHeaders.keys()) {
    if (label !== 1 && label !== 3 && label !== 4) fail('MALFORMED', `unexpected protected header ${String(label)}`, 'protected');
  }
  const payload = decodeStrict(sign1.payload, `${what} payload`);
  if (!(payload instanceof Map)) fail('MALFORMED', `${what} payload must be a CBOR map`, 'payload');
  return { sign1, alg, kid: sign1.kid, payload };
}
