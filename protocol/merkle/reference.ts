/**
 * Naive reference implementation straight from RFC 9162 §2.1: MTH (§2.1.1), PATH (§2.1.3.1) and
 * PROOF/SUBPROOF (§2.1.4.1) over the full list of leaves. O(n) per call: for tests only, never exported
 * from protocol/index.ts.
 */
import { defaultMerkleHasher, splitPoint, type MerkleHasher } from './hasher.js';

export function referenceRoot(leaves: readonly Uint8Array[], h: MerkleHasher = defaultMerkleHasher): Uint8Array {
  const n = leaves.length;
  if (n === 0) return h.emptyRoot();
  if (n === 1) return h.hashLeaf(leaves[0]!);
  const k = splitPoint(n);
  return h.hashChildren(referenceRoot(leaves.slice(0, k), h), referenceRoot(leaves.slice(k), h));
}

export function referencePath(m: number, leaves: readonly Uint8Array[], h: MerkleHasher = defaultMerkleHasher): Uint8Array[] {
  const n = leaves.length;
  if (n <= 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...referencePath(m, leaves.slice(0, k), h), referenceRoot(leaves.slice(k), h)];
  return [...referencePath(m - k, leaves.slice(k), h), referenceRoot(leaves.slice(0, k), h)];
}

function subproof(m: number, leaves: readonly Uint8Array[], b: boolean, h: MerkleHasher): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [referenceRoot(leaves, h)];
  const k = splitPoint(n);
  if (m <= k) return [...subproof(m, leaves.slice(0, k), b, h), referenceRoot(leaves.slice(k), h)];
  return [...subproof(m - k, leaves.slice(k), false, h), referenceRoot(leaves.slice(0, k), h)];
}

export function referenceProof(m: number, leaves: readonly Uint8Array[], h: MerkleHasher = defaultMerkleHasher): Uint8Array[] {
  if (m === 0 || m === leaves.length) return [];
  return subproof(m, leaves, true, h);
}
