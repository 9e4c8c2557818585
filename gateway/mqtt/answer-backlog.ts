/**
 * The bytes of answers waiting on connections whose device is not reading them, across the gateway. Each connection
 * holds at most MAX_ANSWER_BACKLOG (device-connections.ts), but a registered device reaches that cap cheaply: one
 * socket read of 64 kB holds thousands of junk readings, each answered with a rejection of ~150 bytes, before the
 * read gate stops reading it. Thousands of such devices (an agency key in an attacker's hands registers them at the
 * write rate limit) would hold their count times the cap in the gateway's memory. So answers written to a connection
 * that is already backed up (`writableNeedDrain`) count against one budget; once it is spent, they are dropped like any
 * QoS 0 message (the device resends and gets the same answer). A connection's count is released when its buffer
 * drains or it closes. Answers to devices that read their sockets are never counted and never dropped for it.
 */
import type { Duplex } from 'node:stream';

export class AnswerBacklog {
  private readonly held = new Map<Duplex, number>();
  private total = 0;

  /** `maxBytes`: most answer bytes waiting on backed-up connections at once (0: none). */
  constructor(private readonly maxBytes: number) {}

  /** Whether `bytes` more may wait on `conn`, which is backed up; if so they are counted until it drains or closes. */
  take(conn: Duplex, bytes: number): boolean {
    if (this.total + bytes > this.maxBytes) return false;
    const before = this.held.get(conn);
    if (before === undefined) {
      const release = () => {
        conn.off('drain', release);
        conn.off('close', release);
        this.total -= this.held.get(conn) ?? 0;
        this.held.delete(conn);
      };
      conn.on('drain', release);
      conn.on('close', release);
    }
    this.held.set(conn, (before ?? 0) + bytes);
    this.total += bytes;
    return true;
  }

  /** Answer bytes waiting on backed-up connections now. */
  get bytes(): number {
    return this.total;
  }

  /** Backed-up connections holding counted answers. */
  get connections(): number {
    return this.held.size;
  }
}
