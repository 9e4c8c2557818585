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
import { namesCertificate } from '../protocol/certificate-refs.js';
import { assertMayReplace, assertStricter, inEffect, isStricter } from './registry-rules.js';

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

/**
 * `revocation`: the strictest revocation in force against the record: of its current certificate, or, for
 * keyCompromise, of any certificate of the same key (one it replaced): a compromised key signs nothing valid after
 * revokedFrom, whichever certificate names it.
 */
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

/** 'untrusted': the root that certified its agency is not in this gateway's trust file (any more). */
export type DeviceStatus = 'active' | 'revoked' | 'expired' | 'not-yet-valid' | 'agency-revoked' | 'untrusted';

export class Registry {
  private agenciesByKid = new Map<string, AgencyRecord>();
  private agenciesById = new Map<string, AgencyRecord>();
  private devicesByKid = new Map<string, DeviceRecord>();
  private devicesById = new Map<string, DeviceRecord>();
  /** The strictest revocation per certificate (hex certRef of the registered encoding). */
  private revocations = new Map<string, { rev: DecodedRevocation; index: number }>();
  /** Every certificate ever registered, by hex certRef; and each agency key's certificates in registration order. */
  private certsByRef = new Map<string, DecodedCertificate>();
  private agencyCerts = new Map<string, DecodedCertificate[]>();
  /** Holder keys (hex kid) with a certificate revoked for keyCompromise: the strictest such revocation. */
  private compromised = new Map<string, DecodedRevocation>();
  private readonly writes = new Map<string, Promise<void>>();
  /** How far ahead of the gateway's clock a revocation's iat may be (config clockSkewSeconds, as the offline verifier allows). */
  clockSkewSeconds = 300;
  /** Throws while writes may not be taken (the gateway: while its store recovers from a failure, reload included). */
  writeGuard: () => void = () => {};
  /** Set while load() rebuilds the view: writes wait for it, and it waits for the writes already running. */
  private loading: Promise<void> | undefined;

  constructor(
    readonly anchors: TrustAnchors,
    private readonly log: RegistryLog,
    private readonly verifier: SignatureVerifier,
  ) {}

  get hasRoots(): boolean {
    return this.anchors.byKid.size > 0;
  }

  /**
   * Rebuild the view from the log's registry events (their signatures and times were checked at admission). The new
   * view is built aside and swapped in at once, with registry writes held until then: on recovery from a storage
   * failure a write landing halfway through the rebuild would otherwise be overwritten by the older events after it.
   */
  async load(): Promise<void> {
    const run = (async () => {
      await Promise.all([...this.writes.values()]);
      const fresh = new Registry(this.anchors, this.log, this.verifier);
      for await (const ev of this.log.registryEvents()) {
        if (ev.type === ENTRY_AGENCY) fresh.addAgency(decodeCertificate(ev.payload), ev.index);
        else if (ev.type === ENTRY_DEVICE) fresh.addDevice(decodeCertificate(ev.payload), ev.index);
        else if (ev.type === ENTRY_REVOCATION) fresh.applyRevocation(decodeRevocation(ev.payload), ev.index);
      }
      ({ agenciesByKid: this.agenciesByKid, agenciesById: this.agenciesById, devicesByKid: this.devicesByKid, devicesById: this.devicesById } = fresh);
      ({ revocations: this.revocations, certsByRef: this.certsByRef, agencyCerts: this.agencyCerts, compromised: this.compromised } = fresh);
    })();
    const settled = (this.loading = run.then(() => undefined, () => undefined));
    try {
      await run;
    } finally {
      if (this.loading === settled) this.loading = undefined;
    }
  }

  /**
   * Writes about the same subject run one at a time (so two registrations of one device cannot race); writes about
   * different subjects run concurrently and share a block, so registering a fleet costs a few blocks, not one each.
   */
  private serialize<T>(subject: string, fn: () => Promise<T>): Promise<T> {
    const prev = Promise.all([this.writes.get(subject), this.loading]);
    const run = prev.then(fn, fn);
    const settled = run.then(() => undefined, () => undefined);
    this.writes.set(subject, settled);
    void settled.then(() => {
      if (this.writes.get(subject) === settled) this.writes.delete(subject);
    });
    return run;
  }

  /** A write: refused at once while the write guard says so, else serialized by subject. */
  private write<T>(subject: string, fn: () => Promise<T>): Promise<T> {
    try {
      this.writeGuard();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.serialize(subject, fn);
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
    return this.write(`sub:${Registry.subjectOf(bytes)}`, async () => {
      this.requireRoots();
      const cert = decodeCertificate(bytes);
      if (cert.claims.role !== 'agency') fail('ROLE_VIOLATION', `an agency registration needs an agency certificate, got ${cert.claims.role}`, 'claims.role');
      const existing = this.agenciesByKid.get(toHex(cert.holderKid));
      if (existing && bytesEqual(existing.cert.bytes, bytes)) return { record: existing, created: false };
      if (existing) assertMayReplace(existing, cert, now, this.compromised.get(toHex(cert.holderKid)));
      const other = this.agenciesById.get(cert.claims.sub);
      if (other && other !== existing && !inEffect(other.revocation, now)) {
        fail('ROLE_VIOLATION', `agency ${cert.claims.sub} is already registered with another key; revoke it first`, 'claims.sub');
      }
      validateChain([cert], this.anchors, now, { verifier: this.verifier, revocations: this.allRevocations() });
      const { index } = await this.log.appendRegistryEvent(ENTRY_AGENCY, bytes, undefined);
      return { record: this.addAgency(cert, index), created: true };
    });
  }

  registerDevice(bytes: Uint8Array, now: number): Promise<{ record: DeviceRecord; created: boolean }> {
    return this.write(`sub:${Registry.subjectOf(bytes)}`, async () => {
      this.requireRoots();
      const cert = decodeCertificate(bytes);
      if (cert.claims.role !== 'device') fail('ROLE_VIOLATION', `a device registration needs a device certificate, got ${cert.claims.role}`, 'claims.role');
      const existing = this.devicesByKid.get(toHex(cert.holderKid));
      if (existing && bytesEqual(existing.cert.bytes, bytes)) return { record: existing, created: false };
      const agency = this.agenciesByKid.get(toHex(cert.issuerKid));
      if (!agency) fail('CHAIN_INVALID', 'the issuing agency is not registered with this gateway', 'protected.kid');
      if (inEffect(agency.revocation, now)) fail('CERT_REVOKED', `agency ${agency.cert.claims.sub} is revoked`, 'issuer');
      if (existing) assertMayReplace(existing, cert, now, this.compromised.get(toHex(cert.holderKid)));
      validateChain([cert, agency.cert], this.anchors, now, { verifier: this.verifier, revocations: this.allRevocations() });
      const { index } = await this.log.appendRegistryEvent(ENTRY_DEVICE, bytes, agency.cert.certRef);
      return { record: this.addDevice(cert, index), created: true };
    });
  }

  /**
   * A revocation signed by the revoked certificate's issuer: the root for agencies, the agency for its devices. It
   * may name any certificate registered here, the current one of a key or one it replaced, in either encoding.
   */
  revoke(bytes: Uint8Array, now: number): Promise<{ revocation: DecodedRevocation; index: number; created: boolean }> {
    let target = '';
    try {
      target = decodeRevocation(bytes).claims.sub;
    } catch {
      /* reported inside */
    }
    return this.write(`sub:${target}`, async () => {
      const rev = decodeRevocation(bytes);
      const target = this.findCert(rev.claims.certRef);
      if (!target) fail('UNKNOWN_KEY', 'the revocation names a certificate this gateway does not know', 'claims.certRef');
      const prior = this.revocations.get(toHex(target.certRef));
      if (prior && bytesEqual(prior.rev.bytes, bytes)) return { revocation: prior.rev, index: prior.index, created: false };
      const issuerKey = this.issuerKeyFor(target, rev);
      verifyRevocation(rev, target, issuerKey, { verifier: this.verifier });
      if (rev.claims.iat > now + this.clockSkewSeconds) fail('CLAIM_INVALID', 'revocation issued in the future', 'claims.iat');
      if (prior) assertStricter(rev, prior.rev);
      const signerRef = target.claims.role === 'device' ? this.agenciesByKid.get(toHex(target.issuerKid))?.cert.certRef : undefined;
      // In force from now, not from when its block is durable: a reading admitted meanwhile would be logged after it.
      const undo = this.applyRevocation(rev, -1);
      try {
        const { index } = await this.log.appendRegistryEvent(ENTRY_REVOCATION, bytes, signerRef);
        this.revocations.get(toHex(target.certRef))!.index = index;
        return { revocation: rev, index, created: true };
      } catch (err) {
        undo();
        throw err;
      }
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

  /** Any certificate ever registered here that `certRef` names (either encoding, certificate-refs.ts). */
  private findCert(certRef: Uint8Array): DecodedCertificate | undefined {
    const exact = this.certsByRef.get(toHex(certRef));
    if (exact) return exact;
    for (const c of this.certsByRef.values()) if (namesCertificate(certRef, c)) return c;
    return undefined;
  }

  /** A replacement (same key) updates the record in place, so that an agency's devices follow its new certificate. */
  private addAgency(cert: DecodedCertificate, index: number): AgencyRecord {
    const kid = toHex(cert.holderKid);
    const record = this.agenciesByKid.get(kid) ?? ({} as AgencyRecord);
    Object.assign(record, { cert, index, revocation: undefined, issuerKidHex: undefined });
    this.agenciesByKid.set(kid, record);
    this.agenciesById.set(cert.claims.sub, record);
    this.remember(cert);
    const history = this.agencyCerts.get(kid);
    if (history) history.push(cert);
    else this.agencyCerts.set(kid, [cert]);
    return record;
  }

  private addDevice(cert: DecodedCertificate, index: number): DeviceRecord {
    const agency = this.agenciesByKid.get(toHex(cert.issuerKid));
    if (!agency) throw new Error(`log inconsistency: device ${cert.claims.sub} registered before its agency`);
    const kid = toHex(cert.holderKid);
    const record = this.devicesByKid.get(kid) ?? ({} as DeviceRecord);
    Object.assign(record, { cert, agency, index, deviceId: cert.claims.sub, revocation: undefined });
    this.devicesByKid.set(kid, record);
    this.devicesById.set(cert.claims.sub, record);
    this.remember(cert);
    return record;
  }

  private remember(cert: DecodedCertificate): void {
    this.certsByRef.set(toHex(cert.certRef), cert);
  }

  /**
   * Keeps the strictest statement per certificate (registry-rules.ts); a later one that is not stricter, which only
   * a log written before that rule can hold, changes nothing. Returns what puts the view back (a failed append).
   */
  private applyRevocation(rev: DecodedRevocation, index: number): () => void {
    const target = this.findCert(rev.claims.certRef);
    if (!target) throw new Error(`log inconsistency: revocation of ${rev.claims.sub} names no registered certificate`);
    const ref = toHex(target.certRef), kid = toHex(target.holderKid);
    const prior = this.revocations.get(ref);
    // isStricter, not mayReplaceRevocation: a log written before keyCompromise became final may hold another reason
    // after it, with an earlier revokedFrom, and the view is rebuilt as it was taken then (the earlier time).
    if (prior && !isStricter(rev, prior.rev)) return () => {};
    const record = target.claims.role === 'agency' ? this.agenciesByKid.get(kid) : this.devicesByKid.get(kid);
    const before = { compromise: this.compromised.get(kid), revocation: record?.revocation };
    this.revocations.set(ref, { rev, index });
    if (rev.claims.reason === 'keyCompromise' && (!before.compromise || isStricter(rev, before.compromise))) this.compromised.set(kid, rev);
    // The current certificate's own revocation, or the compromise of its key named through a replaced certificate.
    const applies = record !== undefined && (record.cert === target || rev.claims.reason === 'keyCompromise');
    if (applies && (!record.revocation || isStricter(rev, record.revocation))) record.revocation = rev;
    return () => {
      if (prior) this.revocations.set(ref, prior);
      else this.revocations.delete(ref);
      if (before.compromise) this.compromised.set(kid, before.compromise);
      else this.compromised.delete(kid);
      if (record) record.revocation = before.revocation;
    };
  }

  /**
   * The strictest keyCompromise revocation of any certificate of `holderKid`'s key, with the certificate it names:
   * bundles carry it when that is not the chain's certificate (protocol/key-compromise.ts).
   */
  compromiseOf(holderKid: Uint8Array): { rev: DecodedRevocation; cert: DecodedCertificate } | undefined {
    const rev = this.compromised.get(toHex(holderKid));
    const cert = rev && this.findCert(rev.claims.certRef);
    return rev && cert ? { rev, cert } : undefined;
  }

  /** Every registered certificate by its certRef, for bundles of entries admitted under a certificate since replaced. */
  certificateByRef(certRef: Uint8Array): DecodedCertificate | undefined {
    return this.certsByRef.get(toHex(certRef));
  }

  /** The agency certificate of `agencyKid` that was registered last among those valid at `at` (else the current one). */
  agencyCertificateAt(agencyKid: Uint8Array, at: number): DecodedCertificate | undefined {
    const kid = toHex(agencyKid);
    const history = this.agencyCerts.get(kid) ?? [];
    for (let i = history.length - 1; i >= 0; i--) {
      const c = history[i]!;
      if (at >= c.claims.nbf && at < c.claims.exp) return c;
    }
    return this.agenciesByKid.get(kid)?.cert;
  }

  /** The strictest revocation of each revoked certificate that is in the log (not one still on its way), by index. */
  loggedRevocations(): { rev: DecodedRevocation; index: number }[] {
    return [...this.revocations.values()].filter((r) => r.index >= 0).sort((a, b) => a.index - b.index);
  }

  /** The strictest revocation of each of `certs` (registry-rules.ts). */
  revocationsOf(certs: readonly DecodedCertificate[]): DecodedRevocation[] {
    return certs.flatMap((c) => {
      const r = this.revocations.get(toHex(c.certRef));
      return r ? [r.rev] : [];
    });
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

  /**
   * Where a device stands at `at` (seconds): revocation first, then validity windows of it and its agency, then its
   * root (as assertDeviceUsableAt decides: a device shown active can connect and publish).
   */
  deviceStatus(d: DeviceRecord, at: number): DeviceStatus {
    if (inEffect(d.revocation, at)) return 'revoked';
    if (inEffect(d.agency.revocation, at)) return 'agency-revoked';
    if (at < d.cert.claims.nbf || at < d.agency.cert.claims.nbf) return 'not-yet-valid';
    if (at >= d.cert.claims.exp || at >= d.agency.cert.claims.exp) return 'expired';
    const anchor = this.anchorFor(d.agency);
    if (!anchor) return 'untrusted';
    if (anchor.notBefore !== undefined && at < anchor.notBefore) return 'not-yet-valid';
    if (anchor.notAfter !== undefined && at >= anchor.notAfter) return 'expired';
    return 'active';
  }

  /** Throws the code matching deviceStatus when the device may not act at `at`. */
  assertDeviceUsableAt(d: DeviceRecord, at: number, path = 'certificate'): void {
    // deviceStatus's order (revocation first), without working out the windows twice: this runs twice per reading.
    const own = inEffect(d.revocation, at);
    if (own || inEffect(d.agency.revocation, at)) {
      const r = own ? d.revocation! : d.agency.revocation!;
      fail('CERT_REVOKED', `${own ? 'device' : 'agency'} certificate ${r.claims.sub} revoked from ${r.claims.revokedFrom} (${r.claims.reason})`, path);
    }
    this.assertChainValidAt(d, at, path);
  }

  /** The device's and its agency's certificates valid at `at`, and their root still trusted then (not revocation). */
  assertChainValidAt(d: DeviceRecord, at: number, path = 'certificate'): void {
    if (at < d.cert.claims.nbf || at < d.agency.cert.claims.nbf) fail('CERT_NOT_YET_VALID', `certificate not valid yet at ${at}`, path);
    if (at >= d.cert.claims.exp || at >= d.agency.cert.claims.exp) fail('CERT_EXPIRED', `certificate expired at ${at}`, path);
    const anchor = this.anchorFor(d.agency);
    if (!anchor) fail('CHAIN_INVALID', 'the root of this device is no longer trusted', path);
    if (anchor.notBefore !== undefined && at < anchor.notBefore) fail('CERT_NOT_YET_VALID', 'the root trust anchor is not valid yet at that time', path);
    if (anchor.notAfter !== undefined && at >= anchor.notAfter) fail('CERT_EXPIRED', 'the root trust anchor has expired at that time', path);
  }
}
