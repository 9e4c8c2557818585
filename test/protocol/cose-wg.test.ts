/** COSE WG examples (github.com/cose-wg/Examples, public domain; test/vectors/cose-wg/LICENSE). */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodeSign1, verifySign1, sigStructure, publicKey, fromHex, toHex, concatBytes, ALG_EDDSA, ALG_ES256, decode,
  claimsToMap, type PublicKey,
} from '../../protocol/index.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';

const DIR = new URL('../vectors/cose-wg/', import.meta.url);
interface Vector {
  title: string;
  fail?: boolean;
  input: { sign0: { key: Record<string, string>; alg: string; external?: string }; failures?: Record<string, unknown> };
  intermediates: { ToBeSign_hex: string };
  output: { cbor: string };
}

function b64url(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}
function keyOf(k: Record<string, string>): PublicKey | undefined {
  const x = k.x_hex ? fromHex(k.x_hex) : b64url(k.x!);
  if (k.crv === 'Ed25519') return publicKey(ALG_EDDSA, x);
  if (k.crv !== 'P-256') return undefined;
  const y = k.y_hex ? fromHex(k.y_hex) : b64url(k.y!);
  return publicKey(ALG_ES256, concatBytes(new Uint8Array([4]), x, y));
}

const files: string[] = [];
for (const d of ['sign1-tests', 'eddsa-examples', 'ecdsa-examples', 'CWT']) {
  for (const f of readdirSync(new URL(d + '/', DIR))) if (f.endsWith('.json')) files.push(`${d}/${f}`);
}

describe('COSE WG Sign1 examples', () => {
  // The examples below are made from the files found: a copy that lost them would pass with fewer, or none.
  it('every vector file copied from the COSE WG repository is there', () => {
    const counts: Record<string, number> = {};
    for (const f of files) counts[f.split('/')[0]!] = (counts[f.split('/')[0]!] ?? 0) + 1;
    expect(counts).toEqual({ 'sign1-tests': 9, 'eddsa-examples': 1, 'ecdsa-examples': 4, CWT: 1 });
  });
  for (const f of files) {
    const v = JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as Vector;
    it(`${f}: ${v.title}`, () => {
      const key = keyOf(v.input.sign0.key);
      const run = (verifier?: typeof nodeVerify) => {
        const s = decodeSign1(fromHex(v.output.cbor), { requireTag: false, allowUnprotectedAlg: true });
        if (!key) return verifySign1(s, publicKey(ALG_ES256, new Uint8Array([4, ...new Uint8Array(64)])));
        const externalAad = fromHex(v.input.sign0.external ?? '');
        if (!v.fail) expect(toHex(sigStructure(s.protectedHeaders.size ? s.protectedBytes : new Uint8Array(0), externalAad, s.payload))).toBe(v.intermediates.ToBeSign_hex.toLowerCase());
        verifySign1(s, key, verifier ? { verifier, externalAad } : { externalAad });
      };
      for (const verifier of [undefined, nodeVerify]) {
        const expected = !key || v.input.sign0.alg !== (key.alg === ALG_EDDSA ? 'EdDSA' : 'ES256') ? 'ALG_NOT_ALLOWED' : v.fail ? 'FAIL' : 'OK';
        let got = 'OK';
        try {
          run(verifier);
        } catch (e) {
          got = (e as { code: string }).code;
        }
        if (expected === 'FAIL') expect(['MALFORMED', 'BAD_SIGNATURE', 'ALG_NOT_ALLOWED']).toContain(got);
        else expect(got).toBe(expected);
      }
    });
  }

  it('RFC 8392 A.3: the payload is the CWT claim set of A.1 and decodes', () => {
    const v = JSON.parse(readFileSync(new URL('CWT/A_3.json', DIR), 'utf8')) as Vector & { input: { plaintext_hex: string } };
    const claims = decode(fromHex(v.input.plaintext_hex)) as Map<number, unknown>;
    expect(claims.get(1)).toBe('coap://as.example.com');
    expect(claims.get(4)).toBe(1444064944);
    expect(typeof claimsToMap).toBe('function');
  });
});
