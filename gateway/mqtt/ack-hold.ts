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

interface HoldState {
  /** When the current hold began (`now()`), or -1: not held. */
  since: number;
  /** Released in this tick: the uncork runs at the end of it, taking along whatever is written until then. */
  releasing: boolean;
  /** In the sweep's list. */
  listed: boolean;
}

export class AckHold<C extends Held> {
  // Per connection, made once (a WeakMap entry per client, not a Map insert and delete per reading: with one reading
  // per device per block interval, that churn reallocated the tables every few hundred readings, and each table
  // lived long enough to be promoted to the old generation, a fifth of what a paced reading left there).
  private readonly states = new WeakMap<C, HoldState>();
  /** Connections held, for the sweep: `listed` entries in an array that keeps its capacity (no reallocation). */
  private readonly list: (C | undefined)[] = [];
  private listed = 0;
  private heldCount = 0;
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
    if (this.holdMs <= 0) return;
    let s = this.states.get(client);
    if (!s) this.states.set(client, (s = { since: -1, releasing: false, listed: false }));
    if (s.releasing) return; // a flush is due this tick: it takes this PUBACK too
    if (s.since >= 0) {
      // A device that sends faster than it is answered still gets its PUBACKs within holdMs.
      if (this.now() - s.since >= this.holdMs) this.release(client);
      return;
    }
    if (client.conn.destroyed) return;
    client.conn.cork();
    s.since = this.now();
    this.heldCount++;
    if (!s.listed) {
      s.listed = true;
      if (this.listed < this.list.length) this.list[this.listed] = client;
      else this.list.push(client);
      this.listed++;
    }
  }

  /**
   * The device's answer is being written: let everything held go with it. The uncork waits for the end of this
   * tick, so all answers written to this connection in the same tick leave in that one write too.
   */
  release(client: C): void {
    const s = this.states.get(client);
    if (!s || s.since < 0) return;
    s.since = -1;
    this.heldCount--;
    s.releasing = true;
    process.nextTick(() => {
      s.releasing = false;
      client.conn.uncork();
    });
  }

  get size(): number {
    return this.heldCount;
  }

  private sweep(): void {
    const limit = this.now() - this.holdMs;
    const list = this.list;
    let kept = 0;
    for (let i = 0; i < this.listed; i++) {
      const client = list[i]!;
      const s = this.states.get(client)!;
      if (s.since >= 0 && s.since <= limit) this.release(client);
      if (s.since < 0) s.listed = false;
      else list[kept++] = client;
    }
    list.fill(undefined, kept, this.listed); // no references to connections that are gone
    this.listed = kept;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (let i = 0; i < this.listed; i++) this.release(this.list[i]!);
    this.list.fill(undefined, 0, this.listed);
    this.listed = 0;
  }
}
