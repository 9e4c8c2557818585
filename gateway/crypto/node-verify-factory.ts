/**
 * Signature verification on node:crypto, as one self-contained factory so that the same source runs on the
 * main thread and inside worker threads (verify-pool.ts passes `makeNodeVerify.toString()` to `eval` workers,
 * which works for the built JS and under vitest alike). It must not reference anything outside its body.
 *
 * Measured on this machine (KNOWN-GROUND.md, and `npm run bench` -> crypto section): node:crypto verifies
 * Ed25519 ~10x and P-256 ~30x faster than @noble/curves, which stays the pure browser path in protocol/.
 * (Type imports are erased, so the one below does not reach the workers' source.)
 */
import type { SodiumVerify } from './sodium.js';

/**
 * `keySlot`: a number the caller gives every distinct key object (verify-pool.ts does, per worker), so the KeyObject
 * is found without turning the key into a string; the key bytes are still compared, so a reused slot cannot verify
 * with a stale key.
 */
export type RawVerify = ((alg: number, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, keySlot?: number) => boolean) & {
  /** KeyObjects held now (at most `cacheSize` by key, and as many by slot). */
  readonly keys: () => number;
};

/**
 * `sodium`: libsodium's crypto_sign_verify_detached (sodium.ts) verifies Ed25519 instead of node:crypto: ~2.2x the
 * rate here, and stricter on small-order keys and R (sodium.ts says why that is safe). P-256 is node:crypto always.
 */
export function makeNodeVerify(
  crypto: typeof import('node:crypto'),
  cacheSize = 100_000,
  sodium: SodiumVerify | null = null,
): RawVerify {
  // DER SubjectPublicKeyInfo prefixes for raw keys (RFC 8410 §4 for Ed25519; RFC 5480 for P-256 uncompressed).
  const ED25519_SPKI = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
  const P256_SPKI = Uint8Array.from([
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
    0x01, 0x07, 0x03, 0x42, 0x00,
  ]);
  // A KeyObject per device key, so the DER import is paid once (KNOWN-GROUND: import each time halves the rate).
  // Both maps evict the least recently used key (a hit moves its entry to the end; the first entry goes): a fleet
  // larger than `cacheSize` whose devices send at different rates keeps its busy devices' keys (evicted in insertion
  // order, each new key pushed out the oldest however busy, and a busy device's key was imported again and again).
  type Key = import('node:crypto').KeyObject | null;
  const cache = new Map<string, Key>();
  const slots = new Map<number, { alg: number; raw: Uint8Array; key: Key }>();
  function importKey(alg: number, raw: Uint8Array): Key {
    const prefix = alg === -8 ? ED25519_SPKI : P256_SPKI;
    const expected = alg === -8 ? 32 : 65;
    if (raw.length !== expected) return null;
    try {
      return crypto.createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
    } catch {
      return null; // not a point on the curve
    }
  }
  function keyFor(alg: number, raw: Uint8Array): Key {
    const id = alg + ':' + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
    let key = cache.get(id);
    if (key !== undefined) {
      cache.delete(id);
      cache.set(id, key);
      return key;
    }
    key = importKey(alg, raw);
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
    cache.set(id, key);
    return key;
  }
  function keyInSlot(slot: number, alg: number, raw: Uint8Array): Key {
    const e = slots.get(slot);
    if (e && e.alg === alg && e.raw.length === raw.length) {
      let same = true;
      for (let i = 0; i < raw.length; i++) if (e.raw[i] !== raw[i]) { same = false; break; }
      if (same) {
        slots.delete(slot);
        slots.set(slot, e);
        return e.key;
      }
    }
    const key = importKey(alg, raw);
    if (e) slots.delete(slot); // a slot reused for another key: its entry goes to the end as a new one
    else if (slots.size >= cacheSize) slots.delete(slots.keys().next().value as number);
    slots.set(slot, { alg, raw: raw.slice(), key });
    return key;
  }
  const verify = (alg: number, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, keySlot?: number): boolean => {
    if (signature.length !== 64 || (alg !== -8 && alg !== -7)) return false;
    if (alg === -8 && sodium) {
      if (publicKey.length !== 32) return false;
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    }
    const key = keySlot === undefined ? keyFor(alg, publicKey) : keyInSlot(keySlot, alg, publicKey);
    if (!key) return false;
    try {
      if (alg === -8) return crypto.verify(null, message, key, signature);
      // COSE ES256 signatures are r || s (IEEE P1363), high-S allowed (RFC 9053 §2.1).
      return crypto.verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false;
    }
  };
  return Object.assign(verify, { keys: () => cache.size + slots.size });
}
