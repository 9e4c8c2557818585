/**
 * Device ids (DESIGN.md): a UEID (RFC 9711 §4.2.1) of type RAND (first byte 0x01) followed by the first 16 bytes
 * of the device key's RFC 9679 thumbprint: 17 bytes, written as 34 lowercase hex characters in topics and `sub`.
 */
import { bytesEqual, fromHex, toHex } from './bytes.js';
import { keyThumbprint, type PublicKey } from './cose-key.js';
import { fail } from './errors.js';

export const UEID_TYPE_RAND = 0x01;
export const DEVICE_ID_LENGTH = 17;
const DEVICE_ID_HEX = /^01[0-9a-f]{32}$/;

export function deviceIdFromKey(key: PublicKey): Uint8Array {
  const id = new Uint8Array(DEVICE_ID_LENGTH);
  id[0] = UEID_TYPE_RAND;
  id.set(keyThumbprint(key).subarray(0, 16), 1);
  return id;
}

/** Whether `id` is the device id of the key whose RFC 9679 thumbprint is `thumbprint` (no hashing). */
export function isDeviceIdOfThumbprint(id: Uint8Array, thumbprint: Uint8Array): boolean {
  if (id.length !== DEVICE_ID_LENGTH || id[0] !== UEID_TYPE_RAND || thumbprint.length < 16) return false;
  for (let i = 0; i < 16; i++) if (id[i + 1] !== thumbprint[i]) return false;
  return true;
}

export function deviceIdToHex(id: Uint8Array): string {
  if (id.length !== DEVICE_ID_LENGTH || id[0] !== UEID_TYPE_RAND) fail('CLAIM_INVALID', 'device id must be a 17-byte RAND UEID', 'ueid');
  return toHex(id);
}

export function isUeidHex(text: unknown): text is string {
  return typeof text === 'string' && DEVICE_ID_HEX.test(text);
}

export function deviceIdFromHex(text: string, path = 'deviceId'): Uint8Array {
  if (!isUeidHex(text)) fail('CLAIM_INVALID', 'device id must be 34 lowercase hex characters starting with 01', path);
  return fromHex(text);
}

export function deviceIdMatchesKey(id: Uint8Array, key: PublicKey): boolean {
  return bytesEqual(id, deviceIdFromKey(key));
}
