/** node:crypto SignatureVerifier (gateway/crypto/node-verifier.ts) agrees with nobleVerify, including on forgeries. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { p256 } from '@noble/curves/nist.js';
import { ALG_EDDSA, ALG_ES256, nobleSigner, nobleVerify, generateSecretKey, concatBytes, type Alg } from '../../protocol/index.js';
import { createNodeVerifier, nodeVerify } from '../../gateway/crypto/node-verifier.js';

const N = p256.Point.CURVE().n;
const toBytes32 = (x: bigint) => { const b = new Uint8Array(32); for (let i = 31; i >= 0; i--) { b[i] = Number(x & 0xffn); x >>= 8n; } return b; };
const fromBytes = (b: Uint8Array) => b.reduce((a, x) => (a << 8n) | BigInt(x), 0n);

function agree(alg: Alg, pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const a = nobleVerify(alg, pk, msg, sig);
  const b = nodeVerify(alg, pk, msg, sig);
  expect(b).toBe(a);
  return a;
}

describe('node verifier', () => {
  it('agrees on random keys and messages, valid and tampered', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(ALG_EDDSA, ALG_ES256), fc.uint8Array({ maxLength: 200 }), fc.nat(511), async (alg, msg, bit) => {
        const s = nobleSigner(alg as Alg, generateSecretKey(alg as Alg));
        const sig = await s.sign(msg);
        expect(agree(alg as Alg, s.publicKey, msg, sig)).toBe(true);
        const bad = sig.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(agree(alg as Alg, s.publicKey, msg, bad)).toBe(false);
        const other = nobleSigner(alg as Alg, generateSecretKey(alg as Alg));
        expect(agree(alg as Alg, other.publicKey, msg, sig)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('accepts high-S P-256 signatures in both (COSE ES256 does not require low-S)', async () => {
    const s = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const msg = new Uint8Array([1, 2, 3]);
    const sig = await s.sign(msg);
    const r = sig.subarray(0, 32), sv = fromBytes(sig.subarray(32));
    const high = concatBytes(r, toBytes32(N - sv));
    expect(agree(ALG_ES256, s.publicKey, msg, high)).toBe(true);
  });

  it('rejects the same forgeries: r or s zero or >= n, wrong length, off-curve key, Ed25519 S >= L, wrong alg', async () => {
    const msg = new Uint8Array([9]);
    const es = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const sig = await es.sign(msg);
    const r = sig.subarray(0, 32), s = sig.subarray(32);
    const forged = [
      concatBytes(new Uint8Array(32), s), concatBytes(r, new Uint8Array(32)), concatBytes(r, toBytes32(N)),
      concatBytes(toBytes32(N + fromBytes(r) - N), toBytes32(fromBytes(s) + N - N)).subarray(0, 63), new Uint8Array(64),
    ];
    for (const f of forged) expect(agree(ALG_ES256, es.publicKey, msg, f)).toBe(false);
    const offCurve = es.publicKey.slice(); offCurve[64]! ^= 1;
    expect(agree(ALG_ES256, offCurve, msg, sig)).toBe(false);
    expect(agree(ALG_ES256, es.publicKey.subarray(0, 33), msg, sig)).toBe(false);
    const ed = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const esig = await ed.sign(msg);
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    const S = esig.subarray(32).reduceRight((a, x) => (a << 8n) | BigInt(x), 0n) + L; // little-endian S + L
    const sPlusL = new Uint8Array(32); let t = S; for (let i = 0; i < 32; i++) { sPlusL[i] = Number(t & 0xffn); t >>= 8n; }
    expect(agree(ALG_EDDSA, ed.publicKey, msg, concatBytes(esig.subarray(0, 32), sPlusL))).toBe(false);
    expect(agree(ALG_ES256, ed.publicKey, msg, esig)).toBe(false);
    expect(agree(ALG_EDDSA, new Uint8Array(32), msg, esig)).toBe(false);
  });

  it('bounded cache keeps working past its size', async () => {
    const v = createNodeVerifier(2);
    for (let i = 0; i < 5; i++) {
      const s = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
      expect(v(ALG_EDDSA, s.publicKey, new Uint8Array([i]), await s.sign(new Uint8Array([i])))).toBe(true);
    }
  });
});
