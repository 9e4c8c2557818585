/**
 * Signature algorithms (RFC 9053 §2): EdDSA with Ed25519 (alg -8, RFC 8032) and ES256, ECDSA P-256 with
 * SHA-256 (alg -7). This is the pure @noble/curves path used in browsers and by default; the gateway swaps in
 * node:crypto through the same `SignatureVerifier` shape (gateway/crypto/node-verifier.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { fail } from './errors.js';

export const ALG_EDDSA = -8;
export const ALG_ES256 = -7;
export type Alg = typeof ALG_EDDSA | typeof ALG_ES256;
export const SUPPORTED_ALGS: readonly Alg[] = [ALG_EDDSA, ALG_ES256];

export function algName(alg: number): string {
  return alg === ALG_EDDSA ? 'EdDSA' : alg === ALG_ES256 ? 'ES256' : `alg ${alg}`;
}

export function assertAlg(alg: unknown, path = 'alg', allowed: readonly Alg[] = SUPPORTED_ALGS): Alg {
  if (typeof alg !== 'number' || !(allowed as readonly number[]).includes(alg)) {
    fail('ALG_NOT_ALLOWED', `algorithm ${String(alg)} is not allowed (allowed: ${allowed.map(algName).join(', ')})`, path);
  }
  return alg as Alg;
}

/** Raw public key sizes: Ed25519 32 bytes; P-256 uncompressed SEC1 point, 65 bytes (0x04 || x || y). */
export function publicKeyLength(alg: Alg): number {
  return alg === ALG_EDDSA ? 32 : 65;
}

/** Verify `signature` over `message` with a raw public key. Returns false on any mismatch, never throws on bad input. */
export type SignatureVerifier = (alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

export const nobleVerify: SignatureVerifier = (alg, publicKey, message, signature) => {
  if (signature.length !== 64) return false;
  try {
    if (alg === ALG_EDDSA) return ed25519.verify(signature, message, publicKey, { zip215: false });
    // COSE ES256 does not require low-S, and secure elements produce high-S half the time (KNOWN-GROUND trap 2).
    return p256.verify(signature, message, publicKey, { lowS: false, prehash: true, format: 'compact' });
  } catch {
    return false;
  }
};

/** Produces a signature; a device's secure element sits behind this boundary (no key export). */
export interface Signer {
  readonly alg: Alg;
  /** Raw public key (see publicKeyLength). */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** A signer over a raw secret key, with @noble/curves (Ed25519: RFC 8032 deterministic; ES256: RFC 6979). */
export function nobleSigner(alg: Alg, secretKey: Uint8Array): Signer {
  if (alg === ALG_EDDSA) {
    const publicKey = ed25519.getPublicKey(secretKey);
    return { alg, publicKey, sign: (m) => ed25519.sign(m, secretKey) };
  }
  const publicKey = p256.getPublicKey(secretKey, false);
  return { alg, publicKey, sign: (m) => p256.sign(m, secretKey, { prehash: true, lowS: true, format: 'compact' }) };
}

export function generateSecretKey(alg: Alg): Uint8Array {
  return alg === ALG_EDDSA ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey();
}

export function publicKeyFromSecret(alg: Alg, secretKey: Uint8Array): Uint8Array {
  return alg === ALG_EDDSA ? ed25519.getPublicKey(secretKey) : p256.getPublicKey(secretKey, false);
}
