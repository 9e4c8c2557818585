/**
 * The certificates and revocations a verifier needs beside an entry (protocol/verify-bundle.ts checks each):
 * - a reading: the device certificate the entry was admitted under (by its certRef, even if the device has a newer
 *   one since) and the agency certificate valid at the reading's time (one whose root is trusted then first:
 *   Registry.readingAgencyCertificateAt), with the strictest revocation of each,
 *   and a keyCompromise of another certificate of either key (addKeyCompromises);
 * - an agency registration: no certificate (the issuer is a trusted root), the agency's revocation, and a
 *   keyCompromise of another certificate of its key;
 * - a device registration: the agency certificate the entry's certRef names (the one it was checked against), the
 *   revocations of the device and of that agency, and a keyCompromise of another certificate of either key;
 * - a revocation: the certificate it names and, for a device, the agency certificate the entry's certRef names (its
 *   issuer when it was logged), with that agency's revocation.
 */
import { bytesEqual } from '../protocol/bytes.js';
import type { DecodedCertificate } from '../protocol/certificate.js';
import { decodeCertificate } from '../protocol/certificate.js';
import { namesCertificate } from '../protocol/certificate-refs.js';
import { ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_READING, ENTRY_REVOCATION, type LogEntry } from '../protocol/log-entry.js';
import { openLoggedReading } from '../protocol/reading.js';
import { decodeRevocation } from '../protocol/revocation.js';
import type { Registry } from './registry.js';

export interface BundleMaterial {
  certificates: Uint8Array[];
  revocations: Uint8Array[];
}

export function bundleMaterial(registry: Registry, entry: LogEntry): BundleMaterial {
  if (entry.type !== ENTRY_READING) return registryMaterial(registry, entry);
  // One that no longer opens (logged under rules since tightened) is placed by the certificate its entry pins and its
  // arrival; the verifier says why it fails (its bundle could not be fetched at all: 422).
  const reading = openLoggedReading(entry.payload);
  const at = reading?.claims.iat ?? Math.floor(entry.receivedAtMs / 1000);
  const device = (entry.certRef && registry.certificateByRef(entry.certRef)) || (reading && registry.deviceByKid(reading.kid)?.cert);
  if (!device) return { certificates: [], revocations: [] };
  const agency = registry.readingAgencyCertificateAt(device.issuerKid, at);
  const certs = agency ? [device, agency] : [device];
  const material = { certificates: certs.map((c) => c.bytes), revocations: registry.revocationsOf(certs).map((r) => r.bytes) };
  if (agency) addKeyCompromises(registry, device, agency, material);
  return material;
}

/**
 * A keyCompromise revocation of another certificate of the device's or the agency's key (one it replaced, or one
 * that replaced it) revokes the key (the registry applies it to the current certificate): the bundle carries that
 * certificate and revocation, and for a device certificate from another agency that agency's certificate, so the
 * offline verifier sees it too.
 */
function addKeyCompromises(registry: Registry, device: DecodedCertificate | undefined, agency: DecodedCertificate, material: BundleMaterial): BundleMaterial {
  for (const chain of device ? [device, agency] : [agency]) {
    const c = registry.compromiseOf(chain === device ? 'device' : 'agency', chain.holderKid);
    if (!c || namesCertificate(c.rev.claims.certRef, chain)) continue;
    material.certificates.push(c.cert.bytes);
    material.revocations.push(c.rev.bytes);
    if (chain === device && !bytesEqual(c.cert.issuerKid, agency.holderKid)) {
      const issuer = registry.agencyCertificateAt(c.cert.issuerKid, c.cert.claims.iat);
      if (issuer) material.certificates.push(issuer.bytes);
    }
  }
  return material;
}

/** Material for a registry event; a payload the registry cannot place gets none (the verifier then says why). */
function registryMaterial(registry: Registry, entry: LogEntry): BundleMaterial {
  const of = (carried: DecodedCertificate[], revocationsOf: DecodedCertificate[]): BundleMaterial => ({
    certificates: carried.map((c) => c.bytes),
    revocations: registry.revocationsOf(revocationsOf).map((r) => r.bytes),
  });
  const agencyByRef = (): DecodedCertificate[] => {
    const a = entry.certRef && registry.certificateByRef(entry.certRef);
    return a ? [a] : [];
  };
  try {
    if (entry.type === ENTRY_AGENCY_REGISTRATION) {
      const agency = decodeCertificate(entry.payload);
      return addKeyCompromises(registry, undefined, agency, of([], [agency]));
    }
    if (entry.type === ENTRY_DEVICE_REGISTRATION) {
      const agency = agencyByRef();
      const device = decodeCertificate(entry.payload);
      const material = of(agency, [device, ...agency]);
      return agency[0] ? addKeyCompromises(registry, device, agency[0], material) : material;
    }
    if (entry.type === ENTRY_REVOCATION) {
      const rev = decodeRevocation(entry.payload);
      const ref = rev.claims.certRef;
      // The certificate the registry took it against: either encoding of an ES256-signed certificate, also one since
      // replaced (found by review: the twin of a replaced certificate was looked up as the subject's current one, so
      // the entry's bundle carried nothing and failed offline, UNKNOWN_KEY, though the gateway had taken it).
      const found = registry.findCertificate(ref);
      const revoked = found && namesCertificate(ref, found) ? found : undefined;
      if (!revoked) return { certificates: [], revocations: [] };
      // No revocations: revoking only restricts, so an issuer revoked or expired since may still revoke (the gateway
      // takes it, and verify-registry-event.ts does not ask).
      if (revoked.claims.role !== 'device') return of([revoked], []);
      return of([revoked, ...agencyByRef()], []);
    }
  } catch {
    /* a payload that does not decode: no material */
  }
  return { certificates: [], revocations: [] };
}
