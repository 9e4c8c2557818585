/**
 * Ed25519 reading signatures on libsodium (gateway/crypto/sodium.ts): it loads here, agrees with the protocol's
 * pure verifier (noble, RFC 8032 strict) and with node:crypto on honest and tampered signatures and on the RFC 8032
 * vectors, is stricter than node:crypto exactly where noble is (or stricter still), and the gateway runs end to end
 * on either library.
 */
import { readFileSync } from 'node:fs';
import * as crypto from 'node:crypto';
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ALG_EDDSA, ALG_ES256, concatBytes, fromHex, generateSecretKey, nobleSigner, nobleVerify, type Alg } from '../../protocol/index.js';
import { makeNodeVerify } from '../../gateway/crypto/node-verify-factory.js';
import { loadSodium, resolveEd25519 } from '../../gateway/crypto/sodium.js';
import { VerifyPool } from '../../gateway/crypto/verify-pool.js';
import { loadConfig } from '../../gateway/config.js';
import { connectDevice, reading, useGatewayWithDevices } from './harness.js';

const sodium = loadSodium();
const viaSodium = makeNodeVerify(crypto, 100, sodium?.binding ?? null);
const viaNode = makeNodeVerify(crypto, 100);
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const le32 = (x: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((x >> BigInt(8 * i)) & 0xffn));
const leToBig = (b: Uint8Array) => b.reduceRight((a, x) => (a << 8n) | BigInt(x), 0n);

describe('libsodium for Ed25519', () => {
  test('loads on this platform (sodium-native ships a prebuilt binding) and passes its RFC 8032 self-test', () => {
    expect(sodium).not.toBeNull();
    expect(resolveEd25519('auto')?.path).toBe(sodium!.path);
    expect(resolveEd25519('libsodium')?.path).toBe(sodium!.path);
    expect(resolveEd25519('node')).toBeNull();
    // Where sodium-native does not load: auto falls back to node:crypto, an explicit libsodium stops the start.
    const missing = () => null;
    expect(resolveEd25519('auto', missing)).toBeNull();
    expect(() => resolveEd25519('libsodium', missing)).toThrow(/does not load/);
  });

  test('config: ed25519Library is auto by default, set by ORIGINPROOF_ED25519_LIBRARY, and anything else stops the start', () => {
    expect(loadConfig({}, {}).ed25519Library).toBe('auto');
    expect(loadConfig({}, { ORIGINPROOF_ED25519_LIBRARY: 'node' }).ed25519Library).toBe('node');
    expect(() => loadConfig({ ed25519Library: 'openssl' }, {})).toThrow(expect.objectContaining({ name: 'ConfigError', code: 'CONFIG_INVALID' }));
  });

  test('RFC 8032 §7.1 vectors verify, and fail with one bit changed, on libsodium as on node:crypto and noble', () => {
    const { cases } = JSON.parse(readFileSync(new URL('../vectors/rfc8032/ed25519.json', import.meta.url), 'utf8')) as { cases: { publicKey: string; message: string; signature: string }[] };
    expect(cases.length).toBeGreaterThanOrEqual(4);
    for (const v of cases) {
      const pk = fromHex(v.publicKey), msg = fromHex(v.message), sig = fromHex(v.signature);
      for (const verify of [viaSodium, viaNode, nobleVerify]) {
        expect(verify(ALG_EDDSA, pk, msg, sig)).toBe(true);
        const bad = sig.slice();
        bad[40]! ^= 4;
        expect(verify(ALG_EDDSA, pk, msg, bad)).toBe(false);
      }
    }
  });

  test('agrees with noble and node:crypto on random keys and messages, honest, tampered and under another key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.nat(511), async (msg, bit) => {
        const s = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
        const sig = await s.sign(msg);
        const other = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA)).publicKey;
        const bad = sig.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        for (const [pk, sg, want] of [[s.publicKey, sig, true], [s.publicKey, bad, false], [other, sig, false]] as const) {
          expect(viaSodium(ALG_EDDSA, pk, msg, sg)).toBe(want);
          expect(viaNode(ALG_EDDSA, pk, msg, sg)).toBe(want);
          expect(nobleVerify(ALG_EDDSA, pk, msg, sg)).toBe(want);
        }
      }),
      { numRuns: 100 },
    );
  });

  test('refuses S >= L, wrong lengths and non-points without throwing; P-256 still goes to node:crypto', async () => {
    const s = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const msg = new Uint8Array([7, 7]);
    const sig = await s.sign(msg);
    const sPlusL = concatBytes(sig.subarray(0, 32), le32(leToBig(sig.subarray(32)) + L));
    expect(viaSodium(ALG_EDDSA, s.publicKey, msg, sPlusL)).toBe(false);
    expect(viaSodium(ALG_EDDSA, s.publicKey.subarray(1), msg, sig)).toBe(false);
    expect(viaSodium(ALG_EDDSA, s.publicKey, msg, sig.subarray(1))).toBe(false);
    expect(viaSodium(ALG_EDDSA, new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
    const es = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const esSig = await es.sign(msg);
    expect(viaSodium(ALG_ES256, es.publicKey, msg, esSig)).toBe(true);
    expect(viaSodium(ALG_ES256, es.publicKey, msg, Uint8Array.from(esSig, (b, i) => (i === 3 ? b ^ 1 : b)))).toBe(false);
  });

  test('a small-order key: node:crypto accepts (R = identity, S = 0) for any message; libsodium refuses, as noble does', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = concatBytes(identity, new Uint8Array(32));
    const msg = new TextEncoder().encode('any message at all');
    expect(viaNode(ALG_EDDSA, identity, msg, forged)).toBe(true);
    expect(viaSodium(ALG_EDDSA, identity, msg, forged)).toBe(false);
    expect(nobleVerify(ALG_EDDSA, identity, msg, forged)).toBe(false);
  });

  test('a small-order R only the key holder can make (S = k·a): libsodium refuses what noble and node:crypto accept', () => {
    const secret = generateSecretKey(ALG_EDDSA);
    const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(secret);
    const R = new Uint8Array(32);
    R[0] = 1; // the identity point
    const msg = new Uint8Array([1, 2, 3]);
    const k = leToBig(sha512(concatBytes(R, pointBytes, msg))) % L;
    const sig = concatBytes(R, le32((k * scalar) % L));
    expect(nobleVerify(ALG_EDDSA, pointBytes, msg, sig)).toBe(true);
    expect(viaNode(ALG_EDDSA, pointBytes, msg, sig)).toBe(true);
    expect(viaSodium(ALG_EDDSA, pointBytes, msg, sig)).toBe(false); // stricter: never accepts what noble refuses
  });

  test('VerifyPool on libsodium (workers and inline) gives the node:crypto verdicts on both algorithms', async () => {
    const reqs: { alg: Alg; publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[] = [];
    for (const alg of [ALG_EDDSA, ALG_ES256] as const) {
      const s = nobleSigner(alg, generateSecretKey(alg));
      for (let i = 0; i < 20; i++) {
        const message = crypto.randomBytes(50 + i);
        const signature = Uint8Array.from(await s.sign(message));
        if (i % 4 === 0) signature[i]! ^= 1;
        reqs.push({ alg, publicKey: s.publicKey, message, signature });
      }
    }
    const pools = [new VerifyPool(2, 8, undefined, sodium), new VerifyPool(0, 8, undefined, sodium), new VerifyPool(0)];
    try {
      const [workers, inline, node] = await Promise.all(pools.map((p) => Promise.all(reqs.map((r) => p.verify(r)))));
      expect(workers).toEqual(node);
      expect(inline).toEqual(node);
      expect(node!.filter((x) => !x)).toHaveLength(10);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });
});

describe.each(['auto', 'node'] as const)('gateway with ed25519Library %s', (library) => {
  const fx = useGatewayWithDevices(1, { ed25519Library: library });

  test('says which library verifies, accepts a signed Ed25519 reading and refuses a forged one (BAD_SIGNATURE)', async () => {
    const { t, dev } = fx;
    expect(t.gw.ed25519Verifier).toBe(library === 'auto' ? 'libsodium' : 'node:crypto');
    const c = await connectDevice(t.gw, dev);
    await c.publish(await reading(dev, 1));
    expect((await c.next()).kind).toBe('receipt');
    const forged = Uint8Array.from(await reading(dev, 2));
    forged[forged.length - 3]! ^= 0x40;
    await c.publish(forged);
    const a = await c.next();
    expect(a.kind === 'rejection' && a.rejection.code).toBe('BAD_SIGNATURE');
    await c.end();
  });
});
