/**
 * The broker's listeners: plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket (plain, or over TLS when a
 * certificate is given). Each is optional, and each hands every connection, whatever its transport, to the same
 * `accept` (broker.ts: pending-connection cap, read gate, aedes), so the bounds on unauthenticated connections hold
 * for all of them. TLS is node:tls and node:https (OpenSSL), TLS 1.2 or later.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { tlsServerOptions, type TlsMaterial } from './tls-material.js';
import { ConfigError } from '../config.js';

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

export class Listeners {
  tcp: Server | null = null;
  tls: Server | null = null;
  ws: WebSocketServer | null = null;
  private https: HttpsServer | null = null;
  /** The HTTP server the WebSocket listener upgrades from (`https` with TLS, a plain one without), and its sockets. */
  private wsServer: HttpServer | null = null;
  private readonly wsSockets = new Set<Socket>();
  private secureContext: SecureContext | null = null;

  /** `maxWsPayload`: largest WebSocket message taken (a frame cap of the same kind as the MQTT parser's). */
  constructor(
    private readonly accept: (conn: Duplex) => void,
    private readonly maxWsPayload: number,
  ) {}

  /** Open the listeners whose port is not null (0: an ephemeral port); resolves with the ports bound. */
  async listen({ host, mqttPort, mqttTlsPort, wsPort, tls: material }: ListenOptions): Promise<ListeningPorts> {
    if (mqttPort !== null) {
      this.tcp = createServer({ noDelay: true }, this.accept);
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
        this.accept(conn);
      });
      await listenOn(this.tls, host, mqttTlsPort, 'mqttTlsPort');
    }
    if (wsPort !== null) {
      // The HTTP(S) server is ours either way, so that close() can drop the sockets that never upgraded.
      if (material) this.https = createHttpsServer(tlsServerOptions(material));
      this.wsServer = this.https ?? createHttpServer();
      this.wsServer.on('connection', (socket: Socket) => {
        this.wsSockets.add(socket);
        socket.once('close', () => this.wsSockets.delete(socket));
      });
      await listenOn(this.wsServer, host, wsPort, 'wsPort');
      // Made once listening: a WebSocketServer re-emits its server's errors, unhandled (a crash) before this.
      this.ws = new WebSocketServer({ server: this.wsServer, maxPayload: this.maxWsPayload });
      this.ws.on('connection', (socket) => this.accept(createWebSocketStream(socket)));
    }
    const bound = (server: Server | HttpServer | null) => (server ? (server.address() as AddressInfo).port : null);
    return { mqttPort: bound(this.tcp), mqttTlsPort: bound(this.tls), wsPort: bound(this.wsServer), wsTls: this.https !== null };
  }

  /** Present another certificate from now on (MQTT over TLS, WebSocket over TLS); open connections keep theirs. */
  setTlsMaterial(material: TlsMaterial): void {
    if (this.tls) this.secureContext = createSecureContext(tlsServerOptions(material));
    this.https?.setSecureContext(tlsServerOptions(material));
  }

  /** Stop accepting; resolves once every listener has closed (after its connections have). */
  close(): Promise<void> {
    const servers = [this.tcp, this.tls, this.wsServer].map((server) => (server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()));
    // Every socket of the WebSocket port: one that never finished its TLS handshake or its upgrade request would
    // hold the close for the server's timeouts (minutes); the upgraded ones are device connections, which the
    // broker closes now anyway (after their last answers were written).
    for (const socket of [...this.wsSockets]) socket.destroy();
    const ws = this.ws;
    return Promise.all([...servers, ws ? new Promise<void>((resolve) => ws.close(() => resolve())) : Promise.resolve()]).then(() => undefined);
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
  const why: Record<string, string> = {
    EADDRINUSE: `${at} is in use (another gateway, or another program, listening there?)`,
    EACCES: `${at}: permission denied (ports below 1024 need privileges)`,
    EADDRNOTAVAIL: `${at}: no such address on this machine (host)`,
    ENOTFOUND: `${at}: host ${host} not found (host)`,
  };
  return new ConfigError(`${setting} ${port}: ${why[err.code ?? ''] ?? `cannot listen on ${at}: ${err.message}`}`, { cause: err });
}
