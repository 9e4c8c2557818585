/**
 * Connections that have not authenticated yet (no CONNECT, or CONNECT still being checked), capped. A flood of
 * sockets that connect and stay silent would otherwise hold memory and file descriptors until aedes' CONNECT
 * timeout; over the cap the OLDEST pending connection is dropped, not the newest, so a device connecting in the
 * middle of a flood is still served: it only has to finish its CONNECT before the flood pushes it out.
 */
import type { Duplex } from 'node:stream';

export class PendingConnections {
  // A Set iterates in insertion order: the first entry is the oldest pending connection.
  private readonly pending = new Set<Duplex>();
  private dropped = 0;

  constructor(private readonly max: number) {}

  /** A new connection: tracked until it authenticates or closes; may push out the oldest one. */
  add(conn: Duplex): void {
    this.pending.add(conn);
    conn.once('close', () => this.pending.delete(conn));
    while (this.pending.size > this.max) {
      const oldest = this.pending.values().next().value as Duplex;
      this.pending.delete(oldest);
      this.dropped++;
      oldest.destroy();
    }
  }

  /** Authenticated: no longer counts against the cap. */
  authenticated(conn: Duplex | undefined): void {
    if (conn) this.pending.delete(conn);
  }

  /**
   * Shutdown: close every connection not authenticated yet. aedes closes the clients it registered, and a listener's
   * close waits for all of its connections, so a silent socket would hold the shutdown up to the CONNECT timeout.
   */
  closeAll(): void {
    for (const conn of this.pending) conn.destroy();
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Connections dropped to stay under the cap since start. */
  get droppedCount(): number {
    return this.dropped;
  }
}
