/**
 * Which certRefs name a certificate. A certRef is the SHA-256 of the certificate's bytes (DESIGN.md), and an ECDSA
 * signature (r, s) has a twin (r, n - s) that verifies just as well (SEC 1 v2 §4.1.4 only asks 1 <= s <= n-1; we
 * accept high-S from devices' and agencies' signers). So an ES256-signed certificate has a second encoding, with the
 * same claims and another certRef, that anyone can make from the first. A revocation that names either encoding
 * covers both, or a bundle's producer could swap in the twin and walk around the revocation.
 * Ed25519 has no such twin: RFC 8032 §5.1.7 rejects S >= L, and the envelope's unprotected bucket must be empty.
 */
import { p256 } from '@noble/curves/nist.js';
import { ALG_ES256 } from './algorithms.js';
import { bytesEqual } from './bytes.js';
import type { DecodedCertificate } from './certificate.js';
import { sha256 } from './hash.js';

const N = p256.Point.CURVE().n;
const twins = new WeakMap<DecodedCertificate, readonly Uint8Array[]>();

/** The certificate's certRef, and for an ES256 signature also the certRef of its (r, n - s) twin. */
export function certificateRefs(cert: DecodedCertificate): readonly Uint8Array[] {
  let refs = twins.get(cert);
  if (!refs) {
    const twin = twinCertificateRef(cert);
    refs = twin ? [cert.certRef, twin] : [cert.certRef];
    twins.set(cert, refs);
  }
  return refs;
}

/**
 * The certRef of an ES256-signed certificate's twin encoding, worked out each time (certificateRefs keeps what it
 * works out for as long as the certificate lives: ~0.3 kB each, which a registry holding every certificate kept twice).
 */
export function twinCertificateRef(cert: DecodedCertificate): Uint8Array | undefined {
  const sign1 = cert.sign1;
  const twin = sign1.alg === ALG_ES256 ? twinBytes(cert.bytes, sign1.signature) : undefined;
  return twin && sha256(twin);
}

/** Whether `certRef` names `cert` (either encoding of an ES256-signed one). */
export function namesCertificate(certRef: Uint8Array, cert: DecodedCertificate): boolean {
  return certificateRefs(cert).some((r) => bytesEqual(r, certRef));
}

/**
 * The same COSE_Sign1 bytes with s replaced by n - s. The signature is the last item of the strictly encoded
 * array, so it is the last 64 bytes; s is their second half (RFC 9053 §2.1: r || s, 32 bytes each).
 */
function twinBytes(bytes: Uint8Array, signature: Uint8Array): Uint8Array | undefined {
  if (signature.length !== 64 || bytes.length < 64 || !bytesEqual(bytes.subarray(bytes.length - 64), signature)) return undefined;
  let s = 0n;
  for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(signature[i]!);
  if (s === 0n || s >= N) return undefined;
  let t = N - s;
  const out = bytes.slice();
  for (let i = out.length - 1; i >= out.length - 32; i--) {
    out[i] = Number(t & 0xffn);
    t >>= 8n;
  }
  return out;
}
