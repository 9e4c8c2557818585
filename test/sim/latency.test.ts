/**
 * A device's receipt latencies are kept in constant memory (device-sim/latency.ts), where a list grew by one number
 * per receipt forever; the fleet's percentiles stay close to the exact ones.
 */
import { describe, expect, test } from 'vitest';
import { LatencyHistogram } from '../../device-sim/index.js';

/** The nearest-rank percentile of a sorted list: what the fleet reported when it kept every latency. */
function exact(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Deterministic pseudo-random numbers in [0, 1) (a fixed-seed LCG), so the test sees the same values every run. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe('LatencyHistogram', () => {
  test('a million latencies (1 ms .. 10 min) take a bounded number of buckets; percentiles within 1/64 above exact, max exact', () => {
    const h = new LatencyHistogram();
    const rnd = lcg(7);
    const all: number[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const ms = Math.floor(Math.exp(rnd() * Math.log(600_000))); // log-uniform: every octave gets values
      all.push(ms);
      h.record(ms);
    }
    all.sort((a, b) => a - b);
    expect(h.count).toBe(1_000_000);
    expect(h.size).toBeLessThanOrEqual(128 + 64 * 13); // exact up to 127, 64 per octave up to 2^20 ms
    expect(h.max).toBe(all[all.length - 1]);
    for (const p of [1, 50, 90, 95, 99, 99.9, 100]) {
      const want = exact(all, p);
      const got = h.percentile(p);
      expect(got).toBeGreaterThanOrEqual(want);
      expect(got).toBeLessThanOrEqual(want * (1 + 1 / 64));
    }
  });

  test('below 128 ms the percentiles are exact; empty gives 0', () => {
    const h = new LatencyHistogram();
    expect(h.percentile(99)).toBe(0);
    expect(h.max).toBe(0);
    for (let ms = 1; ms <= 100; ms++) h.record(ms);
    expect([h.percentile(50), h.percentile(95), h.percentile(99), h.percentile(100), h.max]).toEqual([50, 95, 99, 100, 100]);
  });

  test('merging the histograms of several devices gives what one histogram of all their latencies gives', () => {
    const rnd = lcg(11);
    const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
    const whole = new LatencyHistogram();
    for (let i = 0; i < 30_000; i++) {
      const ms = Math.floor(rnd() * 5_000);
      parts[i % 3]!.record(ms);
      whole.record(ms);
    }
    const merged = new LatencyHistogram();
    for (const p of parts) merged.merge(p);
    expect(merged.count).toBe(whole.count);
    expect(merged.max).toBe(whole.max);
    for (const p of [50, 95, 99]) expect(merged.percentile(p)).toBe(whole.percentile(p));
  });
});
