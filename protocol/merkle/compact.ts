/**
 * Compact range (Merkle frontier) over [0, size): the hashes of the perfect subtrees given by the set bits
 * of size, O(log n) memory (as transparency-dev/merkle `compact.Range` starting at 0). Appending a leaf
 * reports every perfect subtree it completes, which is what a store persists to answer proofs.
 */
import { fail } from '../errors.js';
import { defaultMerkleHasher, HASH_SIZE, type MerkleHasher } from './hasher.js';
import { foldRange } from './prove.js';

export type NodeVisitor = (level: number, index: number, hash: Uint8Array) => void;

export class CompactRange {
  #size: number;
  /** nodes[level] = hash of the perfect subtree at that level when bit `level` of size is set. */
  readonly #nodes: (Uint8Array | undefined)[];
  readonly #hasher: MerkleHasher;

  constructor(hasher: MerkleHasher = defaultMerkleHasher, size = 0, frontier: readonly Uint8Array[] = []) {
    this.#hasher = hasher;
    this.#size = size;
    this.#nodes = [];
    // frontier: hashes left to right (highest level first), as `frontier()` returns.
    const levels: number[] = [];
    for (let l = 0, s = size; s > 0; l++, s = Math.floor(s / 2)) if (s % 2 === 1) levels.push(l);
    levels.reverse();
    if (levels.length !== frontier.length) fail('MALFORMED', `frontier of size ${size} needs ${levels.length} hashes, got ${frontier.length}`, 'frontier');
    levels.forEach((l, i) => {
      const h = frontier[i]!;
      if (h.length !== HASH_SIZE) fail('MALFORMED', 'frontier hash must be 32 bytes', `frontier[${i}]`);
      this.#nodes[l] = h;
    });
  }

  get size(): number {
    return this.#size;
  }

  /** Append one leaf hash; `visit` sees the leaf node and every perfect subtree completed by it. */
  append(leafHash: Uint8Array, visit?: NodeVisitor): void {
    let h = leafHash;
    let level = 0;
    let index = this.#size;
    visit?.(0, index, h);
    let s = this.#size;
    while (s % 2 === 1) {
      h = this.#hasher.hashChildren(this.#nodes[level]!, h);
      this.#nodes[level] = undefined;
      level++;
      index = Math.floor(index / 2);
      s = Math.floor(s / 2);
      visit?.(level, index, h);
    }
    this.#nodes[level] = h;
    this.#size++;
  }

  /** Perfect subtree hashes left to right (highest level first). */
  frontier(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let l = this.#nodes.length - 1; l >= 0; l--) {
      const h = this.#nodes[l];
      if (h) out.push(h);
    }
    return out;
  }

  /** MTH of the leaves appended so far (RFC 9162 §2.1.1). */
  root(): Uint8Array {
    return foldRange(this.frontier(), this.#hasher);
  }

  clone(): CompactRange {
    return new CompactRange(this.#hasher, this.#size, this.frontier());
  }
}
