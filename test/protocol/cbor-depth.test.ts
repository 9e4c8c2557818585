/**
 * Regression (found by the envelope/HTTP fuzzers): CBOR nested thousands deep, which cbor-x still decodes, overflowed
 * the stack in the walks after it and escaped as a RangeError (an HTTP 500, an internal error in the pipeline).
 * Nesting is now bounded (MAX_CBOR_DEPTH) and anything deeper is MALFORMED, however deep and however warm the JIT.
 */
import { describe, expect, it } from 'vitest';
import { decodeStrict, decode, encode, MAX_CBOR_DEPTH, OriginProofError, Tag } from '../../protocol/index.js';

function nested(kind: 'array' | 'map' | 'tag', depth: number): Uint8Array {
  // RFC 8949 §3: 0x81 = array(1), 0xa1 0x00 = map(1) with key 0, 0xd8 0x64 = tag(100); innermost item 0x00.
  const unit = kind === 'array' ? [0x81] : kind === 'map' ? [0xa1, 0x00] : [0xd8, 0x64];
  const out = new Uint8Array(depth * unit.length + 1);
  for (let i = 0; i < depth; i++) out.set(unit, i * unit.length);
  return out;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (!(err instanceof OriginProofError)) throw err;
    return err.code;
  }
  return 'accepted';
}

describe('CBOR nesting depth', () => {
  it(`structures up to ${MAX_CBOR_DEPTH} levels decode; deeper ones are MALFORMED`, () => {
    let v: unknown = 0;
    for (let i = 0; i < MAX_CBOR_DEPTH; i++) v = [v];
    expect(decodeStrict(encode(v))).toEqual(v);
    expect(codeOf(() => decodeStrict(encode([v])))).toBe('MALFORMED');
    expect(codeOf(() => decode(encode(new Tag([v], 100))))).toBe('MALFORMED');
  });

  it('thousands of levels of arrays, maps and tags are MALFORMED, never a RangeError', () => {
    // Before the fix, maps and tags about 8,000 deep escaped once the decoder was JIT-compiled (how deep cbor-x
    // gets before its own, caught, overflow depends on that): sweep the depths, as the fuzzer did.
    for (const kind of ['array', 'map', 'tag'] as const) {
      for (let depth = MAX_CBOR_DEPTH + 1; depth <= 20_000; depth += depth < 1000 ? 97 : 250) {
        expect(codeOf(() => decodeStrict(nested(kind, depth))), `${kind} x ${depth}`).toBe('MALFORMED');
      }
    }
  });
});
