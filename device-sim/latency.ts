/**
 * Receipt latencies of a device, kept in constant memory: a log-linear histogram (exact below 128 ms, then 64
 * buckets per power of two, so a reported percentile is within 1/64 (1.6 %) above the exact one; the maximum is
 * exact). A list of every latency grew by a number per receipt for as long as a device ran. Histograms of several
 * devices merge exactly, which is how the fleet reports its percentiles.
 */

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // buckets per power of two
const EXACT = 2 * SUB; // values below this have a bucket each
/** Longer latencies (over 49 days) share the last bucket; the maximum stays exact. */
const MAX_BUCKETED = 0xffff_ffff;

function bucketOf(ms: number): number {
  const v = Math.min(MAX_BUCKETED, Math.max(0, Math.floor(ms)));
  if (v < EXACT) return v;
  const e = 31 - Math.clz32(v); // the power of two below v: at least 7 here
  return EXACT + (e - SUB_BITS - 1) * SUB + ((v >>> (e - SUB_BITS)) - SUB);
}

/** The highest value in bucket `b`. */
function upperOf(b: number): number {
  if (b < EXACT) return b;
  const octave = Math.floor((b - EXACT) / SUB); // 0 for 128..255
  const sub = (b - EXACT) % SUB;
  const width = 2 ** (octave + 1);
  return (SUB + sub) * width + width - 1;
}

export class LatencyHistogram {
  /** bucket -> how many latencies fell in it */
  private readonly buckets = new Map<number, number>();
  count = 0;
  max = 0;

  record(ms: number): void {
    const b = bucketOf(ms);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  merge(other: LatencyHistogram): void {
    for (const [b, n] of other.buckets) this.buckets.set(b, (this.buckets.get(b) ?? 0) + n);
    this.count += other.count;
    if (other.max > this.max) this.max = other.max;
  }

  /** How many buckets are in use (at most a few thousand, whatever the count). */
  get size(): number {
    return this.buckets.size;
  }

  /** The p-th percentile (nearest rank), as its bucket's highest value, never above the maximum; 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) {
      seen += this.buckets.get(b)!;
      if (seen >= rank) return Math.min(upperOf(b), this.max);
    }
    return this.max;
  }
}
