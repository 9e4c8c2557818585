/**
 * Raw signature verification rates on this machine: node:crypto and, for Ed25519, libsodium (the gateway's hot path)
 * against @noble/curves (the pure path in protocol/, used by browsers). The rates decide which path the gateway uses.
 */
import * as crypto from 'node:crypto';
import { makeNodeVerify } from '../gateway/crypto/node-verify-factory.js';
import { loadSodium } from '../gateway/crypto/sodium.js';
import { ALG_EDDSA, ALG_ES256, generateSecretKey, nobleSigner, nobleVerify, type Alg } from '../protocol/algorithms.js';
import { ed25519NoteSigner } from '../protocol/checkpoint.js';
import { nodeEd25519NoteSigner } from '../gateway/crypto/node-note-signer.js';
import { nodeSigner } from './node-signer.js';

export interface CryptoBenchResult {
  alg: 'EdDSA' | 'ES256';
  /** verify: a device signature (worker threads); sign: the gateway's checkpoint, once per block (event loop) */
  op?: 'verify' | 'sign';
  nodePerSec: number;
  noblePerSec: number;
  speedup: number;
  /** EdDSA verify on libsodium (sodium-native), what the gateway's verify workers use where it loads; null if it does not */
  sodiumPerSec?: number | null;
}

function rate(fn: () => void, minMs: number): number {
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    elapsed = performance.now() - start;
  }
  return Math.round((n * 1000) / elapsed);
}

/** Single-thread node:crypto verification rate for one algorithm, with a cached KeyObject per key (as the gateway does). */
export function nodeVerifyRate(alg: Alg, ms = 1500): number {
  return verifyRate(alg, 1, ms, false);
}

/**
 * As `nodeVerifyRate`, but over `keys` different keys in turn, each found by its key slot as the gateway's verify
 * workers find a device's KeyObject: the like-for-like single-core baseline for a fleet of that many devices.
 * Verifying one key over and over keeps its OpenSSL state in the CPU caches, which a fleet's keys do not enjoy.
 */
export function nodeVerifyRateOverKeys(alg: Alg, keys: number, ms = 1500): number {
  return verifyRate(alg, keys, ms, true);
}

/** `bySlot`: find each KeyObject by key slot (the verify workers) rather than by the key's bytes (the single-key figure). */
function verifyRate(alg: Alg, keys: number, ms: number, bySlot: boolean): number {
  const signers = Array.from({ length: keys }, () => nodeSigner(alg, generateSecretKey(alg)));
  const n = Math.max(64, keys);
  const msgs = Array.from({ length: n }, () => crypto.randomBytes(200));
  const sigs = msgs.map((m, k) => signers[k % keys]!.sign(m) as Uint8Array);
  const verify = makeNodeVerify(crypto);
  const check = (k: number) => verify(alg, signers[k % keys]!.publicKey, msgs[k]!, sigs[k]!, bySlot ? k % keys : undefined);
  for (let k = 0; k < n; k++) check(k); // import every key first
  let i = 0;
  return rate(() => {
    if (!check(i++ % n)) throw new Error('bench signature failed');
  }, ms);
}

/** Single-thread Ed25519 verification rate on libsodium (gateway/crypto/sodium.ts); null where sodium-native does not load. */
export function sodiumVerifyRate(ms = 1500): number | null {
  const sodium = loadSodium();
  if (!sodium) return null;
  const signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const msgs = Array.from({ length: 64 }, () => crypto.randomBytes(200));
  const sigs = msgs.map((m) => signer.sign(m) as Uint8Array);
  const verify = makeNodeVerify(crypto, 100, sodium.binding);
  let i = 0;
  return rate(() => {
    const k = i++ & 63;
    if (!verify(ALG_EDDSA, signer.publicKey, msgs[k]!, sigs[k]!)) throw new Error('bench signature failed');
  }, ms);
}

/** The checkpoint signature (Ed25519 over a signed-note text), pure vs node:crypto: decides the gateway's signer. */
function checkpointSignRates(ms: number): CryptoBenchResult {
  const key = generateSecretKey(ALG_EDDSA);
  const text = new TextEncoder().encode('originproof.local/log\n1234567\nq8ZkA3nS0tK1dYbN8eQ2mX5vR7uW9yT4pL6oI0jH2gF=\n');
  const pure = ed25519NoteSigner('gw', key);
  const node = nodeEd25519NoteSigner('gw', key);
  const noblePerSec = rate(() => void pure.sign(text), ms / 2);
  const nodePerSec = rate(() => void node.sign(text), ms / 2);
  return { alg: 'EdDSA', op: 'sign', nodePerSec, noblePerSec, speedup: Math.round((nodePerSec / noblePerSec) * 10) / 10 };
}

export function runCryptoBench(ms = 1500): CryptoBenchResult[] {
  return [...verifyRates(ms), checkpointSignRates(ms)];
}

function verifyRates(ms: number): CryptoBenchResult[] {
  return ([ALG_EDDSA, ALG_ES256] as const).map((alg) => {
    const signer = nobleSigner(alg, generateSecretKey(alg));
    const msgs = Array.from({ length: 16 }, () => crypto.randomBytes(200));
    const sigs = msgs.map((m) => signer.sign(m) as Uint8Array);
    let j = 0;
    const noblePerSec = rate(() => {
      const k = j++ & 15;
      if (!nobleVerify(alg, signer.publicKey, msgs[k]!, sigs[k]!)) throw new Error('bench signature failed');
    }, ms / 2);
    const nodePerSec = nodeVerifyRate(alg, ms);
    const speedup = Math.round((nodePerSec / noblePerSec) * 10) / 10;
    if (alg === ALG_ES256) return { alg: 'ES256', op: 'verify', nodePerSec, noblePerSec, speedup };
    return { alg: 'EdDSA', op: 'verify', nodePerSec, noblePerSec, speedup, sodiumPerSec: sodiumVerifyRate(ms) };
  });
}
