/**
 * The gateway's clock: the wall clock, except that it does not go back by a small step. Readings are dated with it
 * (receivedAtMs), blocks are sealed with it, and a time query lists entries only below the settled time it gives
 * (gateway/arrival-times.ts). If the wall clock were stepped back (an NTP step, a manual `date`), a reading received
 * after the step would be dated before entries a client has already paged past by time, and the client would never
 * see it. So while the wall clock is behind the latest time given by at most `maxHoldMs`, that time is given again
 * until the wall clock catches up; a restart begins at the log's latest block time (`notBefore`), so a clock set back
 * while the gateway was down is held the same way.
 *
 * Why a bound: while held, the gateway's time is ahead of the true time, and what it checks against it (readings'
 * age, certificates' and connect tokens' validity) is off by as much. The gateway holds through steps of seconds
 * (NTP steps, a VM resumed; gateway.ts, within its clock skew allowance). A larger step, the correction of a clock
 * that was wrong, is taken at once, and reported: entries after it are dated before earlier ones, which a client
 * paging by time can miss. A step of more than a second is reported either way.
 */
export class MonotonicClock {
  #last = -Infinity;
  #reported = false;

  constructor(
    private readonly wall: () => number,
    private readonly maxHoldMs: number,
    private readonly onStepBack?: (behindMs: number, held: boolean) => void,
  ) {}

  /** Milliseconds: the wall clock's reading, or the latest one given while the wall clock is behind it by <= maxHoldMs. */
  readonly now = (): number => {
    const w = this.wall();
    if (w >= this.#last) {
      this.#last = w;
      this.#reported = false;
      return w;
    }
    const behind = this.#last - w;
    if (behind > this.maxHoldMs) {
      this.#last = w; // the step is taken
      this.#reported = false;
      this.onStepBack?.(behind, false);
      return w;
    }
    if (behind > STEP_REPORTED_MS && !this.#reported) {
      this.#reported = true;
      this.onStepBack?.(behind, true);
    }
    return this.#last;
  };

  /** Give no time before `ms` (the log's latest block time, at start), within the hold's bound. */
  notBefore(ms: number): void {
    if (ms > this.#last) this.#last = ms;
  }
}

/** A step back smaller than this is jitter (NTP slews such offsets); larger ones are reported. */
const STEP_REPORTED_MS = 1000;
