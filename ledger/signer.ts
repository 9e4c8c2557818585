/** node:crypto Ed25519 for checkpoint notes on the server (RFC 8032 via OpenSSL; seeds as in @noble). */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { noteKeyId, type Ed25519Verify, type NoteSigner } from '../protocol/checkpoint.js';
import { toHex } from '../protocol/bytes.js';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex'); // RFC 8410 §7
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function nodeNoteSigner(name: string, seed: Uint8Array): NoteSigner & { publicKey: Uint8Array } {
  if (seed.length !== 32) throw new RangeError('Ed25519 seed must be 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  return { name, publicKey, keyId: noteKeyId(name, publicKey), sign: (msg) => new Uint8Array(sign(null, msg, key)) };
}

const keyCache = new Map<string, KeyObject>();

/** Ed25519 verification through node:crypto with a cached KeyObject per public key. */
export const nodeEd25519Verify: Ed25519Verify = (sig, msg, pub) => {
  const id = toHex(pub);
  let key = keyCache.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(id, key);
  }
  try {
    return verify(null, msg, key, sig);
  } catch {
    return false;
  }
};
