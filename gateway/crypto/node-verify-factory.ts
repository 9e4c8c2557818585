/**
 * Signature verification on node:crypto, as one self-contained factory so that the same source runs on the
 * main thread and inside worker threads (verify-pool.ts passes `makeNodeVerify.toString()` to `eval` workers,
 * which works for the built JS and under vitest alike). It must not reference anything outside its body.
 *
 * Measured on this machine (KNOWN-GROUND.md, and `npm run bench` -> crypto section): node:crypto verifies
 * Ed25519 ~10x and P-256 ~30x faster than @noble/curves, which stays the pure browser path in protocol/.
 */
export type RawVerify = (alg: number, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

export function makeNodeVerify(crypto: typeof import('node:crypto'), cacheSize = 100_000): RawVerify {
  // DER SubjectPublicKeyInfo prefixes for raw keys (RFC 8410 §4 for Ed25519; RFC 5480 for P-256 uncompressed).
  const ED25519_SPKI = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
  const P256_SPKI = Uint8Array.from([
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
    0x01, 0x07, 0x03, 0x42, 0x00,
  ]);
  // A KeyObject per device key, so the DER import is paid once (KNOWN-GROUND: import each time halves the rate).
  const cache = new Map<string, import('node:crypto').KeyObject | null>();
  function keyFor(alg: number, raw: Uint8Array): import('node:crypto').KeyObject | null {
    const id = alg + ':' + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
    let key = cache.get(id);
    if (key !== undefined) return key;
    const prefix = alg === -8 ? ED25519_SPKI : P256_SPKI;
    const expected = alg === -8 ? 32 : 65;
    if (raw.length !== expected) key = null;
    else {
      try {
        key = crypto.createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
      } catch {
        key = null; // not a point on the curve
      }
    }
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
    cache.set(id, key);
    return key;
  }
  return (alg, publicKey, message, signature) => {
    if (signature.length !== 64 || (alg !== -8 && alg !== -7)) return false;
    const key = keyFor(alg, publicKey);
    if (!key) return false;
    try {
      if (alg === -8) return crypto.verify(null, message, key, signature);
      // COSE ES256 signatures are r || s (IEEE P1363), high-S allowed (RFC 9053 §2.1).
      return crypto.verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false;
    }
  };
}
