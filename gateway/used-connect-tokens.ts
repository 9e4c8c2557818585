/**
 * Connect tokens are accepted once (SPEC §4). Without this, a token seen on the wire (the plain MQTT port, a log)
 * would open the device's session until exp + skew, up to ~20 minutes: taking it over from the device, reading its
 * receipts and rejections. Each accepted token's id (protocol/connect-token.ts `connectTokenId`) is remembered until
 * the token could not be accepted anyway (exp + skew); a second CONNECT with it is REPLAY (CONNACK 4, bad credentials).
 *
 * Memory: one entry per CONNECT accepted in the last exp + skew seconds (a device's tokens are signed by its key,
 * so only registered devices add entries); expired ones are swept once a minute, and past `max` the oldest entries
 * are dropped first (a token dropped early could be replayed: `max` is far above a fleet's connection rate).
 */
import { fail } from '../protocol/errors.js';

export const MAX_USED_CONNECT_TOKENS = 1_000_000;
const SWEEP_EVERY_SECONDS = 60;

export class UsedConnectTokens {
  /** hex id -> the second from which the token is refused as expired anyway; in insertion order. */
  readonly #until = new Map<string, number>();
  readonly #max: number;
  #nextSweep = 0;

  constructor(max = MAX_USED_CONNECT_TOKENS) {
    this.#max = max;
  }

  get size(): number {
    return this.#until.size;
  }

  /** Take a verified token (REPLAY if it was taken before and could still be accepted); keep it until `until` (s). */
  use(id: string, until: number, now: number): void {
    this.#sweep(now);
    const seen = this.#until.get(id);
    if (seen !== undefined && seen > now) fail('REPLAY', 'this connect token was used before: make a fresh one for each connection (SPEC §4)', 'password');
    this.#until.delete(id);
    while (this.#until.size >= this.#max) this.#until.delete(this.#until.keys().next().value as string);
    this.#until.set(id, until);
  }

  #sweep(now: number): void {
    if (now < this.#nextSweep) return;
    this.#nextSweep = now + SWEEP_EVERY_SECONDS;
    for (const [id, until] of this.#until) if (until <= now) this.#until.delete(id);
  }
}
