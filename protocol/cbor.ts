/**
 * CBOR through cbor-x, configured for COSE/CWT: no record extension, Maps (integer keys) on decode,
 * plain byte strings (no tag 64), and deterministic encoding (RFC 8949 §4.2.1) for everything we sign:
 * - map keys sorted by the bytewise order of their encodings,
 * - integers in their shortest form (cbor-x writes numbers above 2^32 as floats, so those become BigInt),
 * - no floating point in signed structures (firmware encodes fixed-point integers instead).
 * `decodeStrict` re-encodes what it decoded and rejects input that is not already in that form, which also
 * rejects duplicate map keys, indefinite lengths and trailing bytes.
 */
import { Encoder, Tag } from 'cbor-x';
import { bytesEqual, asPlainBytes } from './bytes.js';
import { fail } from './errors.js';

export { Tag };

export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | Uint8Array
  | CborValue[]
  | Map<CborValue, CborValue>
  | Tag;

const codec = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  structuredClone: false,
  bundleStrings: false,
} as ConstructorParameters<typeof Encoder>[0]);

const UINT32_MAX = 0xffffffff;
/**
 * Deepest nesting of arrays, maps and tags we decode. Our structures nest a few levels (a bundle, the deepest,
 * about 4); without a bound, hostile input nested thousands deep that cbor-x still decodes overflowed the stack
 * in the recursive walks after it (normalize, canonical, the biometric scan) with a RangeError, not MALFORMED.
 */
export const MAX_CBOR_DEPTH = 32;

// The path of a value is only needed when something fails, so it is built lazily from (parent, key).
const at = (parent: string, key: unknown): string => (key === undefined ? parent : `${parent}.${String(key)}`);

/** RFC 8949 §4.2.1 order of integer keys without encoding them: 0, 1, ..., then -1, -2, ... */
function compareIntKeys(a: number, b: number): number {
  if (a >= 0) return b >= 0 ? a - b : -1;
  return b >= 0 ? 1 : b - a;
}

function canonical(value: unknown, parent: string, key?: unknown): unknown {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail('MALFORMED', 'floating point values are not allowed in signed structures', at(parent, key));
    if (!Number.isSafeInteger(value)) fail('MALFORMED', 'integer outside the safe range', at(parent, key));
    return value > UINT32_MAX || value < -UINT32_MAX - 1 ? BigInt(value) : value;
  }
  if (typeof value === 'bigint') {
    // cbor-x writes every BigInt as 8 bytes; shortest form means small ones must be numbers.
    if (value <= BigInt(UINT32_MAX) && value >= -BigInt(UINT32_MAX) - 1n) return Number(value);
    return value;
  }
  if (value instanceof Uint8Array) return asPlainBytes(value);
  if (Array.isArray(value)) {
    const path = at(parent, key);
    return value.map((v, i) => canonical(v, path, `[${i}]`));
  }
  if (value instanceof Map) return canonicalMap(value, at(parent, key));
  if (value instanceof Tag) return new Tag(canonical(value.value, parent, key), value.tag);
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean') return value;
  return fail('MALFORMED', `cannot encode a value of type ${typeof value}`, at(parent, key));
}

function canonicalMap(value: Map<unknown, unknown>, path: string): Map<unknown, unknown> {
  let intKeys = true;
  for (const k of value.keys()) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k > UINT32_MAX || k < -UINT32_MAX - 1) {
      intKeys = false;
      break;
    }
  }
  if (intKeys) {
    // Fast path (all COSE/CWT/claims maps): integer keys sort numerically in the RFC 8949 order.
    const keys = [...value.keys()] as number[];
    keys.sort(compareIntKeys);
    const out = new Map<unknown, unknown>();
    for (const k of keys) out.set(k, canonical(value.get(k), path, k));
    return out;
  }
  const entries = [...value.entries()].map(([k, v]) => {
    const ck = canonical(k, path, '<key>');
    return { key: ck, enc: codec.encode(ck) as Uint8Array, value: canonical(v, path, k) };
  });
  entries.sort((a, b) => compareBytes(a.enc, b.enc));
  for (let i = 1; i < entries.length; i++) {
    if (bytesEqual(entries[i - 1]!.enc, entries[i]!.enc)) fail('MALFORMED', 'duplicate map key', path);
  }
  return new Map(entries.map((e) => [e.key, e.value]));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Deterministically encoded CBOR (RFC 8949 §4.2.1). */
export function encode(value: unknown): Uint8Array {
  // Values built in canonical shape already (receipts, Sig_structures, claim maps in key order) are written as
  // they are; anything else is canonicalised first (a sorted copy).
  return asPlainBytes(codec.encode(inCanonicalShape(value) ? value : canonical(value, '')) as Uint8Array);
}

// cbor-x 1.6.9 encode flags REUSE_BUFFER_MODE (512) | RESET_BUFFER_MODE (1024) (in its encode.js, not in its
// typings; protocol/log-entry.ts uses them too): encode into the encoder's own buffer and rewind it afterwards.
// The result is only valid until the next encode. Used for the comparison in decodeStrict, which otherwise
// allocated two encodings per reading that pinned cbor-x's shared 8 kB output chunks alongside longer-lived ones.
const SCRATCH_MODE = 512 | 1024;
const encodeWithMode = codec.encode as unknown as (value: unknown, mode: number) => Uint8Array & { start: number; end: number };
function encodeScratch(value: unknown): Uint8Array {
  const b = encodeWithMode.call(codec, value, SCRATCH_MODE);
  return new Uint8Array(b.buffer, b.byteOffset + b.start, b.end - b.start);
}

/**
 * As `encode`, into the encoder's scratch buffer: the result is valid only until the next encode, so write or copy
 * it at once. For bytes that are copied straight away (a receipt into its MQTT frame), without taking space in the
 * output chunks that longer-lived encodings keep alive.
 */
export function encodeTransient(value: unknown): Uint8Array {
  return encodeScratch(inCanonicalShape(value) ? value : canonical(value, ''));
}

/**
 * cbor-x keeps a DataView on the object it decodes from (a `dataView` property it adds), so decoding a caller's bytes
 * would change them: ~120 bytes of heap on every buffer ever decoded, 0.36 kB per registered device (its certificate
 * and the byte strings in it, kept in the registry; measured over 10,000 certificates). It decodes a fresh view of
 * the same memory instead (~40 ns, no copy), which is garbage afterwards with its DataView.
 */
export function viewForDecoder(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decode one CBOR item; any failure (bad bytes, trailing data) is MALFORMED. Byte strings come back as Uint8Array. */
export function decode(bytes: Uint8Array, what = 'CBOR'): unknown {
  return decodeItem(bytes, what, false);
}

/**
 * `decode` for a look at a value that failed its checks (reading.ts readingSeqOf), never to take it: a date tag, which
 * cbor-x turns into a Date and `decode` refuses, is kept, so a reading whose iat carries one still names its seq.
 */
export function decodeToLook(bytes: Uint8Array, what = 'CBOR'): unknown {
  return decodeItem(bytes, what, true);
}

function decodeItem(bytes: Uint8Array, what: string, keepDates: boolean): unknown {
  let value: unknown;
  try {
    value = codec.decode(viewForDecoder(bytes));
  } catch (err) {
    fail('MALFORMED', `${what} is not well-formed CBOR: ${(err as Error).message}`, '', err);
  }
  return normalize(value, what, 0, keepDates);
}

/** Decode and require deterministic encoding: the bytes must equal the re-encoding of what they decode to. */
export function decodeStrict(bytes: Uint8Array, what = 'CBOR'): unknown {
  const value = decode(bytes, what);
  // Fast path (every well-formed envelope): already in canonical shape (which holds no undefined), so encode it as is.
  const shaped = inCanonicalShape(value);
  if (!shaped) refuseUndefined(value, what);
  let again: Uint8Array;
  try {
    again = encodeScratch(shaped ? value : canonical(value, ''));
  } catch (err) {
    return fail('MALFORMED', `${what} contains values that are not allowed: ${(err as Error).message}`, '', err);
  }
  if (!bytesEqual(again, bytes)) fail('MALFORMED', `${what} is not deterministically encoded (RFC 8949 §4.2.1)`);
  return value;
}

/**
 * CBOR's undefined (simple value 23) decodes to JavaScript's undefined, which reads as an absent key: a signed map
 * holding `k: undefined` was read as not holding k (found by review: a certificate's COSE_Key with `alg: undefined`
 * decoded as a key without an alg). No structure of ours has the value (firmware-specs/reading.cddl), so strict
 * decoding refuses it, as it refuses floats.
 */
function refuseUndefined(value: unknown, what: string): void {
  if (value === undefined) fail('MALFORMED', `${what} holds the CBOR value undefined, which no field has`);
  if (Array.isArray(value)) for (const v of value) refuseUndefined(v, what);
  else if (value instanceof Map) value.forEach((v: unknown, k: unknown) => (refuseUndefined(k, what), refuseUndefined(v, what)));
  else if (value instanceof Tag) refuseUndefined(value.value, what);
}

/**
 * True when `canonical()` would return the value unchanged: integers within 32 bits as numbers and beyond as BigInt
 * (cbor-x writes both in their shortest form), integer map keys already in RFC 8949 order, no floats. Anything else
 * takes the slow path.
 */
function inCanonicalShape(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value <= UINT32_MAX && value >= -UINT32_MAX - 1;
  // cbor-x writes a BigInt in 8 bytes, the shortest form only beyond 32 bits (canonical() makes smaller ones numbers)
  if (typeof value === 'bigint') return value > BigInt(UINT32_MAX) || value < -BigInt(UINT32_MAX) - 1n;
  if (value instanceof Uint8Array || typeof value === 'string' || typeof value === 'boolean' || value === null) return true;
  if (Array.isArray(value)) return value.every(inCanonicalShape);
  if (value instanceof Map) {
    // forEach, not for..of: no [key, value] array per entry (this runs on every reading's maps)
    let prev: number | undefined;
    let ok = true;
    value.forEach((v: unknown, k: unknown) => {
      if (!ok) return;
      if (typeof k !== 'number' || !inCanonicalShape(k) || (prev !== undefined && compareIntKeys(prev, k) >= 0) || !inCanonicalShape(v)) ok = false;
      prev = k as number;
    });
    return ok;
  }
  if (value instanceof Tag) return inCanonicalShape(value.value);
  return false;
}

// Buffers -> Uint8Array, safe BigInts -> number, so callers see one shape whatever the runtime. In place: what
// cbor-x returns is fresh, and rebuilding every map and array doubled the garbage on the gateway's hot path.
function normalize(value: unknown, what: string, depth: number, keepDates = false): unknown {
  if (value instanceof Uint8Array) return asPlainBytes(value);
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value ? Number(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_CBOR_DEPTH) fail('MALFORMED', `${what} nests arrays, maps or tags deeper than ${MAX_CBOR_DEPTH} levels`);
  const d = depth + 1;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = normalize(value[i], what, d, keepDates);
    return value;
  }
  if (value instanceof Map) {
    let keysPlain = true;
    for (const k of value.keys()) if (k instanceof Uint8Array || typeof k === 'bigint' || typeof k === 'object') keysPlain = false;
    if (keysPlain) {
      // updating existing keys keeps the order; only values that can change are written back
      value.forEach((v: unknown, k: unknown, m: Map<unknown, unknown>) => {
        if (typeof v === 'object' || typeof v === 'bigint') m.set(k, normalize(v, what, d, keepDates));
      });
      return value;
    }
    const m = new Map();
    for (const [k, v] of value) m.set(normalize(k, what, d, keepDates), normalize(v, what, d, keepDates));
    return m;
  }
  if (value instanceof Tag) {
    value.value = normalize(value.value, what, d, keepDates);
    return value;
  }
  if (value instanceof Date && !keepDates) fail('MALFORMED', `${what} uses a date tag, which is not allowed`);
  return value;
}
