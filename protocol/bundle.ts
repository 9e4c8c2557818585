/**
 * Ledger block headers and proof bundles: pure encode/decode so a browser verifier can read them.
 *
 * Block header, deterministic CBOR map (RFC 8949 §4.2.1); block hash = SHA-256(header bytes):
 *   1 height (uint), 2 prevHash (bstr 32, zeros for height 0), 3 firstIndex (uint), 4 lastIndex (uint,
 *   inclusive), 5 treeSize (uint, = lastIndex + 1), 6 root (bstr 32, RFC 9162 MTH at treeSize), 7 timeMs (uint).
 *
 * Proof bundle for one entry, deterministic CBOR map:
 *   1 entry (bstr: log entry bytes, protocol/log-entry.ts)   2 index (uint)   3 treeSize (uint)
 *   4 inclusionProof (array of bstr 32, RFC 9162 §2.1.3)     5 checkpoint (tstr: signed note at treeSize)
 *   6 blockHeader (bstr: header of the entry's block)        7 certificates (array of bstr)
 *   8 revocations (array of bstr)
 *   9 consistency (optional map {1 fromSize (uint, 1 <= fromSize <= treeSize), 2 proof (array of bstr 32)}):
 *     an RFC 9162 §2.1.4 consistency proof from an older tree size to treeSize, so `verify --since` works
 *     offline from one file (the verifier supplies the checkpoint at fromSize it already trusts).
 * Absent optional fields are omitted (never null), so bundles without them encode exactly as before.
 * JSON view: the same fields by name; every byte string as standard base64 (RFC 4648 §4), the checkpoint
 * as its text: {entry, index, treeSize, inclusionProof[], checkpoint, blockHeader, certificates[], revocations[],
 * consistency?: {fromSize, proof[]}}.
 */
import { fromBase64, toBase64 } from './bytes.js';
import { decodeStrict, encode } from './cbor.js';
import { fail } from './errors.js';

export interface BlockHeader {
  height: number;
  prevHash: Uint8Array;
  firstIndex: number;
  lastIndex: number;
  treeSize: number;
  root: Uint8Array;
  timeMs: number;
}

export interface ProofBundle {
  entry: Uint8Array;
  index: number;
  treeSize: number;
  inclusionProof: Uint8Array[];
  checkpoint: string;
  blockHeader: Uint8Array;
  certificates: Uint8Array[];
  revocations: Uint8Array[];
  /** Optional consistency proof from an older tree size to treeSize (key 9). */
  consistency?: BundleConsistency;
}

export interface BundleConsistency {
  fromSize: number;
  proof: Uint8Array[];
}

export interface ProofBundleJson {
  entry: string;
  index: number;
  treeSize: number;
  inclusionProof: string[];
  checkpoint: string;
  blockHeader: string;
  certificates: string[];
  revocations: string[];
  consistency?: { fromSize: number; proof: string[] };
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isBytes = (v: unknown, len?: number): v is Uint8Array => v instanceof Uint8Array && (len === undefined || v.length === len);

function asMap(bytes: Uint8Array, what: string, keys: number): Map<number, unknown> {
  return checkKeys(decodeStrict(bytes, what), what, keys);
}

function checkKeys(m: unknown, what: string, keys: number): Map<number, unknown> {
  if (!(m instanceof Map)) return fail('MALFORMED', `${what} must be a CBOR map`);
  for (const k of m.keys()) if (!isUint(k) || k < 1 || k > keys) fail('MALFORMED', `unknown ${what} key ${String(k)}`, String(k));
  return m as Map<number, unknown>;
}

export function encodeBlockHeader(h: BlockHeader): Uint8Array {
  return encode(new Map<number, unknown>([[1, h.height], [2, h.prevHash], [3, h.firstIndex], [4, h.lastIndex], [5, h.treeSize], [6, h.root], [7, h.timeMs]]));
}

export function decodeBlockHeader(bytes: Uint8Array): BlockHeader {
  const m = asMap(bytes, 'block header', 7);
  const h = {
    height: m.get(1), prevHash: m.get(2), firstIndex: m.get(3), lastIndex: m.get(4), treeSize: m.get(5), root: m.get(6), timeMs: m.get(7),
  };
  for (const k of ['height', 'firstIndex', 'lastIndex', 'treeSize', 'timeMs'] as const) if (!isUint(h[k])) fail('MALFORMED', `${k} must be a uint`, k);
  if (!isBytes(h.prevHash, 32)) fail('MALFORMED', 'prevHash must be 32 bytes', 'prevHash');
  if (!isBytes(h.root, 32)) fail('MALFORMED', 'root must be 32 bytes', 'root');
  const hh = h as BlockHeader;
  if (hh.lastIndex < hh.firstIndex || hh.treeSize !== hh.lastIndex + 1) fail('MALFORMED', 'block header indexes are inconsistent', 'lastIndex');
  return hh;
}

function checkBundle(b: ProofBundle): void {
  if (!isBytes(b.entry)) fail('MALFORMED', 'entry must be bytes', 'entry');
  if (!isUint(b.index)) fail('MALFORMED', 'index must be a uint', 'index');
  if (!isUint(b.treeSize) || b.treeSize <= b.index) fail('MALFORMED', 'treeSize must be a uint above index', 'treeSize');
  if (!Array.isArray(b.inclusionProof) || !b.inclusionProof.every((p) => isBytes(p, 32))) fail('MALFORMED', 'inclusionProof must be 32-byte hashes', 'inclusionProof');
  if (typeof b.checkpoint !== 'string') fail('MALFORMED', 'checkpoint must be text', 'checkpoint');
  if (!isBytes(b.blockHeader)) fail('MALFORMED', 'blockHeader must be bytes', 'blockHeader');
  if (!Array.isArray(b.certificates) || !b.certificates.every((c) => isBytes(c))) fail('MALFORMED', 'certificates must be byte strings', 'certificates');
  if (!Array.isArray(b.revocations) || !b.revocations.every((c) => isBytes(c))) fail('MALFORMED', 'revocations must be byte strings', 'revocations');
  if (b.consistency !== undefined) {
    const c = b.consistency;
    if (typeof c !== 'object' || c === null) fail('MALFORMED', 'consistency must be {fromSize, proof}', 'consistency');
    if (!isUint(c.fromSize) || c.fromSize < 1 || c.fromSize > b.treeSize) fail('MALFORMED', 'consistency.fromSize must be a uint in 1..treeSize', 'consistency.fromSize');
    if (!Array.isArray(c.proof) || !c.proof.every((p) => isBytes(p, 32))) fail('MALFORMED', 'consistency.proof must be 32-byte hashes', 'consistency.proof');
  }
}

export function encodeProofBundle(b: ProofBundle): Uint8Array {
  checkBundle(b);
  const m = new Map<number, unknown>([
    [1, b.entry], [2, b.index], [3, b.treeSize], [4, b.inclusionProof], [5, b.checkpoint], [6, b.blockHeader], [7, b.certificates], [8, b.revocations],
  ]);
  if (b.consistency) m.set(9, new Map<number, unknown>([[1, b.consistency.fromSize], [2, b.consistency.proof]]));
  return encode(m);
}

export function decodeProofBundle(bytes: Uint8Array): ProofBundle {
  const m = asMap(bytes, 'proof bundle', 9);
  const b = {
    entry: m.get(1), index: m.get(2), treeSize: m.get(3), inclusionProof: m.get(4), checkpoint: m.get(5), blockHeader: m.get(6),
    certificates: m.get(7), revocations: m.get(8),
  } as ProofBundle;
  if (m.has(9)) {
    const c = checkKeys(m.get(9), 'consistency', 2);
    b.consistency = { fromSize: c.get(1), proof: c.get(2) } as BundleConsistency;
  }
  checkBundle(b);
  return b;
}

export function proofBundleToJson(b: ProofBundle): ProofBundleJson {
  checkBundle(b);
  return {
    entry: toBase64(b.entry), index: b.index, treeSize: b.treeSize, inclusionProof: b.inclusionProof.map(toBase64),
    checkpoint: b.checkpoint, blockHeader: toBase64(b.blockHeader), certificates: b.certificates.map(toBase64), revocations: b.revocations.map(toBase64),
    ...(b.consistency ? { consistency: { fromSize: b.consistency.fromSize, proof: b.consistency.proof.map(toBase64) } } : {}),
  };
}

export function proofBundleFromJson(j: ProofBundleJson): ProofBundle {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) fail('MALFORMED', 'a JSON proof bundle must be an object', '');
  const b64 = (s: unknown, path: string): Uint8Array => {
    try {
      if (typeof s !== 'string') throw new Error('not a string');
      return fromBase64(s);
    } catch {
      return fail('MALFORMED', `${path} must be base64`, path);
    }
  };
  const list = (v: unknown, path: string): Uint8Array[] => (Array.isArray(v) ? v.map((s, i) => b64(s, `${path}[${i}]`)) : fail('MALFORMED', `${path} must be an array`, path));
  const b: ProofBundle = {
    entry: b64(j.entry, 'entry'), index: j.index, treeSize: j.treeSize, inclusionProof: list(j.inclusionProof, 'inclusionProof'),
    checkpoint: j.checkpoint, blockHeader: b64(j.blockHeader, 'blockHeader'), certificates: list(j.certificates, 'certificates'),
    revocations: list(j.revocations, 'revocations'),
  };
  if (j.consistency !== undefined) {
    const c = j.consistency as unknown;
    if (typeof c !== 'object' || c === null) fail('MALFORMED', 'consistency must be {fromSize, proof}', 'consistency');
    const o = c as { fromSize?: unknown; proof?: unknown };
    b.consistency = { fromSize: o.fromSize as number, proof: list(o.proof, 'consistency.proof') };
  }
  checkBundle(b);
  return b;
}

/**
 * A bundle file in either form: the CBOR bundle, or its JSON view (UTF-8, first non-blank character `{`;
 * a CBOR bundle starts with a map header 0xa8/0xa9, never with `{` or blanks). MALFORMED if neither decodes.
 */
export function decodeProofBundleAny(bytes: Uint8Array): ProofBundle {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0xef || bytes[i] === 0xbb || bytes[i] === 0xbf)) i++;
  if (bytes[i] !== 0x7b) return decodeProofBundle(bytes);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch (err) {
    return fail('MALFORMED', `bundle is neither CBOR nor a JSON view: ${(err as Error).message}`, '', err);
  }
  return proofBundleFromJson(json as ProofBundleJson);
}
