/**
 * The registry's in-memory view: agency and device records by key and by id, every certificate ever registered, the
 * strictest revocation per certificate and per compromised key. Registry.load rebuilds one from the log's registry
 * events and swaps it in whole; Registry's writes apply theirs once checked. Nothing is checked here: what may be
 * added is decided before the event is logged (registry.ts, registry-rules.ts); this applies it.
 */
import type { DecodedCertificate } from '../protocol/certificate.js';
import { twinCertificateRef } from '../protocol/certificate-refs.js';
import type { DecodedRevocation } from '../protocol/revocation.js';
import { CertificateKeeper, keyOf } from './kept-certificate.js';
import { isStricter } from './registry-rules.js';

/** Lowercase hex of a kid or certRef (node's native hex). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** The roles of registered certificates (a root is a trust anchor, never registered). */
export type CompromiseRole = DecodedCertificate['claims']['role'];
const compromiseKey = (role: CompromiseRole, holderKid: Uint8Array): string => `${role}:${toHex(holderKid)}`;

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
  /**
   * Set while a new certificate for this agency's key (a renewal, or a move to another root) is being logged; settles
   * once the view has it, or the append failed. Its devices' readings wait for it (lane-admission.ts), as for their own.
   */
  replacing?: Promise<void> | undefined;
}

export interface DeviceRecord {
  cert: DecodedCertificate;
  agency: AgencyRecord;
  index: number;
  deviceId: string;
  revocation?: DecodedRevocation;
  /**
   * Set while a new certificate for this device (a renewal or a transfer) is being logged; settles once the view
   * has it, or the append failed. Its readings wait for it (lane-admission.ts).
   */
  replacing?: Promise<void> | undefined;
}

export class RegistryView {
  private agenciesByKid = new Map<string, AgencyRecord>();
  private agenciesById = new Map<string, AgencyRecord>();
  /**
   * Agency ids in the order each was first registered, and each one's place in it: the order of GET /v1/agencies,
   * paged by id (agenciesPage). An id is never removed (another key may take it over, in its place), so a page's
   * cursor keeps its place.
   */
  private agencyIds: string[] = [];
  private agencyIdPlace = new Map<string, number>();
  private devicesByKid = new Map<string, DeviceRecord>();
  private devicesById = new Map<string, DeviceRecord>();
  /**
   * The devices listed under each agency id (their agency record's current claims.sub), in registration order (a
   * device's first): kept as devices register, move and agencies are renamed, so that a page of an agency's devices,
   * or how many it has, costs what the answer holds, not a pass over every device (found by review: GET
   * /v1/agencies copied every device record per request, and each page of GET /v1/agencies/:id/devices scanned all
   * devices from the first, O(N^2) to walk an agency of N). `order`: each device's place in registration order.
   */
  private devicesByAgencyId = new Map<string, DeviceRecord[]>();
  private order = new Map<DeviceRecord, number>();
  /** The strictest revocation per certificate (hex certRef of the registered encoding). */
  private revocations = new Map<string, { rev: DecodedRevocation; index: number }>();
  /** Every certificate ever registered, by hex certRef; and each agency key's certificates in registration order. */
  private certsByRef = new Map<string, DecodedCertificate>();
  /**
   * The same certificates by the certRef of their other ES256 encoding (s -> n - s, certificate-refs.ts), and those
   * added since it was last brought up to date. The registry refuses registering a twin encoding as a certificate of
   * its own (CONFLICT), so a twin ref never shadows another certificate's certRef.
   */
  private certsByTwinRef = new Map<string, DecodedCertificate>();
  private twinsPending: DecodedCertificate[] = [];
  /** A key's one certificate, or its certificates (more than one) in registration order: most keys have one. */
  private agencyCerts = new Map<string, History>();
  /**
   * Each device key's certificates in registration order (renewals, transfers), for readings signed before one: of
   * the keys with more than one only (most have one, their record's: ~40 bytes less each).
   */
  private deviceCerts = new Map<string, DecodedCertificate[]>();
  /** Registered certificates as kept (kept-certificate.ts), sharing what they have in common. */
  private keeper = new CertificateKeeper();
  /**
   * Holder keys with a certificate revoked for keyCompromise: the strictest such revocation, by role and hex kid
   * (compromiseKey). By role (found by review): any agency may certify a device holding another agency's public key
   * and revoke it for keyCompromise; keyed by the key alone, that counted as a compromise of the other agency's key
   * (its devices free for the taking, its statements and renewal refused, its readings' bundles failing offline,
   * where a compromise counts only through a certificate of the same role: protocol/key-compromise.ts).
   */
  private compromised = new Map<string, DecodedRevocation>();

  /**
   * Any certificate ever registered here that `certRef` names (either encoding, certificate-refs.ts): two map lookups.
   * A scan here would let anyone make the event loop walk every certificate with one unsigned revocation naming an
   * unknown certRef (it is looked up before the statement's signature can be checked).
   */
  findCert(certRef: Uint8Array): DecodedCertificate | undefined {
    const key = keyOf(certRef);
    const exact = this.certsByRef.get(key);
    if (exact) return exact;
    // The other encodings are worked out (~17 µs per ES256-signed certificate) the first time one is asked for after
    // a certificate was added, not at each registration: loading a large registry at start stays quick.
    for (const cert of this.twinsPending.splice(0)) {
      const twin = twinCertificateRef(cert);
      if (twin) this.certsByTwinRef.set(keyOf(twin), cert);
    }
    return this.certsByTwinRef.get(key);
  }

  /** A replacement (same key) updates the record in place, so that an agency's devices follow its new certificate. */
  addAgency(decoded: DecodedCertificate, index: number): AgencyRecord {
    const cert = this.keeper.keep(decoded);
    const kid = keyOf(cert.holderKid);
    const record = this.agenciesByKid.get(kid) ?? ({ replacing: undefined } as AgencyRecord);
    const formerId = (record.cert as DecodedCertificate | undefined)?.claims.sub;
    Object.assign(record, { cert, index, revocation: undefined, issuerKidHex: undefined });
    // A renamed agency's devices are listed under its new id (they follow their record's claims.sub).
    if (formerId !== undefined && formerId !== cert.claims.sub) this.moveAgencyDevices(record, formerId, cert.claims.sub);
    this.agenciesByKid.set(kid, record);
    if (!this.agenciesById.has(cert.claims.sub)) {
      this.agencyIdPlace.set(cert.claims.sub, this.agencyIds.length);
      this.agencyIds.push(cert.claims.sub);
    }
    this.agenciesById.set(cert.claims.sub, record);
    this.remember(cert);
    this.agencyCerts.set(kid, added(this.agencyCerts.get(kid), cert));
    return record;
  }

  addDevice(decoded: DecodedCertificate, index: number): DeviceRecord {
    const agency = this.agenciesByKid.get(keyOf(decoded.issuerKid));
    if (!agency) throw new Error(`log inconsistency: device ${decoded.claims.sub} registered before its agency`);
    const cert = this.keeper.keep(decoded);
    const kid = keyOf(cert.holderKid);
    const existing = this.devicesByKid.get(kid);
    const formerAgencyId = existing?.agency.cert.claims.sub;
    const history = this.deviceCerts.get(kid);
    if (history) history.push(cert);
    else if (existing) this.deviceCerts.set(kid, [existing.cert, cert]);
    // All its fields at once: a record built up field by field kept them in a second object (~0.1 kB each).
    const record: DeviceRecord = existing ?? { cert, agency, index, deviceId: cert.claims.sub, revocation: undefined, replacing: undefined };
    if (existing) Object.assign(record, { cert, agency, index, deviceId: cert.claims.sub, revocation: undefined });
    this.devicesByKid.set(kid, record);
    if (!this.devicesById.has(cert.claims.sub)) this.order.set(record, this.order.size);
    this.devicesById.set(cert.claims.sub, record);
    const agencyId = agency.cert.claims.sub;
    if (formerAgencyId === undefined) this.listUnder(agencyId).push(record); // the last registered: at the end
    else if (formerAgencyId !== agencyId) {
      const from = this.devicesByAgencyId.get(formerAgencyId)!;
      from.splice(this.firstAfter(from, this.order.get(record)! - 1), 1);
      if (from.length === 0) this.devicesByAgencyId.delete(formerAgencyId);
      const to = this.listUnder(agencyId);
      to.splice(this.firstAfter(to, this.order.get(record)!), 0, record);
    }
    this.remember(cert);
    return record;
  }

  private listUnder(agencyId: string): DeviceRecord[] {
    let list = this.devicesByAgencyId.get(agencyId);
    if (!list) this.devicesByAgencyId.set(agencyId, (list = []));
    return list;
  }

  /** Where in `list` (in registration order) the first device registered after place `place` is: a binary search. */
  private firstAfter(list: readonly DeviceRecord[], place: number): number {
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order.get(list[mid]!)! <= place) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The devices of agency `record`, listed under `fromId`, listed under `toId` instead (merged in registration order). */
  private moveAgencyDevices(record: AgencyRecord, fromId: string, toId: string): void {
    const from = this.devicesByAgencyId.get(fromId) ?? [];
    const moving = from.filter((d) => d.agency === record);
    if (moving.length === 0) return;
    const staying = from.filter((d) => d.agency !== record);
    if (staying.length === 0) this.devicesByAgencyId.delete(fromId);
    else this.devicesByAgencyId.set(fromId, staying);
    const to = this.devicesByAgencyId.get(toId) ?? [];
    const merged: DeviceRecord[] = [];
    let i = 0, j = 0;
    while (i < to.length || j < moving.length) {
      if (j === moving.length || (i < to.length && this.order.get(to[i]!)! < this.order.get(moving[j]!)!)) merged.push(to[i++]!);
      else merged.push(moving[j++]!);
    }
    this.devicesByAgencyId.set(toId, merged);
  }

  private remember(cert: DecodedCertificate): void {
    this.certsByRef.set(keyOf(cert.certRef), cert);
    this.twinsPending.push(cert);
  }

  /**
   * Keeps the strictest statement per certificate (registry-rules.ts); a later one that is not stricter, which only
   * a log written before that rule can hold, changes nothing. Returns what puts the view back (a failed append).
   */
  applyRevocation(rev: DecodedRevocation, index: number): () => void {
    const target = this.findCert(rev.claims.certRef);
    if (!target) throw new Error(`log inconsistency: revocation of ${rev.claims.sub} names no registered certificate`);
    const ref = keyOf(target.certRef), kid = keyOf(target.holderKid), compromiseId = compromiseKey(target.claims.role, target.holderKid);
    const prior = this.revocations.get(ref);
    // isStricter, not mayReplaceRevocation: a log written before keyCompromise became final may hold another reason
    // after it, with an earlier revokedFrom, and the view is rebuilt as it was taken then (the earlier time).
    if (prior && !isStricter(rev, prior.rev)) return () => {};
    const record = target.claims.role === 'agency' ? this.agenciesByKid.get(kid) : this.devicesByKid.get(kid);
    const before = { compromise: this.compromised.get(compromiseId), revocation: record?.revocation };
    this.revocations.set(ref, { rev, index });
    if (rev.claims.reason === 'keyCompromise' && (!before.compromise || isStricter(rev, before.compromise))) this.compromised.set(compromiseId, rev);
    // The current certificate's own revocation, or the compromise of its key named through a replaced certificate.
    const applies = record !== undefined && (record.cert === target || rev.claims.reason === 'keyCompromise');
    if (applies && (!record.revocation || isStricter(rev, record.revocation))) record.revocation = rev;
    return () => {
      if (prior) this.revocations.set(ref, prior);
      else this.revocations.delete(ref);
      if (before.compromise) this.compromised.set(compromiseId, before.compromise);
      else this.compromised.delete(compromiseId);
      if (record) record.revocation = before.revocation;
    };
  }

  /** The strictest revocation logged (index) or being logged (-1) for the certificate `certRef` names exactly. */
  revocationOf(cert: DecodedCertificate): { rev: DecodedRevocation; index: number } | undefined {
    return this.revocations.get(keyOf(cert.certRef));
  }

  /** The strictest keyCompromise revocation of any `role` certificate of `holderKid`'s key. */
  compromisedKey(role: CompromiseRole, holderKid: Uint8Array): DecodedRevocation | undefined {
    return this.compromised.get(compromiseKey(role, holderKid));
  }

  agencyByKid(kid: Uint8Array): AgencyRecord | undefined {
    return this.agenciesByKid.get(keyOf(kid));
  }

  /**
   * The strictest keyCompromise revocation of any `role` certificate of `holderKid`'s key, with the certificate it names:
   * bundles carry it when that is not the chain's certificate (protocol/key-compromise.ts).
   */
  compromiseOf(role: CompromiseRole, holderKid: Uint8Array): { rev: DecodedRevocation; cert: DecodedCertificate } | undefined {
    const rev = this.compromised.get(compromiseKey(role, holderKid));
    const cert = rev && this.findCert(rev.claims.certRef);
    return rev && cert ? { rev, cert } : undefined;
  }

  /** Every registered certificate by its certRef, for bundles of entries admitted under a certificate since replaced. */
  certificateByRef(certRef: Uint8Array): DecodedCertificate | undefined {
    return this.certsByRef.get(keyOf(certRef));
  }

  /**
   * The agency certificate of `agencyKid` that was registered last among those valid at `at` (else the current one).
   * With `rootCovers`, the last such whose root it accepts at `at` first.
   */
  agencyCertificateAt(agencyKid: Uint8Array, at: number, rootCovers?: (cert: DecodedCertificate) => boolean): DecodedCertificate | undefined {
    const kid = keyOf(agencyKid);
    const history = this.agencyCerts.get(kid);
    return (rootCovers && lastValidAt(history, at, rootCovers)) || lastValidAt(history, at) || this.agenciesByKid.get(kid)?.cert;
  }

  /**
   * For chainAt: the certificate of the key (device or agency) a reading dated `at` falls under: the last registered
   * valid then, else the last registered that started by then (expired at `at`: a gap between two certificates is
   * CERT_EXPIRED, not CERT_NOT_YET_VALID, which SPEC §8 keeps for a time before every certificate of the key), else
   * undefined (before every one).
   */
  certificateCovering(role: 'device' | 'agency', holderKid: Uint8Array, at: number): DecodedCertificate | undefined {
    const kid = keyOf(holderKid);
    const history = role === 'device' ? (this.deviceCerts.get(kid) ?? this.devicesByKid.get(kid)?.cert) : this.agencyCerts.get(kid);
    const valid = lastValidAt(history, at);
    if (valid || !history) return valid;
    if (!Array.isArray(history)) return at >= history.claims.nbf ? history : undefined;
    for (let i = history.length - 1; i >= 0; i--) if (at >= history[i]!.claims.nbf) return history[i];
    return undefined;
  }

  /** The strictest revocation of each of `certs` (registry-rules.ts). */
  revocationsOf(certs: readonly DecodedCertificate[]): DecodedRevocation[] {
    return certs.flatMap((c) => {
      const r = this.revocations.get(keyOf(c.certRef));
      return r ? [r.rev] : [];
    });
  }

  allRevocations(): DecodedRevocation[] {
    return [...this.revocations.values()].map((r) => r.rev);
  }

  deviceByKid(kid: Uint8Array): DeviceRecord | undefined {
    return this.devicesByKid.get(keyOf(kid));
  }

  deviceById(id: string): DeviceRecord | undefined {
    return this.devicesById.get(id);
  }

  agencyById(id: string): AgencyRecord | undefined {
    return this.agenciesById.get(id);
  }

  /** Every registered device (revoked and expired ones too), one record each. */
  devices(): IterableIterator<DeviceRecord> {
    return this.devicesById.values();
  }

  agencies(): AgencyRecord[] {
    return [...this.agenciesById.values()];
  }

  /**
   * At most `limit` agencies in the order their ids were first registered (that of agencies()), those after the id
   * `after`, and `next`, the id to pass as `after` for the rest, while more follow. Undefined when `after` is no
   * registered agency id. A lookup and the page.
   */
  agenciesPage(limit: number, after?: string): { page: AgencyRecord[]; next?: string } | undefined {
    let start = 0;
    if (after !== undefined) {
      const place = this.agencyIdPlace.get(after);
      if (place === undefined) return undefined;
      start = place + 1;
    }
    const ids = this.agencyIds.slice(start, start + limit);
    const page = ids.map((id) => this.agenciesById.get(id)!);
    return start + limit < this.agencyIds.length ? { page, next: ids[ids.length - 1]! } : { page };
  }

  /** How many devices are listed under agency id `agencyId` (devicesPage): a lookup. */
  deviceCount(agencyId: string): number {
    return this.devicesByAgencyId.get(agencyId)?.length ?? 0;
  }

  /**
   * At most `limit` of the agency's devices in registration order, those registered after device `after` (any
   * registered device, of this agency or not: a device moved to another agency while a client pages still marks
   * its place), and whether more follow. Undefined when `after` is not a registered device. A binary search and the
   * page: its cost does not grow with the page's place in the list, nor with the registry.
   */
  devicesPage(agencyId: string, limit: number, after?: string): { page: DeviceRecord[]; more: boolean } | undefined {
    let place = -1;
    if (after !== undefined) {
      const marker = this.devicesById.get(after);
      if (!marker) return undefined;
      place = this.order.get(marker)!;
    }
    const list = this.devicesByAgencyId.get(agencyId) ?? [];
    const start = this.firstAfter(list, place);
    return { page: list.slice(start, start + limit), more: start + limit < list.length };
  }
}

/** A key's certificates in registration order: the one, or (more than one) their list. */
type History = DecodedCertificate | DecodedCertificate[];

function added(history: History | undefined, cert: DecodedCertificate): History {
  if (history === undefined) return cert;
  if (!Array.isArray(history)) return [history, cert];
  history.push(cert);
  return history;
}

function lastValidAt(history: History | undefined, at: number, also?: (cert: DecodedCertificate) => boolean): DecodedCertificate | undefined {
  const validAt = (c: DecodedCertificate) => at >= c.claims.nbf && at < c.claims.exp && (!also || also(c));
  if (history === undefined) return undefined;
  if (!Array.isArray(history)) return validAt(history) ? history : undefined;
  for (let i = history.length - 1; i >= 0; i--) if (validAt(history[i]!)) return history[i];
  return undefined;
}
