/**
 * A revocation for keyCompromise revokes the key, not only the certificate it names (RFC 5280 §5.3.1: the key is
 * known or suspected to be compromised): nothing that key signs at or after revokedFrom is valid, under whichever
 * certificate. The gateway applies it so (gateway/registry.ts): when an agency revokes a device certificate that it
 * has since renewed (or the root an agency certificate) for keyCompromise, the key's current certificate is revoked
 * from the same time. A reading's bundle then carries, beside its own chain, that other certificate of the same key
 * (one its chain certificate replaced, or one that replaced it since) and its keyCompromise revocation, and for a device certificate issued by another agency (before a transfer) that
 * agency's certificate, so the offline verifier reaches the gateway's verdict.
 *
 * Here, for verify-bundle.ts: which carried certificates are such other certificates (`sameKeyCertificates`, in the
 * chain check: anything else still fails it), whose key signed each (`sameKeyIssuerKeys`, each signature checked: a
 * revocation only restricts, so the issuer is not asked to be valid or unrevoked, as the gateway does not ask), and
 * whether a verified keyCompromise revocation of one covers the reading's time (`assertKeyNotCompromisedAt`).
 */
import type { SignatureVerifier } from './algorithms.js';
import { bytesEqual, toHex } from './bytes.js';
import type { DecodedCertificate } from './certificate.js';
import { asCertificatePool, type CertificatePool } from './certificate-pool.js';
import { namesCertificate } from './certificate-refs.js';
import type { PublicKey } from './cose-key.js';
import { verifySign1 } from './cose-sign1.js';
import { fail } from './errors.js';
import { verifyRevocation, type DecodedRevocation } from './revocation.js';
import type { TrustMaterial } from './trust.js';
import { compromisesSubject, type RevocationTarget } from './verify-checks.js';

export interface SameKeyCertificate {
  cert: DecodedCertificate;
  /** The chain certificate whose key it certifies. */
  of: 'device' | 'agency';
}

export interface SameKeyCertificates {
  others: SameKeyCertificate[];
  /** Agency certificates that issued such a device certificate and are not the chain's agency (another key). */
  issuers: DecodedCertificate[];
}

/**
 * The carried certificates, besides `device` and `agency`, that certify the key of either with the same role. No
 * `device` for an agency's own registration entry (verify-registry-event.ts).
 */
export function sameKeyCertificates(decoded: readonly DecodedCertificate[], device: DecodedCertificate | undefined, agency: DecodedCertificate): SameKeyCertificates {
  const others: SameKeyCertificate[] = [];
  for (const c of decoded) {
    // The chain's own certificates (or their ES256 twins) are not other ones.
    if ((device && namesCertificate(c.certRef, device)) || namesCertificate(c.certRef, agency)) continue;
    if (device && c.claims.role === 'device' && bytesEqual(c.holderKid, device.holderKid)) others.push({ cert: c, of: 'device' });
    else if (c.claims.role === 'agency' && bytesEqual(c.holderKid, agency.holderKid)) others.push({ cert: c, of: 'agency' });
  }
  const issuers = decoded.filter(
    (c) =>
      c.claims.role === 'agency' &&
      !bytesEqual(c.holderKid, agency.holderKid) &&
      others.some((e) => e.of === 'device' && bytesEqual(e.cert.issuerKid, c.holderKid)),
  );
  return { others, issuers };
}

/**
 * The key that issued each such certificate, its signature checked: the chain agency's key, another carried
 * agency certificate signed by a trusted root, or (an agency's) a trusted root. UNKNOWN_KEY when that key is not
 * at hand or not trusted, BAD_SIGNATURE when a certificate is not signed by it.
 */
function sameKeyIssuerKeys(
  found: SameKeyCertificates, agency: DecodedCertificate, trust: TrustMaterial, v: { verifier?: SignatureVerifier },
): Map<SameKeyCertificate, PublicKey> {
  const rootKey = (c: DecodedCertificate, what: string): PublicKey => {
    const anchor = trust.anchors.byKid.get(toHex(c.issuerKid));
    if (!anchor) fail('UNKNOWN_KEY', `the root that issued ${what} ${c.claims.sub} is not trusted`, 'certificates');
    return anchor.key;
  };
  // Every carried issuer, not only the first of its key that the loop below takes: each is accounted for in the chain
  // check (carriedSameKey), so each must be what it says, signed by a trusted root (nothing unverified rides along).
  for (const issuer of found.issuers) verifySign1(issuer.sign1, rootKey(issuer, 'agency'), v);
  const keys = new Map<SameKeyCertificate, PublicKey>();
  for (const e of found.others) {
    let key: PublicKey;
    if (e.of === 'agency') key = rootKey(e.cert, 'another agency certificate of');
    else if (bytesEqual(e.cert.issuerKid, agency.holderKid)) key = agency.holderKey;
    else {
      const issuer = found.issuers.find((c) => bytesEqual(c.holderKid, e.cert.issuerKid));
      if (!issuer) fail('UNKNOWN_KEY', `the bundle has no certificate of the agency that issued another certificate of ${e.cert.claims.sub}`, 'certificates');
      key = issuer.holderKey;
    }
    verifySign1(e.cert.sign1, key, v);
    keys.set(e, key);
  }
  return keys;
}

/** The carried certificates these account for (besides the chain's own). */
export function carriedSameKey(found: SameKeyCertificates): DecodedCertificate[] {
  return [...found.others.map((e) => e.cert), ...found.issuers];
}

/** The revocation targets of the other certificates: only their keyCompromise, each checked by its issuer's key. */
export function compromiseTargets(found: SameKeyCertificates, agency: DecodedCertificate, trust: TrustMaterial, v: { verifier?: SignatureVerifier }): RevocationTarget[] {
  const keys = sameKeyIssuerKeys(found, agency, trust, v);
  return found.others.map((e) => ({ cert: e.cert, key: keys.get(e), what: `other ${e.of} certificate of the key`, reason: 'keyCompromise' as const }));
}

/** Both checks below: through the device's subject (when there is a device), and through the carried certificates. */
export function assertNoKeyCompromiseAt(device: DecodedCertificate | undefined, found: SameKeyCertificates, revocations: readonly DecodedRevocation[], at: number): void {
  if (device) assertDeviceKeyNotCompromisedAt(device, revocations, at);
  assertKeyNotCompromisedAt(found.others, revocations, at);
}

/**
 * CERT_REVOKED when the device's agency declared the device key compromised from a time at or before `at` through
 * another certificate of the same subject: a device's subject is its key's id (certificate.ts), so that certificate
 * certified the same key, and the agency that certifies the device may revoke it anyway. This needs no certificate
 * at hand: a revocation the verifier brings (`--revocations`) counts even from a bundle stripped of that material.
 */
export function assertDeviceKeyNotCompromisedAt(device: DecodedCertificate, revocations: readonly DecodedRevocation[], at: number): void {
  const r = revocations.find((x) => compromisesSubject(x, { cert: device }) && at >= x.claims.revokedFrom);
  if (r) {
    fail('CERT_REVOKED', `the device key of ${device.claims.sub} was revoked for keyCompromise from ${r.claims.revokedFrom} by its agency (through another certificate of the key): nothing it signs from then on is valid`, 'device');
  }
}

/**
 * CERT_REVOKED when a verified keyCompromise revocation of another certificate of a chain key covers `at`. Every such
 * certificate must be named by one (CLAIM_INVALID otherwise: nothing rides along that no check needs).
 */
export function assertKeyNotCompromisedAt(others: readonly SameKeyCertificate[], revocations: readonly DecodedRevocation[], at: number): void {
  for (const e of others) {
    const compromise = revocations.filter((r) => r.claims.reason === 'keyCompromise' && namesCertificate(r.claims.certRef, e.cert));
    if (compromise.length === 0) {
      fail('CLAIM_INVALID', `the bundle carries another certificate of the ${e.of} key (${e.cert.claims.sub}, issued at ${e.cert.claims.iat}) without a keyCompromise revocation of it`, 'certificates');
    }
    const r = compromise.find((x) => at >= x.claims.revokedFrom);
    if (r) {
      fail('CERT_REVOKED', `the ${e.of} key of ${e.cert.claims.sub} was revoked for keyCompromise from ${r.claims.revokedFrom} (through its certificate issued at ${e.cert.claims.iat}): nothing it signs from then on is valid`, e.of);
    }
  }
}

/**
 * A keyCompromise statement the verifier holds (`revocations`, `revocationLog`) about another certificate of the
 * device's subject issued by another agency than the device's (the agency that certified the device before a
 * transfer), covering `at`. A device's subject is its key's id (certificate.ts), so that certificate certified the same
 * key, and the gateway revokes the key through any certificate of it, whoever issued it (gateway/registry-view.ts
 * compromisedKey). The gateway's bundle carries that certificate and its agency's (sameKeyCertificates); one stripped of
 * them must not have the statement passed over (RFC 5280 §5.3.1 keyCompromise: the key is compromised). So, unless the
 * bundle carries the certificate it names (the checks above then place it): CERT_REVOKED when that certificate and its
 * agency's are among `certificates` and verify up to a trusted root; when they are not at hand, UNKNOWN_KEY for a
 * statement from the log's list (`logged`: the gateway took it, and revoked the key by it; whether it revokes this
 * device key cannot be told here, as agency-renewal.ts does for an agency), and passed over for one the verifier brings
 * otherwise (it may be anyone's, unverifiable).
 */
export function assertDeviceKeyNotCompromisedByOtherIssuerAt(
  device: DecodedCertificate, carried: readonly DecodedCertificate[], held: readonly { rev: DecodedRevocation; logged: boolean }[],
  certificates: readonly Uint8Array[] | CertificatePool, trust: TrustMaterial, at: number, v: { verifier?: SignatureVerifier },
): void {
  const relevant = held.filter(
    ({ rev: r }) =>
      r.claims.reason === 'keyCompromise' && r.claims.sub === device.claims.sub && !bytesEqual(r.issuerKid, device.issuerKid) &&
      at >= r.claims.revokedFrom && !carried.some((c) => namesCertificate(r.claims.certRef, c)),
  );
  if (relevant.length === 0) return;
  const pool = asCertificatePool(certificates);
  for (const { rev: r, logged } of relevant) {
    const cert = pool.naming(r.claims.certRef);
    const issuer = cert && pool.agencyOfKey(cert.issuerKid);
    const anchor = issuer && trust.anchors.byKid.get(toHex(issuer.issuerKid));
    if (!cert || !issuer || !anchor) {
      if (!logged) continue;
      fail(
        'UNKNOWN_KEY',
        `a keyCompromise revocation of another certificate of device ${r.claims.sub} (${toHex(r.claims.certRef)}, by another agency, from ${r.claims.revokedFrom}) covers time ${at}, and that certificate or its agency's, certified by a trusted root, is not at hand: whether it revokes this device key cannot be told`,
        'revocations',
      );
    }
    if (cert.claims.role !== 'device' || !bytesEqual(cert.holderKid, device.holderKid)) {
      fail('CHAIN_INVALID', `the certificate a keyCompromise revocation of device ${r.claims.sub} names is not a device certificate of its key`, 'certificates');
    }
    verifySign1(issuer.sign1, anchor.key, v);
    verifySign1(cert.sign1, issuer.holderKey, v);
    verifyRevocation(r, cert, issuer.holderKey, v);
    fail('CERT_REVOKED', `the device key of ${device.claims.sub} was revoked for keyCompromise from ${r.claims.revokedFrom} by agency ${issuer.claims.sub} (through its certificate issued at ${cert.claims.iat}): nothing it signs from then on is valid`, 'device');
  }
}
