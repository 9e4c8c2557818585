/**
 * Revocation statements: COSE_Sign1 (RFC 9052 §4.2), content type 65002, signed by the issuer of the revoked
 * certificate (the agency for a device, the root for an agency); kid = issuer key thumbprint (RFC 9679).
 * Payload map: {1: certRef bstr 32 (SHA-256 of the revoked certificate), 2: sub text (its subject),
 * 3: reason text, 4: revokedFrom (seconds; readings signed at or after it are invalid, earlier ones stay valid),
 * 6: iat (CWT key, RFC 8392 §3.1.6)}.
 * Reasons follow RFC 5280 §5.3.1 CRLReason names where one fits.
 */
import type { SignatureVerifier, Signer } from './algorithms.js';
import { bytesEqual } from './bytes.js';
import { encode } from './cbor.js';
import { keyThumbprint, publicKey, type PublicKey } from './cose-key.js';
import { createSign1, verifySign1, type Sign1 } from './cose-sign1.js';
import { CT_REVOCATION } from './content-types.js';
import { openEnvelope } from './envelope.js';
import { fail } from './errors.js';
import { sha256 } from './hash.js';
import { onlyKeys, reqBytes, reqText, reqTime, type ClaimMap } from './schema.js';
import type { DecodedCertificate } from './certificate.js';
import { namesCertificate } from './certificate-refs.js';

export const REVOCATION_REASONS = ['keyCompromise', 'decommissioned', 'superseded', 'affiliationChanged', 'cessationOfOperation', 'unspecified'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];
const R_CERT_REF = 1, R_SUB = 2, R_REASON = 3, R_REVOKED_FROM = 4, R_IAT = 6;
export const MAX_REVOCATION_BYTES = 1024;

export interface RevocationClaims {
  certRef: Uint8Array;
  sub: string;
  reason: RevocationReason;
  revokedFrom: number;
  iat: number;
}

export interface DecodedRevocation {
  bytes: Uint8Array;
  sign1: Sign1;
  claims: RevocationClaims;
  issuerKid: Uint8Array;
}

function toMap(c: RevocationClaims): ClaimMap {
  return new Map<unknown, unknown>([[R_CERT_REF, c.certRef], [R_SUB, c.sub], [R_REASON, c.reason], [R_REVOKED_FROM, c.revokedFrom], [R_IAT, c.iat]]);
}

function fromMap(m: ClaimMap): RevocationClaims {
  onlyKeys(m, [R_CERT_REF, R_SUB, R_REASON, R_REVOKED_FROM, R_IAT], 'claims');
  return {
    certRef: reqBytes(m, R_CERT_REF, 'claims.certRef', 32),
    sub: reqText(m, R_SUB, 'claims.sub', { max: 63 }),
    reason: reqText(m, R_REASON, 'claims.reason', { oneOf: REVOCATION_REASONS }) as RevocationReason,
    revokedFrom: reqTime(m, R_REVOKED_FROM, 'claims.revokedFrom'),
    iat: reqTime(m, R_IAT, 'claims.iat'),
  };
}

/** Sign a revocation of `cert` with the key of its issuer. */
export async function createRevocation(
  issuer: Signer,
  cert: DecodedCertificate,
  opts: { reason: RevocationReason; revokedFrom: number; iat: number },
): Promise<Uint8Array> {
  const kid = keyThumbprint(publicKey(issuer.alg, issuer.publicKey));
  if (!bytesEqual(kid, cert.issuerKid)) fail('ROLE_VIOLATION', 'only the issuer of a certificate may revoke it', 'kid');
  const claims: RevocationClaims = { certRef: cert.certRef, sub: cert.claims.sub, ...opts };
  fromMap(toMap(claims));
  return createSign1({ signer: issuer, payload: encode(toMap(claims)), kid, contentType: CT_REVOCATION });
}

export function decodeRevocation(bytes: Uint8Array): DecodedRevocation {
  const env = openEnvelope(bytes, CT_REVOCATION, 'revocation', MAX_REVOCATION_BYTES);
  return { bytes, sign1: env.sign1, claims: fromMap(env.payload), issuerKid: env.kid };
}

/**
 * Check a revocation against the certificate it names and the key of that certificate's issuer:
 * CLAIM_INVALID (names another certificate), ROLE_VIOLATION (not signed by the revoked certificate's issuer),
 * UNKNOWN_KEY (issuerKey is not the key the kid names), BAD_SIGNATURE.
 */
export function verifyRevocation(
  rev: DecodedRevocation | Uint8Array,
  revoked: DecodedCertificate,
  issuerKey: PublicKey,
  opts: { verifier?: SignatureVerifier } = {},
): DecodedRevocation {
  const r = rev instanceof Uint8Array ? decodeRevocation(rev) : rev;
  if (!namesCertificate(r.claims.certRef, revoked)) fail('CLAIM_INVALID', 'revocation names another certificate', 'claims.certRef');
  return verifyRevocationOfSubject(r, revoked, issuerKey, opts);
}

/**
 * verifyRevocation without the certRef: a statement by the issuer of `cert` about a certificate of the same subject
 * (for a device, whose subject is its key's id, a certificate of the same key: key-compromise.ts).
 */
export function verifyRevocationOfSubject(
  r: DecodedRevocation,
  cert: DecodedCertificate,
  issuerKey: PublicKey,
  opts: { verifier?: SignatureVerifier } = {},
): DecodedRevocation {
  if (r.claims.sub !== cert.claims.sub) fail('CLAIM_INVALID', 'revocation sub is not the certificate subject', 'claims.sub');
  if (!bytesEqual(r.issuerKid, cert.issuerKid)) fail('ROLE_VIOLATION', 'revocation is not signed by the issuer of the certificate', 'protected.kid');
  if (!bytesEqual(keyThumbprint(issuerKey), r.issuerKid)) fail('UNKNOWN_KEY', 'issuer key does not match the revocation kid', 'protected.kid');
  verifySign1(r.sign1, issuerKey, opts.verifier ? { verifier: opts.verifier } : {});
  return r;
}

/** The revocation covering `cert` at time `at` (at >= revokedFrom), if any; either encoding (certificate-refs.ts). */
export function isRevokedAt(cert: DecodedCertificate, revocations: readonly DecodedRevocation[], at: number): DecodedRevocation | undefined {
  return revocations.find((r) => at >= r.claims.revokedFrom && namesCertificate(r.claims.certRef, cert));
}

export function assertNotRevokedAt(cert: DecodedCertificate, revocations: readonly DecodedRevocation[], at: number, path = 'certificate'): void {
  const r = isRevokedAt(cert, revocations, at);
  if (r) fail('CERT_REVOKED', `certificate ${r.claims.sub} revoked from ${r.claims.revokedFrom} (${r.claims.reason})`, path);
}

export function revocationRef(bytes: Uint8Array): Uint8Array {
  return sha256(bytes);
}
