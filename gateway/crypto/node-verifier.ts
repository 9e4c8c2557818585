/**
 * A protocol SignatureVerifier (protocol/algorithms.ts) on node:crypto: raw keys imported once through their DER
 * SPKI prefix (RFC 8410 §4 Ed25519, RFC 5480 P-256) and cached as KeyObjects in a bounded Map; ES256 with
 * dsaEncoding 'ieee-p1363' (r || s, RFC 9053 §2.1), high-S accepted like nobleVerify. Pass it as `verifier` to
 * validateChain / verifyReading / verifyConnectToken. Same behaviour as nobleVerify on every vector
 * (test/protocol/node-verifier.test.ts).
 */
import * as crypto from 'node:crypto';
import type { SignatureVerifier } from '../../protocol/algorithms.js';
import { makeNodeVerify } from './node-verify-factory.js';
import type { SodiumVerify } from './sodium.js';

/** `sodium`: Ed25519 on libsodium (crypto/sodium.ts), as the gateway's reading checks use where it loads. */
export function createNodeVerifier(cacheSize = 100_000, sodium: SodiumVerify | null = null): SignatureVerifier & { keys(): number } {
  return makeNodeVerify(crypto, cacheSize, sodium);
}

/** Shared instance for the main thread. */
export const nodeVerify: SignatureVerifier = createNodeVerifier();
