/**
 * RFC 9162 §2.1.1 Merkle hashing over an injectable SHA-256 (protocol/hash.ts):
 *   empty tree = SHA-256(""), leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right).
 * Pure @noble by default (browsers); the ledger injects node:crypto for speed.
 */
import { sha256, type Hasher } from '../hash.js';

export const HASH_SIZE = 32;
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

export interface MerkleHasher {
  /** MTH({}) = SHA-256() (RFC 9162 §2.1.1). */
  emptyRoot(): Uint8Array;
  /** MTH({d}) = SHA-256(0x00 || d). */
  hashLeaf(entry: Uint8Array): Uint8Array;
  /** SHA-256(0x01 || left || right). */
  hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array;
}

export function merkleHasher(hash: Hasher = sha256): MerkleHasher {
  const nodeBuf = new Uint8Array(1 + 2 * HASH_SIZE);
  nodeBuf[0] = NODE_PREFIX;
  let leafBuf = new Uint8Array(1024); // reused: the hash function copies its input before returning
  return {
    emptyRoot: () => hash(new Uint8Array(0)),
    hashLeaf(entry) {
      if (entry.length + 1 > leafBuf.length) leafBuf = new Uint8Array(Math.max(2 * leafBuf.length, entry.length + 1));
      leafBuf[0] = LEAF_PREFIX;
      leafBuf.set(entry, 1);
      return hash(leafBuf.subarray(0, 1 + entry.length));
    },
    hashChildren(left, right) {
      if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
        // Reuse one buffer: the hash function copies its input before returning.
        nodeBuf.set(left, 1);
        nodeBuf.set(right, 1 + HASH_SIZE);
        return hash(nodeBuf);
      }
      const buf = new Uint8Array(1 + left.length + right.length);
      buf[0] = NODE_PREFIX;
      buf.set(left, 1);
      buf.set(right, 1 + left.length);
      return hash(buf);
    },
  };
}

/** The default (pure) hasher. */
export const defaultMerkleHasher: MerkleHasher = merkleHasher();

/** Largest power of two strictly smaller than n (n >= 2): the split point k of RFC 9162 §2.1.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** True when n is a power of two (n >= 1). Arithmetic, not bitwise: sizes go past 2^32. */
export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}
