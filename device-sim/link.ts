/**
 * A device's one MQTT connection to the gateway, kept up until close() (SPEC §4): client id = username = device
 * id, password = a fresh connect token dated after the last one; a failed or dropped connection is tried again after
 * a backoff with jitter (a longer one after CONNACK 5). What the connection carries (readings, answers, the outbox
 * resent after each connect) is the device's (device.ts); the events are emitted on the device.
 */
import type { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { CONNACK, createConnectToken, receiptsTopic, rejectionsTopic } from '../protocol/index.js';
import type { DeviceClock } from './clock.js';
import type { SecureElement } from './secure-element.js';
import type { DeviceStateFile } from './state.js';
import { ConnackRefused, connackOf, DeviceClosed } from './connack.js';
import { Backoff } from './backoff.js';

export interface LinkOptions {
  id: string;
  state: DeviceStateFile;
  se: SecureElement;
  clock: DeviceClock;
  /** Writes `state` (the last token's iat) to the device's state file; may throw. */
  persistState: () => void;
  tokenLifetimeSeconds: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  notAuthorizedMinMs: number;
  notAuthorizedMaxMs: number;
  random?: (() => number) | undefined;
  /** Where 'connected', 'disconnected', 'reconnect-scheduled' and 'connack-refused' are emitted: the device. */
  events: EventEmitter;
  onMessage: (topic: string, payload: Uint8Array) => void;
  /** Connected and subscribed to the answers: emit 'connected' and resend the outbox. */
  onConnected: () => void;
}

export class DeviceLink {
  #client: MqttClient | null = null;
  /** The client of a connection attempt still waiting for its CONNACK (close() ends it). */
  #connecting: MqttClient | null = null;
  /** The connection attempt in flight (connect() or a reconnect), awaited by close(). */
  #opening: Promise<void> | null = null;
  #connected = false;
  #closing = false;
  #reconnectTimer: NodeJS.Timeout | null = null;
  /** The connection was closed by retryLater(): the reconnect waits as after CONNACK 5. */
  #retryLater = false;
  readonly #reconnectBackoff: Backoff;
  readonly #notAuthorizedBackoff: Backoff;

  constructor(private readonly o: LinkOptions) {
    this.#reconnectBackoff = new Backoff(o.reconnectMinMs, o.reconnectMaxMs, o.random);
    this.#notAuthorizedBackoff = new Backoff(o.notAuthorizedMinMs, o.notAuthorizedMaxMs, o.random);
  }

  /** The connected client (null while not connected). */
  get client(): MqttClient | null {
    return this.#client;
  }

  get isConnected(): boolean {
    return this.#connected;
  }

  /** A reconnect is scheduled and has not started yet. */
  get reconnectScheduled(): boolean {
    return this.#reconnectTimer !== null;
  }

  /** See Device.connect. */
  async connect(): Promise<void> {
    this.#closing = false;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer); // this attempt replaces a scheduled one
    this.#reconnectTimer = null;
    // An attempt in flight (a scheduled retry, or another connect()): its outcome is this call's, not a second
    // connection under the same client id (the gateway would close the first, which would then reconnect).
    if (this.#opening) return this.#opening;
    try {
      await this.#open();
    } catch (err) {
      this.#retryAfter(err);
      throw err;
    }
  }

  /** One connection attempt, known to close() while it is in flight. */
  #open(): Promise<void> {
    const p = this.#openOnce();
    this.#opening = p;
    const done = () => {
      if (this.#opening === p) this.#opening = null;
    };
    p.then(done, done);
    return p;
  }

  /**
   * Connect once. close() may run at any of its awaits: after each one it checks `closing` and, if set, ends the
   * client it made and rejects (DeviceClosed), so a device never connects after close() resolved.
   */
  async #openOnce(): Promise<void> {
    const { state } = this.o;
    // The gateway takes a token only if dated later than the device's last accepted one (SPEC §4): a reconnect
    // within the same second, before or after a restart, dates its token a second on (within the clock skew).
    // Recorded before the CONNECT (its outcome may never be known), taken back if the gateway refuses the token.
    const before = state.lastTokenIat;
    const t = Math.max(this.o.clock.now(), (before ?? -Infinity) + 1);
    state.lastTokenIat = t;
    try {
      this.o.persistState();
    } catch {
      // Not kept: after a restart within this second the gateway may refuse the next token (REPLAY, CONNACK 4) and
      // a reconnect dates one later. Refusing to connect would gain nothing: the gateway enforces the order.
    }
    const token = await createConnectToken(this.o.se, { aud: state.gateway.aud, iat: t, exp: t + this.o.tokenLifetimeSeconds });
    if (this.#closing) throw new DeviceClosed();
    const client = mqtt.connect(state.gateway.mqttUrl, {
      clientId: this.o.id,
      username: this.o.id,
      password: Buffer.from(token),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      keepalive: 30,
      // mqtts: the gateway's certificate is checked against this CA, or the system's CAs without one
      ...(state.gateway.tlsCa ? { ca: state.gateway.tlsCa } : {}),
    });
    client.on('message', (topic, payload) => this.o.onMessage(topic, new Uint8Array(payload)));
    this.#connecting = client;
    try {
      await connackOf(client);
    } catch (err) {
      if (err instanceof ConnackRefused && err.returnCode !== CONNACK.SERVER_UNAVAILABLE) this.#untakeToken(t, before);
      throw this.#closing ? new DeviceClosed() : err;
    } finally {
      if (this.#connecting === client) this.#connecting = null;
    }
    if (this.#closing) {
      client.end(true);
      throw new DeviceClosed();
    }
    this.#client = client;
    client.on('error', () => undefined);
    client.on('close', () => this.#onClose(client));
    try {
      await client.subscribeAsync([receiptsTopic(this.o.id), rejectionsTopic(this.o.id)], { qos: 1 });
    } catch (err) {
      // Refused (SUBACK 0x80: no answers would come) or the connection lost meanwhile: this attempt failed, and its
      // connection goes too, rather than stay open until the next attempt replaces it (found by review).
      if (this.#client === client) {
        this.#client = null;
        client.end(true);
      }
      throw this.#closing ? new DeviceClosed() : err;
    }
    if (this.#closing) {
      if (this.#client === client) this.#client = null;
      client.end(true);
      throw new DeviceClosed();
    }
    if (this.#client !== client) throw new Error('connection closed while subscribing'); // onClose reconnects
    this.#connected = true;
    this.#notAuthorizedBackoff.reset();
    this.o.onConnected();
  }

  /**
   * The gateway takes readings on this connection (a receipt that holds came, or there is nothing kept to resend):
   * the next reconnect starts from the first backoff step again. Not at CONNACK 0 itself: a gateway that cannot check readings
   * accepts the connection, refuses the resent ones (UNAVAILABLE) and closes it; started afresh at each CONNACK 0,
   * the device came back at the first step after every refusal, for as long as the outage lasted (SPEC §4, §8).
   */
  progress(): void {
    this.#reconnectBackoff.reset();
  }

  /**
   * The gateway refused token `t` with CONNACK 1, 2, 4 or 5: it was not taken (SPEC §4), so the last token iat goes
   * back to `before`. Kept instead, a token refused for a clock far ahead (TOKEN_EXPIRED) would date every later one
   * after it, all refused until real time caught up. After CONNACK 3 or no CONNACK the token may have been taken.
   */
  #untakeToken(t: number, before: number | undefined): void {
    const { state } = this.o;
    if (state.lastTokenIat !== t) return; // a later attempt has dated its own token since
    if (before === undefined) delete state.lastTokenIat;
    else state.lastTokenIat = before;
    try {
      this.o.persistState();
    } catch {
      // The state file keeps `t`: after a restart, tokens are dated after it (refused until the clock passes it).
    }
  }

  #onClose(client: MqttClient): void {
    if (this.#client !== client) return;
    this.#connected = false;
    this.#client = null;
    this.o.events.emit('disconnected');
    const later = this.#retryLater;
    this.#retryLater = false;
    if (!this.#closing) this.#scheduleReconnect(undefined, later);
  }

  /**
   * SPEC §8 "stop sending" (a certificate problem the device cannot mend): close the connection and connect again on
   * the CONNACK 5 schedule, which is what the gateway answers until the certificate is renewed or trusted again.
   */
  retryLater(): void {
    const client = this.#client;
    if (!client || this.#closing) return;
    this.#retryLater = true;
    client.end(true);
  }

  /**
   * `refusal`: why the last attempt failed, if the gateway said (its CONNACK code picks the schedule); `notAuthorized`:
   * take CONNACK 5's schedule anyway (retryLater).
   */
  #scheduleReconnect(refusal?: ConnackRefused, notAuthorized = refusal?.returnCode === CONNACK.NOT_AUTHORIZED): void {
    if (this.#reconnectTimer || this.#closing) return;
    // CONNACK 5 may pass (a registration completed, a certificate becoming valid at the gateway's time) or not
    // (revoked, expired): the device cannot tell, so it asks again, rarely, instead of never (SPEC §4).
    const delay = (notAuthorized ? this.#notAuthorizedBackoff : this.#reconnectBackoff).next();
    this.o.events.emit('reconnect-scheduled', delay);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#closing) return;
      this.#open().catch((err: unknown) => this.#retryAfter(err));
    }, delay);
  }

  /** A connection attempt failed with `err`: try again after a backoff, unless close() ended it. */
  #retryAfter(err: unknown): void {
    if (err instanceof DeviceClosed || this.#closing) return;
    if (err instanceof ConnackRefused) this.o.events.emit('connack-refused', err);
    this.#scheduleReconnect(err instanceof ConnackRefused ? err : undefined);
  }

  /** Disconnect and stop reconnecting; a connection attempt in flight is ended and awaited, so none outlives this. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const clients = [this.#connecting, this.#client].filter((c): c is MqttClient => c !== null);
    this.#connecting = null;
    this.#client = null;
    this.#connected = false;
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    const opening = this.#opening;
    if (opening) await opening.then(() => undefined, () => undefined);
  }
}
