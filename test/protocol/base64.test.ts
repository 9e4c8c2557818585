/**
 * protocol/bytes.ts base64 (RFC 4648 §4, with padding, canonical only): the RFC's §10 test vectors, the forms it
 * refuses (each with its reason), and a property against the naive reference, which decodes and then encodes the
 * bytes again to tell a canonical text (how fromBase64 checked it before, half of a large revocation list's decode).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../protocol/bytes.js';

/** The reference: valid when atob takes it under the same pattern and the bytes encode back to the very text. */
function referenceDecode(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  let bin: string;
  try {
    bin = atob(text);
  } catch {
    return null;
  }
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return toBase64(out) === text ? out : null;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const te = new TextEncoder();

describe('base64', () => {
  it('RFC 4648 §10 test vectors, both ways', () => {
    const vectors: [string, string][] = [['', ''], ['f', 'Zg=='], ['fo', 'Zm8='], ['foo', 'Zm9v'], ['foob', 'Zm9vYg=='], ['fooba', 'Zm9vYmE='], ['foobar', 'Zm9vYmFy']];
    for (const [plain, encoded] of vectors) {
      expect(toBase64(te.encode(plain))).toBe(encoded);
      expect(fromBase64(encoded)).toEqual(te.encode(plain));
    }
  });

  it('refuses bad characters, missing or extra padding, and bits past the bytes (non-canonical)', () => {
    for (const text of ['Zg', 'Zg=', 'Zm9vY', 'Zg-=', 'Zm9v\n', 'Z===', '====', 'Zm=v', 'Zm9vYmFy====', 'Zm9-', 'Zm9_']) {
      expect(() => fromBase64(text), text).toThrow('invalid base64');
    }
    // 'h' (33) carries 0b0001 past the one byte of "Zh=="; '9' (61) carries 0b01 past the two bytes of "Zm9="
    for (const text of ['Zh==', 'Zm9=', 'Zv==', 'Zm9vYh==', 'Zm9vYmF=']) {
      expect(referenceDecode(text), text).toBeNull();
      expect(() => fromBase64(text), text).toThrow('non-canonical');
    }
  });

  it('property: bytes round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(fromBase64(toBase64(b))).toEqual(b);
      }),
    );
  });

  it('property: takes exactly the texts the naive reference takes, with the same bytes', () => {
    const chars = fc.constantFrom(...(ALPHABET + '=').split(''));
    const text = fc.oneof(
      fc.array(chars, { maxLength: 12 }).map((a) => a.join('')),
      // near-valid: a valid text whose last data character is replaced (the non-canonical cases live there)
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.constantFrom(...ALPHABET.split(''))).map(([b, c]) => {
        const t = toBase64(b);
        const last = t.replace(/=+$/, '').length - 1;
        return t.slice(0, last) + c + t.slice(last + 1);
      }),
    );
    fc.assert(
      fc.property(text, (t) => {
        const want = referenceDecode(t);
        if (want === null) expect(() => fromBase64(t), t).toThrow();
        else expect(fromBase64(t), t).toEqual(want);
      }),
      { numRuns: 5000 },
    );
  });
});
