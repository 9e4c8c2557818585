/**
 * Checks of a secret key file that the gateway's key files (gateway/checkpoint-key.ts, key-file-exposure.ts) and the
 * CLI's and simulator's (device-sim/json-file.ts) share, here as json-error.ts is, because neither side depends on the
 * other. Pure: the callers read the file and its mode.
 */
import { toHex } from './bytes.js';

/**
 * The most bytes read of a secret key file (the CLI's and the simulator's are under 300 bytes, a PEM private key a few
 * KiB): one larger is refused unread, and /dev/zero or a pipe that never ends is not read into memory.
 */
export const KEY_FILE_MAX_BYTES = 64 * 1024;

/**
 * A secret key file's mode when group or others may read or write it (POSIX `mode & 0o077`: what ssh refuses for a
 * private key), as octal text ("0644"); undefined when only its owner may, and always on Windows (no such bits).
 * `platform`: node's process.platform.
 */
export function exposedKeyFileMode(mode: number, platform: string): string | undefined {
  if (platform === 'win32' || (mode & 0o077) === 0) return undefined;
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * Whether a key file's `publicKey` (hex, as `keys generate` and the gateway write it beside the secret), when it has
 * one, names a key other than `actual`, the public key of the secret it holds under its alg. Any 32 bytes are a P-256
 * scalar, so an Ed25519 seed under "alg": "es256", or a secretKey with a digit changed, loads as another key unnoticed
 * without it. A file without the field (older ones) states none: false.
 */
export function statesOtherPublicKey(stated: unknown, actual: Uint8Array): boolean {
  return stated !== undefined && (typeof stated !== 'string' || stated.toLowerCase() !== toHex(actual));
}
