/** fast-check properties of the deterministic CBOR layer (protocol/cbor.ts): round trips and one encoding per value. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeStrict, encode, encodeTransient } from '../../protocol/cbor.js';
import { encodeReceipt, encodeReceiptTransient } from '../../protocol/receipt.js';
import { toHex } from '../../protocol/bytes.js';

// Values of the shapes we sign: integers of every width (as number or BigInt), byte and text strings, booleans,
// null, arrays, and maps with integer keys (COSE/CWT labels) or text keys.
const leaf = fc.oneof(
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.uint8Array({ maxLength: 40 }),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant(null),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('intMap'), tie('textMap')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  intMap: fc.uniqueArray(fc.tuple(fc.integer({ min: -70000, max: 70000 }), tie('value')), { maxLength: 5, selector: (e) => e[0] }).map((es) => new Map(es)),
  textMap: fc.uniqueArray(fc.tuple(fc.string({ maxLength: 6 }), tie('value')), { maxLength: 4, selector: (e) => e[0] }).map((es) => new Map(es)),
}));

/** The same value as the decoder returns it: safe integers as numbers, maps in encoded key order. */
function normal(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normal);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [normal(k), normal(x)]));
  return v;
}
/** Reverse every map's insertion order (and write safe BigInts as numbers): the same value, built differently. */
function rebuilt(v: unknown): unknown {
  if (typeof v === 'bigint') return normal(v);
  if (typeof v === 'number' && v > 0xffffffff) return BigInt(v);
  if (Array.isArray(v)) return v.map(rebuilt);
  if (v instanceof Map) return new Map([...v].reverse().map(([k, x]) => [k, rebuilt(x)]));
  return v;
}
const sortedMaps = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(sortedMaps);
  if (v instanceof Map) return [...v].map(([k, x]) => [k, sortedMaps(x)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return v;
};

describe('deterministic CBOR', () => {
  it('encode -> decodeStrict round-trips every value, and the bytes are the only accepted encoding', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        const back = decodeStrict(bytes);
        expect(sortedMaps(back)).toEqual(sortedMaps(normal(v)));
        expect(toHex(encode(back))).toBe(toHex(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('one value, one encoding: map insertion order and number-vs-BigInt do not change the bytes', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(toHex(encode(rebuilt(v)))).toBe(toHex(encode(v)));
      }),
      { numRuns: 2000 },
    );
  });

  it('the scratch-buffer encoding writes the same bytes (read at once: the next encode reuses the buffer)', () => {
    fc.assert(
      fc.property(value, value, (v, w) => {
        const transient = toHex(encodeTransient(v));
        expect(transient).toBe(toHex(encode(v)));
        const first = encodeTransient(v);
        encodeTransient(w); // the buffer is reused: the earlier view is not to be kept
        expect(toHex(encodeTransient(v))).toBe(transient);
        expect(first.length).toBe(transient.length / 2);
      }),
      { numRuns: 1000 },
    );
    const r = { seq: 7, index: 2 ** 40 + 3, receivedAtMs: 1_764_000_000_123, certRef: new Uint8Array(32).fill(1), leafHash: new Uint8Array(32).fill(2), checkpoint: 'o\n5\nAA==\n\n\u2014 o AAAA\n' };
    expect(toHex(encodeReceiptTransient(r))).toBe(toHex(encodeReceipt(r)));
  });
});
