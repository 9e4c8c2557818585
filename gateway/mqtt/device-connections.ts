/**
 * Each device's live connection, and the answers (receipts, rejections) written straight to it. A device's answers
 * go to its own connection only, so they skip aedes' router: no Packet copy, no retained store, no topic-trie match.
 */
import type { Aedes, Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Duplex } from 'node:stream';
import { parseTopic } from '../../protocol/topics.js';
import type { AckHold } from './ack-hold.js';
import type { AnswerBacklog } from './answer-backlog.js';

export type AnswerClient = Client & { subscriptions: Record<string, unknown>; conn: Duplex & { writableLength: number; writableCorked: number } };

/**
 * Receipts and rejections go out at QoS 0. A device keeps every reading until its receipt arrives and resends it
 * otherwise (SPEC §4, §7), and a resend gets its original receipt, so a lost answer costs a resend, never a reading.
 * QoS 1 would add a PUBACK from the device and broker-side state per answer, kept in memory for devices that went
 * away (clean session off), for no extra guarantee.
 */
export const RECEIPT_QOS = 0;

/**
 * Answers wait in a connection's write buffer up to this many bytes; beyond it (a device that stopped reading) they
 * are dropped like any QoS 0 message, so a stuck device cannot grow the gateway's memory. Receipts are judged by what
 * earlier ticks left unsent, not by what their own tick wrote (a device that reads takes that at the next turn of the
 * event loop, however little of it the kernel took within the tick): that is bounded by `maxConnectionAnswerBytes`.
 */
export const MAX_ANSWER_BACKLOG = 256 * 1024;

/**
 * Receipt bytes one tick may add to a connection past MAX_ANSWER_BACKLOG, per entry a block may hold (blockMaxEntries).
 * One block's receipts for one device are written in one tick (a device that resends a day of kept readings at once,
 * SPEC §7, may fill a block alone); as frames they are ~445 bytes each with the default origin, more with a long one
 * (a checkpoint names it more than once): receipts of one tick past the bound are dropped, counted and sent again on
 * the resend.
 */
export const ANSWER_BURST_BYTES_PER_BLOCK_ENTRY = 1024;

/**
 * The most answer bytes a connection holds (plus one rejection frame, and the MQTT acknowledgements aedes writes):
 * MAX_ANSWER_BACKLOG, and one tick's receipts, which only a block of the device's own signed readings makes. Once
 * what a device left unsent exceeds MAX_ANSWER_BACKLOG, nothing more is written to it until it drains, and the read
 * gate has stopped reading it (read-gate.ts). Across the gateway, what backed-up connections hold past their write
 * buffer's high-water mark also counts against one budget, a tick's receipts against it plus maxTickReceiptBytes
 * (answer-backlog.ts, which states the bound).
 */
export function maxConnectionAnswerBytes(blockMaxEntries: number): number {
  return MAX_ANSWER_BACKLOG + maxTickReceiptBytes(blockMaxEntries);
}

/**
 * Receipt bytes one tick writes, bounded as one block's: on one connection past MAX_ANSWER_BACKLOG, and across the
 * gateway past mqttMaxAnswerBacklogBytes (answer-backlog.ts).
 */
export function maxTickReceiptBytes(blockMaxEntries: number): number {
  return blockMaxEntries * ANSWER_BURST_BYTES_PER_BLOCK_ENTRY;
}

/**
 * The current tick: moves on once the nextTick queue runs after the first answer of a tick (the corks of `deliver`
 * and ack-hold.ts are lifted at that point too). One process.nextTick per tick, whatever the number of connections.
 */
let tick = 0;
let tickEnding = false;
const endTick = () => {
  tickEnding = false;
  tick++;
};
function currentTick(): number {
  if (!tickEnding) {
    tickEnding = true;
    process.nextTick(endTick);
  }
  return tick;
}

/** Receipt bytes written to a connection in one tick (made once per connection: no allocation per answer). */
interface TickReceipts {
  tick: number;
  bytes: number;
}

/**
 * A device's answer subscriptions are kept where the SUBACK, the session and `deliver` read them
 * (client.subscriptions) but not added to the router's topic trie, where nothing would ever be published to them:
 * ~0.7 kB of heap per connected device (aedes' Qlobber held 7.1 MB at 10,000 devices in a heap snapshot; README
 * "Capacity"). Other topics are routed as usual.
 */
export function keepAnswersOutOfRouter(aedes: Aedes): void {
  type Listen = (topic: string, func: unknown, done?: (err?: Error) => void) => void;
  const answerTopic = (topic: string) => {
    const kind = parseTopic(topic)?.kind;
    return kind === 'receipts' || kind === 'rejections';
  };
  for (const name of ['subscribe', 'unsubscribe'] as const) {
    const listen = (aedes[name] as unknown as Listen).bind(aedes);
    (aedes as unknown as Record<typeof name, Listen>)[name] = (topic, func, done) => (answerTopic(topic) ? done?.() : listen(topic, func, done));
  }
}

/**
 * Hand what the corks on `conn` hold (this tick's answers, PUBACKs held for them: ack-hold.ts) to the socket now,
 * keeping the corks; `deliver` does once they fill the write buffer. What stays in it then is what the socket did not
 * take in this tick, which counts against the gateway's budget once the connection is backed up (answer-backlog.ts:
 * this tick's receipts against its allowance for them). Found by review: the receipts of one block for a device that
 * resent its kept readings at once, all held by the cork, were dropped past the write buffer's high-water mark
 * (16 kB) once devices that had stopped reading held the whole budget.
 */
function flushCorked(conn: Duplex): void {
  const corks = conn.writableCorked;
  for (let i = 0; i < corks; i++) conn.uncork();
  for (let i = 0; i < corks; i++) conn.cork();
}

/**
 * The connection's writes are backed up: a write found its buffer full, and it still is (`writableNeedDrain` alone
 * stays set until the 'drain' event, a turn after the socket took everything).
 */
function backedUp(conn: Duplex): boolean {
  return conn.writableNeedDrain && conn.writableLength >= conn.writableHighWaterMark;
}

export interface ConnectionEvents {
  onConnect?(deviceId: string): void;
  onDisconnect?(deviceId: string): void;
  /**
   * An answer dropped for a device not reading its connection: `connection`, over its own MAX_ANSWER_BACKLOG;
   * `gateway`, over the budget of all backed-up connections (answer-backlog.ts).
   */
  onAnswerDropped?(reason: 'connection' | 'gateway'): void;
}

/**
 * The device's live connection is kept here rather than read from aedes.clients: aedes 1.2 unregisters a closing
 * client by its id without checking that the map still holds that client, so when two CONNECTs with one client id
 * race (clean session off adds a turn between authentication and registration), the one closing last can remove the
 * entry of the one still connected, whose answers would then all be dropped. Here the last connection to register is
 * the device's; any other connection of that id still open is closed then; an entry is removed only by its own
 * client's disconnect; and aedes' entry is put back when another client's disconnect removed it (aedes reads it to
 * take over the session at the device's next CONNECT).
 */
export class DeviceConnections {
  readonly #live = new Map<string, AnswerClient>();
  readonly #tickReceipts = new WeakMap<Duplex, TickReceipts>();

  constructor(
    aedes: Aedes,
    /** The device a client authenticated as (undefined: not authenticated). */
    private readonly deviceOf: (client: Client) => string | undefined,
    /** PUBACKs waiting to leave with the device's next answer (ack-hold.ts). */
    private readonly acks: AckHold<AnswerClient>,
    private readonly events: ConnectionEvents,
    /** Answers waiting on backed-up connections, across the gateway (answer-backlog.ts). */
    private readonly backlog: AnswerBacklog,
    /** The most answer bytes one connection holds (maxConnectionAnswerBytes). */
    private readonly maxAnswerBytes: number,
  ) {
    const aedesClients = (aedes as unknown as { clients: Record<string, Client> }).clients;
    aedes.on('client', (client) => {
      const id = deviceOf(client);
      if (!id) return;
      const previous = this.#live.get(id);
      this.#live.set(id, client as AnswerClient);
      if (!previous) events.onConnect?.(id);
      else if (previous !== client && !previous.closed) previous.close();
    });
    aedes.on('clientDisconnect', (client) => {
      acks.release(client as AnswerClient);
      const id = deviceOf(client);
      if (!id) return;
      const current = this.#live.get(id);
      if (current === client) {
        this.#live.delete(id);
        events.onDisconnect?.(id);
      } else if (current && !aedesClients[id]) {
        aedesClients[id] = current;
      }
    });
  }

  /** The device's live connection, if any. */
  live(deviceId: string): AnswerClient | undefined {
    return this.#live.get(deviceId);
  }

  /** Every device's live connection (a copy: closing one while iterating is safe). */
  all(): AnswerClient[] {
    return [...this.#live.values()];
  }

  /** Some connection still has answers in its write buffer. */
  get writing(): boolean {
    for (const c of this.#live.values()) if (c.conn.writableLength > 0) return true;
    return false;
  }

  /**
   * Answer one device on one of its own topics at QoS 0: written straight to its connection if it is connected and
   * subscribed there and not backed up past the caps, else dropped (it resends the reading and gets the same answer).
   * The PUBLISH frame is made once (mqtt-packet, as aedes makes it) and written while the socket is corked until the
   * end of this tick, so the receipts of one block for one device leave in one write, with the PUBACKs held for them
   * (in writes of about the write buffer's high-water mark when they are more: flushCorked).
   *
   * A rejection is dropped when the connection holds more than MAX_ANSWER_BACKLOG. A receipt is dropped when what
   * earlier ticks left unsent is over it (a device that reads its socket takes a tick's answers before the next
   * tick), or when it would take the connection past maxAnswerBytes. Found by review: the cap counted a tick's own
   * receipts too, so one block's receipts for a device that resent its kept readings at once (~445 kB for 1,000) were
   * dropped past 256 kB when the socket took little of them in that tick (428 of 1,000 in a loaded suite run;
   * test/gateway/answer-burst.test.ts). Only receipts: a tick's rejections are not bounded by a block (one socket
   * read of junk makes thousands).
   *
   * Past the write buffer's high-water mark an answer counts against the gateway's budget (answer-backlog.ts); a
   * receipt to a connection that earlier ticks left below that mark, against the budget plus one tick's receipts: a
   * tick's own burst makes a connection look backed up even when its device reads it all at the next turn of the loop.
   */
  deliver(deviceId: string, topic: string, payload: Uint8Array, receipt = false): void {
    const client = this.#live.get(deviceId);
    if (!client) return;
    this.acks.release(client);
    if (!client.connected || client.closed || this.deviceOf(client) === undefined || !(topic in client.subscriptions)) return;
    const conn = client.conn;
    if (conn.destroyed) return;
    if (conn.writableCorked > 0 && conn.writableLength >= conn.writableHighWaterMark) flushCorked(conn);
    let burst: TickReceipts | undefined;
    if (receipt) {
      const now = currentTick();
      burst = this.#tickReceipts.get(conn);
      if (!burst) this.#tickReceipts.set(conn, (burst = { tick: now, bytes: 0 }));
      else if (burst.tick !== now) {
        burst.tick = now;
        burst.bytes = 0;
      }
    }
    // The buffer leaves in the order written: what it holds past this tick's receipts is from earlier ticks (or is
    // this tick's other writes, counted as earlier: erring towards a drop).
    const earlier = conn.writableLength - (burst?.bytes ?? 0);
    if (earlier > MAX_ANSWER_BACKLOG) return this.events.onAnswerDropped?.('connection');
    const frame = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), qos: RECEIPT_QOS, retain: false, dup: false });
    if (burst && conn.writableLength + frame.length > this.maxAnswerBytes) return this.events.onAnswerDropped?.('connection');
    if (backedUp(conn) && !this.backlog.take(conn, frame.length, burst !== undefined && earlier < conn.writableHighWaterMark)) return this.events.onAnswerDropped?.('gateway');
    if (conn.writableCorked === 0) {
      conn.cork();
      process.nextTick(() => conn.uncork());
    }
    conn.write(frame);
    if (burst) burst.bytes += frame.length;
  }
}
