/**
 * Biometric events and the privacy rule: a reading may say that a fingerprint matched, never carry the fingerprint.
 * Body map (reading claim -65542): {1: purpose text, 2: result "match" | "no-match", 3: score uint 0..1000,
 * 4: subjectCommitment bstr 32 = SHA-256(salt || subject id)}. The salt stays with the agency; it is never sent.
 * Anything that looks like raw biometric data is rejected with BIOMETRIC_RAW_DATA:
 * - unknown fields in a biometric body (or unknown claims next to one),
 * - byte strings longer than 32 bytes anywhere in a biometric body, arrays or maps in one (pieces of a template),
 * - known image/template magic in any byte string of a reading (ISO/IEC 19794-2/-4/-5/-6 'FMR\0' 'FIR\0'
 *   'FAC\0' 'IIR\0' (ANSI INCITS 378 also starts 'FMR\0'), WSQ SOI 0xFFA0, JPEG, PNG, BMP, JPEG 2000, TIFF),
 * - text fields in a biometric body that are long base64 or hex blobs,
 * - a purpose holding 6 or more digits in a row (an id number or a date of birth: the purpose says why, not whom),
 * - a subjectCommitment that is no digest: text (a name, a national id), padding (a run of 8 equal bytes) or
 *   fewer than 17 distinct byte values (looksLikeDigest); in a field of another length or type, text or a number
 *   (commitmentOf). An unsalted subject id written into the field would be logged in clear for good. A SHA-256
 *   output is refused by these once in about 10^11.
 * Magic of fewer than 4 bytes is only looked for in byte strings over 32 bytes: a 32-byte digest starts with
 * 'BM' or 0xFFA0 once in 65,536, and no image or template fits in 32 bytes.
 */
import { concatBytes, utf8ToBytes } from './bytes.js';
import { Tag } from './cbor.js';
import { fail } from './errors.js';
import { sha256 } from './hash.js';
import { asMap, checkBytes, claimKeyName, join, onlyKeys, reqInt, reqText, TOKEN_NAME, type ClaimMap } from './schema.js';

export const BIO_PURPOSE = 1, BIO_RESULT = 2, BIO_SCORE = 3, BIO_SUBJECT_COMMITMENT = 4;
export const BIOMETRIC_READING_TYPE = 'biometric';
export const BIOMETRIC_RESULTS = ['match', 'no-match'] as const;
export type BiometricResult = (typeof BIOMETRIC_RESULTS)[number];

export interface BiometricBody {
  kind: 'biometric';
  purpose: string;
  result: BiometricResult;
  /** Matcher score 0..1000. */
  score: number;
  subjectCommitment: Uint8Array;
}

/** SHA-256(salt || UTF-8 subject id). The salt (>= 16 bytes) is kept by the agency and never sent. */
export function subjectCommitment(salt: Uint8Array, subjectId: string): Uint8Array {
  if (salt.length < 16) fail('CLAIM_INVALID', 'salt must be at least 16 bytes', 'salt');
  return sha256(concatBytes(salt, utf8ToBytes(subjectId)));
}

const MAGIC: readonly { name: string; bytes: number[] }[] = [
  { name: 'ISO/IEC 19794-2 / ANSI 378 finger minutiae (FMR)', bytes: [0x46, 0x4d, 0x52, 0x00] },
  { name: 'ISO/IEC 19794-4 finger image (FIR)', bytes: [0x46, 0x49, 0x52, 0x00] },
  { name: 'ISO/IEC 19794-5 face image (FAC)', bytes: [0x46, 0x41, 0x43, 0x00] },
  { name: 'ISO/IEC 19794-6 iris image (IIR)', bytes: [0x49, 0x49, 0x52, 0x00] },
  { name: 'PNG', bytes: [0x89, 0x50, 0x4e, 0x47] },
  { name: 'JPEG 2000', bytes: [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50] },
  { name: 'TIFF', bytes: [0x49, 0x49, 0x2a, 0x00] },
  { name: 'TIFF', bytes: [0x4d, 0x4d, 0x00, 0x2a] },
  { name: 'WSQ fingerprint image', bytes: [0xff, 0xa0] },
  { name: 'JPEG', bytes: [0xff, 0xd8, 0xff] },
  { name: 'BMP', bytes: [0x42, 0x4d] },
];

export function imageMagic(b: Uint8Array): string | undefined {
  for (const m of MAGIC) {
    if (m.bytes.length < 4 && b.length <= 32) continue;
    if (b.length >= m.bytes.length && startsWith(b, m.bytes)) return m.name;
  }
  return undefined;
}

function startsWith(b: Uint8Array, prefix: readonly number[]): boolean {
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/** Long runs of base64/base64url or hex: what an encoded image or template looks like in a text field. */
export function looksLikeBlob(text: string): boolean {
  return text.length >= 40 && (/^[0-9a-fA-F]+$/.test(text) || /^[A-Za-z0-9+/_-]+={0,2}$/.test(text));
}

/**
 * Whether 32 bytes can be a SHA-256 output rather than an identifier written in place of one. For uniform bytes:
 * UTF-8 text without control characters (after trailing NUL padding) about 1e-11, a run of 8 equal bytes 4e-16,
 * at most 16 distinct values 2e-15.
 */
export function looksLikeDigest(b: Uint8Array): boolean {
  let run = 1;
  for (let i = 1; i < b.length; i++) {
    run = b[i] === b[i - 1] ? run + 1 : 1;
    if (run >= 8) return false;
  }
  if (new Set(b).size <= 16) return false;
  return !isText(b);
}

/** Printable UTF-8 after trailing NUL padding, at least one character: a name or an id number written as text. */
function isText(b: Uint8Array): boolean {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return end > 0 && isPrintableUtf8(b.subarray(0, end));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Valid UTF-8 with no C0 control character nor DEL: what a name or an id number typed as text is. */
function isPrintableUtf8(b: Uint8Array): boolean {
  for (const x of b) if (x < 0x20 || x === 0x7f) return false;
  try {
    UTF8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Walk every byte string of a decoded value; reject image/template magic (BIOMETRIC_RAW_DATA). */
export function rejectImageMagic(value: unknown, path: string): void {
  // Every reading is scanned: the scan builds no path strings; only a hit walks again to name where it is.
  if (containsImage(value)) scanWithPaths(value, path);
}

// Map keys and tagged values are walked too: raw data hidden there is still raw data (BIOMETRIC_RAW_DATA, which tells
// firmware never to resend), not merely a schema error.
function containsImage(value: unknown): boolean {
  if (value instanceof Uint8Array) return imageMagic(value) !== undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (containsImage(value[i])) return true;
    return false;
  }
  if (value instanceof Map) {
    for (const k of value.keys()) if (typeof k === 'object' && containsImage(k)) return true;
    for (const v of value.values()) if (containsImage(v)) return true;
    return false;
  }
  if (value instanceof Tag) return containsImage(value.value);
  return false;
}

function scanWithPaths(value: unknown, path: string): void {
  if (value instanceof Uint8Array) {
    const name = imageMagic(value);
    if (name) fail('BIOMETRIC_RAW_DATA', `byte string starts like ${name} data`, path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => scanWithPaths(v, `${path}[${i}]`));
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      scanWithPaths(k, join(path, '(key)'));
      scanWithPaths(v, join(path, claimKeyName(k)));
    }
  } else if (value instanceof Tag) {
    scanWithPaths(value.value, join(path, `(tag ${value.tag})`));
  }
}

function rejectRaw(value: unknown, path: string): void {
  if (value instanceof Uint8Array && value.length > 32) fail('BIOMETRIC_RAW_DATA', 'byte strings in a biometric event are at most 32 bytes', path);
  if (typeof value === 'string' && looksLikeBlob(value)) fail('BIOMETRIC_RAW_DATA', 'text looks like encoded binary data', path);
  if (Array.isArray(value)) value.forEach((v, i) => rejectRaw(v, `${path}[${i}]`));
  if (value instanceof Map) {
    for (const [k, v] of value) {
      rejectRaw(k, join(path, '(key)'));
      rejectRaw(v, join(path, claimKeyName(k)));
    }
  }
  if (value instanceof Tag) rejectRaw(value.value, join(path, `(tag ${value.tag})`));
}

/** Privacy checks then schema checks of a biometric body. */
export function parseBiometricBody(value: unknown, path: string): BiometricBody {
  rejectRaw(value, path);
  const m: ClaimMap = asMap(value, path);
  onlyKeys(m, [BIO_PURPOSE, BIO_RESULT, BIO_SCORE, BIO_SUBJECT_COMMITMENT], path, 'BIOMETRIC_RAW_DATA');
  rejectNesting(m, path);
  return {
    kind: 'biometric',
    purpose: purposeOf(m, join(path, 'purpose')),
    result: reqText(m, BIO_RESULT, join(path, 'result'), { oneOf: BIOMETRIC_RESULTS }) as BiometricResult,
    score: reqInt(m, BIO_SCORE, join(path, 'score'), 0, 1000),
    subjectCommitment: commitmentOf(m.get(BIO_SUBJECT_COMMITMENT), join(path, 'subjectCommitment')),
  };
}

/**
 * A biometric body's fields are a text, a text, an integer and a byte string: an array or a map in one (under tags
 * too) only carries something else, such as a template cut into pieces of at most 32 bytes, or base64 text too short
 * to look like a blob (BIOMETRIC_RAW_DATA; found by the privacy review: CLAIM_INVALID, a firmware bug to the device).
 */
function rejectNesting(m: ClaimMap, path: string): void {
  for (const [k, v] of m) {
    let inner = v;
    while (inner instanceof Tag) inner = inner.value;
    if (Array.isArray(inner) || inner instanceof Map) fail('BIOMETRIC_RAW_DATA', 'a biometric event field holds an array or a map: its fields are two texts, an integer and a 32-byte digest', join(path, claimKeyName(k)));
  }
}

/**
 * The purpose names why the finger was checked ("identity-check", "door-access-counter-3"), never whose: a run of 6
 * or more digits in it is an id number, a date of birth or a phone number (BIOMETRIC_RAW_DATA), not a purpose.
 */
function purposeOf(m: ClaimMap, path: string): string {
  const purpose = reqText(m, BIO_PURPOSE, path, { pattern: TOKEN_NAME });
  if (/[0-9]{6}/.test(purpose)) fail('BIOMETRIC_RAW_DATA', 'purpose holds a number of 6 or more digits (an id number, a date of birth?)', path);
  return purpose;
}

/**
 * A subject id in clear in the commitment's place is BIOMETRIC_RAW_DATA whatever its length or CBOR type (SPEC §3,
 * §8: "a subject id in clear"): text, as a text string or as bytes, or a number. Found by the privacy review: only
 * 32 bytes were looked at, so 'Jane Doe', an 18-byte national id or the id as an integer was CLAIM_INVALID (a
 * firmware bug to the device, not the privacy alert). Other wrong lengths and types stay CLAIM_INVALID.
 */
function commitmentOf(v: unknown, path: string): Uint8Array {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || (v instanceof Uint8Array && v.length !== 32 && isText(v))) {
    fail('BIOMETRIC_RAW_DATA', 'subjectCommitment is text or a number, not a SHA-256 digest: never send the subject id, only SHA-256(salt || subject id)', path);
  }
  const c = checkBytes(v, path, 32);
  if (!looksLikeDigest(c)) fail('BIOMETRIC_RAW_DATA', 'subjectCommitment is no SHA-256 digest (text or padding): never send the subject id, only SHA-256(salt || subject id)', path);
  return c;
}

export function biometricBodyToMap(b: BiometricBody): ClaimMap {
  return new Map<unknown, unknown>([[BIO_PURPOSE, b.purpose], [BIO_RESULT, b.result], [BIO_SCORE, b.score], [BIO_SUBJECT_COMMITMENT, b.subjectCommitment]]);
}
