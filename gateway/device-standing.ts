/**
 * Where a device stands at a time: the chain a reading dated then is checked and logged under (chainAt), and whether
 * its revocations, validity windows and root let it act then (deviceStatus, assertDeviceUsableAt: twice per reading).
 * The second layer of Registry (registry.ts), on its lookups (registry-lookups.ts).
 */
import type { DecodedCertificate } from '../protocol/certificate.js';
import type { TrustAnchor } from '../protocol/chain.js';
import { fail } from '../protocol/errors.js';
import { inTrustWindow } from '../protocol/trust.js';
import type { DecodedRevocation } from '../protocol/revocation.js';
import { inEffect } from './registry-rules.js';
import { RegistryLookups } from './registry-lookups.js';
import { toHex, type AgencyRecord, type DeviceRecord } from './registry-view.js';

/** 'untrusted': the root that certified its agency is not in this gateway's trust file (any more). */
export type DeviceStatus = 'active' | 'revoked' | 'expired' | 'not-yet-valid' | 'agency-revoked' | 'untrusted';
const STANDING_CODES = {
  revoked: 'CERT_REVOKED', 'agency-revoked': 'CERT_REVOKED', 'not-yet-valid': 'CERT_NOT_YET_VALID', expired: 'CERT_EXPIRED', untrusted: 'CHAIN_INVALID',
} as const;

/** The certificates a reading dated at some time is checked and logged under (Registry.chainAt). */
export interface ReadingChain {
  cert: DecodedCertificate;
  agency: AgencyRecord;
  agencyCert: DecodedCertificate;
}

export abstract class DeviceStanding extends RegistryLookups {
  /**
   * The certificates a device acts under at `at`: its current one and its agency's, unless `at` is before either's
   * start (nbf). A reading signed before a renewal (kept while the device was offline, or on its way) is checked and
   * logged under the certificates of the same keys valid then, the last registered such: its entry pins that device
   * certificate (certRef), and its proof bundle carries the agency's picked the same way (bundle-material.ts,
   * protocol/verify-reading.ts). Else renewing an agency's certificate refused every reading its devices had kept
   * from before (CERT_NOT_YET_VALID, which a device drops: SPEC §8). After a transfer the earlier certificate is the
   * previous agency's, and so is the chain.
   */
  chainAt(d: DeviceRecord, at: number): ReadingChain {
    if (at >= d.cert.claims.nbf && at >= d.agency.cert.claims.nbf) return { cert: d.cert, agency: d.agency, agencyCert: d.agency.cert };
    // Valid at `at`, else expired at it (a gap between two certificates: CERT_EXPIRED), else the current (CERT_NOT_YET_VALID).
    const cert = at < d.cert.claims.nbf ? (this.view.certificateCovering('device', d.cert.holderKid, at) ?? d.cert) : d.cert;
    const agency = cert === d.cert ? d.agency : this.view.agencyByKid(cert.issuerKid);
    if (!agency) fail('CHAIN_INVALID', `the agency that certified device ${d.deviceId} before is not registered`, 'certificate');
    const agencyCert = at < agency.cert.claims.nbf ? (this.view.certificateCovering('agency', agency.cert.holderKid, at) ?? agency.cert) : agency.cert;
    return { cert, agency, agencyCert };
  }

  /** The device certificate a reading dated `at` is checked and logged under (chainAt). */
  deviceCertAt(d: DeviceRecord, at: number): DecodedCertificate {
    return at >= d.cert.claims.nbf && at >= d.agency.cert.claims.nbf ? d.cert : this.chainAt(d, at).cert;
  }

  /**
   * Where a device stands at `at` (seconds): revocation first, then validity windows of it and its agency, then its
   * root (as assertDeviceUsableAt decides: a device shown active can connect and publish).
   */
  deviceStatus(d: DeviceRecord, at: number, revokedAt = at): DeviceStatus {
    return this.standing(d, at, true, revokedAt)?.status ?? 'active';
  }

  /**
   * Throws the code matching deviceStatus when the device may not act at `at`. `revokedAt` (default `at`): the time
   * revocations are judged at; for a reading its iat, or when it arrived if earlier (readingRevokedAt).
   */
  assertDeviceUsableAt(d: DeviceRecord, at: number, path = 'certificate', revokedAt = at): void {
    const s = this.standing(d, at, true, revokedAt);
    if (s) fail(STANDING_CODES[s.status], s.message, path);
  }

  /** The device's and its agency's certificates (chainAt) valid at `at`, and their root still trusted then (not revocation). */
  assertChainValidAt(d: DeviceRecord, at: number, path = 'certificate'): void {
    const s = this.standing(d, at, false);
    if (s) fail(STANDING_CODES[s.status], s.message, path);
  }

  /**
   * Why the device may not act at `at`, undefined if it may (nothing allocated then: this runs twice per reading).
   * The current certificates' revocations count at any time (a keyCompromise through any certificate of the key is
   * the device's: registry-view.ts); for an earlier chain (chainAt), its certificates' own too.
   */
  private standing(d: DeviceRecord, at: number, revocations: boolean, revAt = at): { status: Exclude<DeviceStatus, 'active'>; message: string } | undefined {
    if (revocations && inEffect(d.revocation, revAt)) return revoked(d.revocation!, 'revoked');
    if (revocations && inEffect(d.agency.revocation, revAt)) return revoked(d.agency.revocation!, 'agency-revoked');
    let cert = d.cert;
    let agencyCert = d.agency.cert;
    let anchor: TrustAnchor | undefined;
    if (at < cert.claims.nbf || at < agencyCert.claims.nbf) {
      const c = this.chainAt(d, at);
      if (revocations) {
        const own = c.cert === d.cert ? undefined : this.view.revocationOf(c.cert)?.rev;
        if (inEffect(own, revAt)) return revoked(own!, 'revoked');
        if (c.agency !== d.agency && inEffect(c.agency.revocation, revAt)) return revoked(c.agency.revocation!, 'agency-revoked');
        const agencyOwn = c.agencyCert === c.agency.cert ? undefined : this.view.revocationOf(c.agencyCert)?.rev;
        if (inEffect(agencyOwn, revAt)) return revoked(agencyOwn!, 'agency-revoked');
      }
      ({ cert, agencyCert } = c);
      anchor = this.anchors.byKid.get(toHex(agencyCert.issuerKid));
    } else {
      anchor = this.anchorFor(d.agency);
    }
    if (at < cert.claims.nbf || at < agencyCert.claims.nbf) return { status: 'not-yet-valid', message: `certificate not valid yet at ${at}` };
    if (at >= cert.claims.exp || at >= agencyCert.claims.exp) return { status: 'expired', message: `certificate expired at ${at}` };
    if (!anchor) return { status: 'untrusted', message: 'the root of this device is no longer trusted' };
    if (inTrustWindow(anchor, at)) return undefined;
    // Outside its root's trust window: an earlier certificate of the agency key valid then, under a root trusted then
    // and not revoked then, is the agency's certificate of that time, as bundles pick it (readingAgencyCertificateAt).
    // Found by review: after a root rotation scheduled in the trust file and the agency's takeover by the new root,
    // whose certificate for it began before that root's window, readings signed before the switch (kept offline) were
    // refused CERT_NOT_YET_VALID though the old root's certificate was valid then, and offline they verify.
    const alt = this.readingAgencyCertificateAt(agencyCert.holderKid, at);
    if (alt && alt !== agencyCert && at >= alt.claims.nbf && at < alt.claims.exp && this.rootCoversAt(alt, at) && !(revocations && inEffect(this.view.revocationOf(alt)?.rev, revAt))) {
      return undefined;
    }
    if (anchor.notBefore !== undefined && at < anchor.notBefore) return { status: 'not-yet-valid', message: 'the root trust anchor is not valid yet at that time' };
    return { status: 'expired', message: 'the root trust anchor has expired at that time' };
  }
}

/**
 * The time a reading's revocations are judged at: its iat, or when it arrived if earlier (ms). Dated ahead within the
 * clock skew, a reading that arrived before a revocation's start was signed before it, whatever the device's clock
 * said; the offline verifier places it the same way (protocol/verify-reading.ts: min(iat, the entry's receivedAt)).
 * Found by review: a device whose clock ran ahead was refused CERT_REVOKED (which stops it, SPEC §8) by a revocation
 * scheduled to start after the reading arrived.
 */
export const readingRevokedAt = (iat: number, receivedAtMs: number): number => Math.min(iat, Math.floor(receivedAtMs / 1000));

function revoked(r: DecodedRevocation, status: 'revoked' | 'agency-revoked'): { status: 'revoked' | 'agency-revoked'; message: string } {
  return { status, message: `${status === 'revoked' ? 'device' : 'agency'} certificate ${r.claims.sub} revoked from ${r.claims.revokedFrom} (${r.claims.reason})` };
}
