/**
 * The embedded aedes broker. Policy lives in the hooks and is deny-by-default; each hook is a thin adapter over
 * a check passed in (`BrokerPolicy`), so the same checks can later sit behind an external broker's auth plugin.
 * - authenticate: client id = username = device id, password = connect token (protocol/connect-token.ts)
 * - authorizePublish: a device may publish only to its own readings topic; the payload goes to the pipeline
 * - authorizeSubscribe: a device may subscribe only to its own receipts and rejections topics
 * Before any hook: a connection must send CONNECT within `connectTimeoutMs`, and at most `maxPendingConnections`
 * may be unauthenticated at once (pending-connections.ts), so floods of silent or junk sockets stay bounded; an
 * address whose CONNECTs keep failing the device and token check is refused before it (connect-failure-limit.ts).
 * After it: keep alive is at most `maxKeepaliveS` (0 included), and a device connection whose writes are backed up
 * (a device not reading its socket) is not read until they drain, and closed after `drainTimeoutMs` (read-gate.ts).
 * Listeners (listeners.ts): plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket (plain or TLS); each is
 * optional, and every connection, whatever its transport, takes the same path (`accept`) with the same bounds.
 */
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { OriginProofError } from '../../protocol/errors.js';
import { parseTopic, readingsTopic } from '../../protocol/topics.js';
import { PendingConnections } from './pending-connections.js';
import { addressKey, ConnectFailureLimit } from './connect-failure-limit.js';
import { AnswerBacklog } from './answer-backlog.js';
import { AckHold } from './ack-hold.js';
import { CONNACK, connackCodeFor, connackError, type ConnectRefusal } from './connack.js';
import { capFrameSize } from './frame-cap.js';
import { DeviceConnections, keepAnswersOutOfRouter, type AnswerClient } from './device-connections.js';
import { ReadGate } from './read-gate.js';
import type { TlsMaterial } from './tls-material.js';
import { clientAddressBehindProxies, Listeners, type ListenOptions, type ListeningPorts } from './listeners.js';

export type { ListenOptions, ListeningPorts };

/** Why a PUBLISH was refused by closing its connection, unanswered (BrokerPolicy.onPublishRefused). */
export type BrokerPublishRefusal = 'qos2' | 'connection_closed' | 'stale_connection';

export interface BrokerPolicy {
  /** Throws OriginProofError when the device may not connect. */
  authenticate(deviceId: string, token: Uint8Array): Promise<void> | void;
  /** Hands a reading to the pipeline; resolves when admitted to its queue (this is where backpressure waits). */
  onReading(deviceId: string, payload: Uint8Array): Promise<void>;
  /** A device published where it may not (another device's topic, a receipts topic, anything else). */
  /** Resolves once the device has been told (TOPIC_MISMATCH on its rejections topic). */
  onTopicViolation(deviceId: string, topic: string): Promise<void>;
  /**
   * An authenticated device sent a PUBLISH over the MQTT frame cap: a reading refused TOO_LARGE, though not answered
   * (the connection is closed before the frame is read). Once per connection.
   */
  onOversizeReading?(deviceId: string): void;
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
   * A CONNECT refused, with the code behind it: `authenticate`'s error, UNAVAILABLE at `maxConnections`,
   * RATE_LIMITED from an address past its failures, or a firmware bug refused before the token is looked at
   * (connack.ts FIRMWARE_REFUSALS); for metrics (INTERNAL for an error that is not an OriginProofError) and the event
   * log: the client id as the CONNECT claims it, the client's address (as accepted: a trusted proxy's client), and the
   * username when it is not the client id (USERNAME_MISMATCH).
   */
  onRefused?(code: ConnectRefusal, clientId: string | undefined, address: string | undefined, username?: string): void;
  /**
   * Each authenticated connection opened and closed (a device's new connection replacing its old one included; onConnect
   * and onDisconnect count devices), with the client's address: for the event log.
   */
  onConnectionOpened?(deviceId: string, address: string | undefined): void;
  onConnectionClosed?(deviceId: string, address: string | undefined): void;
  /** A SUBSCRIBE topic refused (SUBACK 0x80): not the device's own receipts or rejections topic. */
  onSubscribeRefused?(deviceId: string | undefined, topic: string): void;
  /** CONNECTs from `address` (an IPv4 address or an IPv6 /64) are refused from now on: too many failed their check. */
  onAddressLimited?(address: string): void;
  /**
   * A device's PUBLISH refused by closing its connection, unanswered and not taken (the device keeps the reading):
   * `qos2`, published at QoS 2 (SPEC §4); `connection_closed`, on a connection closed or being
   * closed by the gateway (closeDevice); `stale_connection`, on a connection from before a storage recovery.
   * Counted apart from rejections, which carry a code.
   */
  onPublishRefused?(reason: BrokerPublishRefusal, deviceId: string, topic: string): void;
  /** An answer dropped for a device not reading its connection (device-connections.ts). */
  onAnswerDropped?(reason: 'connection' | 'gateway'): void;
}

export interface EmbeddedBroker {
  aedes: Aedes;
  /** Plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket: each null until listening, and when off. */
  tcp: Server | null;
  tls: Server | null;
  ws: WebSocketServer | null;
  /**
   * Answer one device on one of its own topics (receipts, rejections) at QoS 0: written straight to its connection
   * if it is connected and subscribed there, else dropped (it resends the reading and gets the same answer).
   * `receipt`: the answer is a receipt, one of a block's burst (device-connections.ts maxConnectionAnswerBytes).
   */
  deliver(deviceId: string, topic: string, payload: Uint8Array, receipt?: boolean): void;
  /** The pipeline has room again: read the connections that waited while it was full (read-gate.ts). */
  resumeReading(): void;
  /** Device connections waiting to be read while the pipeline is full. */
  readonly waitingToBeRead: number;
  /** Close every device connection authenticated in an earlier connection epoch. */
  closeStaleConnections(): void;
  /** Close the device's connection (it reconnects and resends what it keeps, in seq order: Pipeline.breakOrder). */
  closeDevice(deviceId: string): void;
  /** Open the listeners whose port is not null (0: an ephemeral port); resolves with the ports bound. */
  listen(o: ListenOptions): Promise<ListeningPorts>;
  /** Present another certificate from now on (MQTT over TLS, WebSocket over TLS); open connections keep theirs. */
  setTlsMaterial(material: TlsMaterial): void;
  /** Connections not authenticated yet, and how many were dropped to stay under the cap. */
  pending: { readonly size: number; readonly droppedCount: number };
  /** Answer bytes waiting on connections whose device is not reading, and how many such connections (answer-backlog.ts). */
  answerBacklog: { readonly bytes: number; readonly connections: number };
  close(): Promise<void>;
}

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
  /**
   * A device connection whose writes stay backed up this long (the device does not read its socket) is closed
   * (aedes `drainTimeout`); meanwhile it is not read (read-gate.ts).
   */
  drainTimeoutMs: number;
  /** Longest keep alive honoured (s); a CONNECT with 0 (off) or more gets this one. */
  maxKeepaliveS: number;
  /** CONNECTs per client address that may fail the device and token check, in a burst and per minute (0: no limit). */
  connectFailuresPerMinute: number;
  /** The clock the failure budgets refill by (ms); Date.now by default. */
  now?: () => number;
  /** Most answer bytes waiting on connections whose device is not reading, across the gateway (answer-backlog.ts). */
  maxAnswerBacklogBytes: number;
  /** Reverse proxies whose X-Forwarded-For names a WebSocket client's address (config trustProxy; listeners.ts). */
  trustProxy?: readonly string[] | null;
  /** Most answer bytes waiting on one connection (device-connections.ts maxConnectionAnswerBytes). */
  maxConnectionAnswerBytes: number;
  /** What one tick's receipts may add past maxAnswerBacklogBytes (device-connections.ts maxTickReceiptBytes). */
  maxTickReceiptBytes: number;
}

export async function createBroker(policy: BrokerPolicy, opts: BrokerOptions): Promise<EmbeddedBroker> {
  // concurrency 0: mqemitter routes every message at once instead of queueing beyond a limit; its queue is an array
  // drained with shift(), O(n) per message once thousands of receipts wait (6.7% of the gateway's CPU under load).
  // In-flight work is bounded elsewhere: the pipeline's queue high-water and aedes' maxInflightInbound per client.
  const aedes = await Aedes.createBroker({ heartbeatInterval: 600_000, maxClientsIdLength: 64, concurrency: 0, connectTimeout: opts.connectTimeoutMs, drainTimeout: opts.drainTimeoutMs });
  const deviceOf = new WeakMap<Client, string>();
  /** The one topic a device may publish on (compared as a string for every reading). */
  const readingsTopicOf = new WeakMap<Client, string>();
  const acks = new AckHold<AnswerClient>(opts.ackHoldMs);
  const epochOf = new WeakMap<Client, number>();
  /** Connections closeDevice is closing: they take no more readings; the close waits for the answer to leave. */
  const closing = new WeakSet<Client>();
  /** Connections being denied for a PUBLISH where they may not: that one's callback and those of the PUBLISHes after it. */
  const denying = new WeakMap<Client, ((err?: Error | null) => void)[]>();
  const epoch = () => policy.connectionEpoch?.() ?? 0;
  const pending = new PendingConnections(opts.maxPendingConnections);
  type Draining = { client?: { waitForDrain(cb: (err?: Error | null) => void): void } };
  const gate = new ReadGate(
    () => policy.full?.() ?? false,
    // aedes' own wait: one timer per client, the connection destroyed once it has waited `drainTimeout`
    (conn, resume) => {
      const client = (conn as unknown as Draining).client;
      if (client) client.waitForDrain(resume);
      else conn.destroy();
    },
  );
  capFrameSize(aedes, opts.maxPacketBytes, (client, cmd) => {
    const deviceId = deviceOf.get(client);
    if (cmd === 'publish' && deviceId !== undefined) policy.onOversizeReading?.(deviceId);
  });
  const failures = new ConnectFailureLimit(opts.connectFailuresPerMinute, opts.now);
  const addressOf = new WeakMap<Duplex, string>();
  /** The client's address as accepted, for the event log (addressOf holds the key its failures count under). */
  const remoteOf = new WeakMap<Duplex, string>();
  const accept = (conn: Duplex, remoteAddress: string | undefined) => {
    addressOf.set(conn, addressKey(remoteAddress));
    if (remoteAddress !== undefined) remoteOf.set(conn, remoteAddress);
    pending.add(conn);
    gate.wrap(conn);
    aedes.handle(conn as never);
  };
  const remoteAddressOf = (client: Client): string | undefined => {
    const conn = (client as unknown as { conn?: Duplex }).conn;
    return conn ? remoteOf.get(conn) : undefined;
  };

  // A will is a PUBLISH the broker makes for the device once it has gone: on its readings topic, a reading admitted
  // with no connection for its receipt and past the read gate; elsewhere, a topic the device may not use. Devices
  // set none (SPEC §4): a CONNECT carrying one is refused (CONNACK 5).
  const withWill = new WeakSet<Client>();
  aedes.preConnect = (client, packet, done) => {
    if (packet.will) withWill.add(client);
    // aedes refuses every level but 4 (3 below) with CONNACK 1 before authenticate: counted here
    if (packet.protocolVersion !== 4) policy.onRefused?.('PROTOCOL_VERSION', packet.clientId, remoteAddressOf(client));
    // MQTT 3.1.1 only (SPEC §4). aedes answers CONNACK 1 (unacceptable protocol version) to any level but 3 and 4,
    // and takes 3 (MQTT 3.1, "MQIsdp"); its authenticate hook cannot answer 1 (it turns it into 5), so level 3 is
    // handed on as a level aedes refuses. The CONNACK is the same bytes in 3.1 and 3.1.1.
    if (packet.protocolVersion === 3) (packet as { protocolVersion: number }).protocolVersion = 0;
    // Keep alive 0 turns the check off: a device gone without closing its TCP connection (power loss, a dropped
    // mobile link) would hold its connection and its slot under maxConnections for good, as the gateway writes to a
    // device only to answer it. 0 and anything longer than the maximum get the maximum (aedes then closes the
    // connection after 1.5 times it without a packet; MQTT 3.1.1 has no way to tell the device).
    const keepalive = packet.keepalive ?? 0;
    if (keepalive <= 0 || keepalive > opts.maxKeepaliveS) packet.keepalive = opts.maxKeepaliveS;
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
    if (withWill.has(client)) {
      policy.onRefused?.('WILL_MESSAGE', id, remoteAddressOf(client));
      return done(connackError(CONNACK.NOT_AUTHORIZED, 'a device sets no will message (SPEC §4)'), false);
    }
    if (username !== id) {
      policy.onRefused?.('USERNAME_MISMATCH', id, remoteAddressOf(client), username ?? '');
      return done(connackError(CONNACK.IDENTIFIER_REJECTED, 'username must equal the client id (the device id)'), false);
    }
    if (!password || password.length === 0) {
      policy.onRefused?.('NO_TOKEN', id, remoteAddressOf(client));
      return done(connackError(CONNACK.BAD_CREDENTIALS, 'a connect token is required as password'), false);
    }
    if (atCapacity(id)) {
      policy.onRefused?.('UNAVAILABLE', id, remoteAddressOf(client));
      return done(connackError(CONNACK.SERVER_UNAVAILABLE, `the gateway holds its most device connections (${opts.maxConnections}): connect again later`), false);
    }
    const conn = (client as unknown as { conn?: Duplex }).conn;
    const address = (conn && addressOf.get(conn)) ?? '';
    if (!failures.allows(address)) {
      policy.onRefused?.('RATE_LIMITED', id, remoteAddressOf(client));
      return done(connackError(CONNACK.SERVER_UNAVAILABLE, `too many refused CONNECTs from ${address}: connect again later`), false);
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
          pending.authenticated(conn);
          gate.authenticated(conn);
          done(null, true);
        },
        (err: unknown) => {
          const code = err instanceof OriginProofError ? err.code : 'INTERNAL';
          policy.onRefused?.(code, id, remoteAddressOf(client));
          // the gateway's own failures (its store, an internal error) are not the client's
          if (code !== 'STORAGE_UNAVAILABLE' && code !== 'UNAVAILABLE' && code !== 'INTERNAL' && failures.failed(address)) policy.onAddressLimited?.(address);
          done(connackError(connackCodeFor(err), (err as Error).message), false);
        },
      );
  };

  aedes.authorizePublish = (client, packet: PublishPacket, done) => {
    const deviceId = client ? deviceOf.get(client) : undefined;
    if (!client || !deviceId) return done(new Error('not authenticated'));
    // A connection closed by the gateway (closeDevice) takes no reading it had sent but not yet been handed over.
    if ((client as AnswerClient).closed || closing.has(client)) {
      policy.onPublishRefused?.('connection_closed', deviceId, packet.topic);
      return done(new Error(`device ${deviceId}: connection closed`));
    }
    if (packet.topic !== readingsTopicOf.get(client)) {
      // Told once per connection: aedes hands over every PUBLISH of a read at once, and one 64 kB read holds thousands
      // of small ones; each was answered TOPIC_MISMATCH and given a timer of its own (found by review). The ones after
      // the first wait for its denial, which closes the connection.
      const waiting = denying.get(client);
      if (waiting) return void waiting.push(done);
      const dones = [done];
      denying.set(client, dones);
      // Tell the device why, then deny: aedes closes the connection (MQTT-3.3.5-2).
      // aedes' publish callback fires when the rejection is queued, not written; give the socket a moment.
      const deny = () =>
        setTimeout(() => {
          const err = new Error(`device ${deviceId} may not publish to ${packet.topic}`);
          for (const d of dones.splice(0)) d(err);
        }, 200);
      policy.onTopicViolation(deviceId, packet.topic).then(deny, deny);
      return;
    }
    if (epochOf.get(client) !== epoch()) {
      policy.onPublishRefused?.('stale_connection', deviceId, packet.topic);
      return done(new Error(`device ${deviceId}: connection predates a storage recovery; reconnect and resend`));
    }
    // Readings go at QoS 1 (SPEC §4). aedes keeps every QoS 2 PUBLISH in memory until its PUBREL (up to 1,000 per
    // connection), which a device holding back PUBRELs could use to fill the heap: refused, the connection closed.
    if (packet.qos === 2) {
      policy.onPublishRefused?.('qos2', deviceId, packet.topic);
      return done(new Error(`device ${deviceId}: readings are published at QoS 1, not 2`));
    }
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

  // A device's answers skip the router too (device-connections.ts).
  keepAnswersOutOfRouter(aedes);

  // Readings are taken in authorizePublish; nothing is routed onward to subscribers.
  aedes.authorizeForward = (client, packet) => {
    const t = parseTopic(packet.topic);
    if (t && t.kind === 'readings') return null;
    return packet;
  };

  aedes.authorizeSubscribe = (client, sub: Subscription, done) => {
    const deviceId = client ? deviceOf.get(client) : undefined;
    if (!maySubscribe(deviceId, sub.topic)) {
      policy.onSubscribeRefused?.(deviceId, sub.topic);
      return done(null, null as unknown as Subscription); // negated subscription: SUBACK 0x80
    }
    done(null, sub);
  };

  // aedes 1.2 stores a session's subscriptions (clean session off) from the whole SUBSCRIBE packet once any one of
  // its topics is granted, refused topics included (handlers/subscribe.js storeSubscriptions), and never drops them:
  // a device could grow the heap without bound by sending its receipts topic with thousands of others, again on
  // every connection. Only what authorizeSubscribe grants is kept.
  const persistence = (aedes as unknown as {
    persistence: { addSubscriptions: (c: Client, subs: Subscription[]) => Promise<void>; cleanSubscriptions: (c: Client) => Promise<void> };
  }).persistence;
  const addSubscriptions = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subs) => addSubscriptions(client, subs.filter((sub) => maySubscribe(deviceOf.get(client), sub.topic)));

  // A kept session outlives its connection: aedes' persistence holds its subscriptions (a map entry and topic-trie
  // nodes per device) until a clean-session CONNECT of the same id, so every device that ever connected with clean
  // session off kept one for good (found by review: a registry of 100,000 devices connecting in turns held 100,000).
  // At most `maxConnections` sessions of devices gone are kept, the oldest dropped first: its device's next CONNECT
  // gets session present 0, and it subscribes again as it does at every connection (SPEC §4).
  const gone = new Set<string>();
  const sessionEvents = {
    onConnect(deviceId: string) {
      gone.delete(deviceId);
      policy.onConnect?.(deviceId);
    },
    onDisconnect(deviceId: string) {
      gone.delete(deviceId); // re-inserted last: the set's order is the order of leaving
      gone.add(deviceId);
      if (gone.size > opts.maxConnections) {
        const oldest = gone.values().next().value as string;
        gone.delete(oldest);
        void persistence.cleanSubscriptions({ id: oldest } as Client).catch(() => undefined);
      }
      policy.onDisconnect?.(deviceId);
    },
    onAnswerDropped: (reason: 'connection' | 'gateway') => policy.onAnswerDropped?.(reason),
  };
  // Every authenticated connection, for the event log (sessionEvents count devices, a replaced connection not apart).
  if (policy.onConnectionOpened || policy.onConnectionClosed) {
    aedes.on('client', (client) => {
      const deviceId = deviceOf.get(client);
      if (deviceId !== undefined) policy.onConnectionOpened?.(deviceId, remoteAddressOf(client));
    });
    aedes.on('clientDisconnect', (client) => {
      const deviceId = deviceOf.get(client);
      if (deviceId !== undefined) policy.onConnectionClosed?.(deviceId, remoteAddressOf(client));
    });
  }
  const answerBacklog = new AnswerBacklog(opts.maxAnswerBacklogBytes, opts.maxTickReceiptBytes);
  const connections = new DeviceConnections(aedes, (client) => deviceOf.get(client), acks, sessionEvents, answerBacklog, opts.maxConnectionAnswerBytes);

  const listeners = new Listeners(accept, opts.maxPacketBytes + 1024, {
    add: (conn) => pending.add(conn),
    done: (conn) => pending.authenticated(conn),
    timeoutMs: opts.connectTimeoutMs,
  }, clientAddressBehindProxies(opts.trustProxy));

  return {
    aedes,
    get tcp() {
      return listeners.tcp;
    },
    get tls() {
      return listeners.tls;
    },
    deliver: (deviceId, topic, payload, receipt) => connections.deliver(deviceId, topic, payload, receipt),
    resumeReading: () => gate.resume(),
    get waitingToBeRead() {
      return gate.size;
    },
    get ws() {
      return listeners.ws;
    },
    closeStaleConnections() {
      for (const c of connections.all()) if (epochOf.get(c) !== epoch()) c.close();
    },
    closeDevice(deviceId) {
      const c = connections.live(deviceId);
      if (!c || c.closed || closing.has(c)) return;
      closing.add(c);
      // The rejection that led here was written in this tick, corked until its end (deliver, ack-hold.ts): closed at
      // once, the socket was destroyed with it still buffered, and the device never learnt why (SPEC §8 UNAVAILABLE).
      setImmediate(() => c.close());
    },
    pending,
    answerBacklog,
    setTlsMaterial: (material) => listeners.setTlsMaterial(material),
    listen: (o) => listeners.listen(o),
    async close() {
      // Let the last receipts reach the sockets (aedes' publish callback fires when a message is routed, not
      // written), then stop accepting, close the connections not authenticated yet (else a silent socket holds the
      // listener's close up to the CONNECT timeout), disconnect the clients, and wait for the listeners to close.
      acks.close();
      const deadline = Date.now() + 1000;
      await new Promise((r) => setTimeout(r, 50));
      while (connections.writing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const listenersClosed = listeners.close();
      pending.closeAll(); // connections that never authenticated: aedes.close() below closes only its clients
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await listenersClosed;
    },
  };
}

