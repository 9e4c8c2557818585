import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  CompactRange, consistencyProof, defaultMerkleHasher as H, inclusionProof, merkleHasher, rootAt, rootFromInclusionProof,
  verifyConsistency, verifyInclusion, type NodeReader,
} from '../../protocol/merkle/index.js';
import { referencePath, referenceProof, referenceRoot } from '../../protocol/merkle/reference.js';
import { toHex } from '../../protocol/bytes.js';

const leaf = (i: number): Uint8Array => new TextEncoder().encode(`leaf-${i}`);
const leaves = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => leaf(i));

/** A node reader over an in-memory tree built with CompactRange (what the store persists). */
function build(data: readonly Uint8Array[]): { read: NodeReader; range: CompactRange } {
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  for (const d of data) range.append(H.hashLeaf(d), (l, i, h) => nodes.set(`${l}/${i}`, h));
  return {
    range,
    read: (l, i) => {
      const h = nodes.get(`${l}/${i}`);
      if (!h) throw new Error(`missing node ${l}/${i}`);
      return h;
    },
  };
}

describe('RFC 9162 hashing', () => {
  it('empty tree, leaf and node hashes', () => {
    expect(toHex(H.emptyRoot())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex(H.hashLeaf(new Uint8Array(0)))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  });
  it('an injected node:crypto hasher agrees with the pure one', () => {
    const fast = merkleHasher((d) => new Uint8Array(createHash('sha256').update(d).digest()));
    const a = H.hashChildren(H.hashLeaf(leaf(1)), H.hashLeaf(leaf(2)));
    expect(fast.hashChildren(fast.hashLeaf(leaf(1)), fast.hashLeaf(leaf(2)))).toEqual(a);
  });
});

describe('agreement with the naive reference implementation', () => {
  it('roots, inclusion and consistency proofs for every size up to 70', () => {
    for (let n = 1; n <= 70; n++) {
      const data = leaves(n);
      const { read, range } = build(data);
      const root = referenceRoot(data);
      expect(range.root()).toEqual(root);
      expect(rootAt(n, read)).toEqual(root);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n, read);
        expect(proof).toEqual(referencePath(m, data));
        verifyInclusion(m, n, H.hashLeaf(data[m]!), proof, root);
      }
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, n, read);
        expect(proof).toEqual(referenceProof(m, data));
        verifyConsistency(m, n, proof, referenceRoot(data.slice(0, m)), root);
      }
    }
  });
  it('empty tree root', () => {
    expect(new CompactRange().root()).toEqual(referenceRoot([]));
  });
  it('compact range round-trips through its frontier', () => {
    const { range } = build(leaves(45));
    const again = new CompactRange(H, 45, range.frontier());
    again.append(H.hashLeaf(leaf(45)));
    expect(again.root()).toEqual(referenceRoot(leaves(46)));
  });
});

describe('properties', () => {
  it('a valid inclusion proof for every index of random trees', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 150 }), (data) => {
        const { read, range } = build(data);
        const root = range.root();
        for (let i = 0; i < data.length; i++) {
          const proof = inclusionProof(i, data.length, read);
          expect(rootFromInclusionProof(i, data.length, H.hashLeaf(data[i]!), proof)).toEqual(root);
          if (proof.length > 0) {
            const bad = proof.map((p) => p.slice());
            bad[0]![0]! ^= 1;
            expect(() => verifyInclusion(i, data.length, H.hashLeaf(data[i]!), bad, root)).toThrow(expect.objectContaining({ code: 'INCLUSION_INVALID' }));
          }
        }
      }),
      { numRuns: 60 },
    );
  });
  it('consistency between every pair of sizes of a small tree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), (n) => {
        const data = leaves(n);
        const { read } = build(data);
        const roots = Array.from({ length: n + 1 }, (_, s) => referenceRoot(data.slice(0, s)));
        for (let a = 1; a <= n; a++) {
          for (let b = a; b <= n; b++) {
            const proof = consistencyProof(a, b, read);
            verifyConsistency(a, b, proof, roots[a]!, roots[b]!);
            if (a < b) expect(() => verifyConsistency(a, b, proof, roots[a]!, roots[b - 1]!)).toThrow(expect.objectContaining({ code: 'CONSISTENCY_INVALID' }));
          }
        }
      }),
      { numRuns: 20 },
    );
  });
});

describe('size bounds of consistency proofs', () => {
  // Mutation testing: with the size check at `size2 < size1 - 1`, a shrinking "extension" (3 -> 2) whose proof is
  // [root1, anything] verified against the root that proof leads to. The check must refuse every size2 below size1.
  it('refuses a second tree one leaf smaller than the first, even when the proof adds up', () => {
    const data = leaves(3);
    const root1 = referenceRoot(data);
    const x = H.hashLeaf(leaf(99));
    const forgedRoot2 = H.hashChildren(root1, x);
    expect(() => verifyConsistency(3, 2, [root1, x], root1, forgedRoot2)).toThrow(expect.objectContaining({ code: 'CONSISTENCY_INVALID', path: 'size2' }));
  });
  // Mutation testing: without the comparison of the recomputed first root with root1, a genuine proof from size 5 to
  // size 8 "showed" that any tree of size 5 was a prefix of the second, forks included.
  it('refuses a genuine proof presented with another first root', () => {
    const data = leaves(8);
    const { read } = build(data);
    const proof = consistencyProof(5, 8, read);
    const root2 = referenceRoot(data);
    verifyConsistency(5, 8, proof, referenceRoot(data.slice(0, 5)), root2);
    const forkRoot1 = referenceRoot([...data.slice(0, 4), leaf(99)]);
    expect(() => verifyConsistency(5, 8, proof, forkRoot1, root2)).toThrow(expect.objectContaining({ code: 'CONSISTENCY_INVALID', path: 'root1' }));
  });
  // Mutant M8 (verify.ts: the root1 length check removed): a 31-byte root1 of a power-of-two tree was hashed into the
  // path, and the proof failed only at root2; it must be refused as a bad root1.
  it('refuses a first root of the wrong length', () => {
    const data = leaves(8);
    const { read } = build(data);
    const proof = consistencyProof(4, 8, read);
    const root1 = referenceRoot(data.slice(0, 4));
    expect(() => verifyConsistency(4, 8, proof, root1.slice(0, 31), referenceRoot(data))).toThrow(expect.objectContaining({ code: 'CONSISTENCY_INVALID', path: 'root1' }));
  });
});

describe('length of inclusion proofs', () => {
  // Mutant M7 (verify.ts: the "too long" check removed): leaf 1 of a two-leaf tree "was" leaf 0 of a one-leaf tree
  // whose root is the two-leaf tree's, the extra proof hash folded in past the root.
  it('refuses a proof longer than the tree is deep', () => {
    const data = leaves(2);
    const root = referenceRoot(data);
    verifyInclusion(1, 2, H.hashLeaf(data[1]!), [H.hashLeaf(data[0]!)], root);
    expect(() => verifyInclusion(0, 1, H.hashLeaf(data[1]!), [H.hashLeaf(data[0]!)], root)).toThrow(expect.objectContaining({ code: 'INCLUSION_INVALID', path: 'proof' }));
  });
});

