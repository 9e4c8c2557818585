/** Small byte helpers over Uint8Array (no Buffer: protocol/ runs in browsers too). */
import { bytesToHex, hexToBytes as nobleHexToBytes, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';

export { concatBytes, utf8ToBytes };

export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

export function fromHex(hex: string): Uint8Array {
  return nobleHexToBytes(hex);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Plain Uint8Array view (cbor-x hands out Buffers on Node; keep one type across runtimes). */
export function asPlainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Standard base64 with padding (RFC 4648 §4), as C2SP notes use. btoa/atob exist in browsers and Node >= 16. */
export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]!);
  return btoa(bin);
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Strict standard base64 decode: rejects bad characters, missing padding and non-canonical forms. Past the pattern
 * and the length, a text is canonical when the bits its last character carries beyond the bytes are zero (RFC 4648
 * §3.5): the low 4 bits before "==", the low 2 before "=" (checked there, not by encoding the bytes again, which took
 * half of a large revocation list's decode in the verifier page).
 */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error('invalid base64');
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (pad > 0 && (BASE64_ALPHABET.indexOf(text[text.length - pad - 1]!) & (pad === 2 ? 0b1111 : 0b11)) !== 0) {
    throw new Error('invalid base64 (non-canonical)');
  }
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
