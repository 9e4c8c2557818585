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
 * Durable: each accepted iat is written to the store (beside the log) before the CONNACK, so a restart, even after
 * a crash, cannot make a used token good again. Writes are group-committed: the CONNECTs that arrive while one write
 * is in flight go together in the next. Below every stored row lies a floor, the start time less the skew: it
 * covers the tokens accepted by a gateway that kept no rows (before this store existed), as only those could have
 * been dated within the skew before the start; rows at or below it are not kept in memory.
 */
import { fail } from '../../protocol/errors.js';

/** Where the last accepted iat of each device is kept (GatewayLedger: the ledger's store, beside the log). */
export interface TokenIatStore {
  tokenIats(): AsyncIterable<[deviceId: string, iat: number]>;
  /** Durable when it resolves. */
  writeTokenIats(rows: readonly (readonly [deviceId: string, iat: number])[]): Promise<void>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ConnectTokenOrder {
  /** device id -> iat of the last token accepted from it (above the floor) */
  readonly #last = new Map<string, number>();
  /** no token dated at or before this is accepted (a second before the start less the skew) */
  readonly #floor: number;
  readonly #store: TokenIatStore | null;
  /** Rows taken since the write in flight started, and who waits for them. */
  #rows = new Map<string, number>();
  #waiters: Waiter[] = [];
  #writing = false;

  /** `store` null: kept in memory only (a restart falls back to the floor). */
  constructor(startedAt: number, skewSeconds: number, store: TokenIatStore | null = null) {
    this.#floor = startedAt - skewSeconds - 1;
    this.#store = store;
  }

  /** The order as the store has it: every device's last accepted iat above the floor. */
  static async load(store: TokenIatStore, startedAt: number, skewSeconds: number): Promise<ConnectTokenOrder> {
    const order = new ConnectTokenOrder(startedAt, skewSeconds, store);
    for await (const [deviceId, iat] of store.tokenIats()) if (iat > order.#floor) order.#last.set(deviceId, iat);
    return order;
  }

  get devices(): number {
    return this.#last.size;
  }

  /**
   * Take device `deviceId`'s verified token dated `iat` (only after its signature checked: a forged token must not
   * move the device's floor). Throws REPLAY if it is not dated later than the last one taken. Otherwise the token is
   * taken at once (a concurrent CONNECT with it is a REPLAY), and, with a store, the result resolves once that is
   * durable: the CONNACK waits for it. If the write fails the token stays used (its row goes with the next write) and
   * the device makes a new one.
   */
  take(deviceId: string, iat: number): Promise<void> | undefined {
    const last = this.#last.get(deviceId);
    if (iat <= (last ?? this.#floor)) {
      const after = last === undefined ? `the gateway's start less the clock skew (${this.#floor + 1})` : `this device's last accepted token (iat ${last})`;
      fail('REPLAY', `connect token dated ${iat} is not later than ${after}: make a fresh token for each connection, each dated later than the last (SPEC §4)`, 'password');
    }
    this.#last.set(deviceId, iat);
    if (!this.#store) return undefined;
    this.#rows.set(deviceId, iat);
    const durable = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (!this.#writing) {
      this.#writing = true;
      setImmediate(() => this.#write()); // the CONNECTs of this turn go in one write
    }
    return durable;
  }

  #write(): void {
    const rows = [...this.#rows];
    const waiters = this.#waiters;
    this.#rows = new Map();
    this.#waiters = [];
    this.#store!.writeTokenIats(rows).then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (err: unknown) => {
        // The tokens stay used here; their rows go again with the next write (after a storage recovery), so a
        // restart later cannot make them good again. A newer row of the same device taken meanwhile wins.
        for (const [deviceId, iat] of rows) if (!this.#rows.has(deviceId)) this.#rows.set(deviceId, iat);
        for (const w of waiters) w.reject(err);
      },
    ).finally(() => {
      if (this.#waiters.length > 0) this.#write();
      else this.#writing = false;
    });
  }
}
