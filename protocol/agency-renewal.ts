/**
 * An agency's key may hold several certificates over time (renewal: the same key and subject, each issued later than
 * the one it replaces; gateway/registry-rules.ts). The gateway checks a reading against the agency key's current
 * certificate, the last registered, and takes a revocation of that certificate, whatever its reason, as the agency's
 * (gateway/registry-view.ts: a replacement takes the record's place, and the record's revocation is the current
 * certificate's, or a keyCompromise of any certificate of the key); a revocation of a certificate since replaced
 * revokes nothing more unless it says keyCompromise. Its bundles carry the last registered agency certificate valid at
 * the reading's time (gateway/bundle-material.ts).
 *
 * A reading's entry pins the device certificate (certRef) but not the agency's. So a bundle may carry an earlier
 * certificate of the agency's key, still valid at the reading's time and not revoked, in place of the later one that
 * is: the revocation the verifier holds (`--revocations`, `--revocation-log`) then names neither certificate of the
 * chain and was passed over. A revocation names its certificate by hash and subject only, so to place it the verifier
 * needs that certificate: the log's revocation list carries it beside each agency revocation (GET /v1/revocations),
 * and `certificates` takes it for statements held otherwise. Here, for the reading's revocation check
 * (verify-reading.ts), each held revocation by a trusted root of another certificate of the agency's subject that
 * covers the reading's time. Any trusted root, not only the chain agency's: an agency released by its root
 * (affiliationChanged) may be certified, same key and subject, by another root the gateway trusts
 * (gateway/registry-rules.ts), which then revokes its key (keyCompromise, RFC 5280 §5.3.1) or its current
 * certificate as the first could; a bundle carrying the first root's certificate must not hide that. A statement by a
 * root not in the trust material is weighed only if it is the log's (`logged`: the gateway took it), as UNKNOWN_KEY
 * when it is about this key or its certificate is not at hand:
 * - its certificate not held: UNKNOWN_KEY (it cannot be told whether it revokes the agency key; never passed over);
 * - a certificate of the same key, signed by the root, and the statement with it: CERT_REVOKED when it says
 *   keyCompromise (the key is revoked, as the gateway applies it), or when that certificate was issued later than the
 *   chain's and is valid at the reading's time (the bundle should have carried it: it is the agency certificate of
 *   that time, and revoked);
 * - otherwise (an earlier certificate of the key, a later one not valid then, another key of the same subject after
 *   a re-keying) it is passed over. The gateway does so too, except for its current certificate's revocation, which
 *   counts at any time there, also before that certificate's start (docs/DESIGN.md: stricter than this, never laxer).
 */
import type { SignatureVerifier } from './algorithms.js';
import { bytesEqual, toHex } from './bytes.js';
import type { DecodedCertificate } from './certificate.js';
import { asCertificatePool, type CertificatePool } from './certificate-pool.js';
import { namesCertificate } from './certificate-refs.js';
import { verifySign1 } from './cose-sign1.js';
import { fail } from './errors.js';
import { verifyRevocation, type DecodedRevocation } from './revocation.js';
import type { TrustMaterial } from './trust.js';

/**
 * Throws CERT_REVOKED or UNKNOWN_KEY as above. `held`: the verifier's revocations (decoded; `logged` when from the
 * log's list, verify-checks.ts HeldRevocation); `carried`: every
 * certificate the bundle carries (a revocation naming one of them is the other checks' business); `certificates`:
 * the certificates the verifier holds for its revocations (any that does not decode is left aside). `at`: the time whose
 * agency certificate counts; `revokedAt` (default `at`): the time a statement's revokedFrom is compared with (a
 * reading's: no later than the log received it, verify-reading.ts). `onlyKeyCompromise`:
 * a registry event names the agency certificate it was checked against (certRef), so only a keyCompromise of another
 * certificate of the key counts (the gateway refuses what a key compromised, in effect, signs or certifies:
 * gateway/registry.ts, registry-rules.ts).
 */
export function assertAgencyNotRevokedThroughRenewalAt(
  agency: DecodedCertificate, carried: readonly DecodedCertificate[], held: readonly { rev: DecodedRevocation; logged: boolean }[],
  certificates: readonly Uint8Array[] | CertificatePool, trust: TrustMaterial, at: number, v: { verifier?: SignatureVerifier }, onlyKeyCompromise = false,
  revokedAt = at,
): void {
  if (!trust.anchors.byKid.has(toHex(agency.issuerKid))) return; // the chain check fails already: no trusted root issued this agency
  // By whichever root signed it (not only the chain agency's): see above.
  const relevant = held.filter(
    ({ rev: r }) =>
      (!onlyKeyCompromise || r.claims.reason === 'keyCompromise') &&
      r.claims.sub === agency.claims.sub && revokedAt >= r.claims.revokedFrom &&
      !carried.some((c) => namesCertificate(r.claims.certRef, c)),
  );
  if (relevant.length === 0) return;
  const pool = asCertificatePool(certificates);
  for (const { rev: r, logged } of relevant) {
    const cert = pool.naming(r.claims.certRef);
    const rootKey = trust.anchors.byKid.get(toHex(r.issuerKid))?.key;
    if (!cert) {
      if (!rootKey && !logged) continue; // an untrusted key's word, not the log's: nothing to weigh
      fail(
        'UNKNOWN_KEY',
        `a revocation of another certificate of agency ${r.claims.sub} (${toHex(r.claims.certRef)}, ${r.claims.reason}, from ${r.claims.revokedFrom}) covers time ${revokedAt}, and that certificate is not at hand: whether it is a later certificate of this agency's key the bundle left out cannot be told (the log's revocation list carries it: fetch-revocations writes it beside the statement, --full for a directory fetched by an earlier version; or give it with --certificates)`,
        'revocations',
      );
    }
    if (cert.claims.role !== 'agency' || !bytesEqual(cert.issuerKid, r.issuerKid)) {
      fail('CHAIN_INVALID', `the certificate a revocation of agency ${r.claims.sub} names is not an agency certificate issued by the statement's root`, 'certificates');
    }
    // What the statement would revoke, were it verified: the key (keyCompromise), or the agency certificate of `at`.
    const laterOfAt = cert.claims.iat > agency.claims.iat && at >= cert.claims.nbf && at < cert.claims.exp;
    if (!rootKey) {
      // A release (affiliationChanged) by a root the verifier no longer trusts, say, revokes nothing here either.
      if (!logged || !bytesEqual(cert.holderKid, agency.holderKid) || !(r.claims.reason === 'keyCompromise' || laterOfAt)) continue;
      fail('UNKNOWN_KEY', `the log revokes a certificate of the key of agency ${r.claims.sub} (${r.claims.reason}, from ${r.claims.revokedFrom}) issued by a root the trust material does not hold: whether it revokes this agency cannot be told`, 'revocations');
    }
    verifySign1(cert.sign1, rootKey, v);
    verifyRevocation(r, cert, rootKey, v);
    if (!bytesEqual(cert.holderKid, agency.holderKid)) continue; // another key of the same subject (re-keyed)
    if (r.claims.reason === 'keyCompromise') {
      fail('CERT_REVOKED', `the key of agency ${r.claims.sub} was revoked for keyCompromise from ${r.claims.revokedFrom} (through its certificate issued at ${cert.claims.iat}): nothing it signs from then on is valid`, 'agency');
    }
    if (laterOfAt) {
      fail(
        'CERT_REVOKED',
        `agency ${r.claims.sub} renewed its certificate (issued at ${agency.claims.iat}, carried) with one issued at ${cert.claims.iat}, valid at ${at} and revoked from ${r.claims.revokedFrom} (${r.claims.reason}): that is the agency certificate of the reading's time`,
        'agency',
      );
    }
  }
}
