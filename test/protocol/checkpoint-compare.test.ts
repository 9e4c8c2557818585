/**
 * compareCheckpoints (protocol/checkpoint-compare.ts): what two checkpoints of one key tell without a consistency
 * proof. The property: over the checkpoints of an append-only log (RFC 9162 roots of growing prefixes of the same
 * leaves), a later one is never evidence against an earlier one, and an earlier one after a later is always a rollback.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compareCheckpoints, isLogEvidence, type CheckpointHead } from '../../protocol/checkpoint-compare.js';
import { referenceRoot } from '../../protocol/merkle/reference.js';

const leavesArb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 8 }).map((l) => new Uint8Array(l)), { minLength: 1, maxLength: 24 });
const root = (b: number) => new Uint8Array(32).fill(b);
const cp = (size: number, r: Uint8Array = root(1), origin = 'gw.example/log'): CheckpointHead => ({ origin, size, root: r });

describe('compareCheckpoints', () => {
  test('a smaller tree is a rollback, whatever its root', () => {
    expect(compareCheckpoints(cp(10), cp(9))).toBe('rollback');
    expect(compareCheckpoints(cp(10, root(1)), cp(0, root(2)))).toBe('rollback');
  });

  test('the same size: the same root is nothing new, another root a fork', () => {
    expect(compareCheckpoints(cp(10, root(1)), cp(10, root(1)))).toBe('same');
    expect(compareCheckpoints(cp(10, root(1)), cp(10, root(2)))).toBe('fork');
  });

  test('a larger tree grew (no proof either way)', () => {
    expect(compareCheckpoints(cp(10, root(1)), cp(11, root(2)))).toBe('grew');
  });

  test('another origin is not compared', () => {
    expect(compareCheckpoints(cp(10), cp(3, root(1), 'other.example/log'))).toBe('other-origin');
    expect(compareCheckpoints(cp(10), cp(10, root(2), 'other.example/log'))).toBe('other-origin');
  });

  test('only a rollback and a fork are evidence', () => {
    expect((['same', 'grew', 'rollback', 'fork', 'other-origin'] as const).filter(isLogEvidence)).toEqual(['rollback', 'fork']);
  });

  test('property: an append-only log never gives evidence going forward, always a rollback going back', () => {
    fc.assert(
      fc.property(
        leavesArb,
        fc.nat(), fc.nat(),
        (leaves, i, j) => {
          const [a, b] = [i % (leaves.length + 1), j % (leaves.length + 1)].sort((x, y) => x - y) as [number, number];
          const at = (n: number) => cp(n, referenceRoot(leaves.slice(0, n)));
          const forward = compareCheckpoints(at(a), at(b));
          expect(isLogEvidence(forward)).toBe(false);
          expect(forward).toBe(a === b ? 'same' : 'grew');
          if (a < b) expect(compareCheckpoints(at(b), at(a))).toBe('rollback');
        },
      ),
      { numRuns: 200 },
    );
  });

  test('property: a log rewritten at one leaf is a fork at every size from there on', () => {
    fc.assert(
      fc.property(
        leavesArb,
        fc.nat(), fc.nat(),
        (leaves, i, j) => {
          const at = i % leaves.length;
          const rewritten = leaves.map((l, k) => (k === at ? new Uint8Array([...l, 0xff]) : l));
          const size = at + 1 + (j % (leaves.length - at));
          const change = compareCheckpoints(cp(size, referenceRoot(leaves.slice(0, size))), cp(size, referenceRoot(rewritten.slice(0, size))));
          expect(change).toBe('fork');
        },
      ),
      { numRuns: 200 },
    );
  });
});
