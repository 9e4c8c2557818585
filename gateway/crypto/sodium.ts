/**
 * Ed25519 verification on libsodium (sodium-native, prebuilt for Linux, macOS and Windows on x64 and arm64) for the
 * gateway's hot path, the reading signatures. On the bench machine one core verifies ~25,900 Ed25519 signatures/s
 * with libsodium against ~11,700/s with node:crypto (OpenSSL 3.0) (`npm run bench`, crypto section, "libsodium"
 * row). P-256 stays on node:crypto (OpenSSL's assembly P-256, ~15,000/s): libsodium has no P-256.
 *
 * libsodium's crypto_sign_verify_detached is also the stricter check: it refuses public keys and R values of small
 * order and non-canonical keys, where OpenSSL accepts (R = identity, S = 0) under the identity key for any message.
 * It accepts nothing the protocol's offline verifier (noble, RFC 8032 strict) refuses, so a reading the gateway
 * accepts always verifies in a proof bundle. Both refuse S >= L and non-canonical R.
 */
import { createRequire } from 'node:module';

/** Which library verifies Ed25519 reading signatures: libsodium when it loads ('auto'), or the one named. */
export type Ed25519Library = 'auto' | 'libsodium' | 'node';

/** The one sodium-native function the gateway uses. */
export interface SodiumVerify {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

export interface LoadedSodium {
  /** Module path, for worker threads to load the same binding. */
  path: string;
  binding: SodiumVerify;
}

// RFC 8032 §7.1 TEST 1 (empty message): the binding must accept it and refuse it with one bit changed.
const TEST1_PK = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const TEST1_SIG = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

/** sodium-native if it loads on this platform and passes the RFC 8032 self-test; null otherwise. */
export function loadSodium(): LoadedSodium | null {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('sodium-native');
    const binding = require(path) as SodiumVerify;
    const pk = Buffer.from(TEST1_PK, 'hex');
    const sig = Buffer.from(TEST1_SIG, 'hex');
    const msg = new Uint8Array(0);
    if (binding.crypto_sign_verify_detached(sig, msg, pk) !== true) return null;
    sig[0]! ^= 1;
    if (binding.crypto_sign_verify_detached(sig, msg, pk) !== false) return null;
    return { path, binding };
  } catch {
    return null;
  }
}

/**
 * The library for a configured choice: 'auto' is libsodium where it loads, else node:crypto; 'libsodium' that is
 * missing is an error (the start stops with it); 'node' is node:crypto.
 */
export function resolveEd25519(choice: Ed25519Library, load: () => LoadedSodium | null = loadSodium): LoadedSodium | null {
  if (choice === 'node') return null;
  const sodium = load();
  if (!sodium && choice === 'libsodium') {
    throw new Error('ed25519Library is libsodium but sodium-native does not load on this platform (use auto or node)');
  }
  return sodium;
}
