/**
 * A share of the event loop for one kind of request: the synchronous work such requests did, summed over the last
 * second, may not pass `msPerSecond`; past it, the next request is refused (429 RATE_LIMITED, ask again in a second)
 * before it starts.
 *
 * Why: POST /v1/verify checks a bundle against this log's whole revocation list, synchronously, on the event loop
 * that also takes the devices' readings. With 3,000 revocations a request took 150–220 ms (HTTP CPU review; the list
 * is now prepared once per change and a verdict takes a few ms, routes/verify.ts PreparedRevocationLists), so one
 * client within the per-address rate limit (600 a minute) could hold the loop for most of every second. The rate limit
 * counts requests; this counts what they cost. Only synchronous work is charged (`charge`): the event loop is what is
 * shared, and a request waiting on the store, or on a loaded machine, holds none of it.
 */
import { ApiError } from './error-registry.js';

export class TimeBudget {
  /** [when a charged piece of work ended (ms), how long it took (ms)], oldest first, within the last second. */
  private spent: [number, number][] = [];
  private sum = 0;

  constructor(
    private readonly msPerSecond: number,
    private readonly what: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Refuse RATE_LIMITED when the last second's work used the budget up. */
  check(): void {
    if (this.used() >= this.msPerSecond) {
      throw new ApiError('RATE_LIMITED', `${this.what} took the ${this.msPerSecond} ms per second the gateway gives them: ask again in a second`);
    }
  }

  /**
   * Run synchronous `work` and charge its time, whether it returns or throws; refused (check) first when the budget
   * is used up. Checked here, just before the work, not only when a request starts: requests that arrive together all
   * pass that check while they wait on the store, none charged yet (found by review).
   */
  charge<T>(work: () => T): T {
    this.check();
    const start = this.now();
    try {
      return work();
    } finally {
      const end = this.now();
      this.spent.push([end, end - start]);
      this.sum += end - start;
    }
  }

  /** Work charged in the last second (ms). */
  used(): number {
    const now = this.now();
    let i = 0;
    while (i < this.spent.length && this.spent[i]![0] <= now - 1000) this.sum -= this.spent[i++]![1];
    if (i > 0) this.spent.splice(0, i);
    if (this.spent.length === 0) this.sum = 0; // no float residue
    return this.sum;
  }
}
