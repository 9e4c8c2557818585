/** Base64 in and out of JSON bodies; a bad encoding is the client's MALFORMED, not a crash. */
import { fromBase64, toBase64 } from '../../protocol/bytes.js';
import { fail } from '../../protocol/errors.js';

export function b64in(text: string, field: string): Uint8Array {
  try {
    return fromBase64(text);
  } catch {
    return fail('MALFORMED', `${field} is not valid standard base64`, field);
  }
}

export const b64out = toBase64;
