/**
 * Proof generation over stored perfect subtrees. A node id (level, index) names the complete subtree of
 * 2^level leaves starting at leaf index * 2^level; a store keeps the hash of every such subtree, so any
 * proof needs O(log n) of them (as transparency-dev/merkle `proof.Inclusion` / `compact` nodes).
 *
 * Generation is split in two pure steps so an async store can fetch all nodes in one round trip:
 *   1. `inclusionPlan` / `consistencyPlan` / `rootPlan`: which nodes each proof element needs;
 *   2. `foldRange`: hash the nodes of one element (right-border "ephemeral" subtrees need several).
 * The sync `inclusionProof` / `consistencyProof` / `rootAt` take a `NodeReader` and do both.
 * The recursion follows RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (SUBPROOF) on leaf ranges [begin, end).
 */
import { fail } from '../errors.js';
import { defaultMerkleHasher, splitPoint, type MerkleHasher } from './hasher.js';

export interface NodeId {
  level: number;
  index: number;
}

/** Hash of the perfect subtree (level, index). */
export type NodeReader = (level: number, index: number) => Uint8Array;

/** One proof element: the hash of the leaf range these perfect subtrees cover, left to right. */
export type PlanElement = NodeId[];

/**
 * The perfect subtrees covering [begin, end), left to right, in decreasing size, for ranges that occur in
 * the RFC recursion (begin is a multiple of a power of two >= end - begin) and for [0, size).
 */
export function rangeNodes(begin: number, end: number): NodeId[] {
  const out: NodeId[] = [];
  while (begin < end) {
    let size = 1;
    let level = 0;
    while (size * 2 <= end - begin && begin % (size * 2) === 0) { size *= 2; level++; }
    out.push({ level, index: begin / size });
    begin += size;
  }
  return out;
}

/** MTH of a range from its perfect subtrees (left to right): fold from the right (RFC 9162 §2.1.1). */
export function foldRange(hashes: readonly Uint8Array[], hasher: MerkleHasher = defaultMerkleHasher): Uint8Array {
  if (hashes.length === 0) return hasher.emptyRoot();
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = hasher.hashChildren(hashes[i]!, h);
  return h;
}

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) fail('MALFORMED', `${what} must be a non-negative integer`, what);
}

/** Nodes for the inclusion proof of leaf `index` in a tree of `size` (RFC 9162 §2.1.3.1), bottom-up. */
export function inclusionPlan(index: number, size: number): PlanElement[] {
  checkCount(index, 'index');
  checkCount(size, 'size');
  if (index >= size) fail('INCLUSION_INVALID', `index ${index} is beyond tree size ${size}`, 'index');
  const top: PlanElement[] = []; // built top-down, returned bottom-up
  let begin = 0;
  let end = size;
  let m = index;
  while (end - begin > 1) {
    const k = splitPoint(end - begin);
    if (m < k) {
      top.push(rangeNodes(begin + k, end));
      end = begin + k;
    } else {
      top.push(rangeNodes(begin, begin + k));
      begin += k;
      m -= k;
    }
  }
  return top.reverse();
}

/** Nodes for the consistency proof from size1 to size2 (RFC 9162 §2.1.4.1 SUBPROOF), bottom-up. */
export function consistencyPlan(size1: number, size2: number): PlanElement[] {
  checkCount(size1, 'size1');
  checkCount(size2, 'size2');
  if (size1 > size2) fail('CONSISTENCY_INVALID', `size1 ${size1} > size2 ${size2}`, 'size1');
  if (size1 === 0 || size1 === size2) return [];
  const top: PlanElement[] = [];
  let begin = 0;
  let end = size2;
  let m = size1;
  let b = true;
  for (;;) {
    const n = end - begin;
    if (m === n) {
      if (!b) top.push(rangeNodes(begin, end));
      break;
    }
    const k = splitPoint(n);
    if (m <= k) {
      top.push(rangeNodes(begin + k, end));
      end = begin + k;
    } else {
      top.push(rangeNodes(begin, begin + k));
      begin += k;
      m -= k;
      b = false;
    }
  }
  return top.reverse();
}

/** Nodes whose fold is the root of the tree of `size`. */
export function rootPlan(size: number): PlanElement {
  checkCount(size, 'size');
  return rangeNodes(0, size);
}

function run(plan: PlanElement[], read: NodeReader, hasher: MerkleHasher): Uint8Array[] {
  return plan.map((el) => foldRange(el.map((id) => read(id.level, id.index)), hasher));
}

export function inclusionProof(index: number, size: number, read: NodeReader, hasher: MerkleHasher = defaultMerkleHasher): Uint8Array[] {
  return run(inclusionPlan(index, size), read, hasher);
}

export function consistencyProof(size1: number, size2: number, read: NodeReader, hasher: MerkleHasher = defaultMerkleHasher): Uint8Array[] {
  return run(consistencyPlan(size1, size2), read, hasher);
}

export function rootAt(size: number, read: NodeReader, hasher: MerkleHasher = defaultMerkleHasher): Uint8Array {
  return foldRange(rootPlan(size).map((id) => read(id.level, id.index)), hasher);
}
