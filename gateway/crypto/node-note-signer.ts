/**
 * The checkpoint signer on node:crypto. Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so it writes the
 * same bytes as protocol/'s pure ed25519NoteSigner (tested); it signs once per block on the event loop, where
 * @noble/curves' sign (~1 ms here) took 2% of the main thread's time under load and node:crypto takes ~50 µs.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { ed25519NoteSigner, type NoteSigner } from '../../protocol/checkpoint.js';

// PKCS #8 wrapping of a raw Ed25519 private key (RFC 8410 §7): the DER prefix, then the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function nodeEd25519NoteSigner(name: string, secretKey: Uint8Array): NoteSigner & { publicKey: Uint8Array } {
  const pure = ed25519NoteSigner(name, secretKey);
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
  return { ...pure, sign: (msg: Uint8Array) => new Uint8Array(sign(null, msg, key)) };
}
