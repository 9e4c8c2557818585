/**
 * fast-check arbitraries of CBOR items by class, for type confusion: every class a CBOR decoder can hand back
 * (RFC 8949 §3.1), plus simple values, reserved additional information and tags that cbor-x gives meaning to
 * (dates, bignums, records, string references, shared values), which a strict decoder must not let through.
 */
import fc from 'fast-check';
import { head, MAJOR, type Ast } from './cbor-ast.js';

export type ValueClass = 'int' | 'bigint' | 'float' | 'string' | 'bytes' | 'boolean' | 'null' | 'undefined' | 'array' | 'map' | 'tag' | 'simple' | 'reserved';
export const VALUE_CLASSES: readonly ValueClass[] = ['int', 'bigint', 'float', 'string', 'bytes', 'boolean', 'null', 'undefined', 'array', 'map', 'tag', 'simple', 'reserved'];

const leaf = (v: unknown): Ast => ({ t: 'leaf', v });
const raw = (cls: ValueClass) => (bytes: readonly number[]): Ast => ({ t: 'raw', bytes: Uint8Array.from(bytes), cls });

/** Byte strings that start like images or fingerprint templates (the biometric privacy rule looks for them). */
const MAGIC = [[0xff, 0xd8, 0xff], [0x89, 0x50, 0x4e, 0x47], [0x46, 0x4d, 0x52, 0x00], [0x47, 0x49, 0x46, 0x38]];
/** Tags with a meaning somewhere (RFC 8949 §3.4, IANA registry, cbor-x extensions) and COSE's own (RFC 9052 §2). */
export const INTERESTING_TAGS = [0, 1, 2, 3, 4, 5, 16, 17, 18, 21, 22, 23, 24, 25, 28, 29, 32, 33, 34, 35, 36, 37, 51, 61, 96, 97, 98, 105, 256, 258, 259, 55799, 57344, 57599, 0xffff, 0xffffffff];

const int = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -1, 23, 24, -24, -25, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), -(2 ** 32) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
);
const bigint = fc.oneof(fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }), fc.bigInt({ min: -(2n ** 64n), max: -(2n ** 53n) - 1n }), fc.constantFrom(2n ** 64n, 2n ** 100n, -(2n ** 100n)));
const float = fc.oneof(fc.double({ noInteger: true }), fc.constantFrom(NaN, Infinity, -Infinity, 0.5, -1.5, 65504.5, 3.4e38, 5e-324, 1e300));
const text = fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 24 }), fc.constantFrom('', '\u0000', '__proto__', 'constructor', 'temperature', 'Cel', '\ud800'), fc.string({ minLength: 300, maxLength: 900 }));
const bytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...MAGIC).chain((m) => fc.uint8Array({ maxLength: 40 }).map((rest) => Uint8Array.from([...m, ...rest]))));
const smallLeaf = fc.oneof(int, text.filter((s) => s.length < 30), bytes, fc.boolean(), fc.constant(null));

export const valueOfClass: Record<ValueClass, fc.Arbitrary<Ast>> = {
  int: int.map(leaf),
  bigint: bigint.map(leaf),
  float: float.map(leaf),
  string: text.map(leaf),
  bytes: bytes.map(leaf),
  boolean: fc.boolean().map(leaf),
  null: fc.constant(leaf(null)),
  undefined: fc.constant(leaf(undefined)),
  array: fc.array(smallLeaf, { maxLength: 5 }).map(leaf),
  map: fc.array(fc.tuple(fc.oneof(int, text.filter((s) => s.length < 30), bytes), smallLeaf), { maxLength: 4 }).map((es) => leaf(new Map(es))),
  tag: fc.record({ tag: fc.oneof(fc.constantFrom(...INTERESTING_TAGS), fc.nat()), item: smallLeaf.map(leaf) }).map(({ tag, item }): Ast => ({ t: 'tag', tag, item })),
  // Simple values 0..19 and 32..255 (§3.3), and the two-byte form of 0..31, which is not well-formed (§3.3).
  simple: fc.oneof(fc.integer({ min: 0xe0, max: 0xf3 }).map((b) => [b]), fc.integer({ min: 0, max: 255 }).map((v) => [0xf8, v])).map(raw('simple')),
  // Additional information 28..30 is reserved in every major type (§3), and a lone break (§3.2.1).
  reserved: fc.oneof(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 28, max: 30 })).map(([m, ai]) => [(m << 5) | ai]), fc.constant([0xff])).map(raw('reserved')),
};

/** A value of any class but `not`. */
export function valueNotOf(not: string): fc.Arbitrary<{ cls: ValueClass; ast: Ast }> {
  const classes = VALUE_CLASSES.filter((c) => c !== not);
  return fc.constantFrom(...classes).chain((cls) => valueOfClass[cls].map((ast) => ({ cls, ast })));
}

/** Any CBOR value at all, nested a few levels (garbage that is still well-formed CBOR). */
export const anyCbor: fc.Arbitrary<Ast> = fc.letrec<{ node: Ast }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...VALUE_CLASSES).chain((c) => valueOfClass[c]),
    fc.array(tie('node'), { maxLength: 4 }).map((items): Ast => ({ t: 'array', items })),
    fc.array(fc.tuple(tie('node'), tie('node')), { maxLength: 3 }).map((entries): Ast => ({ t: 'map', entries })),
    tie('node').map((item): Ast => ({ t: 'wrap', item })),
  ),
})).node;

/** Length arguments that lie: huge (past what JavaScript can index), or just off the real length. */
export function lyingLength(actual: number): fc.Arbitrary<bigint> {
  const huge = fc.constantFrom(2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 112810001n, 16810001n);
  const near = fc.constantFrom(actual + 1, actual + 2, actual * 2 + 1, actual + 1000, Math.max(0, actual - 1), 0).filter((n) => n !== actual).map(BigInt);
  return fc.oneof(huge, near);
}

export { head, MAJOR };
