/**
 * The broker's listeners: plain MQTT over TCP, MQTT over TLS, MQTT over WebSocket (plain, or over TLS when a
 * certificate is given). Each is optional, and each hands every connection, whatever its transport, to the same
 * `accept` (broker.ts: pending-connection cap, read gate, aedes), so the bounds on unauthenticated connections hold
 * for all of them. TLS is node:tls and node:https (OpenSSL), TLS 1.2 or later.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { tlsServerOptions, type TlsMaterial } from './tls-material.js';

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
      await listenOn(this.tcp, host, mqttPort);
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
      await listenOn(this.tls, host, mqttTlsPort);
    }
    if (wsPort !== null) {
      if (material) {
        this.https = createHttpsServer(tlsServerOptions(material));
        this.ws = new WebSocketServer({ server: this.https, maxPayload: this.maxWsPayload });
        await listenOn(this.https, host, wsPort);
      } else {
        const ws = new WebSocketServer({ host, port: wsPort, maxPayload: this.maxWsPayload });
        this.ws = ws;
        await new Promise<void>((resolve, reject) => {
          ws.once('listening', () => resolve());
          ws.once('error', reject);
        });
      }
      this.ws.on('connection', (socket) => this.accept(createWebSocketStream(socket)));
    }
    const bound = (server: Server | HttpsServer | WebSocketServer | null) => (server ? (server.address() as AddressInfo).port : null);
    return { mqttPort: bound(this.tcp), mqttTlsPort: bound(this.tls), wsPort: bound(this.https ?? this.ws), wsTls: this.https !== null };
  }

  /** Present another certificate from now on (MQTT over TLS, WebSocket over TLS); open connections keep theirs. */
  setTlsMaterial(material: TlsMaterial): void {
    if (this.tls) this.secureContext = createSecureContext(tlsServerOptions(material));
    this.https?.setSecureContext(tlsServerOptions(material));
  }

  /** Stop accepting; resolves once every listener has closed (after its connections have). */
  close(): Promise<void> {
    const servers = [this.tcp, this.tls, this.https].map((server) => (server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()));
    const ws = this.ws;
    return Promise.all([...servers, ws ? new Promise<void>((resolve) => ws.close(() => resolve())) : Promise.resolve()]).then(() => undefined);
  }
}

function listenOn(server: Server | HttpsServer, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
