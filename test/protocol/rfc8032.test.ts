import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sha512 } from '@noble/hashes/sha2.js';
import { ALG_EDDSA, fromHex, nobleSigner, nobleVerify, toHex, utf8ToBytes } from '../../protocol/index.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';

const vectors = JSON.parse(readFileSync(new URL('../vectors/rfc8032/ed25519.json', import.meta.url), 'utf8')) as {
  cases: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
};

describe('RFC 8032 §7.1 Ed25519', () => {
  it('SHA(abc) message is SHA-512("abc")', () => {
    expect(toHex(sha512(utf8ToBytes('abc')))).toBe(vectors.cases[3]!.message);
  });
  for (const v of vectors.cases) {
    it(v.name, async () => {
      const signer = nobleSigner(ALG_EDDSA, fromHex(v.secretKey));
      expect(toHex(signer.publicKey)).toBe(v.publicKey);
      const msg = fromHex(v.message);
      expect(toHex(await signer.sign(msg))).toBe(v.signature);
      for (const verify of [nobleVerify, nodeVerify]) {
        expect(verify(ALG_EDDSA, signer.publicKey, msg, fromHex(v.signature))).toBe(true);
        const bad = fromHex(v.signature);
        bad[0]! ^= 1;
        expect(verify(ALG_EDDSA, signer.publicKey, msg, bad)).toBe(false);
      }
    });
  }
});
