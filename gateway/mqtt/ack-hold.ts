/**
 * Acknowledgements wait for answers. A reading's PUBACK (written by aedes when the reading is admitted) is held in its
 * connection's write buffer until the device's next answer (receipt or rejection) is written, or `holdMs` has passed,
 * so that both leave in one write. At a steady load every reading otherwise costs two write system calls a few tens
 * of milliseconds apart, and writes were 27% of the event loop's busy time at 60% load on the bench machine.
 *
 * The hold is a cork on the connection (node:stream `cork`/`uncork`): nothing is dropped or reordered, aedes keeps
 * reading and admitting the device's packets, and a device sees its PUBACK at most `holdMs` later (about one block
 * interval): its answer, the receipt, comes after the block is durable anyway.
 */
import type { Writable } from 'node:stream';

export interface Held {
  conn: Writable;
}

export class AckHold<C extends Held> {
  private readonly held = new Map<C, number>();
  /** Released in this tick: the uncork runs at the end of it, taking along whatever is written until then. */
  private readonly releasing = new Set<C>();
  private readonly sweeper: NodeJS.Timeout | null;

  constructor(
    private readonly holdMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // Releases holds whose answer has not come in time (e.g. a device that is not subscribed to its answers).
    this.sweeper = holdMs > 0 ? setInterval(() => this.sweep(), Math.max(5, holdMs / 2)) : null;
    this.sweeper?.unref();
  }

  /**
   * A reading arrived on this connection (call before it can be answered): hold what is written to the connection,
   * its PUBACK first, until the device's next answer (or `holdMs` from the first hold).
   */
  hold(client: C): void {
    if (this.holdMs <= 0 || this.releasing.has(client)) return; // a flush is due this tick: it takes this PUBACK too
    const since = this.held.get(client);
    if (since !== undefined) {
      // A device that sends faster than it is answered still gets its PUBACKs within holdMs.
      if (this.now() - since >= this.holdMs) this.release(client);
      return;
    }
    if (client.conn.destroyed) return;
    client.conn.cork();
    this.held.set(client, this.now());
  }

  /**
   * The device's answer is being written: let everything held go with it. The uncork waits for the end of this
   * tick, so all answers written to this connection in the same tick leave in that one write too.
   */
  release(client: C): void {
    if (!this.held.delete(client)) return;
    this.releasing.add(client);
    process.nextTick(() => {
      this.releasing.delete(client);
      client.conn.uncork();
    });
  }

  get size(): number {
    return this.held.size;
  }

  private sweep(): void {
    const limit = this.now() - this.holdMs;
    for (const [client, since] of this.held) if (since <= limit) this.release(client);
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const client of [...this.held.keys()]) this.release(client);
  }
}
