/**
 * Certificates a verifier holds for its revocation statements (`verify --certificates`, and those the log's revocation
 * list carries beside its statements), looked up as the revocation checks look them up (agency-renewal.ts,
 * key-compromise.ts): the first, in the order given, that a certRef names (either encoding, certificate-refs.ts), and
 * the first agency certificate of a key. Those that do not decode are left aside. Decoded on the first lookup and
 * indexed, so a pool kept with a prepared revocation list (verify-revocation-log.ts) is decoded once, not per verdict.
 */
import { toHex } from './bytes.js';
import { decodableCertificates, type DecodedCertificate } from './certificate.js';
import { certificateRefs } from './certificate-refs.js';

export interface CertificatePool {
  /** The first certificate, in order, that `certRef` names. */
  naming(certRef: Uint8Array): DecodedCertificate | undefined;
  /** The first agency certificate, in order, of the key whose thumbprint is `kid`. */
  agencyOfKey(kid: Uint8Array): DecodedCertificate | undefined;
}

export function certificatePool(bytes: readonly Uint8Array[]): CertificatePool {
  let index: { byRef: Map<string, DecodedCertificate>; agencyByKid: Map<string, DecodedCertificate> } | undefined;
  const built = () => {
    if (index) return index;
    const byRef = new Map<string, DecodedCertificate>();
    const agencyByKid = new Map<string, DecodedCertificate>();
    for (const c of decodableCertificates(bytes)) {
      for (const ref of certificateRefs(c)) if (!byRef.has(toHex(ref))) byRef.set(toHex(ref), c);
      if (c.claims.role === 'agency' && !agencyByKid.has(toHex(c.holderKid))) agencyByKid.set(toHex(c.holderKid), c);
    }
    return (index = { byRef, agencyByKid });
  };
  return {
    naming: (certRef) => (bytes.length === 0 ? undefined : built().byRef.get(toHex(certRef))),
    agencyOfKey: (kid) => (bytes.length === 0 ? undefined : built().agencyByKid.get(toHex(kid))),
  };
}

/** The pools in turn: the first that has one answers. */
export function chainedPools(...pools: CertificatePool[]): CertificatePool {
  return {
    naming: (certRef) => pools.reduce<DecodedCertificate | undefined>((found, p) => found ?? p.naming(certRef), undefined),
    agencyOfKey: (kid) => pools.reduce<DecodedCertificate | undefined>((found, p) => found ?? p.agencyOfKey(kid), undefined),
  };
}

export function asCertificatePool(certificates: readonly Uint8Array[] | CertificatePool): CertificatePool {
  return Array.isArray(certificates) ? certificatePool(certificates) : (certificates as CertificatePool);
}
