/**
 * Milliseconds on a clock that only goes forward (performance.now): what waits are measured on. The wall clock
 * (DeviceClock) dates readings and tokens only; set back an hour, it held every resend deadline an hour (found by review).
 */
export const monotonicMs = (): number => performance.now();

/** A device clock (SPEC §6): wall time plus a drift that can be set (seconds ahead, negative = behind). */
export class DeviceClock {
  constructor(public driftSeconds = 0, private readonly base: () => number = Date.now) {}
  /** Milliseconds since the epoch, as this device believes. */
  nowMs(): number {
    return this.base() + this.driftSeconds * 1000;
  }
  /** Integer seconds since the epoch (iat). */
  now(): number {
    return Math.floor(this.nowMs() / 1000);
  }
  setDrift(seconds: number): void {
    this.driftSeconds = seconds;
  }
}
