/** Small statistics shared by the bench sections. */

/** The q-quantile of `xs` (nearest rank from below; q = 0.5 is the median of an odd count). */
export function quantile(xs: readonly number[], q = 0.5): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
}
