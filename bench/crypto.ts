/**
 * Raw signature verification rates on this machine: node:crypto (the gateway's hot path) against @noble/curves
 * (the pure path in protocol/, used by browsers). The ratio decides which path the gateway uses.
 */
import * as crypto from 'node:crypto';
import { makeNodeVerify } from '../gateway/crypto/node-verify-factory.js';
import { ALG_EDDSA, ALG_ES256, generateSecretKey, nobleSigner, nobleVerify, type Alg } from '../protocol/algorithms.js';

export interface CryptoBenchResult {
  alg: 'EdDSA' | 'ES256';
  nodePerSec: number;
  noblePerSec: number;
  speedup: number;
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
  const signer = nobleSigner(alg, generateSecretKey(alg));
  const msgs = Array.from({ length: 64 }, () => crypto.randomBytes(200));
  const sigs = msgs.map((m) => signer.sign(m) as Uint8Array);
  const verify = makeNodeVerify(crypto);
  let i = 0;
  return rate(() => {
    const k = i++ & 63;
    if (!verify(alg, signer.publicKey, msgs[k]!, sigs[k]!)) throw new Error('bench signature failed');
  }, ms);
}

export function runCryptoBench(ms = 1500): CryptoBenchResult[] {
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
    return { alg: alg === ALG_EDDSA ? 'EdDSA' : 'ES256', nodePerSec, noblePerSec, speedup: Math.round((nodePerSec / noblePerSec) * 10) / 10 };
  });
}
