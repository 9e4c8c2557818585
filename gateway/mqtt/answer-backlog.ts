/**
 * The bytes of answers waiting on connections whose device is not reading them, across the gateway. Each connection
 * holds at most MAX_ANSWER_BACKLOG (device-connections.ts), but a registered device reaches that cap cheaply: one
 * socket read of 64 kB holds thousands of junk readings, each answered with a rejection of ~150 bytes, before the
 * read gate stops reading it. Thousands of such devices (an agency key in an attacker's hands registers them at the
 * write rate limit) would hold their count times the cap in the gateway's memory. So answers written to a connection
 * that is already backed up (`writableNeedDrain`) count against one budget; once it is spent, they are dropped like any
 * QoS 0 message (the device resends and gets the same answer). A connection's count is released when its buffer
 * drains or it closes. Answers to devices that read their sockets are not counted (beyond what a tick leaves in
 * their buffers) and not dropped for it, short of stalled devices holding the budget and the allowance below.
 *
 * A tick's own receipts. One block's receipts for a device are written in one tick (device-connections.ts); past the
 * write buffer's high-water mark they make the connection look backed up within that tick even when its device reads
 * everything at the next turn of the event loop. So a receipt written to a connection that earlier ticks left with
 * less than its high-water mark unsent is judged against the budget plus `tickReceiptBytes` (one tick's receipts
 * across the gateway: blockMaxEntries * ANSWER_BURST_BYTES_PER_BLOCK_ENTRY), not the budget alone, and counted as
 * any other until the connection drains or closes. Rejections, and receipts to connections that earlier ticks left
 * backed up, are judged against the budget alone, counting those receipts too. Found by review: once stalled devices
 * had spent the budget, a device reading its socket lost the receipts of its burst past 16 kB (165 of 200). Only
 * receipts, which only readings signed by registered devices make, can reach into the allowance, never junk.
 *
 * The bound. Answer bytes waiting across the gateway, Σ over device connections of writableLength, are at most
 *   maxBytes + tickReceiptBytes + Σ (writableHighWaterMark + one answer frame)
 * plus the MQTT acknowledgements aedes writes (not answers: bounded by the read gate, read-gate.ts): a write is
 * uncounted only while its connection holds less than its high-water mark, and counted bytes are released only when
 * the connection's buffer is empty. With the defaults: 64 MiB + 1000 KiB + 16 KiB and a frame per connection.
 * Before the allowance it was the same without tickReceiptBytes; charging each connection's burst unjudged instead
 * (when its tick ends) would have added one tick's receipts per stalled connection: up to mqttMaxConnections (11,000)
 * times ~1 MiB.
 */
import type { Duplex } from 'node:stream';

export class AnswerBacklog {
  private readonly held = new Map<Duplex, number>();
  private total = 0;
  private readonly maxWithTickReceipts: number;

  /**
   * `maxBytes`: most answer bytes waiting on backed-up connections at once; `tickReceiptBytes`: what a tick's receipts
   * may add past it, across the gateway. 0 is none but those: a device that reads its socket still gets its block's
   * receipts, and stalled devices hold at most `tickReceiptBytes` of them (answer-backlog.test.ts).
   */
  constructor(
    private readonly maxBytes: number,
    tickReceiptBytes: number,
  ) {
    this.maxWithTickReceipts = maxBytes + tickReceiptBytes;
  }

  /**
   * Whether `bytes` more may wait on `conn`, which is backed up; if so they are counted until it drains or closes.
   * `tickReceipt`: a receipt of this tick to a connection that earlier ticks did not leave backed up.
   */
  take(conn: Duplex, bytes: number, tickReceipt = false): boolean {
    if (this.total + bytes > (tickReceipt ? this.maxWithTickReceipts : this.maxBytes)) return false;
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
