/**
 * The gateway's clock: the wall clock, except that it never goes back. Readings are dated with it (receivedAtMs),
 * blocks are sealed with it, and a time query lists entries only below the settled time it gives
 * (gateway/arrival-times.ts). If the wall clock were stepped back (a manual `date`, an NTP step), a reading received
 * after the step would be dated before entries a client has already paged past by time, and the client would never
 * see it. So while the wall clock is behind the latest time given, that time is given again until the wall clock
 * catches up; and a restart begins at the log's latest block time (`notBefore`), so a clock set back while the
 * gateway was down cannot date new entries before old ones either.
 *
 * The cost of holding still: readings received meanwhile look older by the step (their iat is checked against it,
 * maxReadingAgeSeconds). A step of more than a second is reported once, as the operator must know of it.
 */
export class MonotonicClock {
  #last = -Infinity;
  #reported = false;

  constructor(
    private readonly wall: () => number,
    private readonly onStepBack?: (behindMs: number) => void,
  ) {}

  /** Milliseconds: the wall clock's reading, or the latest one given if that is later. */
  readonly now = (): number => {
    const w = this.wall();
    if (w >= this.#last) {
      this.#last = w;
      this.#reported = false;
      return w;
    }
    const behind = this.#last - w;
    if (behind > STEP_REPORTED_MS && !this.#reported) {
      this.#reported = true;
      this.onStepBack?.(behind);
    }
    return this.#last;
  };

  /** Never give a time before `ms` (the log's latest block time, at start). */
  notBefore(ms: number): void {
    if (ms > this.#last) this.#last = ms;
  }
}

/** A step back smaller than this is jitter (NTP slews such offsets); larger ones are reported. */
const STEP_REPORTED_MS = 1000;
