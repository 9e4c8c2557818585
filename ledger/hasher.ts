/**
 * node:crypto SHA-256 for the ledger's hot path (one-shot `crypto.hash`, ~3x noble; KNOWN-GROUND.md; createHash on Node
 * before 20.12).
 * The digest comes back as a 32-char binary (latin1) string and is written into a shared slab: a 'buffer' digest
 * allocates one ArrayBuffer per hash, which measured twice as slow (0.68 vs 0.33 us per hash here).
 */
import * as crypto from 'node:crypto';
import type { Hasher } from '../protocol/hash.js';
import { merkleHasher, type MerkleHasher } from '../protocol/merkle/index.js';

type BinarySha256 = (data: Uint8Array) => string;
/** The same digest through createHash, for Node before 20.12 (which has no `crypto.hash`; package.json allows >=20). */
export const createHashSha256: BinarySha256 = (data) => crypto.createHash('sha256').update(data).digest('binary');
/**
 * `crypto.hash` where this Node has it, else createHash. Read off the namespace, not imported by name: a named import of
 * an export Node lacks would fail the whole module at link time.
 */
export function pickSha256(oneShot: typeof crypto.hash | undefined): BinarySha256 {
  return typeof oneShot === 'function' ? (data) => oneShot('sha256', data, 'binary') : createHashSha256;
}
const hash = pickSha256((crypto as { hash?: typeof crypto.hash }).hash);

const SLAB_BYTES = 16 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let used = 0;

/** SHA-256 of `data`: a plain Uint8Array view of its own 32 bytes in a slab (never rewritten). */
export const nodeSha256: Hasher = (data) => {
  const digest = hash(data);
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
