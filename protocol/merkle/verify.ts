/**
 * Proof verification, RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), with the edge cases of
 * transparency-dev/merkle `proof` (size checks, empty-tree and equal-size rules) so its published test
 * vectors pass. Sizes and indexes are JS numbers (safe to 2^53); shifts are done arithmetically.
 */
import { bytesEqual } from '../bytes.js';
import { fail } from '../errors.js';
import { defaultMerkleHasher, HASH_SIZE, isPowerOfTwo, type MerkleHasher } from './hasher.js';

const half = (n: number): number => Math.floor(n / 2);
const lsb = (n: number): boolean => n % 2 === 1;

function checkSize(n: number, what: string, code: 'INCLUSION_INVALID' | 'CONSISTENCY_INVALID'): void {
  if (!Number.isSafeInteger(n) || n < 0) fail(code, `${what} must be a non-negative integer`, what);
}

function checkHashes(proof: readonly Uint8Array[], code: 'INCLUSION_INVALID' | 'CONSISTENCY_INVALID'): void {
  proof.forEach((p, i) => {
    if (!(p instanceof Uint8Array) || p.length !== HASH_SIZE) fail(code, `proof[${i}] must be ${HASH_SIZE} bytes`, `proof[${i}]`);
  });
}

/**
 * The root that an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1-5, without the final comparison).
 * Throws INCLUSION_INVALID when the proof has the wrong shape for (index, size).
 */
export function rootFromInclusionProof(
  index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], hasher: MerkleHasher = defaultMerkleHasher,
): Uint8Array {
  checkSize(index, 'index', 'INCLUSION_INVALID');
  checkSize(size, 'size', 'INCLUSION_INVALID');
  if (index >= size) fail('INCLUSION_INVALID', `index ${index} is beyond tree size ${size}`, 'index');
  if (leafHash.length !== HASH_SIZE) fail('INCLUSION_INVALID', `leaf hash must be ${HASH_SIZE} bytes`, 'leafHash');
  checkHashes(proof, 'INCLUSION_INVALID');
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) fail('INCLUSION_INVALID', 'inclusion proof is too long', 'proof');
    if (lsb(fn) || fn === sn) {
      r = hasher.hashChildren(p, r);
      if (!lsb(fn)) while (!lsb(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      r = hasher.hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail('INCLUSION_INVALID', 'inclusion proof is too short', 'proof');
  return r;
}

/** Verify that leafHash is at index in the tree of the given size and root (RFC 9162 §2.1.3.2). */
export function verifyInclusion(
  index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array,
  hasher: MerkleHasher = defaultMerkleHasher,
): void {
  const calculated = rootFromInclusionProof(index, size, leafHash, proof, hasher);
  if (!bytesEqual(calculated, root)) fail('INCLUSION_INVALID', 'inclusion proof does not lead to the root', 'root');
}

/**
 * The size2 root that a consistency proof leads to, after checking it reproduces root1
 * (RFC 9162 §2.1.4.2). Requires 0 < size1 <= size2; size1 == size2 needs an empty proof.
 */
export function rootFromConsistencyProof(
  size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, hasher: MerkleHasher = defaultMerkleHasher,
): Uint8Array {
  checkSize(size1, 'size1', 'CONSISTENCY_INVALID');
  checkSize(size2, 'size2', 'CONSISTENCY_INVALID');
  if (size2 < size1) fail('CONSISTENCY_INVALID', `size2 ${size2} < size1 ${size1}`, 'size2');
  if (size1 === 0) fail('CONSISTENCY_INVALID', 'a consistency proof from the empty tree is meaningless', 'size1');
  if (size1 === size2) {
    if (proof.length > 0) fail('CONSISTENCY_INVALID', 'size1 = size2 but the proof is not empty', 'proof');
    return root1;
  }
  if (proof.length === 0) fail('CONSISTENCY_INVALID', 'empty consistency proof', 'proof');
  checkHashes(proof, 'CONSISTENCY_INVALID');
  if (root1.length !== HASH_SIZE) fail('CONSISTENCY_INVALID', `root1 must be ${HASH_SIZE} bytes`, 'root1');
  // Step 2: a power-of-two first tree is itself the first node of the path.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (lsb(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) fail('CONSISTENCY_INVALID', 'consistency proof is too long', 'proof');
    if (lsb(fn) || fn === sn) {
      fr = hasher.hashChildren(c, fr);
      sr = hasher.hashChildren(c, sr);
      if (!lsb(fn)) while (!lsb(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      sr = hasher.hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail('CONSISTENCY_INVALID', 'consistency proof is too short', 'proof');
  if (!bytesEqual(fr, root1)) fail('CONSISTENCY_INVALID', 'consistency proof does not reproduce root1', 'root1');
  return sr;
}

/** Verify that the tree (size2, root2) extends (size1, root1) (RFC 9162 §2.1.4.2). */
export function verifyConsistency(
  size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array,
  hasher: MerkleHasher = defaultMerkleHasher,
): void {
  const calculated = rootFromConsistencyProof(size1, size2, proof, root1, hasher);
  if (!bytesEqual(calculated, root2)) fail('CONSISTENCY_INVALID', 'consistency proof does not lead to root2', 'root2');
}
