/**
 * The embedded aedes broker. Policy lives in the hooks and is deny-by-default; each hook is a thin adapter over
 * a check passed in (`BrokerPolicy`), so the same checks can later sit behind an external broker's auth plugin.
 * - authenticate: client id = username = device id, password = connect token (protocol/connect-token.ts)
 * - authorizePublish: a device may publish only to its own readings topic; the payload goes to the pipeline
 * - authorizeSubscribe: a device may subscribe only to its own receipts and rejections topics
 * Before any hook: a connection must send CONNECT within `connectTimeoutMs`, and at most `maxPendingConnections`
 * may be unauthenticated at once (pending-connections.ts), so floods of silent or junk sockets stay bounded.
 * Listeners (listeners.ts): plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket (plain or TLS); each is
 * optional, and every connection, whatever its transport, takes the same path (`accept`) with the same bounds.
 */
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { OriginProofError, type ErrorCode } from '../../protocol/errors.js';
import { parseTopic, readingsTopic, rejectionsTopic } from '../../protocol/topics.js';
import { PendingConnections } from './pending-connections.js';
import { AckHold } from './ack-hold.js';
import { ReadGate } from './read-gate.js';
import type { TlsMaterial } from './tls-material.js';
import { Listeners, type ListenOptions, type ListeningPorts } from './listeners.js';

export type { ListenOptions, ListeningPorts };

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3). */
export const CONNACK = { IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;

export interface BrokerPolicy {
  /** Throws OriginProofError when the device may not connect. */
  authenticate(deviceId: string, token: Uint8Array): Promise<void> | void;
  /** Hands a reading to the pipeline; resolves when admitted to its queue (this is where backpressure waits). */
  onReading(deviceId: string, payload: Uint8Array): Promise<void>;
  /** A device published where it may not (another device's topic, a receipts topic, anything else). */
  /** Resolves once the device has been told (TOPIC_MISMATCH on its rejections topic). */
  onTopicViolation(deviceId: string, topic: string): Promise<void>;
  onConnect?(deviceId: string): void;
  onDisconnect?(deviceId: string): void;
  /**
   * The current connection epoch (how often ingestion resumed after a storage failure). A connection keeps the
   * epoch it was authenticated in; once the epoch moves on, a reading on it is refused by closing it, so the device
   * reconnects and resends what it holds in sequence order (see Pipeline.resume). Default: always 0.
   */
  connectionEpoch?(): number;
  /**
   * The pipeline takes no more readings now: devices' connections are not read until `resumeReading` (read-gate.ts).
   * Default: never full.
   */
  full?(): boolean;
  /**
   * A CONNECT refused, with the code behind it: `authenticate`'s error, or UNAVAILABLE at `maxConnections` (for
   * metrics; INTERNAL for an error that is not an OriginProofError).
   */
  onRefused?(code: ErrorCode | 'INTERNAL'): void;
}

export function connackCodeFor(err: unknown): number {
  const code = err instanceof OriginProofError ? err.code : undefined;
  switch (code) {
    case 'UNKNOWN_DEVICE':
    case 'CERT_REVOKED':
    case 'CERT_EXPIRED':
    case 'CERT_NOT_YET_VALID':
    case 'CHAIN_INVALID':
    case 'ROLE_VIOLATION':
      return CONNACK.NOT_AUTHORIZED;
    case 'UNAVAILABLE':
      return CONNACK.SERVER_UNAVAILABLE;
    case 'TOPIC_MISMATCH':
      return CONNACK.IDENTIFIER_REJECTED;
    default:
      return CONNACK.BAD_CREDENTIALS; // malformed, expired or forged token
  }
}

function connackError(code: number, message: string): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = code;
  return err;
}

type AnswerClient = Client & { subscriptions: Record<string, unknown>; conn: Duplex & { writableLength: number; writableCorked: number } };

interface ParserInternals {
  packet: { length: number };
  _parseLength: (this: ParserInternals) => boolean;
  _emitError: (err: Error) => void;
  /** Set by capFrames: the largest frame this parser takes. */
  _frameCap?: number;
}

/**
 * mqtt-packet's parser reads a frame's declared length (up to 268 MB) and then buffers until all of it is there.
 * This replaces, on one parser, the step that reads the length with one that fails once the length exceeds the cap:
 * the parser emits an error and aedes closes the connection. One shared function, one comparison per frame.
 */
function capFrames(parser: ParserInternals | undefined, cap: number): boolean {
  const parseLength = parser ? (Object.getPrototypeOf(parser) as Partial<ParserInternals>)._parseLength : undefined;
  if (!parser || typeof parseLength !== 'function') return false; // not the aedes / mqtt-packet this was written for
  parseLengthOf ??= parseLength;
  parser._frameCap = cap;
  parser._parseLength = cappedParseLength;
  return true;
}

let parseLengthOf: ((this: ParserInternals) => boolean) | undefined;

function cappedParseLength(this: ParserInternals): boolean {
  const ok = parseLengthOf!.call(this);
  if (ok && this.packet.length > this._frameCap!) {
    this._emitError(new Error(`MQTT packet of ${this.packet.length} bytes exceeds the ${this._frameCap}-byte limit`));
    return false;
  }
  return ok;
}

/**
 * Receipts and rejections go out at QoS 0. A device keeps every reading until its receipt arrives and resends it
 * otherwise (SPEC §4, §7), and a resend gets its original receipt, so a lost answer costs a resend, never a reading.
 * QoS 1 would add a PUBACK from the device and broker-side state per answer, kept in memory for devices that went
 * away (clean session off), for no extra guarantee.
 */
const RECEIPT_QOS = 0;

export interface EmbeddedBroker {
  aedes: Aedes;
  /** Plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket: each null until listening, and when off. */
  tcp: Server | null;
  tls: Server | null;
  ws: WebSocketServer | null;
  /**
   * Answer one device on one of its own topics (receipts, rejections) at QoS 0: written straight to its connection
   * if it is connected and subscribed there, else dropped (it resends the reading and gets the same answer).
   */
  deliver(deviceId: string, topic: string, payload: Uint8Array): void;
  /** The pipeline has room again: read the connections that waited while it was full (read-gate.ts). */
  resumeReading(): void;
  /** Device connections waiting to be read while the pipeline is full. */
  readonly waitingToBeRead: number;
  /** Close every device connection authenticated in an earlier connection epoch. */
  closeStaleConnections(): void;
  /** Open the listeners whose port is not null (0: an ephemeral port); resolves with the ports bound. */
  listen(o: ListenOptions): Promise<ListeningPorts>;
  /** Present another certificate from now on (MQTT over TLS, WebSocket over TLS); open connections keep theirs. */
  setTlsMaterial(material: TlsMaterial): void;
  /** Connections not authenticated yet, and how many were dropped to stay under the cap. */
  pending: { readonly size: number; readonly droppedCount: number };
  close(): Promise<void>;
}

/**
 * Answers wait in a connection's write buffer up to this many bytes; beyond it (a device that stopped reading)
 * they are dropped like any QoS 0 message, so a stuck device cannot grow the gateway's memory.
 */
export const MAX_ANSWER_BACKLOG = 256 * 1024;

/** Deny by default: a device may subscribe to its own receipts and rejections topics, nothing else. */
export function maySubscribe(deviceId: string | undefined, topic: string): boolean {
  const t = parseTopic(topic);
  return deviceId !== undefined && t !== null && t.deviceIdHex === deviceId && t.kind !== 'readings';
}

export interface BrokerOptions {
  /** Largest MQTT frame read; a larger one closes the connection before it is buffered. */
  maxPacketBytes: number;
  /** A connection that has not sent CONNECT by then is closed (aedes `connectTimeout`). */
  connectTimeoutMs: number;
  /** Most connections unauthenticated at once; over it the oldest of them is dropped. */
  maxPendingConnections: number;
  /**
   * Most device connections at once (authenticated, or being authenticated): a CONNECT above it is refused with
   * CONNACK 3 (server unavailable) before its token is checked, unless it takes over its device's own connection.
   */
  maxConnections: number;
  /** Longest a reading's PUBACK waits for the device's next answer to leave with it (ack-hold.ts); 0: no wait. */
  ackHoldMs: number;
}

export async function createBroker(policy: BrokerPolicy, opts: BrokerOptions): Promise<EmbeddedBroker> {
  // concurrency 0: mqemitter routes every message at once instead of queueing beyond a limit; its queue is an array
  // drained with shift(), O(n) per message once thousands of receipts wait (6.7% of the gateway's CPU under load).
  // In-flight work is bounded elsewhere: the pipeline's queue high-water and aedes' maxInflightInbound per client.
  const aedes = await Aedes.createBroker({ heartbeatInterval: 600_000, maxClientsIdLength: 64, concurrency: 0, connectTimeout: opts.connectTimeoutMs });
  const deviceOf = new WeakMap<Client, string>();
  /** The one topic a device may publish on (compared as a string for every reading). */
  const readingsTopicOf = new WeakMap<Client, string>();
  const acks = new AckHold<AnswerClient>(opts.ackHoldMs);
  const epochOf = new WeakMap<Client, number>();
  const epoch = () => policy.connectionEpoch?.() ?? 0;
  const pending = new PendingConnections(opts.maxPendingConnections);
  const gate = new ReadGate(() => policy.full?.() ?? false);
  // aedes buffers a whole packet before any hook sees it, so cap the frame size in each connection's parser from its
  // first byte (CONNECT included): a frame above the cap closes the connection before it is buffered, whether or
  // not the connection has authenticated. Frames below it but above the reading limit get TOO_LARGE.
  // aedes.handle makes the Client (and its parser) synchronously and reads nothing before the next turn, so patching
  // here, before any byte is parsed, covers every transport and any caller of aedes.handle.
  const frameCap = opts.maxPacketBytes;
  const handle = (aedes.handle as unknown as (c: Duplex, req?: unknown) => Client).bind(aedes);
  (aedes as unknown as { handle: (c: Duplex, req?: unknown) => Client }).handle = (conn, req) => {
    const client = handle(conn, req);
    // deny by default: a connection whose frames cannot be capped is not served
    if (!capFrames((client as unknown as { _parser?: ParserInternals })._parser, frameCap)) conn.destroy();
    return client;
  };
  const accept = (conn: Duplex) => {
    pending.add(conn);
    gate.wrap(conn);
    aedes.handle(conn as never);
  };

  // A will is a PUBLISH the broker makes for the device once it has gone: on its readings topic, a reading admitted
  // with no connection for its receipt and past the read gate; elsewhere, a topic the device may not use. Devices
  // set none (SPEC §4): a CONNECT carrying one is refused (CONNACK 5).
  const withWill = new WeakSet<Client>();
  aedes.preConnect = (client, packet, done) => {
    if (packet.will) withWill.add(client);
    done(null, true);
  };

  // Each device connection holds ~5 kB of heap and more while its readings are in flight: past the cap the gateway
  // refuses connections instead of running out of heap (README "Capacity"). A device that reconnects while the
  // broker still holds its old connection replaces it, so it is let through.
  const brokerState = aedes as unknown as { connectedClients: number; clients: Record<string, unknown> };
  let authenticating = 0;
  const atCapacity = (id: string) => brokerState.connectedClients + authenticating >= opts.maxConnections && !Object.hasOwn(brokerState.clients, id);

  aedes.authenticate = (client, username, password, done) => {
    const id = client.id;
    if (withWill.has(client)) return done(connackError(CONNACK.NOT_AUTHORIZED, 'a device sets no will message (SPEC §4)'), false);
    if (username !== id) return done(connackError(CONNACK.IDENTIFIER_REJECTED, 'username must equal the client id (the device id)'), false);
    if (!password || password.length === 0) return done(connackError(CONNACK.BAD_CREDENTIALS, 'a connect token is required as password'), false);
    if (atCapacity(id)) {
      policy.onRefused?.('UNAVAILABLE');
      return done(connackError(CONNACK.SERVER_UNAVAILABLE, `the gateway holds its most device connections (${opts.maxConnections}): connect again later`), false);
    }
    authenticating++;
    Promise.resolve()
      .then(() => policy.authenticate(id, new Uint8Array(password.buffer, password.byteOffset, password.byteLength)))
      .finally(() => authenticating--)
      .then(
        () => {
          deviceOf.set(client, id);
          readingsTopicOf.set(client, readingsTopic(id));
          epochOf.set(client, epoch());
          const conn = (client as unknown as { conn?: Duplex }).conn;
          pending.authenticated(conn);
          gate.authenticated(conn);
          done(null, true);
        },
        (err: unknown) => {
          policy.onRefused?.(err instanceof OriginProofError ? err.code : 'INTERNAL');
          done(connackError(connackCodeFor(err), (err as Error).message), false);
        },
      );
  };

  aedes.authorizePublish = (client, packet: PublishPacket, done) => {
    const deviceId = client ? deviceOf.get(client) : undefined;
    if (!client || !deviceId) return done(new Error('not authenticated'));
    if (packet.topic !== readingsTopicOf.get(client)) {
      // Tell the device why, then deny: aedes closes the connection (MQTT-3.3.5-2).
      // aedes' publish callback fires when the rejection is queued, not written; give the socket a moment.
      const deny = () => setTimeout(() => done(new Error(`device ${deviceId} may not publish to ${packet.topic}`)), 200);
      policy.onTopicViolation(deviceId, packet.topic).then(deny, deny);
      return;
    }
    if (epochOf.get(client) !== epoch()) return done(new Error(`device ${deviceId}: connection predates a storage recovery; reconnect and resend`));
    // Readings go at QoS 1 (SPEC §4). aedes keeps every QoS 2 PUBLISH in memory until its PUBREL (up to 1,000 per
    // connection), which a device holding back PUBRELs could use to fill the heap: refused, the connection closed.
    if (packet.qos === 2) return done(new Error(`device ${deviceId}: readings are published at QoS 1, not 2`));
    const payload = packet.payload as Buffer;
    acks.hold(client as AnswerClient); // before the reading can be answered: its PUBACK waits to leave with the answer
    policy
      .onReading(deviceId, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))
      .then(() => done(null), (err: Error) => done(err));
  };

  // Readings are taken in authorizePublish and are never routed to subscribers: a device's accepted PUBLISH on its
  // readings topic ends at its PUBACK instead of passing through aedes' router (a Packet copy, the retained store,
  // mqemitter and a topic-trie match per reading, all for no subscriber). Everything else is routed as usual.
  type Route = (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) => void;
  const route = (aedes.publish as unknown as Route).bind(aedes);
  (aedes as unknown as { publish: Route }).publish = (packet, client, done) => {
    if (client && typeof client === 'object' && done && packet.topic === readingsTopicOf.get(client)) return done();
    return route(packet, client, done);
  };

  // A device's answers skip the router too (deliver() below writes them to its own connection), so its granted
  // subscriptions are kept where the SUBACK, the session and deliver() read them (client.subscriptions) but not added
  // to the router's topic trie, where nothing would ever be published to them: ~0.7 kB of heap per connected
  // device (aedes' Qlobber held 7.1 MB at 10,000 devices in a heap snapshot; README "Capacity").
  type Listen = (topic: string, func: unknown, done?: (err?: Error) => void) => void;
  const answerTopic = (topic: string) => {
    const kind = parseTopic(topic)?.kind;
    return kind === 'receipts' || kind === 'rejections';
  };
  for (const name of ['subscribe', 'unsubscribe'] as const) {
    const listen = (aedes[name] as unknown as Listen).bind(aedes);
    (aedes as unknown as Record<typeof name, Listen>)[name] = (topic, func, done) => (answerTopic(topic) ? done?.() : listen(topic, func, done));
  }

  // Readings are taken in authorizePublish; nothing is routed onward to subscribers.
  aedes.authorizeForward = (client, packet) => {
    const t = parseTopic(packet.topic);
    if (t && t.kind === 'readings') return null;
    return packet;
  };

  aedes.authorizeSubscribe = (client, sub: Subscription, done) => {
    if (!maySubscribe(client ? deviceOf.get(client) : undefined, sub.topic)) {
      return done(null, null as unknown as Subscription); // negated subscription: SUBACK 0x80
    }
    done(null, sub);
  };

  // aedes 1.2 stores a session's subscriptions (clean session off) from the whole SUBSCRIBE packet once any one of
  // its topics is granted, refused topics included (handlers/subscribe.js storeSubscriptions), and never drops them:
  // a device could grow the heap without bound by sending its receipts topic with thousands of others, again on
  // every connection. Only what authorizeSubscribe grants is kept.
  const persistence = (aedes as unknown as { persistence: { addSubscriptions: (c: Client, subs: Subscription[]) => Promise<void> } }).persistence;
  const addSubscriptions = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subs) => addSubscriptions(client, subs.filter((sub) => maySubscribe(deviceOf.get(client), sub.topic)));

  // The device's live connection, kept here rather than read from aedes.clients: aedes 1.2 unregisters a closing
  // client by its id without checking that the map still holds that client, so when two CONNECTs with one client id
  // race (clean session off adds a turn between authentication and registration), the one closing last can remove
  // the entry of the one still connected, whose answers would then all be dropped. Here the last connection to
  // register is the device's; any other connection of that id still open is closed then; an entry is removed only
  // by its own client's disconnect; and aedes' entry is put back when another client's disconnect removed it (aedes
  // reads it to take over the session at the device's next CONNECT).
  const live = new Map<string, AnswerClient>();
  const aedesClients = (aedes as unknown as { clients: Record<string, Client> }).clients;
  aedes.on('client', (client) => {
    const id = deviceOf.get(client);
    if (!id) return;
    const previous = live.get(id);
    live.set(id, client as AnswerClient);
    if (!previous) policy.onConnect?.(id);
    else if (previous !== client && !previous.closed) previous.close();
  });
  aedes.on('clientDisconnect', (client) => {
    acks.release(client as AnswerClient);
    const id = deviceOf.get(client);
    if (!id) return;
    const current = live.get(id);
    if (current === client) {
      live.delete(id);
      policy.onDisconnect?.(id);
    } else if (current && !aedesClients[id]) {
      aedesClients[id] = current;
    }
  });

  const listeners = new Listeners(accept, opts.maxPacketBytes + 1024);

  // A device's answers go to its own connection only, so they skip the router too: the PUBLISH frame is made once
  // (mqtt-packet, as aedes makes it) and written while the socket is corked until the end of this tick, so the
  // receipts of one block for one device leave in one write.
  const deliver = (deviceId: string, topic: string, payload: Uint8Array): void => {
    const client = live.get(deviceId);
    if (!client) return;
    acks.release(client);
    if (!client.connected || client.closed || !deviceOf.has(client) || !(topic in client.subscriptions)) return;
    const conn = client.conn;
    if (conn.destroyed || conn.writableLength > MAX_ANSWER_BACKLOG) return;
    const frame = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), qos: RECEIPT_QOS, retain: false, dup: false });
    if (conn.writableCorked === 0) {
      conn.cork();
      process.nextTick(() => conn.uncork());
    }
    conn.write(frame);
  };

  return {
    aedes,
    get tcp() {
      return listeners.tcp;
    },
    get tls() {
      return listeners.tls;
    },
    deliver,
    resumeReading: () => gate.resume(),
    get waitingToBeRead() {
      return gate.size;
    },
    get ws() {
      return listeners.ws;
    },
    closeStaleConnections() {
      for (const c of [...live.values()]) if (epochOf.get(c) !== epoch()) c.close();
    },
    pending,
    setTlsMaterial: (material) => listeners.setTlsMaterial(material),
    listen: (o) => listeners.listen(o),
    async close() {
      // Let the last receipts reach the sockets (aedes' publish callback fires when a message is routed, not
      // written), then stop accepting, disconnect the clients, and wait for the listeners to finish closing.
      acks.close();
      const deadline = Date.now() + 1000;
      await new Promise((r) => setTimeout(r, 50));
      const pending = () => [...live.values()].some((c) => c.conn.writableLength > 0);
      while (pending() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const listenersClosed = listeners.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await listenersClosed;
    },
  };
}

export { rejectionsTopic };
