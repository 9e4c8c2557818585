/**
 * What every check of the offline verifier is (verify-bundle.ts) and the helpers the reading's and the registry
 * events' checks share (verify-registry-event.ts): a check runs a function and turns an OriginProofError into a
 * failed check with its code; certificates and revocations a bundle carries must each be accounted for.
 */
import type { SignatureVerifier } from './algorithms.js';
import { bytesEqual, toHex } from './bytes.js';
import type { ProofBundle } from './bundle.js';
import type { DecodedCertificate } from './certificate.js';
import { namesCertificate } from './certificate-refs.js';
import type { PublicKey } from './cose-key.js';
import { verifySign1 } from './cose-sign1.js';
import { OriginProofError, fail, type ErrorCode } from './errors.js';
import { decodeRevocation, verifyRevocation, verifyRevocationOfSubject, type DecodedRevocation, type RevocationReason } from './revocation.js';
import type { TrustMaterial } from './trust.js';

export const CHECK_NAMES = ['signature', 'chain', 'revocation', 'claims', 'inclusion', 'checkpoint', 'consistency'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface Check {
  name: CheckName;
  status: 'pass' | 'fail' | 'skip';
  code?: ErrorCode;
  message: string;
}

export function run(name: CheckName, fn: () => string): Check {
  try {
    return { name, status: 'pass', message: fn() };
  } catch (err) {
    if (err instanceof OriginProofError) return { name, status: 'fail', code: err.code, message: err.message + (err.path ? ` (at ${err.path})` : '') };
    return { name, status: 'fail', code: 'MALFORMED', message: (err as Error).message };
  }
}

export const skip = (name: CheckName, message: string): Check => ({ name, status: 'skip', message });

/** The time the payload's signer put in it (a reading's or revocation's iat): it bounds the entry's receivedAt. */
export interface SignedAt {
  at: number;
  what: string;
  path: string;
}

/** Every bundle certificate outside `used` must be a trusted root's own certificate (nothing unverified rides along). */
export function onlyRootsBesides(decoded: readonly DecodedCertificate[], used: readonly DecodedCertificate[], trust: TrustMaterial, v: { verifier?: SignatureVerifier }, what: string): void {
  decoded.forEach((c, i) => {
    if (used.includes(c)) return;
    const anchor = c.claims.role === 'root' ? trust.anchors.byKid.get(toHex(c.holderKid)) : undefined;
    if (!anchor) fail('CHAIN_INVALID', `certificate ${i} (${c.claims.sub}) is not part of ${what}`, `certificates[${i}]`);
    verifySign1(c.sign1, anchor.key, v);
  });
}

export interface RevocationTarget {
  cert: DecodedCertificate;
  /** Its issuer's key; undefined when that issuer is not trusted (a revocation of it then cannot be checked). */
  key: PublicKey | undefined;
  what: string;
  /** Only a revocation for this reason is wanted (another certificate of a chain key: its keyCompromise); the bundle carries no other. */
  reason?: RevocationReason;
  /**
   * Also take a keyCompromise revocation by the same issuer of another certificate of the same subject: for a device,
   * whose subject is its key's id, that revokes the key (key-compromise.ts), even without that certificate at hand.
   */
  subjectCompromise?: boolean;
}

/** Whether `rev` is a keyCompromise statement by `t`'s issuer about another certificate of `t`'s subject. */
export function compromisesSubject(rev: DecodedRevocation, t: { cert: DecodedCertificate }): boolean {
  return rev.claims.reason === 'keyCompromise' && rev.claims.sub === t.cert.claims.sub && bytesEqual(rev.issuerKid, t.cert.issuerKid) && !namesCertificate(rev.claims.certRef, t.cert);
}

/**
 * A revocation statement the verifier holds: `logged` when it comes from the log's own list (verify-revocation-log.ts),
 * so the gateway took it; otherwise (`--revocations`) it may be one the gateway never saw, or refused.
 */
export interface HeldRevocation {
  bytes: Uint8Array;
  logged?: boolean;
  /** Its decoding, done once for a prepared list (verify-revocation-log.ts): the statement, or what decoding threw. */
  decoded?: { rev: DecodedRevocation } | { error: unknown };
  /** Its place among every statement the verifier holds (default: its place in the array given), for error paths. */
  at?: number;
}

/** A held statement decoded (again, unless a prepared list did it once): throws what decodeRevocation throws. */
export function decodeHeld(h: HeldRevocation): DecodedRevocation {
  if (!h.decoded) return decodeRevocation(h.bytes);
  if ('error' in h.decoded) throw h.decoded.error;
  return h.decoded.rev;
}

/**
 * The statements the verifier holds, as the checks ask for them: those that could concern a set of certificates
 * (verify-revocation-log.ts: a prepared list answers from its index, not by walking every statement). Every check of
 * a held statement is about certificates the bundle carries or the entry registers: it names one (certRef, either
 * encoding) or is of its subject (`sub`); a statement of neither is passed over by every check, so leaving it out
 * changes no verdict. One that does not decode is always given (it fails the check where it stands).
 */
export interface HeldRevocations {
  about(certs: readonly DecodedCertificate[]): readonly HeldRevocation[];
}

/** A plain array of held statements: every one, whatever the certificates. */
export function heldAll(held: readonly HeldRevocation[] | HeldRevocations): HeldRevocations {
  return Array.isArray(held) ? { about: () => held } : (held as HeldRevocations);
}

/**
 * The bundle's and the verifier's revocations that name one of `targets`, each verified against the target's issuer.
 * A bundle revocation naming none of them, or one of them for another reason than the target's `reason`, is rejected
 * (CLAIM_INVALID): a bundle carries only the revocations its checks need. The verifier's own such are passed over.
 * So is a device revocation the verifier holds from outside the log that was signed (iat) at or after the time from
 * which a keyCompromise revocation among these (of a target agency certificate) revokes the key that signed it: the
 * gateway refuses any statement of a key compromised, in effect (gateway/registry.ts revoke), as its thief could
 * have made it. The bundle's and the log's statements were taken by the gateway, and count.
 */
export function collectRevocations(
  bundle: ProofBundle, held: readonly HeldRevocation[], targets: readonly RevocationTarget[], v: { verifier?: SignatureVerifier }, names: string,
): DecodedRevocation[] {
  const verified: { rev: DecodedRevocation; target: RevocationTarget; taken: boolean }[] = [];
  const check = (h: HeldRevocation, path: string, fromBundle: boolean, taken: boolean): void => {
    let rev: DecodedRevocation;
    try {
      rev = decodeHeld(h);
    } catch (err) {
      if (err instanceof OriginProofError) fail(err.code, err.message, path);
      throw err;
    }
    const named = targets.find((x) => namesCertificate(rev.claims.certRef, x.cert));
    const t = named ?? targets.find((x) => x.subjectCompromise && compromisesSubject(rev, x));
    if (t && t.reason !== undefined && rev.claims.reason !== t.reason) {
      if (fromBundle) fail('CLAIM_INVALID', `bundle revocation of the ${t.what} (${rev.claims.sub}) is for ${rev.claims.reason}; only ${t.reason} is carried for it`, path);
    } else if (t) {
      if (!t.key) fail('UNKNOWN_KEY', `cannot check a revocation of the ${t.what}: its issuer is not trusted`, path);
      verified.push({ rev: named ? verifyRevocation(rev, t.cert, t.key, v) : verifyRevocationOfSubject(rev, t.cert, t.key, v), target: t, taken });
    } else if (fromBundle) {
      fail('CLAIM_INVALID', `bundle revocation of ${rev.claims.sub} names ${names}`, path);
    }
  };
  bundle.revocations.forEach((b, i) => check({ bytes: b }, `revocations[${i}]`, true, true));
  held.forEach((h, i) => check(h, `verifier revocations[${h.at ?? i}]`, false, h.logged === true));
  const compromised = verified.filter((x) => x.rev.claims.reason === 'keyCompromise' && x.target.cert.claims.role === 'agency');
  const byStolenKey = (x: (typeof verified)[number]): boolean =>
    !x.taken && x.target.cert.claims.role === 'device' &&
    compromised.some((k) => bytesEqual(k.target.cert.holderKid, x.rev.issuerKid) && x.rev.claims.iat >= k.rev.claims.revokedFrom);
  return verified.filter((x) => !byStolenKey(x)).map((x) => x.rev);
}
