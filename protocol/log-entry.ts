/**
 * Log entries: the bytes under each Merkle leaf (docs/DESIGN.md "Log entries"). A deterministic CBOR map
 * (RFC 8949 §4.2.1) {1: type, 2: index, 3: receivedAtMs, 4: payload, 5: certRef?};
 * leaf hash = SHA-256(0x00 || entry bytes) (RFC 9162 §2.1.1).
 */
import { Encoder } from 'cbor-x';
import { asPlainBytes, bytesEqual } from './bytes.js';
import { fail } from './errors.js';
import { viewForDecoder } from './cbor.js';
import { defaultMerkleHasher, type MerkleHasher } from './merkle/hasher.js';

export const ENTRY_READING = 1;
export const ENTRY_AGENCY_REGISTRATION = 2;
export const ENTRY_DEVICE_REGISTRATION = 3;
export const ENTRY_REVOCATION = 4;
export const ENTRY_TYPES = [ENTRY_READING, ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, ENTRY_REVOCATION] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

const K_TYPE = 1, K_INDEX = 2, K_RECEIVED = 3, K_PAYLOAD = 4, K_CERTREF = 5;
const CERT_REF_LENGTH = 32;

export interface LogEntry {
  type: EntryType;
  index: number;
  receivedAtMs: number;
  /** Exactly the signed bytes that were submitted (envelope, certificate or revocation). */
  payload: Uint8Array;
  /** SHA-256 of the certificate the payload was checked against; absent for root-signed registrations. */
  certRef?: Uint8Array;
}

/** A decoded value in an error message: numbers and text as they are, anything else (a hostile object) by its kind. */
function shown(v: unknown): string {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' ? String(v) : v === null ? 'null' : typeof v;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function check(e: LogEntry, path = ''): void {
  if (!(ENTRY_TYPES as readonly unknown[]).includes(e.type)) fail('MALFORMED', `unknown entry type ${shown(e.type)}`, `${path}type`);
  if (!isUint(e.index)) fail('MALFORMED', 'index must be a non-negative integer', `${path}index`);
  if (!isUint(e.receivedAtMs)) fail('MALFORMED', 'receivedAtMs must be a non-negative integer', `${path}receivedAtMs`);
  if (!(e.payload instanceof Uint8Array)) fail('MALFORMED', 'payload must be a byte string', `${path}payload`);
  if (e.certRef !== undefined && (!(e.certRef instanceof Uint8Array) || e.certRef.length !== CERT_REF_LENGTH)) {
    fail('MALFORMED', `certRef must be ${CERT_REF_LENGTH} bytes`, `${path}certRef`);
  }
}

// Hot path (the ledger encodes every admitted entry): the map is built with its integer keys already in
// deterministic order and integers in shortest form, so cbor-x writes the same bytes as cbor.ts `encode`
// without the generic canonicalisation (tested to agree). Same cbor-x options as protocol/cbor.ts.
const codec = new Encoder({
  useRecords: false, mapsAsObjects: false, tagUint8Array: false, variableMapSize: true, pack: false,
  structuredClone: false, bundleStrings: false,
} as ConstructorParameters<typeof Encoder>[0]);
const UINT32_MAX = 0xffffffff;
const uint = (n: number): number | bigint => (n > UINT32_MAX ? BigInt(n) : n);

export function encodeLogEntry(e: LogEntry): Uint8Array {
  check(e);
  return encodeChecked(e);
}

// cbor-x 1.6.9 encode flags REUSE_BUFFER_MODE (512) | RESET_BUFFER_MODE (1024) (in its encode.js, not in its
// typings): encode into the encoder's own buffer and rewind it afterwards, so no buffer is allocated per entry.
const SCRATCH_MODE = 512 | 1024;
const encodeWithMode = codec.encode as unknown as (value: unknown, mode: number) => Uint8Array & { start: number; end: number };

/**
 * As `encodeLogEntry`, but the result is a view into the encoder's scratch buffer, valid only until the next
 * encode: copy it out at once. The ledger uses it to pack a block's entries into one buffer.
 */
export function encodeLogEntryScratch(e: LogEntry): Uint8Array {
  check(e);
  return encodeScratch(e);
}

function encodeScratch(e: LogEntry): Uint8Array {
  const b = encodeWithMode.call(codec, entryMap(e), SCRATCH_MODE);
  return new Uint8Array(b.buffer, b.byteOffset + b.start, b.end - b.start);
}

function entryMap(e: LogEntry): Map<number, unknown> {
  const m = new Map<number, unknown>();
  m.set(K_TYPE, e.type).set(K_INDEX, uint(e.index)).set(K_RECEIVED, uint(e.receivedAtMs)).set(K_PAYLOAD, asPlainBytes(e.payload));
  if (e.certRef !== undefined) m.set(K_CERTREF, asPlainBytes(e.certRef));
  return m;
}

function encodeChecked(e: LogEntry): Uint8Array {
  return asPlainBytes(codec.encode(entryMap(e)) as Uint8Array);
}

/**
 * Decode and check a log entry; the bytes must be exactly the deterministic encoding of what they decode to
 * (as `decodeStrict`, but re-encoded through the fast `encodeLogEntry`, which is tested to agree: this runs
 * once per entry in `ledger verify`). Rejects duplicate keys, floats, non-shortest integers, trailing bytes.
 */
export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  let m: unknown;
  try {
    m = codec.decode(viewForDecoder(bytes)); // the caller's bytes stay as they are (cbor.ts)
  } catch (err) {
    fail('MALFORMED', `log entry is not well-formed CBOR: ${(err as Error).message}`, '', err);
  }
  if (!(m instanceof Map)) return fail('MALFORMED', 'log entry must be a CBOR map');
  for (const k of m.keys()) {
    if (![K_TYPE, K_INDEX, K_RECEIVED, K_PAYLOAD, K_CERTREF].includes(k as number)) fail('MALFORMED', `unknown log entry key ${shown(k)}`, shown(k));
  }
  const e: LogEntry = {
    type: m.get(K_TYPE) as EntryType,
    index: safeNumber(m.get(K_INDEX)) as number,
    receivedAtMs: safeNumber(m.get(K_RECEIVED)) as number,
    payload: plainBytes(m.get(K_PAYLOAD)) as Uint8Array,
  };
  if (m.has(K_CERTREF)) e.certRef = plainBytes(m.get(K_CERTREF)) as Uint8Array;
  check(e);
  if (!sameBytes(encodeScratch(e), bytes)) fail('MALFORMED', 'log entry is not deterministically encoded (RFC 8949 §4.2.1)');
  return e;
}

// Node's Buffer.compare (native) when there is one: this compares every entry in `ledger verify`.
const NodeBuffer = (globalThis as { Buffer?: { compare(a: Uint8Array, b: Uint8Array): number } }).Buffer;
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => (NodeBuffer ? a.length === b.length && NodeBuffer.compare(a, b) === 0 : bytesEqual(a, b));

// One shape whatever the runtime (as cbor.ts `decode` normalises): safe BigInts -> number, Buffers -> Uint8Array.
const safeNumber = (v: unknown): unknown => (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n ? Number(v) : v);
const plainBytes = (v: unknown): unknown => (v instanceof Uint8Array ? asPlainBytes(v) : v);

/** SHA-256(0x00 || entry bytes) (RFC 9162 §2.1.1). */
export function leafHash(entryBytes: Uint8Array, hasher: MerkleHasher = defaultMerkleHasher): Uint8Array {
  return hasher.hashLeaf(entryBytes);
}
