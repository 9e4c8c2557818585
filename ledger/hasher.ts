/** node:crypto SHA-256 for the ledger's hot path (one-shot `crypto.hash`, ~3x noble; KNOWN-GROUND.md). */
import { hash } from 'node:crypto';
import type { Hasher } from '../protocol/hash.js';
import { merkleHasher, type MerkleHasher } from '../protocol/merkle/index.js';

export const nodeSha256: Hasher = (data) => {
  const b = hash('sha256', data, 'buffer');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); // plain Uint8Array, one type across runtimes
};
export const nodeMerkleHasher: MerkleHasher = merkleHasher(nodeSha256);
