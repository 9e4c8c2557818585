/**
 * The registry of agencies and devices: certificates checked against the root trust anchors, revocations
 * checked against the revoked certificate's issuer. Every change is first appended to the log as an entry
 * (so the chain tells the whole story) and the in-memory view is rebuilt from those entries on start.
 */
import { bytesEqual } from '../protocol/bytes.js';
import { decodeCertificate, type DecodedCertificate } from '../protocol/certificate.js';
import { validateChain, type TrustAnchors, type TrustAnchor } from '../protocol/chain.js';
import { fail } from '../protocol/errors.js';
import { decodeRevocation, verifyRevocation, type DecodedRevocation } from '../protocol/revocation.js';
import type { SignatureVerifier } from '../protocol/algorithms.js';

/** Lowercase hex of a kid or certRef, the registry's map key (node's native hex: looked up for every reading). */
function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
import { ENTRY_AGENCY_REGISTRATION as ENTRY_AGENCY, ENTRY_DEVICE_REGISTRATION as ENTRY_DEVICE, ENTRY_REVOCATION } from '../protocol/log-entry.js';

export interface RegistryLog {
  /** Append one registry event; resolves when it is durable in a block. */
  appendRegistryEvent(type: number, payload: Uint8Array, certRef: Uint8Array | undefined): Promise<{ index: number }>;
  /** Registry events in log order (for rebuilding on start). */
  registryEvents(): AsyncIterable<{ type: number; payload: Uint8Array; index: number }>;
}

export interface AgencyRecord {
  cert: DecodedCertificate;
  index: number;
  revocation?: DecodedRevocation;
  /** hex of cert.issuerKid (the root's kid), kept once it is first needed */
  issuerKidHex?: string;
}

export interface DeviceRecord {
  cert: DecodedCertificate;
  agency: AgencyRecord;
  index: number;
  deviceId: string;
  revocation?: DecodedRevocation;
}

export type DeviceStatus = 'active' | 'revoked' | 'expired' | 'not-yet-valid' | 'agency-revoked';

export class Registry {
  private readonly agenciesByKid = new Map<string, AgencyRecord>();
  private readonly agenciesById = new Map<string, AgencyRecord>();
  private readonly devicesByKid = new Map<string, DeviceRecord>();
  private readonly devicesById = new Map<string, DeviceRecord>();
  private readonly revocations = new Map<string, { rev: DecodedRevocation; index: number }>();
  private readonly writes = new Map<string, Promise<void>>();
  /** Called after a revocation lands (the pipeline drops cached chain results). */
  onRevoked: (certRef: Uint8Array) => void = () => {};

  constructor(
    readonly anchors: TrustAnchors,
    private readonly log: RegistryLog,
    private readonly verifier: SignatureVerifier,
  ) {}

  get hasRoots(): boolean {
    return this.anchors.byKid.size > 0;
  }

  /** Rebuild the view from the log's registry events (signatures re-checked; times were checked at admission). */
  async load(): Promise<void> {
    for await (const ev of this.log.registryEvents()) {
      if (ev.type === ENTRY_AGENCY) this.addAgency(decodeCertificate(ev.payload), ev.index);
      else if (ev.type === ENTRY_DEVICE) this.addDevice(decodeCertificate(ev.payload), ev.index);
      else if (ev.type === ENTRY_REVOCATION) this.applyRevocation(decodeRevocation(ev.payload), ev.index);
    }
  }

  /**
   * Writes about the same subject run one at a time (so two registrations of one device cannot race); writes about
   * different subjects run concurrently and share a block, so registering a fleet costs a few blocks, not one each.
   */
  private serialize<T>(subject: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.writes.get(subject) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.then(() => undefined, () => undefined);
    this.writes.set(subject, settled);
    void settled.then(() => {
      if (this.writes.get(subject) === settled) this.writes.delete(subject);
    });
    return run;
  }

  private static subjectOf(bytes: Uint8Array): string {
    try {
      return decodeCertificate(bytes).claims.sub;
    } catch {
      return '';
    }
  }

  private requireRoots(): void {
    if (!this.hasRoots) fail('UNKNOWN_KEY', 'this gateway has no root authority configured (start it with --trust FILE)', 'trust');
  }

  registerAgency(bytes: Uint8Array, now: number): Promise<{ record: AgencyRecord; created: boolean }> {
    return this.serialize(`sub:${Registry.subjectOf(bytes)}`, async () => {
      this.requireRoots();
      const cert = decodeCertificate(bytes);
      if (cert.claims.role !== 'agency') fail('ROLE_VIOLATION', `an agency registration needs an agency certificate, got ${cert.claims.role}`, 'claims.role');
      const existing = this.agenciesByKid.get(toHex(cert.holderKid));
      if (existing && bytesEqual(existing.cert.bytes, bytes)) return { record: existing, created: false };
      const other = this.agenciesById.get(cert.claims.sub);
      if (other && !bytesEqual(other.cert.holderKid, cert.holderKid) && !other.revocation) {
        fail('ROLE_VIOLATION', `agency ${cert.claims.sub} is already registered with another key; revoke it first`, 'claims.sub');
      }
      validateChain([cert], this.anchors, now, { verifier: this.verifier });
      const { index } = await this.log.appendRegistryEvent(ENTRY_AGENCY, bytes, undefined);
      return { record: this.addAgency(cert, index), created: true };
    });
  }

  registerDevice(bytes: Uint8Array, now: number): Promise<{ record: DeviceRecord; created: boolean }> {
    return this.serialize(`sub:${Registry.subjectOf(bytes)}`, async () => {
      this.requireRoots();
      const cert = decodeCertificate(bytes);
      if (cert.claims.role !== 'device') fail('ROLE_VIOLATION', `a device registration needs a device certificate, got ${cert.claims.role}`, 'claims.role');
      const existing = this.devicesByKid.get(toHex(cert.holderKid));
      if (existing && bytesEqual(existing.cert.bytes, bytes)) return { record: existing, created: false };
      const agency = this.agenciesByKid.get(toHex(cert.issuerKid));
      if (!agency) fail('CHAIN_INVALID', 'the issuing agency is not registered with this gateway', 'protected.kid');
      if (agency.revocation && now >= agency.revocation.claims.revokedFrom) fail('CERT_REVOKED', `agency ${agency.cert.claims.sub} is revoked`, 'issuer');
      if (existing && !existing.revocation && !bytesEqual(existing.cert.issuerKid, cert.issuerKid)) {
        fail('ROLE_VIOLATION', 'this device is registered by another agency', 'protected.kid');
      }
      validateChain([cert, agency.cert], this.anchors, now, { verifier: this.verifier, revocations: this.allRevocations() });
      const { index } = await this.log.appendRegistryEvent(ENTRY_DEVICE, bytes, agency.cert.certRef);
      return { record: this.addDevice(cert, index), created: true };
    });
  }

  /** A revocation signed by the revoked certificate's issuer: the root for agencies, the agency for its devices. */
  revoke(bytes: Uint8Array, now: number): Promise<{ revocation: DecodedRevocation; index: number; created: boolean }> {
    let target = '';
    try {
      target = decodeRevocation(bytes).claims.sub;
    } catch {
      /* reported inside */
    }
    return this.serialize(`sub:${target}`, async () => {
      const rev = decodeRevocation(bytes);
      const prior = this.revocations.get(toHex(rev.claims.certRef));
      if (prior && bytesEqual(prior.rev.bytes, bytes)) return { revocation: prior.rev, index: prior.index, created: false };
      const target = this.findCert(rev.claims.certRef);
      if (!target) fail('UNKNOWN_KEY', 'the revocation names a certificate this gateway does not know', 'claims.certRef');
      const issuerKey = this.issuerKeyFor(target, rev);
      verifyRevocation(rev, target, issuerKey, { verifier: this.verifier });
      if (rev.claims.iat > now + 300) fail('CLAIM_INVALID', 'revocation issued in the future', 'claims.iat');
      const signerRef = target.claims.role === 'device' ? this.agenciesByKid.get(toHex(target.issuerKid))?.cert.certRef : undefined;
      const { index } = await this.log.appendRegistryEvent(ENTRY_REVOCATION, bytes, signerRef);
      this.applyRevocation(rev, index);
      return { revocation: rev, index, created: true };
    });
  }

  /** The key that must have signed a revocation of `target`; another agency's key is a ROLE_VIOLATION. */
  private issuerKeyFor(target: DecodedCertificate, rev: DecodedRevocation) {
    if (!bytesEqual(rev.issuerKid, target.issuerKid)) {
      fail('ROLE_VIOLATION', `only the issuer of ${target.claims.sub} may revoke it`, 'protected.kid');
    }
    if (target.claims.role === 'agency') {
      const anchor = this.anchors.byKid.get(toHex(target.issuerKid));
      if (!anchor) fail('UNKNOWN_KEY', 'the root that issued this agency is not trusted here', 'protected.kid');
      return anchor.key;
    }
    const agency = this.agenciesByKid.get(toHex(target.issuerKid));
    if (!agency) fail('UNKNOWN_KEY', 'the issuing agency is not registered', 'protected.kid');
    return agency.cert.holderKey;
  }

  private findCert(certRef: Uint8Array): DecodedCertificate | undefined {
    for (const a of this.agenciesByKid.values()) if (bytesEqual(a.cert.certRef, certRef)) return a.cert;
    for (const d of this.devicesByKid.values()) if (bytesEqual(d.cert.certRef, certRef)) return d.cert;
    return undefined;
  }

  private addAgency(cert: DecodedCertificate, index: number): AgencyRecord {
    const record: AgencyRecord = { cert, index };
    this.agenciesByKid.set(toHex(cert.holderKid), record);
    this.agenciesById.set(cert.claims.sub, record);
    return record;
  }

  private addDevice(cert: DecodedCertificate, index: number): DeviceRecord {
    const agency = this.agenciesByKid.get(toHex(cert.issuerKid));
    if (!agency) throw new Error(`log inconsistency: device ${cert.claims.sub} registered before its agency`);
    const record: DeviceRecord = { cert, agency, index, deviceId: cert.claims.sub };
    this.devicesByKid.set(toHex(cert.holderKid), record);
    this.devicesById.set(cert.claims.sub, record);
    return record;
  }

  private applyRevocation(rev: DecodedRevocation, index: number): void {
    this.revocations.set(toHex(rev.claims.certRef), { rev, index });
    for (const a of this.agenciesByKid.values()) if (bytesEqual(a.cert.certRef, rev.claims.certRef)) a.revocation = rev;
    for (const d of this.devicesByKid.values()) if (bytesEqual(d.cert.certRef, rev.claims.certRef)) d.revocation = rev;
    this.onRevoked(rev.claims.certRef);
  }

  allRevocations(): DecodedRevocation[] {
    return [...this.revocations.values()].map((r) => r.rev);
  }

  deviceByKid(kid: Uint8Array): DeviceRecord | undefined {
    return this.devicesByKid.get(toHex(kid));
  }

  deviceById(id: string): DeviceRecord | undefined {
    return this.devicesById.get(id);
  }

  agencyById(id: string): AgencyRecord | undefined {
    return this.agenciesById.get(id);
  }

  agencies(): AgencyRecord[] {
    return [...this.agenciesById.values()];
  }

  devices(agencyId?: string): DeviceRecord[] {
    const all = [...this.devicesById.values()];
    return agencyId === undefined ? all : all.filter((d) => d.agency.cert.claims.sub === agencyId);
  }

  anchorFor(agency: AgencyRecord): TrustAnchor | undefined {
    return this.anchors.byKid.get((agency.issuerKidHex ??= toHex(agency.cert.issuerKid)));
  }

  /** Where a device stands at `at` (seconds): revocation first, then validity windows of it and its agency. */
  deviceStatus(d: DeviceRecord, at: number): DeviceStatus {
    if (d.revocation && at >= d.revocation.claims.revokedFrom) return 'revoked';
    if (d.agency.revocation && at >= d.agency.revocation.claims.revokedFrom) return 'agency-revoked';
    if (at < d.cert.claims.nbf || at < d.agency.cert.claims.nbf) return 'not-yet-valid';
    if (at >= d.cert.claims.exp || at >= d.agency.cert.claims.exp) return 'expired';
    return 'active';
  }

  /** Throws the code matching deviceStatus when the device may not act at `at`. */
  assertDeviceUsableAt(d: DeviceRecord, at: number, path = 'certificate'): void {
    const status = this.deviceStatus(d, at);
    if (status === 'revoked' || status === 'agency-revoked') {
      const r = status === 'revoked' ? d.revocation! : d.agency.revocation!;
      fail('CERT_REVOKED', `${status === 'revoked' ? 'device' : 'agency'} certificate ${r.claims.sub} revoked from ${r.claims.revokedFrom} (${r.claims.reason})`, path);
    }
    if (status === 'not-yet-valid') fail('CERT_NOT_YET_VALID', `certificate not valid yet at ${at}`, path);
    if (status === 'expired') fail('CERT_EXPIRED', `certificate expired at ${at}`, path);
    const anchor = this.anchorFor(d.agency);
    if (!anchor) fail('CHAIN_INVALID', 'the root of this device is no longer trusted', path);
    if (anchor.notBefore !== undefined && at < anchor.notBefore) fail('CERT_NOT_YET_VALID', 'the root trust anchor is not valid yet at that time', path);
    if (anchor.notAfter !== undefined && at >= anchor.notAfter) fail('CERT_EXPIRED', 'the root trust anchor has expired at that time', path);
  }
}
