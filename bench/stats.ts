/** Small statistics shared by the bench sections. */

/** The q-quantile of `xs`, nearest rank: the smallest value with at least q of the sample at or below it (q = 0.5 is the
 * median of an odd count, the lower middle value of an even one), as e2e-publisher.ts takes the receipt latencies. */
export function quantile(xs: readonly number[], q = 0.5): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))]!;
}
