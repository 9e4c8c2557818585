/**
 * Reconnect delays (SPEC §4: exponential backoff with jitter). Equal jitter: each delay is half the current step
 * plus a random part of the other half, and the step doubles up to its cap. Without the random part a fleet that
 * lost its gateway at one moment reconnected in lockstep, every device in the same few milliseconds of each round;
 * the fixed half keeps a device from retrying at once (full jitter may draw 0).
 */
export class Backoff {
  private step: number;

  /** `random`: a source of numbers in [0, 1) (Math.random; tests pass a fixed one). */
  constructor(private readonly minMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {
    this.step = minMs;
  }

  /** The next delay, in [step / 2, step); the step then doubles, up to maxMs. */
  next(): number {
    const step = this.step;
    this.step = Math.min(this.maxMs, this.step * 2);
    return Math.floor(step / 2 + (this.random() * step) / 2);
  }

  /** Back to the first step (after a connection was made). */
  reset(): void {
    this.step = this.minMs;
  }
}

/** The retry schedule after CONNACK 5 (not authorized) that SPEC §4 gives as device-sim's: from 1 min, doubling to 10 min. */
export const NOT_AUTHORIZED_BACKOFF = { minMs: 60_000, maxMs: 600_000 } as const;
