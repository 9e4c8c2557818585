/**
 * A reading entry's four payload checks for the offline verifier (verify-bundle.ts), against the bundle's
 * certificates: no checkpoint needed.
 *   signature    the COSE_Sign1 verifies with the certified device key, and the ueid is that key's device id
 *   chain        device <- agency <- trusted root, roles and validity at the reading's iat (RFC 8392 §3.1.4-3.1.5);
 *                the device certificate is the one the entry was admitted against (certRef)
 *   revocation   no revocation (in the bundle or held by the verifier) covers the reading's time, and no
 *                keyCompromise revocation of another certificate of the device's or agency's key (key-compromise.ts);
 *                the reading's time against a revokedFrom: its iat, or its entry's receivedAt when earlier (dated
 *                ahead within the clock skew, it was signed by the time the log received it)
 *   claims       well formed, no raw biometric data, type in the device profile, firmware as certified
 * Pure, as verify-bundle.ts.
 */
import type { SignatureVerifier } from './algorithms.js';
import { BIOMETRIC_READING_TYPE } from './biometric.js';
import { bytesEqual, toHex } from './bytes.js';
import type { ProofBundle } from './bundle.js';
import { decodeCertificate, type DecodedCertificate } from './certificate.js';
import { validateChain } from './chain.js';
import { verifySign1 } from './cose-sign1.js';
import { deviceIdMatchesKey } from './device-id.js';
import { fail } from './errors.js';
import { assertAgencyNotRevokedThroughRenewalAt } from './agency-renewal.js';
import { assertDeviceKeyNotCompromisedByOtherIssuerAt, assertNoKeyCompromiseAt, carriedSameKey, compromiseTargets, sameKeyCertificates, type SameKeyCertificates } from './key-compromise.js';
import type { LogEntry } from './log-entry.js';
import { openReading, type OpenedReading } from './reading.js';
import { assertNotRevokedAt } from './revocation.js';
import type { CertificatePool } from './certificate-pool.js';
import { inTrustWindow, type TrustMaterial } from './trust.js';
import { collectRevocations, decodeHeld, heldAll, onlyRootsBesides, run, skip, type Check, type CheckName, type HeldRevocation, type HeldRevocations, type SignedAt } from './verify-checks.js';

export interface ReadingChecks {
  checks: Map<CheckName, Check>;
  /** The reading, if it opened. */
  opened?: OpenedReading;
  /** The agency certificate of the reading's time, if the bundle has one. */
  agency?: DecodedCertificate;
  /** The trusted root the chain ended at, if it validated. */
  rootName?: string;
  signedAt?: SignedAt;
}

/** `heldCertificates`: certificates the verifier holds for its revocations (agency-renewal.ts places them). */
export function readingChecks(
  entry: LogEntry, bundle: ProofBundle, trust: TrustMaterial, heldIn: readonly HeldRevocation[] | HeldRevocations, v: { verifier?: SignatureVerifier },
  heldCertificates: readonly Uint8Array[] | CertificatePool = [],
): ReadingChecks {
  const checks = new Map<CheckName, Check>();
  let opened: OpenedReading | undefined;
  let agency: DecodedCertificate | undefined;
  let rootName: string | undefined;
  let signedAt: SignedAt | undefined;
  const claims = run('claims', () => {
    opened = openReading(entry.payload, { maxBytes: Number.MAX_SAFE_INTEGER });
    return `reading ${opened.claims.seq} of device ${toHex(opened.claims.deviceId)} is well formed; no raw biometric data`;
  });
  if (opened) signedAt = { at: opened.claims.iat, what: 'the reading was signed at', path: 'claims.iat' };
  let device: DecodedCertificate | undefined;
  let sameKey: SameKeyCertificates | undefined;
  let carried: DecodedCertificate[] = [];
  const certs = run('chain', () => {
    const decoded = bundle.certificates.map((c) => decodeCertificate(c));
    carried = decoded;
    if (!opened) fail('CLAIM_INVALID', 'cannot check the chain of a malformed reading', 'entry');
    const ofKey = decoded.filter((c) => bytesEqual(c.holderKid, opened!.kid));
    if (ofKey.length === 0) fail('UNKNOWN_KEY', 'the bundle has no certificate for the key that signed the reading', 'certificates');
    device = ofKey.find((c) => entry.certRef !== undefined && bytesEqual(entry.certRef, c.certRef));
    if (!device) fail('CHAIN_INVALID', 'the entry was admitted against another certificate', 'entry.certRef');
    // The agency certificate of the reading's time, the latest issued if several are (as the gateway registers
    // renewals): the bundle may also carry an earlier one of the same key (key-compromise.ts). Among those whose root
    // is trusted at that time first (found by review): an agency moved to another root trusted only from later on
    // carries that root's certificate beside its chain for a keyCompromise of the key (gateway/bundle-material.ts),
    // and the latest issued failed a reading the first root's chain holds (CERT_NOT_YET_VALID).
    const iat = opened!.claims.iat;
    const agencies = decoded.filter((c) => bytesEqual(c.holderKid, device!.issuerKid));
    const latest = (cs: DecodedCertificate[]) => cs.reduce<DecodedCertificate | undefined>((a, c) => (a && a.claims.iat >= c.claims.iat ? a : c), undefined);
    const validAt = agencies.filter((c) => iat >= c.claims.nbf && iat < c.claims.exp);
    // One whose root is trusted then first (found by two reviews: after a root rotation scheduled in the trust file,
    // or an agency's move to a root trusted only from later on, that root's certificate of the agency key, carried with
    // its keyCompromise, was taken for the chain's and failed it, CERT_NOT_YET_VALID; the gateway picks the same way,
    // gateway/registry.ts readingAgencyCertificateAt).
    agency = latest(validAt.filter((c) => rootTrustedAt(trust, c, iat))) ?? latest(validAt) ?? agencies[0];
    if (!agency) fail('CHAIN_INVALID', "the bundle has no certificate for the device's agency", 'certificates');
    sameKey = sameKeyCertificates(decoded, device, agency);
    // Nothing unverified rides along: every other certificate must be a trusted root's own.
    onlyRootsBesides(decoded, [device, agency, ...carriedSameKey(sameKey)], trust, v, "the reading's chain");
    return 'certificates decode';
  });
  if (!opened) {
    checks.set('signature', skip('signature', 'the reading does not decode'));
    checks.set('chain', skip('chain', 'the reading does not decode'));
    checks.set('revocation', skip('revocation', 'the reading does not decode'));
    checks.set('claims', claims);
  } else if (certs.status === 'fail') {
    checks.set('signature', skip('signature', 'no device certificate to check against'));
    checks.set('chain', certs);
    checks.set('revocation', skip('revocation', 'no certificate chain'));
    checks.set('claims', claims);
  } else {
    const r = opened;
    const d = device!;
    const a = agency!;
    checks.set(
      'signature',
      run('signature', () => {
        if (!deviceIdMatchesKey(r.claims.deviceId, d.holderKey)) fail('CLAIM_INVALID', 'ueid is not the device id of the certified key', 'claims.ueid');
        verifySign1(r.sign1, d.holderKey, v);
        return `COSE_Sign1 verifies with the key of device ${d.claims.sub}`;
      }),
    );
    checks.set(
      'chain',
      run('chain', () => {
        const chain = validateChain([d, a], trust.anchors, r.claims.iat, v);
        rootName = chain.anchor.name;
        return `${d.claims.sub} <- ${a.claims.sub} <- ${chain.anchor.name}, valid at ${r.claims.iat}`;
      }),
    );
    checks.set(
      'revocation',
      run('revocation', () => {
        // The held statements that could concern the bundle's certificates (all of them, but for a prepared list).
        const held = heldAll(heldIn).about(carried);
        const verified = collectRevocations(bundle, held, [
          { cert: d, key: a.holderKey, what: 'device', subjectCompromise: true },
          { cert: a, key: trust.anchors.byKid.get(toHex(a.issuerKid))?.key, what: 'agency' },
          ...compromiseTargets(sameKey!, a, trust, v),
        ], v, 'neither the device nor its agency');
        // Placed at its iat, but no later than the log received it: a reading dated ahead of the gateway's clock (within
        // the skew it allows) and received before a revocation's revokedFrom was signed before then, whatever the
        // device's clock said (found by review: a release or decommissioning "from now", posted after such a reading
        // was receipted, failed its bundle CERT_REVOKED). A revocation from a time the log had reached covers every
        // reading dated from then on, as ever.
        const placed = Math.min(r.claims.iat, Math.floor(entry.receivedAtMs / 1000));
        assertNotRevokedAt(d, verified, placed, 'device');
        assertNotRevokedAt(a, verified, placed, 'agency');
        assertNoKeyCompromiseAt(d, sameKey!, verified, placed);
        // The entry does not pin the agency certificate: a revocation held of a later one of the same key counts.
        const heldDecoded = held.map((h) => ({ rev: decodeHeld(h), logged: h.logged === true }));
        assertAgencyNotRevokedThroughRenewalAt(a, carried, heldDecoded, heldCertificates, trust, r.claims.iat, v, false, placed);
        // Nor through a certificate of the device key by another agency (before a transfer) the bundle left out.
        assertDeviceKeyNotCompromisedByOtherIssuerAt(d, carried, heldDecoded, heldCertificates, trust, placed, v);
        return verified.length === 0 ? 'no revocation covers the device or its agency' : `${verified.length} revocation(s) known; none covers time ${placed}`;
      }),
    );
    checks.set(
      'claims',
      claims.status === 'fail'
        ? claims
        : run('claims', () => {
            const profile = d.claims.profile;
            if (d.claims.role !== 'device' || !profile) fail('ROLE_VIOLATION', 'the signing certificate is not a device certificate', 'certificate');
            const type = r.claims.body.kind === 'sensor' ? r.claims.body.type : BIOMETRIC_READING_TYPE;
            if (!profile.readingTypes.includes(type)) fail('TYPE_NOT_ALLOWED', `reading type ${type} is not in the device profile`, 'claims.body.type');
            if (!bytesEqual(r.claims.firmware, profile.firmware)) fail('FIRMWARE_MISMATCH', 'firmware measurement differs from the certified one', 'claims.fwm');
            return claims.message + `; type ${type} allowed; firmware as certified`;
          }),
    );
  }
  return { checks, ...(opened ? { opened } : {}), ...(agency ? { agency } : {}), ...(rootName !== undefined ? { rootName } : {}), ...(signedAt ? { signedAt } : {}) };
}

/** Whether the root that issued `cert` is a trust anchor whose window holds `at`. */
function rootTrustedAt(trust: TrustMaterial, cert: DecodedCertificate, at: number): boolean {
  const anchor = trust.anchors.byKid.get(toHex(cert.issuerKid));
  return anchor !== undefined && inTrustWindow(anchor, at);
}
