/**
 * Backpressure at the socket. aedes parses every packet of a chunk it reads from a connection at once and hands each
 * PUBLISH to authorizePublish; the pipeline parks readings that arrive above its high-water mark, but a parked
 * reading still holds its parsed packet, aedes' per-packet state and our callback in the JS heap. A burst of 20
 * readings from each of 10,000 devices was 200,000 parked readings (~1.6 kB each) and ran the gateway out of heap.
 *
 * So once the pipeline is full (its queue at the high-water mark and as many readings again parked), an authenticated
 * connection's buffered bytes are not read at all: aedes asks for them (`conn.read()` once its previous packets are
 * done) and gets nothing; the connection waits in a FIFO, its bytes stay in its socket's buffer and the kernel's (TCP
 * flow control then slows the device down), and it is read again, oldest first, once the pipeline has room. What the
 * heap holds is then bounded by twice the high-water mark plus the chunk of the connection read last, whatever the
 * fleet sends. Unauthenticated connections are never gated (their CONNECT must get through; pending-connections.ts
 * bounds them).
 *
 * Why not gate at the high-water mark itself: at a steady 80% load the queue touches the mark now and then, and
 * gating there (instead of parking the few readings above it) put p99 receipt latency at 276-495 ms against
 * 135-312 ms without a gate, over three interleaved pairs of bench runs; gating only above the parked allowance
 * measured 132-187 ms (three pairs). The burst that ran the heap out still completes (200,000 readings from
 * 10,000 devices, 8,843 readings/s).
 */
import type { Duplex } from 'node:stream';
import { Fifo } from '../fifo.js';

type Read = (size?: number) => unknown;

/**
 * Wait until `conn`'s write buffer has drained, then call `resume` (with an error instead if it was closed for not
 * draining in time: aedes' Client.waitForDrain and its `drainTimeout`).
 */
export type WaitForDrain = (conn: Duplex, resume: (err?: Error | null) => void) => void;

export class ReadGate {
  private readonly subject = new WeakSet<Duplex>();
  private readonly queued = new WeakSet<Duplex>();
  private readonly draining = new WeakSet<Duplex>();
  private readonly waiting = new Fifo<Duplex>();
  /** Connections in `waiting` that closed meanwhile (no longer in `queued`): dropped once they are half of it. */
  private dead = 0;
  private scheduled = false;

  /**
   * `full`: the pipeline takes no more readings now (Pipeline.full). `waitForDrain`: for a connection whose own
   * writes are backed up (below).
   */
  constructor(
    private readonly full: () => boolean,
    private readonly waitForDrain: WaitForDrain,
  ) {}

  /** Every connection, before aedes reads from it. */
  wrap(conn: Duplex): void {
    const read = conn.read as Read;
    const gate = this;
    // read(0) is how node:stream itself asks for a refill; only aedes' reads of data are gated.
    (conn as unknown as { read: Read }).read = function (this: Duplex, size?: number) {
      if (size !== 0 && (gate.full() || conn.writableNeedDrain) && gate.subject.has(conn)) {
        if (gate.full()) gate.park(conn);
        else gate.untilDrained(conn);
        return null;
      }
      return read.call(this, size);
    };
  }

  /** The connection authenticated as a device: from now on its reads wait while the pipeline is full. */
  authenticated(conn: Duplex | undefined): void {
    if (!conn) return;
    this.subject.add(conn);
    conn.once('close', () => this.closed(conn));
  }

  /**
   * A connection closed: if it waits to be read, it is dead weight (with its aedes client and buffers) until the
   * pipeline has room, which may be long (a store that stalls); devices reconnecting meanwhile each added one (found
   * by review: one device reconnecting every few seconds grew the queue by one dead connection each time). Once the
   * dead are half the queue, they are dropped: the queue holds at most twice the connections waiting.
   */
  private closed(conn: Duplex): void {
    if (!this.queued.delete(conn)) return;
    if (++this.dead * 2 <= this.waiting.length) return;
    for (const c of this.waiting.drain()) if (this.queued.has(c)) this.waiting.push(c);
    this.dead = 0;
  }

  /** Connections waiting to be read. */
  get size(): number {
    return this.waiting.length;
  }

  /**
   * The pipeline has room again: read waiting connections, oldest first, while it has. Deferred to a turn of its own
   * (the caller is in the middle of answering readings) and coalesced, one pass per turn.
   */
  resume(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Each 'readable' makes aedes read and parse the connection now (synchronously up to authorizePublish), so
      // `full` sees what it took before the next one is read.
      while (this.waiting.length > 0 && !this.full()) {
        const conn = this.waiting.shift()!;
        if (!this.queued.delete(conn)) {
          this.dead--; // closed while it waited
          continue;
        }
        if (!conn.destroyed) conn.emit('readable');
      }
    });
  }

  /**
   * A device that does not read its socket: what the gateway writes to it (PUBACKs, answers) waits in the
   * connection's write buffer, and would grow with every reading it sends, as mqtt-packet reports no backpressure for
   * a PUBACK (aedes then never waits for 'drain'). So while the connection's writes are backed up (a write returned
   * false and the buffer has not drained since) it is not read, like a connection of a full pipeline; it is read
   * again once they drain, and closed if they do not within the drain timeout (`mqttDrainTimeoutMs`).
   */
  private untilDrained(conn: Duplex): void {
    if (this.draining.has(conn)) return;
    this.draining.add(conn);
    this.waitForDrain(conn, (err) => {
      this.draining.delete(conn);
      if (!err && !conn.destroyed) conn.emit('readable');
    });
  }

  private park(conn: Duplex): void {
    if (this.queued.has(conn)) return;
    this.queued.add(conn);
    this.waiting.push(conn);
  }
}
