/**
 * Connect tokens are accepted once (SPEC §4), by their order: a device's token must be dated (iat) later than the
 * last one the gateway accepted from it, like a reading's sequence number. Without this, a token seen on the wire
 * (the plain MQTT port, a log) would open the device's session until exp + skew, up to ~15 minutes: taking it over
 * from the device, reading its receipts and rejections. A token re-encoded without the key (ECDSA's s -> n - s) has
 * the same iat, so it is the same token here.
 *
 * Why the order and not a set of used tokens: memory is one number per device that connected, whatever the
 * connection rate, with nothing to sweep. A set of token hashes, tried first, held ~1 kB of heap per connection
 * (hex keys are V8 cons-string ropes) and, at 10,000 devices within npm start's 256 MB heap, threw the gateway into
 * back-to-back mark-compacts (docs/PERFORMANCE.md, 2026-12-04). The cost to devices: a second connection within
 * the same second is dated a second on (device-sim does so), and a device whose clock ran ahead may have to wait
 * until real time passes its last token's iat (at most the skew) after its clock is set back.
 *
 * Kept in memory: after a restart the floor is the start time minus the skew for every device, so a token dated
 * before that is refused, and one dated within the skew before the restart can be used once more at most.
 */
import { fail } from '../../protocol/errors.js';

export class ConnectTokenOrder {
  /** device id -> iat of the last token accepted from it */
  readonly #last = new Map<string, number>();
  /** no token dated at or before this is accepted (a second before the start less the skew) */
  readonly #floor: number;

  constructor(startedAt: number, skewSeconds: number) {
    this.#floor = startedAt - skewSeconds - 1;
  }

  get devices(): number {
    return this.#last.size;
  }

  /**
   * Take device `deviceId`'s verified token dated `iat` (only after its signature checked: a forged token must not
   * move the device's floor). REPLAY if it is not dated later than the last one taken.
   */
  take(deviceId: string, iat: number): void {
    const last = this.#last.get(deviceId);
    if (iat <= (last ?? this.#floor)) {
      const after = last === undefined ? `the gateway's start less the clock skew (${this.#floor + 1})` : `this device's last accepted token (iat ${last})`;
      fail('REPLAY', `connect token dated ${iat} is not later than ${after}: make a fresh token for each connection, each dated later than the last (SPEC §4)`, 'password');
    }
    this.#last.set(deviceId, iat);
  }
}
