/**
 * A clock for POST /v1/verify's time budget (GatewayRuntime.verifyBudgetClock) that moves only when it is read or the
 * test moves it: each read returns the time and moves it on by `stepMs`. TimeBudget.charge reads it just before and
 * just after a verdict's synchronous work, nothing else between, so each piece of charged work costs exactly `stepMs`
 * whatever it really took; the other reads (the budget's checks) move it a few steps, far below the one-second window.
 * On performance.now the budget's tests depended on the machine: a VM stall of a second slid the window between two
 * requests (a refusal expected, an answer given), and their waits for the window were real seconds.
 */
export class SteppingClock {
  private t = 0;
  /** What the last read returned (ms): after a verdict, when its charged work ended. */
  last = Number.NaN;

  constructor(private readonly stepMs: number) {}

  readonly now = (): number => {
    this.last = this.t;
    this.t += this.stepMs;
    return this.last;
  };

  /** Set the time the next read returns (ms), never back. */
  set(ms: number): void {
    if (ms < this.t) throw new Error(`the clock is at ${this.t} ms: it does not go back to ${ms}`);
    this.t = ms;
  }
}
