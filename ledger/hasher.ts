/**
 * node:crypto SHA-256 for the ledger's hot path (one-shot `crypto.hash`, ~3x noble; KNOWN-GROUND.md).
 * The digest comes back as a 32-char binary (latin1) string and is written into a shared slab: a 'buffer' digest
 * allocates one ArrayBuffer per hash, which measured twice as slow (0.68 vs 0.33 us per hash here).
 */
import { hash } from 'node:crypto';
import type { Hasher } from '../protocol/hash.js';
import { merkleHasher, type MerkleHasher } from '../protocol/merkle/index.js';

const SLAB_BYTES = 16 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let used = 0;

/** SHA-256 of `data`: a plain Uint8Array view of its own 32 bytes in a slab (never rewritten). */
export const nodeSha256: Hasher = (data) => {
  const digest = hash('sha256', data, 'binary');
  if (used + 32 > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    used = 0;
  }
  slab.write(digest, used, 'binary');
  const out = new Uint8Array(slab.buffer, used, 32);
  used += 32;
  return out;
};
export const nodeMerkleHasher: MerkleHasher = merkleHasher(nodeSha256);
