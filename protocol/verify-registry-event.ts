/**
 * Registry events in the log (agency and device registrations, revocations), checked offline as the gateway
 * checked them on admission (gateway/registry.ts). See `registryChecks`.
 */
import type { SignatureVerifier } from './algorithms.js';
import { assertAgencyNotRevokedThroughRenewalAt } from './agency-renewal.js';
import { bytesEqual, toHex } from './bytes.js';
import type { ProofBundle } from './bundle.js';
import { decodeCertificate, type DecodedCertificate, type Role } from './certificate.js';
import { namesCertificate } from './certificate-refs.js';
import { validateChain, type TrustAnchor } from './chain.js';
import type { PublicKey } from './cose-key.js';
import { verifySign1 } from './cose-sign1.js';
import { fail } from './errors.js';
import { assertDeviceKeyNotCompromisedByOtherIssuerAt, assertNoKeyCompromiseAt, carriedSameKey, compromiseTargets, sameKeyCertificates, type SameKeyCertificates } from './key-compromise.js';
import { ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION, type LogEntry } from './log-entry.js';
import { assertNotRevokedAt, decodeRevocation, verifyRevocation, type DecodedRevocation } from './revocation.js';
import type { TrustMaterial } from './trust.js';
import { collectRevocations, decodeHeld, heldAll, onlyRootsBesides, run, skip, type Check, type HeldRevocation, type HeldRevocations, type RevocationTarget, type SignedAt } from './verify-checks.js';
import type { CertificatePool } from './certificate-pool.js';

/** What a registry event's verdict names (VerdictRecord's fields). */
export interface RegistryRecord {
  deviceId?: string;
  agency?: string;
  root?: string;
}

const ENTRY_KINDS: Readonly<Record<number, string>> = {
  [ENTRY_AGENCY_REGISTRATION]: 'agency registration', [ENTRY_DEVICE_REGISTRATION]: 'device registration', [ENTRY_REVOCATION]: 'revocation',
};
const ISSUER_ROLE: Readonly<Record<Role, Role | undefined>> = { device: 'agency', agency: 'root', root: undefined };

/**
 * A registry event's payload, checked offline as the gateway checked it on admission (gateway/registry.ts), at the
 * entry's receivedAt (`at`), with the same check names as a reading (signatures RFC 9052 §4.4, validity windows
 * nbf <= at < exp RFC 8392 §3.1.4-3.1.5, revocations protocol/revocation.ts):
 *   2 agency registration  claims: an agency certificate, no certRef; signature: by a trusted root; chain: [agency]
 *                          valid at `at`; revocation: none covers the agency at `at`.
 *   3 device registration  claims: a device certificate carrying the device's proof of possession for its agency
 *                          (certificate.ts claim -65543), certRef present; chain: [device, agency] valid at `at`
 *                          (the proof's signature too), the agency certificate being the one certRef names (the
 *                          bundle carries it); signature: by that
 *                          agency; revocation: none covers the device or the agency at `at`, nor a keyCompromise of
 *                          another certificate of either key (key-compromise.ts; for 2, of the agency's key).
 *   4 revocation           claims: a revocation statement; chain: the bundle carries the certificate it names and,
 *                          for a device, the agency certificate certRef names (an agency's has no certRef); the issuer
 *                          (that agency, or the trusted root) had authority at `at`, and the revoked certificate links
 *                          to it (iss, kid, role, signature; its own validity window does not matter: an expired
 *                          certificate may still be revoked); signature: the statement, by that issuer
 *                          (verifyRevocation); revocation: no revocation covers the issuing agency at `at`.
 * Missing material fails (CHAIN_INVALID, UNKNOWN_KEY), never skips. Certificates other than these must be trusted
 * roots' own; bundle revocations must name the registered certificate or its issuer (for 4: the issuing agency).
 */
export function registryChecks(
  entry: LogEntry, bundle: ProofBundle, trust: TrustMaterial, heldIn: readonly HeldRevocation[] | HeldRevocations, v: { verifier?: SignatureVerifier },
  heldCertificates: readonly Uint8Array[] | CertificatePool = [],
): { signature: Check; chain: Check; revocation: Check; claims: Check; record: RegistryRecord; signedAt?: SignedAt } {
  const at = Math.floor(entry.receivedAtMs / 1000);
  const kind = ENTRY_KINDS[entry.type] ?? `entry type ${entry.type}`;
  let registered: DecodedCertificate | undefined;
  let rev: DecodedRevocation | undefined;
  const claims = run('claims', () => {
    if (entry.type === ENTRY_REVOCATION) {
      rev = decodeRevocation(entry.payload);
      return `revocation of ${rev.claims.sub} from ${rev.claims.revokedFrom} (${rev.claims.reason}) is well formed`;
    }
    const c = decodeCertificate(entry.payload);
    const role: Role = entry.type === ENTRY_AGENCY_REGISTRATION ? 'agency' : 'device';
    if (c.claims.role !== role) fail('ROLE_VIOLATION', `${kind} entries hold ${role} certificates; this one is a ${c.claims.role} certificate`, 'entry.payload.claims.role');
    if (role === 'agency' && entry.certRef) fail('CLAIM_INVALID', 'an agency registration is checked against a root, not a certificate: it has no certRef', 'entry.certRef');
    if (role === 'device' && !entry.certRef) fail('CLAIM_INVALID', 'a device registration names the agency certificate it was checked against (certRef)', 'entry.certRef');
    // The device's consent to its agency (SPEC §2), as the gateway requires it (its signature: the chain check).
    if (role === 'device' && !c.claims.proofOfPossession) {
      fail('CLAIM_INVALID', "a device registration's certificate carries the device's proof of possession for its agency; this one has none", 'entry.payload.claims.pop');
    }
    registered = c;
    return `${role} certificate of ${c.claims.sub} is well formed`;
  });
  // The signed time bounds receivedAt as a reading's iat does; for a certificate, as the gateway's assertIssuedBy
  // (gateway/registry-rules.ts) refuses one dated more than the clock skew after its clock.
  const signedAt: SignedAt | undefined = rev
    ? { at: rev.claims.iat, what: 'the revocation was issued at', path: 'entry.payload.claims.iat' }
    : registered ? { at: registered.claims.iat, what: 'the certificate was issued at', path: 'entry.payload.claims.iat' } : undefined;
  const done = (signature: Check, chain: Check, revocation: Check, record: RegistryRecord = {}) => ({ signature, chain, revocation, claims, record, ...(signedAt ? { signedAt } : {}) });
  if (claims.status === 'fail') {
    const why = `the ${kind}'s payload does not check out`;
    return done(skip('signature', why), skip('chain', why), skip('revocation', why));
  }

  // The material: the certificate the entry is about, its issuing agency's certificate (by certRef) or trusted root.
  let subject: DecodedCertificate | undefined;
  let issuer: DecodedCertificate | undefined;
  let anchor: TrustAnchor | undefined;
  let sameKey: SameKeyCertificates | undefined;
  let carried: DecodedCertificate[] = [];
  const material = run('chain', () => {
    const decoded = bundle.certificates.map((c) => decodeCertificate(c));
    carried = decoded;
    const used: DecodedCertificate[] = [];
    if (rev) {
      const r = rev;
      subject = decoded.find((c) => namesCertificate(r.claims.certRef, c));
      if (!subject) fail('UNKNOWN_KEY', `the bundle has no certificate the revocation names (${r.claims.sub})`, 'certificates');
      used.push(subject);
      if (subject.claims.role === 'root') fail('ROLE_VIOLATION', 'a root certificate is not revoked through the log', 'entry.payload.claims.certRef');
      if (subject.claims.role === 'agency' && entry.certRef) fail('CLAIM_INVALID', 'the revocation of an agency is checked against a root, not a certificate: it has no certRef', 'entry.certRef');
    } else {
      subject = registered!;
    }
    if (subject.claims.role === 'device') {
      const ref = entry.certRef;
      if (!ref) fail('CHAIN_INVALID', `the ${kind} names no agency certificate (certRef)`, 'entry.certRef');
      issuer = decoded.find((c) => bytesEqual(c.certRef, ref));
      if (!issuer) fail('CHAIN_INVALID', `the bundle has no certificate for the agency the ${kind} was checked against (certRef)`, 'certificates');
      used.push(issuer);
    } else {
      anchor = trust.anchors.byKid.get(toHex(subject.issuerKid));
    }
    // A registration: other certificates of the registered (or its agency's) key, each with its keyCompromise.
    if (!rev) {
      sameKey = subject.claims.role === 'device' ? sameKeyCertificates(decoded, subject, issuer!) : sameKeyCertificates(decoded, undefined, subject);
      used.push(...carriedSameKey(sameKey));
    }
    onlyRootsBesides(decoded, used, trust, v, `the ${kind}'s chain`);
    return 'certificates decode';
  });
  if (material.status === 'fail') {
    return done(skip('signature', 'no issuer certificate to check against'), material, skip('revocation', 'no certificate chain'));
  }
  const s = subject!;
  const record: RegistryRecord = s.claims.role === 'device' ? { deviceId: s.claims.sub, agency: issuer!.claims.sub } : { agency: s.claims.sub };
  const rootKey = (): PublicKey => {
    if (!anchor) fail('UNKNOWN_KEY', `${s.claims.sub} is not certified by a trusted root key`, 'certificates.kid');
    return anchor.key;
  };

  const signature = run('signature', () => {
    const by = issuer ? `agency ${issuer.claims.sub}` : `root ${anchor?.name ?? '(untrusted)'}`;
    if (rev) {
      verifyRevocation(rev, s, issuer ? issuer.holderKey : rootKey(), v);
      return `the revocation of ${s.claims.sub} verifies with the key of its issuer, ${by}`;
    }
    verifySign1(s.sign1, issuer ? issuer.holderKey : rootKey(), v);
    return `the certificate of ${s.claims.role} ${s.claims.sub} verifies with the key of ${by}`;
  });

  let root: string | undefined;
  const chain = run('chain', () => {
    if (!rev) {
      const c = validateChain(issuer ? [s, issuer] : [s], trust.anchors, at, v);
      root = c.anchor.name;
      return `${issuer ? `${s.claims.sub} <- ${issuer.claims.sub}` : s.claims.sub} <- ${c.anchor.name}, valid at ${at} (when it was registered)`;
    }
    // A revocation: its issuer is the revoked certificate's, certified by a trusted root. Revoking only restricts, so
    // the issuer need not be valid, nor unrevoked, when it revokes (an agency's devices are revoked after it expired
    // or was revoked itself): the gateway takes such statements, and so does this check (links, roles, signatures).
    let issuerName: string;
    let issuerKid: Uint8Array;
    let issuerKey: PublicKey;
    if (issuer) {
      // A time its own window covers, and its root's trust window too (found by review: the root's was checked at
      // `at`, so an agency's revocation logged after its root's certificate expired failed here, CERT_EXPIRED, where
      // the root's own revocation of an agency then verifies, and the gateway takes both).
      const rootWindow = trust.anchors.byKid.get(toHex(issuer.issuerKid));
      const from = Math.max(issuer.claims.nbf, rootWindow?.notBefore ?? -Infinity);
      const until = Math.min(issuer.claims.exp, rootWindow?.notAfter ?? Infinity);
      const within = Math.min(Math.max(at, from), until - 1);
      const c = validateChain([issuer], trust.anchors, within, v);
      root = c.anchor.name;
      [issuerName, issuerKid, issuerKey] = [issuer.claims.sub, issuer.holderKid, issuer.holderKey];
    } else {
      const a = anchor;
      if (!a) return fail('UNKNOWN_KEY', `${s.claims.sub} is not certified by a trusted root key`, 'certificates.kid');
      root = a.name;
      [issuerName, issuerKid, issuerKey] = [a.name, a.kid, a.key];
    }
    if (s.claims.iss !== issuerName) fail('CHAIN_INVALID', `iss "${s.claims.iss}" is not the issuer "${issuerName}"`, 'certificates.claims.iss');
    if (!bytesEqual(s.issuerKid, issuerKid)) fail('CHAIN_INVALID', 'kid is not the issuer key thumbprint', 'certificates.kid');
    verifySign1(s.sign1, issuerKey, v);
    const issuerRole: Role = issuer ? 'agency' : 'root';
    if (ISSUER_ROLE[s.claims.role] !== issuerRole) fail('ROLE_VIOLATION', `a ${issuerRole} may not issue a ${s.claims.role} certificate`, 'certificates.claims.role');
    return `${s.claims.sub} <- ${issuer ? `${issuer.claims.sub} <- ` : ''}${root}: revoked by its issuer`;
  });

  const revocation = run('revocation', () => {
    // The held statements that could concern these certificates (all of them, but for a prepared list).
    const held = heldAll(heldIn).about(rev ? [] : [...carried, s]);
    if (rev) {
      // Nothing a revocation of the issuer could change (see chain); a bundle carries none for it.
      collectRevocations(bundle, held, [], v, 'nothing: a revocation entry is not subject to revocation');
      return 'a revocation only restricts: no revocation of its issuer applies';
    }
    const targets: RevocationTarget[] = [{ cert: s, key: issuer ? issuer.holderKey : anchor?.key, what: s.claims.role, subjectCompromise: s.claims.role === 'device' }];
    if (issuer) targets.push({ cert: issuer, key: trust.anchors.byKid.get(toHex(issuer.issuerKid))?.key, what: 'agency' });
    const names = `neither ${targets.map((t) => `the ${t.what}`).join(' nor ')}`;
    const verified = collectRevocations(bundle, held, [...targets, ...compromiseTargets(sameKey!, issuer ?? s, trust, v)], v, names);
    for (const t of targets) assertNotRevokedAt(t.cert, verified, at, t.what);
    assertNoKeyCompromiseAt(s.claims.role === 'device' ? s : undefined, sameKey!, verified, at);
    // Nor through a certificate of the device key by another agency the bundle left out (key-compromise.ts).
    const heldDecoded = held.map((h) => ({ rev: decodeHeld(h), logged: h.logged === true }));
    if (s.claims.role === 'device') assertDeviceKeyNotCompromisedByOtherIssuerAt(s, carried, heldDecoded, heldCertificates, trust, at, v);
    // Nor a keyCompromise of another certificate of the agency's key the bundle left out (agency-renewal.ts).
    assertAgencyNotRevokedThroughRenewalAt(issuer ?? s, [...carried, s], heldDecoded, heldCertificates, trust, at, v, true);
    return verified.length === 0 ? `no revocation covers ${targets.map((t) => `the ${t.what}`).join(' or ')}` : `${verified.length} revocation(s) known; none covers time ${at}`;
  });

  if (chain.status === 'pass' && root !== undefined) record.root = root;
  return done(signature, chain, revocation, record);
}
