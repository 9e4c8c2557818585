/** The bench's quantile (bench/stats.ts): nearest rank, as README says of every percentile the bench reports. */
import { describe, expect, test } from 'vitest';
import { quantile } from '../../bench/stats.js';

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => n - i); // n..1, unsorted on purpose

describe('bench quantile', () => {
  test('nearest rank: the smallest value with at least q of the sample at or below it', () => {
    // p99 of 1..100 is 99 (99 of the 100 at or below it), not the maximum
    expect(quantile(oneTo(100), 0.99)).toBe(99);
    // the ledger's 2,000 proof times: p99 is the 1,980th, the median the 1,000th
    expect(quantile(oneTo(2000), 0.99)).toBe(1980);
    expect(quantile(oneTo(2000))).toBe(1000);
  });

  test('the median of an odd count is the middle value; one sample is itself', () => {
    expect(quantile([3, 1, 2])).toBe(2);
    expect(quantile([5, 1, 4, 2, 3])).toBe(3);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([7], 0)).toBe(7);
  });
});
