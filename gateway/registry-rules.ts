/**
 * What may change in the registry once something is registered. Everything the registry accepts is a signed object
 * anyone can fetch from the log and post again, so the rules say which newer statement may replace an older one:
 * - a certificate is not dated ahead of the gateway's clock (iat, beyond the clock skew): one dated far ahead would
 *   leave no later certificate that could replace it.
 * - a certificate for a key that already has one replaces it only if it was issued later (iat), by the same issuer
 *   unless the registered certificate is revoked for affiliationChanged and that is in effect (its issuer released
 *   it: a transfer; a device decommissioned or superseded is not free for any other agency to take), for the same
 *   subject; a key once revoked for keyCompromise is never certified again. Re-posting an old certificate, or the
 *   other encoding of an ES256 one (certificate-refs.ts), so cannot undo a revocation or take a device from its agency.
 * - a renewal by the issuer that revoked the registered certificate (in effect or scheduled, for any reason but
 *   superseded, which announces a replacement) is issued no earlier than that revocation: one signed before it,
 *   posted after, would undo the issuer's later word.
 * - a device taken over by another agency (another id, or the same id under another key and root) brings the device's
 *   proof of possession for it made no earlier than the one its registered certificate carries, and not that one
 *   (assertConsentNotOlder): the proof of an earlier onboarding, or one given to a former holder of the id, is no
 *   consent now.
 * - an agency whose key is revoked for keyCompromise, in effect, can release nothing any more (registry.ts refuses its
 *   statements: whoever holds the key could make them), so its devices are free for another agency to certify.
 * - a further revocation of a certificate may only make it stricter: an earlier revokedFrom, or the same one marked
 *   keyCompromise; once keyCompromise, only keyCompromise. Re-posting an old statement with a later revokedFrom so
 *   cannot shorten a revocation. The registered statement signed again (sameStatement: other bytes, nothing else
 *   other) is no further revocation: it is answered as its very bytes are.
 */
import { bytesEqual } from '../protocol/bytes.js';
import type { DecodedCertificate } from '../protocol/certificate.js';
import { fail } from '../protocol/errors.js';
import { certifiedPossessionClaims } from '../protocol/proof-of-possession.js';
import type { DecodedRevocation } from '../protocol/revocation.js';
import { ApiError } from './http/error-registry.js';

export interface Registered {
  cert: DecodedCertificate;
  revocation?: DecodedRevocation;
}

export const inEffect = (r: DecodedRevocation | undefined, now: number): boolean => r !== undefined && now >= r.claims.revokedFrom;

/** CLAIM_INVALID when the certificate is dated more than `skewSeconds` after `now`. */
export function assertIssuedBy(cert: DecodedCertificate, now: number, skewSeconds: number): void {
  if (cert.claims.iat > now + skewSeconds) {
    fail('CLAIM_INVALID', `certificate issued at ${cert.claims.iat}, ${cert.claims.iat - now} s after the gateway's clock (${now}; at most ${skewSeconds} s allowed)`, 'claims.iat');
  }
}

/**
 * Throws unless `cert` may replace `existing` (the same holder key, other bytes) at `now`: CERT_REVOKED (the key was
 * revoked for keyCompromise), ROLE_VIOLATION (another issuer while the registered certificate is not released:
 * revoked for affiliationChanged, in effect, or its issuer's key revoked for keyCompromise, in effect: `issuerCompromise`),
 * CONFLICT (another subject, not issued later than the registered certificate, or, by the same issuer, issued before
 * the registered certificate's revocation other than as superseded).
 */
export function assertMayReplace(
  existing: Registered, cert: DecodedCertificate, now: number, compromise?: DecodedRevocation, issuerCompromise?: DecodedRevocation,
  issuerUntrusted = false,
): void {
  const what = cert.claims.role;
  if (compromise) {
    fail('CERT_REVOKED', `this ${what} key was revoked for keyCompromise from ${compromise.claims.revokedFrom}; it is never certified again`, 'cnf');
  }
  // Released by its issuer, or its issuer can release nothing any more: its key compromised, or (issuerUntrusted) the
  // root it answers to taken out of the trust material or past its window, which leaves its statements refused here.
  const released =
    (inEffect(existing.revocation, now) && existing.revocation!.claims.reason === 'affiliationChanged') || inEffect(issuerCompromise, now) || issuerUntrusted;
  if (!bytesEqual(existing.cert.issuerKid, cert.issuerKid) && !released) {
    const issuer = what === 'device' ? 'agency' : 'root';
    fail(
      'ROLE_VIOLATION',
      `this ${what} is registered by another ${issuer}; that ${issuer} must release it first (a revocation for affiliationChanged, in effect), unless its key is revoked for keyCompromise or its root is no longer trusted`,
      'protected.kid',
    );
  }
  if (existing.cert.claims.sub !== cert.claims.sub) {
    throw new ApiError('CONFLICT', `this key is registered as ${what} ${existing.cert.claims.sub}, not ${cert.claims.sub}`);
  }
  if (cert.claims.iat <= existing.cert.claims.iat) {
    throw new ApiError(
      'CONFLICT',
      `a certificate for this key issued at ${existing.cert.claims.iat} is registered; a replacement must be issued later (this one: ${cert.claims.iat})`,
    );
  }
  // The issuer's later word wins (found by review): a renewal it signed before revoking the registered certificate,
  // posted after the revocation (from another gateway's log, or kept by a device or an operator), undid it. Not for
  // `superseded`, which announces a replacement, nor for another issuer's certificate (a transfer: the device's
  // consent dates that one, assertConsentNotOlder).
  const revocation = existing.revocation;
  if (revocation && revocation.claims.reason !== 'superseded' && bytesEqual(existing.cert.issuerKid, cert.issuerKid) && cert.claims.iat < revocation.claims.iat) {
    throw new ApiError(
      'CONFLICT',
      `this ${what}'s certificate was revoked (${revocation.claims.reason}) by a statement issued at ${revocation.claims.iat}; a replacement by the same issuer must be issued no earlier (this one: ${cert.claims.iat})`,
    );
  }
}

/**
 * A device taken over by another agency brings the device's consent to it given no earlier than the consent the
 * registered certificate carries (SPEC §2 step 3: "another agency taking the device over needs a new one"). Found by
 * review: only the proof's aud was checked, so (1) an agency the device had left kept the proof of its earlier
 * onboarding (public besides, in its registration entry) and, when the device's current agency released it to move
 * on, re-registered it before the agency the device now consents to; (2) once an agency's key was revoked for
 * keyCompromise (its devices free), another root could certify an agency of the same id with another key and take
 * its devices with the proofs they gave the old one. `sameAgency`: the same id, and the same key or, re-keyed, under
 * the same root as the agency the device is registered under; its renewals carry the proof it kept. Else the proof
 * must not be the registered certificate's, in either ES256 encoding (CLAIM_INVALID, claims.pop), nor made before it (claims.pop.claims.iat). A
 * registered certificate from before proofs were carried bounds nothing.
 */
export function assertConsentNotOlder(existing: DecodedCertificate, cert: DecodedCertificate, skewSeconds: number, sameAgency: boolean): void {
  if (sameAgency || !existing.claims.proofOfPossession || !cert.claims.proofOfPossession) return;
  const registered = certifiedPossessionClaims(existing.claims.proofOfPossession);
  const given = certifiedPossessionClaims(cert.claims.proofOfPossession);
  // The same consent in either encoding: an ES256 proof (r, s) has a twin (r, n - s) anyone can make.
  if (given.agencyId === registered.agencyId && given.iat === registered.iat && bytesEqual(given.nonce, registered.nonce)) {
    fail(
      'CLAIM_INVALID',
      `the device's proof of possession is the one its registered certificate carries (in either encoding), which it gave agency ${existing.claims.iss} under another key and root: taking a device over needs its consent given since`,
      'claims.pop',
    );
  }
  // The device's clock dates its proofs: one dated far ahead (a device clock wrong at that onboarding, taken by an
  // agency that did not check it) bounds no later than its certificate's iat (the gateway's clock bounds that one).
  const before = Math.min(registered.iat, existing.claims.iat + skewSeconds);
  if (given.iat < before) {
    fail(
      'CLAIM_INVALID',
      `the device's proof of possession for ${cert.claims.iss} was made at ${given.iat}, before the one its registered certificate by ${existing.claims.iss} carries (${before}): taking a device over needs its consent given since`,
      'claims.pop.claims.iat',
    );
  }
}

/**
 * Whether `next` is `prior` signed again: every field of the statement equal (its protected header: alg, content type
 * and kid, the signer's key; its payload: certRef, sub, reason, revokedFrom, iat), only the signature other. Both were
 * opened strictly (deterministic CBOR, an empty unprotected header: protocol/envelope.ts), so equal fields are equal
 * bytes. An ES256 signature is randomized by most signers (node:crypto, hardware, HSMs; not by RFC 6979 ones such as
 * @noble/curves, the CLI's) and has a twin (r, n - s) anyone can make, so an issuer's tool that signs the same
 * statement again on a retry posts other bytes; it is no further revocation (it was answered CONFLICT, as if it tried
 * to change the registered one). `next`'s signature must have been checked against its issuer's key: the same kid
 * names the key, not who signed.
 */
export function sameStatement(next: DecodedRevocation, prior: DecodedRevocation): boolean {
  return bytesEqual(next.sign1.protectedBytes, prior.sign1.protectedBytes) && bytesEqual(next.sign1.payload, prior.sign1.payload);
}

/** Whether `next` makes a revocation of the same certificate stricter than `prior`. */
export function isStricter(next: DecodedRevocation, prior: DecodedRevocation): boolean {
  const a = next.claims, b = prior.claims;
  return a.revokedFrom < b.revokedFrom || (a.revokedFrom === b.revokedFrom && a.reason === 'keyCompromise' && b.reason !== 'keyCompromise');
}

/**
 * Whether `next` may replace `prior`, a revocation of the same certificate: stricter, and a keyCompromise stays one
 * (the statement that the key is compromised revokes its other certificates too, so it is never traded for another).
 */
export function mayReplaceRevocation(next: DecodedRevocation, prior: DecodedRevocation): boolean {
  if (prior.claims.reason === 'keyCompromise' && next.claims.reason !== 'keyCompromise') return false;
  return isStricter(next, prior);
}

/** Throws CONFLICT unless `next` may replace `prior`, a revocation of the same certificate (mayReplaceRevocation). */
export function assertStricter(next: DecodedRevocation, prior: DecodedRevocation): void {
  if (mayReplaceRevocation(next, prior)) return;
  const p = prior.claims;
  if (p.reason === 'keyCompromise' && next.claims.reason !== 'keyCompromise') {
    throw new ApiError('CONFLICT', `${p.sub} is revoked for keyCompromise from ${p.revokedFrom}; a further revocation must say keyCompromise too (from the same time or earlier)`);
  }
  throw new ApiError(
    'CONFLICT',
    `${p.sub} is already revoked from ${p.revokedFrom} (${p.reason}); a further revocation may only bring that time forward, or mark the key compromised from the same time or earlier`,
  );
}
