/**
 * Trust anchors and chain validation root -> agency -> device.
 * - Anchors are explicit, time-bounded data (root key, name, optional notBefore/notAfter), built once.
 * - Links: cert.iss == issuer sub (or anchor name) and cert kid == issuer key thumbprint (RFC 9679).
 * - Roles: a root issues only agencies, an agency only devices, a device nothing (ROLE_VIOLATION).
 * - Every certificate must be valid at the given time: nbf <= t < exp (RFC 8392 §3.1.4, §3.1.5).
 * - Signatures (RFC 9052 §4.4) through an injectable SignatureVerifier (node:crypto and libsodium on the gateway).
 * - Every holder and anchor key must be usable (cose-key.ts assertUsableKey: no small-order Ed25519 keys).
 */
import { SUPPORTED_ALGS, assertAlg, type Alg, type SignatureVerifier } from './algorithms.js';
import { bytesEqual, toHex } from './bytes.js';
import { assertUsableKey, keyThumbprint, publicKey, type PublicKey } from './cose-key.js';
import { verifySign1 } from './cose-sign1.js';
import { decodeCertificate, type DecodedCertificate, type Role } from './certificate.js';
import { fail } from './errors.js';
import { assertNotRevokedAt, type DecodedRevocation } from './revocation.js';
import { verifyCertifiedPossession } from './proof-of-possession.js';

export interface TrustAnchorInput {
  /** The root's id: certificates it issues carry this as `iss`. */
  name: string;
  key: PublicKey;
  notBefore?: number;
  notAfter?: number;
}

export interface TrustAnchor extends TrustAnchorInput {
  kid: Uint8Array;
}

export interface TrustAnchors {
  readonly byKid: ReadonlyMap<string, TrustAnchor>;
}

/**
 * One anchor per root key. A key listed twice (its root certificate re-issued with a new window, say) is trusted over
 * both windows when they overlap or meet; taking only the last listed failed genuine chains of the other window. Two
 * windows with a gap between them, or two names for one key (certificates name their root by it, `iss`), are MALFORMED:
 * one anchor cannot say either.
 */
export function trustAnchors(inputs: readonly TrustAnchorInput[]): TrustAnchors {
  const byKid = new Map<string, TrustAnchor>();
  for (const a of inputs) {
    const key = publicKey(a.key.alg, a.key.raw);
    assertUsableKey(key, `anchor ${a.name}`);
    const kid = keyThumbprint(key);
    const hex = toHex(kid);
    const prior = byKid.get(hex);
    byKid.set(hex, prior ? joinWindows(prior, a) : { ...a, key, kid });
  }
  return { byKid };
}

function joinWindows(prior: TrustAnchor, next: TrustAnchorInput): TrustAnchor {
  if (prior.name !== next.name) fail('MALFORMED', `root key ${toHex(prior.kid)} is listed twice, as ${prior.name} and as ${next.name}`, 'roots');
  const [lo1, hi1, lo2, hi2] = [prior.notBefore ?? -Infinity, prior.notAfter ?? Infinity, next.notBefore ?? -Infinity, next.notAfter ?? Infinity];
  if (lo2 > hi1 || lo1 > hi2) fail('MALFORMED', `root ${prior.name} is listed twice with windows that leave a gap between them: an anchor has one window; list the key once, with the window to trust it in`, 'roots');
  const { notBefore: _b, notAfter: _a, ...rest } = prior;
  const lo = Math.min(lo1, lo2), hi = Math.max(hi1, hi2);
  return { ...rest, ...(lo === -Infinity ? {} : { notBefore: lo }), ...(hi === Infinity ? {} : { notAfter: hi }) };
}

/** An anchor from a self-signed root certificate (its validity window becomes the anchor's). */
export function anchorFromRootCertificate(root: Uint8Array | DecodedCertificate, verifier?: SignatureVerifier): TrustAnchorInput {
  const cert = root instanceof Uint8Array ? decodeCertificate(root) : root;
  if (cert.claims.role !== 'root') fail('ROLE_VIOLATION', 'trust anchor certificate must have role root', 'claims.role');
  verifySign1(cert.sign1, cert.holderKey, verifier ? { verifier } : {});
  return { name: cert.claims.sub, key: cert.holderKey, notBefore: cert.claims.nbf, notAfter: cert.claims.exp };
}

export interface ValidateChainOptions {
  verifier?: SignatureVerifier;
  allowedAlgs?: readonly Alg[];
  /** Decoded revocation statements already verified (see verifyRevocation); checked at `atSeconds`. */
  revocations?: readonly DecodedRevocation[];
}

export interface ValidatedChain {
  leaf: DecodedCertificate;
  certs: DecodedCertificate[];
  anchor: TrustAnchor;
}

const ISSUER_ROLE: Readonly<Record<Role, Role | undefined>> = { device: 'agency', agency: 'root', root: undefined };

function checkWindow(t: number, nbf: number | undefined, exp: number | undefined, path: string): void {
  if (nbf !== undefined && t < nbf) fail('CERT_NOT_YET_VALID', `not valid before ${nbf} (time ${t})`, path);
  if (exp !== undefined && t >= exp) fail('CERT_EXPIRED', `expired at ${exp} (time ${t})`, path);
}

/**
 * Validate [device, agency] or [agency] (leaf first; a trailing root certificate that is an anchor's own is
 * accepted); the chain must end at a trust anchor. Checks run leaf first: link, alg, signature, role, time, revocation.
 */
export function validateChain(
  chain: readonly (Uint8Array | DecodedCertificate)[],
  anchors: TrustAnchors,
  atSeconds: number,
  opts: ValidateChainOptions = {},
): ValidatedChain {
  if (chain.length === 0 || chain.length > 3) fail('CHAIN_INVALID', 'a chain is [device, agency] or [agency] (optionally + root)', 'chain');
  // A NaN time would pass every window and revocation comparison below (each is "fails if at < nbf", ...).
  if (!Number.isFinite(atSeconds)) fail('MALFORMED', `the time to check the chain at is not a number: ${atSeconds}`, 'at');
  let certs = chain.map((c) => (c instanceof Uint8Array ? decodeCertificate(c) : c));
  const allowed = opts.allowedAlgs ?? SUPPORTED_ALGS;
  // A trailing root certificate is accepted when it is the anchor's own (self-signed) certificate.
  const tail = certs[certs.length - 1]!;
  if (certs.length > 1 && tail.claims.role === 'root') {
    const a = anchors.byKid.get(toHex(tail.holderKid));
    if (!a || !bytesEqual(tail.holderKid, tail.issuerKid)) fail('UNKNOWN_KEY', 'the root certificate is not a trust anchor', `chain[${certs.length - 1}]`);
    verifySign1(tail.sign1, a.key, opts.verifier ? { verifier: opts.verifier } : {});
    certs = certs.slice(0, -1);
  }
  let anchor: TrustAnchor | undefined;
  for (let i = 0; i < certs.length; i++) {
    const cert = certs[i]!;
    const path = `chain[${i}]`;
    const issuer = certs[i + 1];
    if (!issuer) {
      anchor = anchors.byKid.get(toHex(cert.issuerKid));
      if (!anchor) fail('UNKNOWN_KEY', 'the chain does not end at a trusted root key', `${path}.kid`);
    }
    const issuerName = issuer ? issuer.claims.sub : anchor!.name;
    const issuerKid = issuer ? issuer.holderKid : anchor!.kid;
    const issuerKey = issuer ? issuer.holderKey : anchor!.key;
    const issuerRole: Role = issuer ? issuer.claims.role : 'root';
    if (cert.claims.iss !== issuerName) fail('CHAIN_INVALID', `iss "${cert.claims.iss}" is not the issuer "${issuerName}"`, `${path}.claims.iss`);
    if (!bytesEqual(cert.issuerKid, issuerKid)) fail('CHAIN_INVALID', 'kid is not the issuer key thumbprint', `${path}.kid`);
    assertAlg(cert.sign1.alg, `${path}.protected.alg`, allowed);
    assertAlg(cert.holderKey.alg, `${path}.claims.cnf.alg`, allowed);
    assertUsableKey(cert.holderKey, `${path}.claims.cnf`);
    verifySign1(cert.sign1, issuerKey, { allowedAlgs: allowed, ...(opts.verifier ? { verifier: opts.verifier } : {}) });
    // The device's proof of possession the certificate carries (SPEC §2): its binding was checked on decoding.
    if (cert.claims.proofOfPossession) verifyCertifiedPossession(cert.claims.proofOfPossession, cert.holderKey, cert.claims.iss, `${path}.claims.pop`, opts.verifier);
    if (ISSUER_ROLE[cert.claims.role] !== issuerRole) {
      fail('ROLE_VIOLATION', `a ${issuerRole} may not issue a ${cert.claims.role} certificate`, `${path}.claims.role`);
    }
    checkWindow(atSeconds, cert.claims.nbf, cert.claims.exp, path);
    if (opts.revocations) assertNotRevokedAt(cert, opts.revocations, atSeconds, path);
  }
  if (!anchor) return fail('CHAIN_INVALID', 'empty chain', 'chain');
  checkWindow(atSeconds, anchor.notBefore, anchor.notAfter, 'anchor');
  return { leaf: certs[0]!, certs, anchor };
}
