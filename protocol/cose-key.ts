/**
 * COSE_Key (RFC 9052 §7, RFC 9053 §7): OKP for Ed25519 and EC2 for P-256, and the key thumbprint of
 * RFC 9679 (SHA-256 over the deterministic encoding of the required parameters), which we use as `kid`.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { ALG_EDDSA, ALG_ES256, assertAlg, publicKeyLength, type Alg } from './algorithms.js';
import { concatBytes } from './bytes.js';
import { encode } from './cbor.js';
import { fail } from './errors.js';
import { sha256 } from './hash.js';

const KTY = 1, ALG = 3, CRV = -1, X = -2, Y = -3;
const KTY_OKP = 1, KTY_EC2 = 2, CRV_P256 = 1, CRV_ED25519 = 6;

export interface PublicKey {
  alg: Alg;
  /** Raw key: Ed25519 32 bytes; P-256 uncompressed point 0x04 || x || y (65 bytes). */
  raw: Uint8Array;
}

export function publicKey(alg: Alg, raw: Uint8Array): PublicKey {
  if (raw.length !== publicKeyLength(alg)) fail('MALFORMED', `public key must be ${publicKeyLength(alg)} bytes, got ${raw.length}`, 'key');
  if (alg === ALG_ES256 && raw[0] !== 0x04) fail('MALFORMED', 'P-256 public key must be an uncompressed point', 'key');
  return { alg, raw };
}

/** The required parameters only (RFC 9679 §3): the thumbprint input. */
function requiredParams(key: PublicKey): Map<number, unknown> {
  if (key.alg === ALG_EDDSA) return new Map<number, unknown>([[KTY, KTY_OKP], [CRV, CRV_ED25519], [X, key.raw]]);
  return new Map<number, unknown>([[KTY, KTY_EC2], [CRV, CRV_P256], [X, key.raw.subarray(1, 33)], [Y, key.raw.subarray(33, 65)]]);
}

/** COSE_Key map with `alg` (3) set so the key is bound to one algorithm. */
export function coseKeyToMap(key: PublicKey): Map<number, unknown> {
  const m = requiredParams(key);
  m.set(ALG, key.alg);
  return m;
}

export function encodeCoseKey(key: PublicKey): Uint8Array {
  return encode(coseKeyToMap(key));
}

export function coseKeyFromMap(value: unknown, path = 'cose_key'): PublicKey {
  if (!(value instanceof Map)) fail('MALFORMED', 'COSE_Key must be a CBOR map', path);
  const kty = value.get(KTY), crv = value.get(CRV), x = value.get(X), y = value.get(Y), alg = value.get(ALG);
  if (kty === KTY_OKP) {
    if (crv !== CRV_ED25519) fail('ALG_NOT_ALLOWED', `OKP curve ${String(crv)} is not Ed25519`, `${path}.crv`);
    if (alg !== undefined && alg !== ALG_EDDSA) fail('ALG_NOT_ALLOWED', 'OKP Ed25519 key must have alg EdDSA (-8)', `${path}.alg`);
    if (!(x instanceof Uint8Array) || x.length !== 32) fail('MALFORMED', 'Ed25519 x must be 32 bytes', `${path}.x`);
    return { alg: ALG_EDDSA, raw: x };
  }
  if (kty === KTY_EC2) {
    if (crv !== CRV_P256) fail('ALG_NOT_ALLOWED', `EC2 curve ${String(crv)} is not P-256`, `${path}.crv`);
    if (alg !== undefined && alg !== ALG_ES256) fail('ALG_NOT_ALLOWED', 'EC2 P-256 key must have alg ES256 (-7)', `${path}.alg`);
    if (!(x instanceof Uint8Array) || x.length !== 32) fail('MALFORMED', 'P-256 x must be 32 bytes', `${path}.x`);
    if (!(y instanceof Uint8Array) || y.length !== 32) fail('MALFORMED', 'P-256 y must be 32 bytes (compressed points are not accepted)', `${path}.y`);
    return { alg: ALG_ES256, raw: concatBytes(new Uint8Array([0x04]), x, y) };
  }
  if (alg !== undefined) assertAlg(alg, `${path}.alg`);
  return fail('ALG_NOT_ALLOWED', `key type ${String(kty)} is not supported (OKP or EC2)`, `${path}.kty`);
}

/** RFC 9679 COSE Key Thumbprint with SHA-256: 32 bytes. Used as `kid` everywhere. */
export function keyThumbprint(key: PublicKey): Uint8Array {
  return sha256(encode(requiredParams(key)));
}

/**
 * A key a certificate may bind: an Ed25519 key must decode strictly (RFC 8032 §5.1.3, canonical y) to a point of
 * large order. Under a small-order key a signature anyone can make verifies for every message with cofactorless
 * verifiers such as OpenSSL (R = identity, S = 0 under the identity key), so such a key proves nothing about who
 * signed. A P-256 key must be a point on the curve (SEC 1 v2 §3.2.2.1): one that is not verifies nothing, and an
 * agency that certifies one hears so at registration, not from its devices' readings. Checked where certificates
 * are validated (chain.ts), once per certificate.
 */
export function assertUsableKey(key: PublicKey, path = 'key'): void {
  if (key.alg === ALG_ES256) {
    try {
      p256.Point.fromBytes(key.raw).assertValidity();
    } catch {
      fail('CLAIM_INVALID', 'P-256 key is not a point on the curve', path);
    }
    return;
  }
  if (key.alg !== ALG_EDDSA) return;
  let smallOrder: boolean;
  try {
    smallOrder = ed25519.Point.fromBytes(key.raw, false).isSmallOrder();
  } catch {
    return fail('CLAIM_INVALID', 'Ed25519 key is not a canonical encoding of a curve point', path);
  }
  if (smallOrder) fail('CLAIM_INVALID', 'Ed25519 key is a point of small order: signatures under it prove nothing', path);
}
