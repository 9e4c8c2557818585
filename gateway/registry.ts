/**
 * The registry of agencies and devices: certificates checked against the root trust anchors, revocations
 * checked against the revoked certificate's issuer. Every change is first appended to the log as an entry
 * (so the chain tells the whole story) and the in-memory view (registry-view.ts) is rebuilt from those entries on
 * start. Here: the writes (checked, serialized per subject, logged, then applied) and the load; the lookups in the
 * view: registry-lookups.ts; device status: device-standing.ts.
 */
import { bytesEqual } from '../protocol/bytes.js';
import { decodeCertificate, type DecodedCertificate } from '../protocol/certificate.js';
import { validateChain, type TrustAnchors } from '../protocol/chain.js';
import { fail } from '../protocol/errors.js';
import { decodeRevocation, verifyRevocation, type DecodedRevocation } from '../protocol/revocation.js';
import type { SignatureVerifier } from '../protocol/algorithms.js';
import { assertConsentNotOlder, assertIssuedBy, assertMayReplace, assertStricter, inEffect, sameStatement } from './registry-rules.js';
import { DeviceStanding } from './device-standing.js';
import { RegistryView, toHex, type AgencyRecord, type DeviceRecord } from './registry-view.js';

import { ENTRY_AGENCY_REGISTRATION as ENTRY_AGENCY, ENTRY_DEVICE_REGISTRATION as ENTRY_DEVICE, ENTRY_REVOCATION } from '../protocol/log-entry.js';

export type { AgencyRecord, DeviceRecord } from './registry-view.js';
export { readingRevokedAt, type DeviceStatus, type ReadingChain } from './device-standing.js';

export interface RegistryLog {
  /**
   * Append one registry event dated `receivedAtMs` (the time it was checked at: the offline verifier checks it at
   * that time); resolves when it is durable in a block.
   */
  appendRegistryEvent(type: number, payload: Uint8Array, certRef: Uint8Array | undefined, receivedAtMs?: number): Promise<{ index: number }>;
  /** Registry events in log order (for rebuilding on start). */
  registryEvents(): AsyncIterable<{ type: number; payload: Uint8Array; index: number }>;
}

/**
 * The registry the log's registry events make, in log order (their signatures and times were checked at admission):
 * the gateway's at its start (Registry.load), and rotate-key's offline (gateway/next-key-coverage.ts).
 */
export async function registryViewOf(events: AsyncIterable<{ type: number; payload: Uint8Array; index: number }>): Promise<RegistryView> {
  const view = new RegistryView();
  for await (const ev of events) {
    if (ev.type === ENTRY_AGENCY) view.addAgency(decodeCertificate(ev.payload), ev.index);
    else if (ev.type === ENTRY_DEVICE) view.addDevice(decodeCertificate(ev.payload), ev.index);
    else if (ev.type === ENTRY_REVOCATION) view.applyRevocation(decodeRevocation(ev.payload), ev.index);
  }
  return view;
}

export class Registry extends DeviceStanding {
  private readonly writes = new Map<string, Promise<void>>();
  /** How far ahead of the gateway's clock a revocation's iat may be (config clockSkewSeconds, as the offline verifier allows). */
  clockSkewSeconds = 300;
  /** Throws while writes may not be taken (the gateway: while its store recovers from a failure, reload included). */
  writeGuard: () => void = () => {};
  /**
   * The gateway clock (ms). A write reads it when its turn comes, checks at that time and logs its entry dated so,
   * in the same turn of the event loop: the offline verifier checks a registry event at its entry's receivedAt
   * (protocol/verify-registry-event.ts), where the time of its block's sealing, or of the request before the write
   * waited for its locks, made a revocation or expiry in between void a registration the gateway took.
   */
  clock: () => number = Date.now;
  /** Set while load() rebuilds the view: writes wait for it, and it waits for the writes already running. */
  private loading: Promise<void> | undefined;
  /**
   * Moves whenever revocationCertificates may answer otherwise for a statement it answered before: an agency
   * certificate registered (a device's keyCompromise carries the agency certificate of its certificate's time, the
   * last registered valid then) or the registry read again. A device's registration changes no answer: a statement
   * names a certificate registered before it was taken. POST /v1/verify keeps its prepared revocation list by it.
   */
  get certificatesEpoch(): number {
    return this.epoch;
  }
  private epoch = 0;

  constructor(
    anchors: TrustAnchors,
    private readonly log: RegistryLog,
    private readonly verifier: SignatureVerifier,
  ) {
    super(anchors);
  }

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
      this.view = await registryViewOf(this.log.registryEvents());
      this.epoch++;
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
  /** `afterLoad` false: a lock taken inside another (which waited for load() already): waiting again would deadlock. */
  private serialize<T>(subject: string, fn: () => Promise<T>, afterLoad = true): Promise<T> {
    const prev = Promise.all([this.writes.get(subject), afterLoad ? this.loading : undefined]);
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

  /** The certificate's subject and holder key (hex), for the write locks; empty when it does not decode (reported inside). */
  private static lockIdsOf(bytes: Uint8Array): { sub: string; key: string } {
    try {
      const cert = decodeCertificate(bytes);
      return { sub: cert.claims.sub, key: toHex(cert.holderKid) };
    } catch {
      return { sub: '', key: '' };
    }
  }

  /** The time a write is checked at and its entry dated: `now` (seconds) if the caller fixes it, else the clock's. */
  private checkTime(now: number | undefined): { now: number; ms: number } {
    if (now !== undefined) return { now, ms: now * 1000 };
    const ms = this.clock();
    return { now: Math.floor(ms / 1000), ms };
  }

  private requireRoots(): void {
    if (!this.hasRoots) fail('UNKNOWN_KEY', 'this gateway has no root authority configured (start it with --trust FILE)', 'trust');
  }

  registerAgency(bytes: Uint8Array, at?: number): Promise<{ record: AgencyRecord; created: boolean }> {
    // By subject and by key: two certificates for one key under two names, posted at once, must not both pass the
    // rename check (a device's subject is its key's id, so its subject alone serializes it).
    const ids = Registry.lockIdsOf(bytes);
    return this.write(`sub:${ids.sub}`, () => this.serialize(`key:${ids.key}`, async () => {
      const { now, ms } = this.checkTime(at);
      this.requireRoots();
      const cert = decodeCertificate(bytes);
      if (cert.claims.role !== 'agency') fail('ROLE_VIOLATION', `an agency registration needs an agency certificate, got ${cert.claims.role}`, 'claims.role');
      const existing = this.view.agencyByKid(cert.holderKid);
      if (existing && bytesEqual(existing.cert.bytes, bytes)) return { record: existing, created: false };
      assertIssuedBy(cert, now, this.clockSkewSeconds);
      if (existing) assertMayReplace(existing, cert, now, this.view.compromisedKey('agency', cert.holderKid), undefined, this.rootGoneAt(existing.cert, now));
      const other = this.view.agencyById(cert.claims.sub);
      // The id is free once that agency is revoked, or once its root can act here no more (found by review: as its key
      // may then move to another root, assertMayReplace; its id stayed taken for good, since nothing here can revoke it).
      if (other && other !== existing && !inEffect(other.revocation, now) && !this.rootGoneAt(other.cert, now)) {
        fail('ROLE_VIOLATION', `agency ${cert.claims.sub} is already registered with another key; revoke it first`, 'claims.sub');
      }
      validateChain([cert], this.anchors, now, { verifier: this.verifier, revocations: this.view.allRevocations() });
      // As for a device's renewal below (found by review): the readings of its devices admitted while the entry is
      // appended land after it in the log, and were checked and logged under the certificate it replaces (accepted
      // with a bundle whose chain, the new certificate's, failed offline; or refused, expired or revoked, though the
      // renewal allows them). They wait for it (lane-admission.ts).
      return holding(existing, async () => {
        const { index } = await this.log.appendRegistryEvent(ENTRY_AGENCY, bytes, undefined, ms);
        const record = this.view.addAgency(cert, index);
        this.epoch++;
        return { record, created: true };
      });
    }, false));
  }

  registerDevice(bytes: Uint8Array, at?: number): Promise<{ record: DeviceRecord; created: boolean }> {
    return this.write(`sub:${Registry.lockIdsOf(bytes).sub}`, async () => {
      const { now, ms } = this.checkTime(at);
      this.requireRoots();
      const cert = decodeCertificate(bytes);
      if (cert.claims.role !== 'device') fail('ROLE_VIOLATION', `a device registration needs a device certificate, got ${cert.claims.role}`, 'claims.role');
      const existing = this.view.deviceByKid(cert.holderKid);
      if (existing && bytesEqual(existing.cert.bytes, bytes)) return { record: existing, created: false };
      // The device's consent to this agency (its binding is checked on decoding, its signature with the chain):
      // without it, any agency that learnt a device's public key could register the device before its own agency.
      if (!cert.claims.proofOfPossession) {
        fail('CLAIM_INVALID', "a device certificate must carry the device's proof of possession for its agency (claim -65543, firmware-specs/SPEC.md §2)", 'claims.pop');
      }
      assertIssuedBy(cert, now, this.clockSkewSeconds);
      const agency = this.view.agencyByKid(cert.issuerKid);
      if (!agency) fail('CHAIN_INVALID', 'the issuing agency is not registered with this gateway', 'protected.kid');
      if (inEffect(agency.revocation, now)) fail('CERT_REVOKED', `agency ${agency.cert.claims.sub} is revoked`, 'issuer');
      if (existing) {
        const previous = this.view.agencyByKid(existing.cert.issuerKid);
        const untrusted = previous !== undefined && this.rootGoneAt(previous.cert, now);
        assertMayReplace(existing, cert, now, this.view.compromisedKey('device', cert.holderKid), this.view.compromisedKey('agency', existing.cert.issuerKid), untrusted);
        // The same agency: its id, and its key or (re-keyed) its root; not another root's agency of a freed id.
        const sameAgency = cert.claims.iss === existing.cert.claims.iss
          && (bytesEqual(cert.issuerKid, existing.cert.issuerKid) || (previous !== undefined && bytesEqual(previous.cert.issuerKid, agency.cert.issuerKid)));
        assertConsentNotOlder(existing.cert, cert, this.clockSkewSeconds, sameAgency);
      }
      validateChain([cert, agency.cert], this.anchors, now, { verifier: this.verifier, revocations: this.view.allRevocations() });
      // A replacement's entry is logged before the readings admitted while it is appended, which the view (updated
      // once it is durable) would otherwise check and log under the certificate it replaces, with that profile
      // (found by review): the device's readings wait for it (lane-admission.ts).
      return holding(existing, async () => {
        const { index } = await this.log.appendRegistryEvent(ENTRY_DEVICE, bytes, agency.cert.certRef, ms);
        return { record: this.view.addDevice(cert, index), created: true };
      });
    });
  }

  /**
   * A revocation signed by the revoked certificate's issuer: the root for agencies, the agency for its devices. It
   * may name any certificate registered here, the current one of a key or one it replaced, in either encoding. One by
   * an agency whose key is revoked for keyCompromise, in effect, is refused (CERT_REVOKED).
   */
  revoke(bytes: Uint8Array, at?: number): Promise<{ revocation: DecodedRevocation; index: number; created: boolean }> {
    let target = '';
    try {
      target = decodeRevocation(bytes).claims.sub;
    } catch {
      /* reported inside */
    }
    return this.write(`sub:${target}`, async () => {
      const { now, ms } = this.checkTime(at);
      const rev = decodeRevocation(bytes);
      const target = this.view.findCert(rev.claims.certRef);
      if (!target) fail('UNKNOWN_KEY', 'the revocation names a certificate this gateway does not know', 'claims.certRef');
      const prior = this.view.revocationOf(target);
      if (prior && bytesEqual(prior.rev.bytes, bytes)) return { revocation: prior.rev, index: prior.index, created: false };
      const issuerKey = this.issuerKeyFor(target, rev);
      verifyRevocation(rev, target, issuerKey, { verifier: this.verifier });
      // Any statement by a key known compromised could be the thief's (its iat is the signer's word): one revoking
      // devices from a time before the compromise would void their logged readings. Its devices are free instead.
      const stolen = target.claims.role === 'device' ? this.view.compromisedKey('agency', target.issuerKid) : undefined;
      if (stolen && inEffect(stolen, now)) {
        fail('CERT_REVOKED', `the key of agency ${stolen.claims.sub} that signed this revocation is revoked for keyCompromise from ${stolen.claims.revokedFrom}; its statements are no longer taken`, 'protected.kid');
      }
      if (rev.claims.iat > now + this.clockSkewSeconds) fail('CLAIM_INVALID', 'revocation issued in the future', 'claims.iat');
      if (prior) {
        // The registered statement signed again (a retry by a tool whose ES256 signatures are randomized, or the
        // signature's twin): answered as its very bytes are, above, naming the entry registered; nothing is logged.
        // Checked as any statement first (its signature by the issuer's key, the issuer still one here), so only what
        // was a CONFLICT changes.
        if (sameStatement(rev, prior.rev)) return { revocation: prior.rev, index: prior.index, created: false };
        assertStricter(rev, prior.rev);
      }
      const signerRef = target.claims.role === 'device' ? this.view.agencyByKid(target.issuerKid)?.cert.certRef : undefined;
      // In force from now, not from when its block is durable: a reading admitted meanwhile would be logged after it.
      // The holder's readings (the device's, or the agency's devices') also wait for the append, as for a renewal, and
      // one refused meanwhile is checked again after it (Job.recheck): if the append fails the revocation is undone,
      // and such a reading was told CERT_REVOKED, which stops a device (SPEC §8), for a revocation never logged
      // (found by review).
      const holder = target.claims.role === 'device' ? this.view.deviceByKid(target.holderKid) : this.view.agencyByKid(target.holderKid);
      return holding(holder, async () => {
        const undo = this.view.applyRevocation(rev, -1);
        try {
          const { index } = await this.log.appendRegistryEvent(ENTRY_REVOCATION, bytes, signerRef, ms);
          this.view.revocationOf(target)!.index = index;
          return { revocation: rev, index, created: true };
        } catch (err) {
          undo();
          throw err;
        }
      });
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
    const agency = this.view.agencyByKid(target.issuerKid);
    if (!agency) fail('UNKNOWN_KEY', 'the issuing agency is not registered', 'protected.kid');
    // As for an agency's revocation by its root above (found by review): an agency whose root was taken out of the
    // trust file is not an issuer here; its statement was taken, and its entry then failed offline (chain UNKNOWN_KEY).
    if (!this.anchorFor(agency)) fail('UNKNOWN_KEY', `the root that certified agency ${agency.cert.claims.sub} is not trusted here`, 'protected.kid');
    return agency.cert.holderKey;
  }

  /**
   * Whether the root that certified `agencyCert` can no longer act here at `now`: not among the trust anchors, or past
   * its window. Its statements (and its agency's) are refused then, so what it certified may move to another issuer
   * without a release (registry-rules.ts assertMayReplace): a root taken out of the trust file left its agencies, and
   * their devices, registered for good otherwise.
   */
  private rootGoneAt(agencyCert: DecodedCertificate, now: number): boolean {
    const anchor = this.anchors.byKid.get(toHex(agencyCert.issuerKid));
    return !anchor || (anchor.notAfter !== undefined && now >= anchor.notAfter);
  }
}

/**
 * Run `append` with `record.replacing` set (when there is a record): the record's readings wait for it at their turn
 * (lane-admission.ts) and are checked against what it leaves in the view, whether it succeeds or fails.
 */
async function holding<T>(record: { replacing?: Promise<void> | undefined } | undefined, append: () => Promise<T>): Promise<T> {
  if (!record) return append();
  let settle = (): void => {};
  record.replacing = new Promise<void>((r) => (settle = r));
  try {
    return await append();
  } finally {
    record.replacing = undefined;
    settle();
  }
}
