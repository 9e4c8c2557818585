/**
 * The registry's lookups in its current view (registry-view.ts), which load() swaps whole: certificates, agencies and
 * devices, and what the revocation list and bundles carry beside them. The first layer of Registry (registry.ts).
 */
import type { DecodedCertificate } from '../protocol/certificate.js';
import type { TrustAnchors, TrustAnchor } from '../protocol/chain.js';
import { inTrustWindow } from '../protocol/trust.js';
import type { DecodedRevocation } from '../protocol/revocation.js';
import type { RevocationCertificates } from '../protocol/revocation-listing.js';
import { inEffect } from './registry-rules.js';
import { RegistryView, toHex, type AgencyRecord, type DeviceRecord } from './registry-view.js';

export abstract class RegistryLookups {
  /** Swapped whole by load(); read through the lookups below. */
  protected view = new RegistryView();

  constructor(readonly anchors: TrustAnchors) {}

  // Lookups in the current view (registry-view.ts).
  compromiseOf(role: 'agency' | 'device', holderKid: Uint8Array): { rev: DecodedRevocation; cert: DecodedCertificate } | undefined {
    return this.view.compromiseOf(role, holderKid);
  }
  /**
   * What the revocation list carries beside a statement (GET /v1/revocations, POST /v1/verify) so that a verifier can
   * place it: for an agency's certificate, that certificate (protocol/agency-renewal.ts); for a device's revoked for
   * keyCompromise, that certificate and the agency certificate that certified it (the key may be another agency's
   * device's since a transfer: protocol/key-compromise.ts). `certRef` in either encoding (certificate-refs.ts); nothing
   * for another device revocation or a certificate not registered here.
   */
  revocationCertificates(rev: Pick<DecodedRevocation, 'claims'>): RevocationCertificates {
    const cert = this.view.findCert(rev.claims.certRef);
    if (cert?.claims.role === 'agency') return { certificate: cert.bytes };
    if (cert?.claims.role !== 'device' || rev.claims.reason !== 'keyCompromise') return {};
    const issuer = this.view.agencyCertificateAt(cert.issuerKid, cert.claims.iat);
    return { certificate: cert.bytes, ...(issuer ? { issuer: issuer.bytes } : {}) };
  }
  /** Any certificate registered here that `certRef` names, in either encoding (certificate-refs.ts). */
  findCertificate(certRef: Uint8Array): DecodedCertificate | undefined {
    return this.view.findCert(certRef);
  }
  certificateByRef(certRef: Uint8Array): DecodedCertificate | undefined {
    return this.view.certificateByRef(certRef);
  }
  agencyCertificateAt(agencyKid: Uint8Array, at: number): DecodedCertificate | undefined {
    return this.view.agencyCertificateAt(agencyKid, at);
  }
  /**
   * The agency certificate a reading signed at `at` was checked under, for its proof bundle (its entry pins the device
   * certificate, not the agency's): the last registered valid at `at` whose root is trusted here and within its window
   * then, else agencyCertificateAt's. Found by two reviews: after a root rotation scheduled in the trust file (the new
   * root's window beginning at E) and the agency's takeover by the new root, or an agency's move to another root
   * (released by the first, same key and id, the new certificate dated back over earlier readings), the bundles of
   * readings logged under the first root's chain carried the second's and failed offline (chain CERT_NOT_YET_VALID, or
   * UNKNOWN_KEY once that root is no longer trusted). Not when the latest is itself revoked at `at`: the bundle then
   * carries it and its revocation, and the reading is invalid (the gateway holds the agency revoked then) rather than
   * passed under the earlier root's certificate.
   */
  readingAgencyCertificateAt(agencyKid: Uint8Array, at: number): DecodedCertificate | undefined {
    const latest = this.view.agencyCertificateAt(agencyKid, at);
    if (!latest || this.rootCoversAt(latest, at) || inEffect(this.view.revocationOf(latest)?.rev, at)) return latest;
    return this.view.agencyCertificateAt(agencyKid, at, (c) => this.rootCoversAt(c, at));
  }
  revocationsOf(certs: readonly DecodedCertificate[]): DecodedRevocation[] {
    return this.view.revocationsOf(certs);
  }
  deviceByKid(kid: Uint8Array): DeviceRecord | undefined {
    return this.view.deviceByKid(kid);
  }
  deviceById(id: string): DeviceRecord | undefined {
    return this.view.deviceById(id);
  }
  agencyById(id: string): AgencyRecord | undefined {
    return this.view.agencyById(id);
  }
  agencies(): AgencyRecord[] {
    return this.view.agencies();
  }
  /** A page of the agencies in registration order (RegistryView.agenciesPage); undefined when `after` is no agency id. */
  agenciesPage(limit: number, after?: string): { page: AgencyRecord[]; next?: string } | undefined {
    return this.view.agenciesPage(limit, after);
  }
  /** Every registered device (revoked and expired ones too). */
  devices(): IterableIterator<DeviceRecord> {
    return this.view.devices();
  }
  /** How many devices agency id `agencyId` lists (devicesPage), without a pass over the devices. */
  deviceCount(agencyId: string): number {
    return this.view.deviceCount(agencyId);
  }
  devicesPage(agencyId: string, limit: number, after?: string): { page: DeviceRecord[]; more: boolean } | undefined {
    return this.view.devicesPage(agencyId, limit, after);
  }

  anchorFor(agency: AgencyRecord): TrustAnchor | undefined {
    return this.anchors.byKid.get((agency.issuerKidHex ??= toHex(agency.cert.issuerKid)));
  }

  /** Whether the root that issued `agencyCert` is trusted here and within its trust window at `at`. */
  protected rootCoversAt(agencyCert: DecodedCertificate, at: number): boolean {
    const anchor = this.anchors.byKid.get(toHex(agencyCert.issuerKid));
    return anchor !== undefined && inTrustWindow(anchor, at);
  }
}
