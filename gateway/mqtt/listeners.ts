/**
 * The broker's listeners: plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket (plain, or over TLS when a
 * certificate is given). Each is optional, and each hands every connection, whatever its transport, to the same
 * `accept` (broker.ts: pending-connection cap, read gate, aedes), so the bounds on unauthenticated connections hold
 * for all of them. A WebSocket connection is bounded before that too, from its first byte: until its HTTP upgrade it
 * counts against the same pending cap and is closed if it has not upgraded within the CONNECT timeout
 * (`PreUpgradeBounds`). TLS is node:tls (OpenSSL), TLS 1.2 or later.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import proxyaddr from '@fastify/proxy-addr';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { tlsServerOptions, type TlsMaterial } from './tls-material.js';
import { ConfigError } from '../config.js';
import { isOpenFilesLimit, OPEN_FILES_LIMIT_REMEDY } from '../start-refusal.js';

export interface ListenOptions {
  host: string;
  mqttPort: number | null;
  mqttTlsPort: number | null;
  wsPort: number | null;
  /** Certificate and key for MQTT over TLS; with it the WebSocket listener is WebSocket over TLS too. */
  tls: TlsMaterial | null;
}

export interface ListeningPorts {
  mqttPort: number | null;
  mqttTlsPort: number | null;
  wsPort: number | null;
  /** The WebSocket listener speaks TLS (wss:). */
  wsTls: boolean;
}

/**
 * A WebSocket connection before its HTTP upgrade is not MQTT yet (aedes has not seen it): without these bounds a
 * flood of sockets sending nothing or half a request was held by node:http for its minute of headersTimeout, as many
 * as came.
 */
export interface PreUpgradeBounds {
  /** Track a connection that is not authenticated yet (pending-connections.ts: capped, the oldest dropped). */
  add(conn: Duplex): void;
  /** No longer pending: upgraded (the MQTT stream over it is then tracked instead) or closed. */
  done(conn: Duplex): void;
  /** Longest wait for the upgrade (the CONNECT timeout; CONNECT then has as long again). */
  timeoutMs: number;
}

/**
 * The client's address for a WebSocket upgrade request behind the reverse proxies in `trustProxy` (config trustProxy,
 * believed as the HTTP API believes them: @fastify/proxy-addr, Fastify's own module): the closest address in
 * X-Forwarded-For that is not a trusted proxy. None configured: the connection's own address, the header ignored.
 * The connect-failure limit keys on it (connect-failure-limit.ts); else every device behind one proxy shares one budget.
 */
export function clientAddressBehindProxies(trustProxy: readonly string[] | null | undefined): (req: IncomingMessage) => string | undefined {
  if (!trustProxy || trustProxy.length === 0) return (req) => req.socket.remoteAddress;
  const trusted = proxyaddr.compile([...trustProxy]);
  return (req) => (req.socket.remoteAddress === undefined ? undefined : proxyaddr(req, trusted));
}

export class Listeners {
  tcp: Server | null = null;
  tls: Server | null = null;
  ws: WebSocketServer | null = null;
  /** The WebSocket listener's TCP server; its HTTP server takes each connection (over TLS when wsTls). */
  private wsTcp: Server | null = null;
  private wsTls = false;
  private secureContext: SecureContext | null = null;
  private readonly upgradeTimers = new WeakMap<Duplex, NodeJS.Timeout>();

  /**
   * `maxWsPayload`: largest WebSocket message taken (a frame cap of the same kind as the MQTT parser's).
   * `wsClientAddress`: the client's address for a WebSocket upgrade request (the connection's own unless it comes
   * from a trusted reverse proxy: clientAddressBehindProxies).
   */
  constructor(
    private readonly accept: (conn: Duplex, remoteAddress: string | undefined) => void,
    private readonly maxWsPayload: number,
    private readonly preUpgrade: PreUpgradeBounds,
    private readonly wsClientAddress: (req: IncomingMessage) => string | undefined = (req) => req.socket.remoteAddress,
  ) {}

  /** Open the listeners whose port is not null (0: an ephemeral port); resolves with the ports bound. */
  async listen({ host, mqttPort, mqttTlsPort, wsPort, tls: material }: ListenOptions): Promise<ListeningPorts> {
    if (mqttPort !== null) {
      this.tcp = createServer({ noDelay: true }, (socket: Socket) => this.accept(socket, socket.remoteAddress));
      await listenOn(this.tcp, host, mqttPort, 'mqttPort');
    }
    if (mqttTlsPort !== null) {
      if (!material) throw new Error('MQTT over TLS needs a certificate and key');
      // TLS in front of the same accept path: the TLSSocket is handed to aedes at once, before its handshake, so the
      // pending-connection cap and aedes' CONNECT timeout bound a slow or silent handshake as they bound a silent
      // plain socket.
      this.secureContext = createSecureContext(tlsServerOptions(material));
      this.tls = createServer({ noDelay: true }, (socket: Socket) => {
        // the context is read per connection: after a reload (setTlsMaterial) new connections get the new certificate
        const conn = new TLSSocket(socket, { isServer: true, secureContext: this.secureContext! });
        conn.on('error', () => conn.destroy()); // a failed handshake; aedes adds its own handler for later errors
        this.accept(conn, socket.remoteAddress);
      });
      await listenOn(this.tls, host, mqttTlsPort, 'mqttTlsPort');
    }
    if (wsPort !== null) {
      // Our own TCP server in front of the HTTP server that carries the upgrade, as for MQTT over TLS: each connection
      // is bounded from its first byte (pending cap, upgrade timeout), TLS handshake included.
      this.wsTls = material !== null;
      if (material) this.secureContext ??= createSecureContext(tlsServerOptions(material));
      const http: HttpServer = createHttpServer((_req, res) => {
        const body = STATUS_CODES[426]!; // not an upgrade: what ws answers on a port of its own
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain', Connection: 'close' });
        res.end(body);
      });
      this.ws = new WebSocketServer({ server: http, maxPayload: this.maxWsPayload });
      this.ws.on('connection', (socket, req) => {
        this.upgraded(req.socket);
        this.accept(createWebSocketStream(socket), this.wsClientAddress(req));
      });
      this.wsTcp = createServer({ noDelay: true }, (socket: Socket) => {
        const conn = this.wsTls ? new TLSSocket(socket, { isServer: true, secureContext: this.secureContext! }) : socket;
        conn.on('error', () => conn.destroy());
        this.upgrading(conn);
        http.emit('connection', conn);
      });
      await listenOn(this.wsTcp, host, wsPort, 'wsPort');
    }
    const bound = (server: Server | null) => (server ? (server.address() as AddressInfo).port : null);
    return { mqttPort: bound(this.tcp), mqttTlsPort: bound(this.tls), wsPort: bound(this.wsTcp), wsTls: this.wsTls };
  }

  /** Present another certificate from now on (MQTT over TLS, WebSocket over TLS); open connections keep theirs. */
  setTlsMaterial(material: TlsMaterial): void {
    if (this.tls || this.wsTls) this.secureContext = createSecureContext(tlsServerOptions(material));
  }

  /** Stop accepting; resolves once every listener has closed (after its connections have). */
  close(): Promise<void> {
    const servers = [this.tcp, this.tls, this.wsTcp].map((server) => (server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()));
    const ws = this.ws;
    return Promise.all([...servers, ws ? new Promise<void>((resolve) => ws.close(() => resolve())) : Promise.resolve()]).then(() => undefined);
  }

  /** A WebSocket listener's connection, before its upgrade: pending, and closed if it has not upgraded in time. */
  private upgrading(conn: Duplex): void {
    this.preUpgrade.add(conn);
    const timer = setTimeout(() => conn.destroy(), this.preUpgrade.timeoutMs);
    this.upgradeTimers.set(conn, timer);
    conn.once('close', () => this.upgraded(conn));
  }

  private upgraded(conn: Duplex): void {
    clearTimeout(this.upgradeTimers.get(conn));
    this.upgradeTimers.delete(conn);
    this.preUpgrade.done(conn);
  }
}

/** Listen, or reject with a ConfigError naming the setting (`setting`) and why (a port in use, no such address). */
export function listenOn(server: Server | HttpServer, host: string, port: number, setting: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(setting, host, port, err));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

export function listenError(setting: string, host: string, port: number, err: NodeJS.ErrnoException): ConfigError {
  const at = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  // No file descriptor left for the socket: not the port's fault, and no retry passes while the limit stays (found by
  // review: it was LISTEN_FAILED, "free the port"). Said as the start's other open-files failures are.
  if (isOpenFilesLimit(err)) return new ConfigError('DATA_DIR_UNUSABLE', `${setting} ${port}: cannot listen on ${at}: ${err.message}: ${OPEN_FILES_LIMIT_REMEDY}`, { cause: err });
  const why: Record<string, string> = {
    EADDRINUSE: `${at} is in use (another gateway, or another program, listening there?)`,
    EACCES: `${at}: permission denied (ports below 1024 need privileges)`,
    EADDRNOTAVAIL: `${at}: no such address on this machine (host)`,
    ENOTFOUND: `${at}: host ${host} not found (host)`,
  };
  return new ConfigError('LISTEN_FAILED', `${setting} ${port}: ${why[err.code ?? ''] ?? `cannot listen on ${at}: ${err.message}`}`, { cause: err });
}
