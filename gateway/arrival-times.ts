/**
 * The arrival times (receivedAtMs) of the readings the pipeline holds: taken and not yet answered, parked ones
 * included. Their earliest bounds what the log can still gain below it: a time query listing entries only up to
 * there cannot page past an entry logged later (found by review: readings verified in parallel are logged out of
 * arrival order, so a client paging by time skipped up to a third of a burst). A count per millisecond: readings
 * in flight span a second or two, so `oldest` walks at most a few thousand keys, and only when a query asks.
 */
export class ArrivalTimes {
  readonly #count = new Map<number, number>();

  hold(ms: number): void {
    this.#count.set(ms, (this.#count.get(ms) ?? 0) + 1);
  }

  release(ms: number): void {
    const n = this.#count.get(ms);
    if (n === undefined) return;
    if (n <= 1) this.#count.delete(ms);
    else this.#count.set(ms, n - 1);
  }

  /** The earliest arrival time held, or undefined when none. */
  oldest(): number | undefined {
    let min: number | undefined;
    for (const ms of this.#count.keys()) if (min === undefined || ms < min) min = ms;
    return min;
  }
}
