/**
 * The gateway's security event log: one JSON line per event an operator or an auditor asks about afterwards (a refused
 * MQTT CONNECT, a forged reading, a publish on another device's topic, a registration or a revocation, or one of those
 * refused), written through the gateway's pino logger (Fastify's `app.log`, JSON lines on stdout), each with a stable
 * `event` name and its fields.
 * /metrics counts these; the lines say who and what.
 *
 * What a client sends (client ids, usernames, topics, an address a proxy's X-Forwarded-For names) is bounded in length
 * and passed as a field, which pino escapes as JSON, never spliced into the message text. Accepted readings are not
 * logged: they are in the ledger.
 *
 * Flood-proof: one device can send thousands of junk readings a second, one address thousands of CONNECTs. The lines
 * pass a token bucket across the gateway per level (`perSecond` a second, as many in a burst; 0: no events at all):
 * warn and info each their own, so that a flood of info events (junk readings, connections) cannot crowd out the
 * warnings (forged readings, refused CONNECTs) of other devices. An event a bucket refuses costs the bucket's check
 * and two counts, nothing else (no field is built before it is admitted), and once a second while any were refused
 * one `events_suppressed` line (warn) gives their counts per event name and names the sources (device ids, client
 * addresses) that had the most: the devices flooding the log are named even when their lines are not written.
 */
import { toHex } from '../protocol/bytes.js';
import type { BrokerPublishRefusal } from './mqtt/broker.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { ConnectRefusal } from './mqtt/connack.js';

export type SecurityEvent =
  | 'mqtt_connect_refused'
  | 'mqtt_connected'
  | 'mqtt_disconnected'
  | 'mqtt_publish_refused'
  | 'mqtt_subscribe_refused'
  | 'reading_rejected'
  | 'agency_registered'
  | 'device_registered'
  | 'revocation_registered'
  | 'registry_write_refused';

/** What a refused registry write posted: an agency's certificate, a device's, a revocation. */
export type RegistryWrite = 'agency' | 'device' | 'revocation';

/** Why a PUBLISH was refused without a rejection of the reading: not on the device's own readings topic, or at QoS 2. */
export type PublishRefusal = 'topic_mismatch' | BrokerPublishRefusal;

/**
 * Rejection codes that mean an attack or a compromised device, logged at warn (the rest at info: a device's bug, its
 * clock, its size, the gateway's own state). A forged or replayed reading; a key or certificate the device may not use
 * (unknown, revoked, not chained to a trusted root, a role doing what it may not); firmware other than the certified.
 */
export const ATTACK_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BAD_SIGNATURE', 'UNKNOWN_KEY', 'CHAIN_INVALID', 'CERT_REVOKED', 'ROLE_VIOLATION', 'REPLAY', 'FIRMWARE_MISMATCH',
]);

/** The longest client-sent string written (client id, username, topic); longer ones are cut and marked. */
export const MAX_FIELD_CHARS = 200;

/** The logger calls used: pino's (Fastify's app.log). */
export interface EventSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  /** pino's: an event whose level is off costs no token. */
  isLevelEnabled?(level: string): boolean;
}

type Level = 'info' | 'warn';

/** Sources named in an events_suppressed line: those with the most suppressed events. */
export const TOP_SUPPRESSED_SOURCES = 10;
/** Distinct sources counted between two events_suppressed lines; events of further ones fall in `others` only. */
const MAX_COUNTED_SOURCES = 1024;

/** A token bucket: `perSecond` a second, as many in a burst. */
class Bucket {
  private tokens: number;
  private lastMs: number;

  constructor(private readonly perSecond: number, nowMs: number) {
    this.tokens = perSecond;
    this.lastMs = nowMs;
  }

  take(nowMs: number): boolean {
    this.tokens = Math.min(this.perSecond, this.tokens + ((nowMs - this.lastMs) * this.perSecond) / 1000);
    this.lastMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** `s` as written: at most MAX_FIELD_CHARS characters, a longer one cut and marked with how many were left out. */
export function bounded(s: string | undefined | null): string | null {
  if (s === undefined || s === null) return null;
  return s.length <= MAX_FIELD_CHARS ? s : `${s.slice(0, MAX_FIELD_CHARS)}...(${s.length - MAX_FIELD_CHARS} more)`;
}

export class EventLog {
  private readonly buckets: Record<Level, Bucket>;
  /** Events refused by a bucket since the last events_suppressed line, by name. */
  private suppressed = new Map<SecurityEvent, number>();
  /** The same events by source (`event source`: a device id or a client address), up to MAX_COUNTED_SOURCES. */
  private bySource = new Map<string, { event: SecurityEvent; source: string; count: number }>();
  private report: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  /**
   * `perSecond`: the bucket's rate and size (0: off). `sink`: the logger, or null while there is none yet (the broker
   * is made before the HTTP app and its logger; nothing connects before the gateway listens). `now`: a monotonic ms clock.
   */
  constructor(
    private readonly perSecond: number,
    private readonly sink: () => EventSink | null | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    const t = now();
    this.buckets = { warn: new Bucket(perSecond, t), info: new Bucket(perSecond, t) };
  }

  mqttConnectRefused(code: ConnectRefusal, clientId: string | undefined, address: string | undefined, username?: string): void {
    const log = this.admit('mqtt_connect_refused', 'warn', address);
    if (!log) return;
    const fields: Record<string, unknown> = { event: 'mqtt_connect_refused', code, clientId: bounded(clientId), address: bounded(address) };
    if (username !== undefined) fields.username = bounded(username);
    log.warn(fields, 'MQTT CONNECT refused');
  }

  mqttConnected(deviceId: string, address: string | undefined): void {
    this.admit('mqtt_connected', 'info', deviceId)?.info({ event: 'mqtt_connected', deviceId, address: bounded(address) }, 'device connected');
  }

  mqttDisconnected(deviceId: string, address: string | undefined): void {
    this.admit('mqtt_disconnected', 'info', deviceId)?.info({ event: 'mqtt_disconnected', deviceId, address: bounded(address) }, 'device disconnected');
  }

  mqttPublishRefused(deviceId: string, topic: string, reason: PublishRefusal): void {
    // A reading on a connection the gateway is closing, or one from before a storage recovery, is the gateway's own
    // state, not the device's doing: info. Another device's topic or QoS 2 is the device's: warn.
    const level: Level = reason === 'connection_closed' || reason === 'stale_connection' ? 'info' : 'warn';
    this.admit('mqtt_publish_refused', level, deviceId)?.[level]({ event: 'mqtt_publish_refused', deviceId, topic: bounded(topic), reason }, 'MQTT PUBLISH refused');
  }

  mqttSubscribeRefused(deviceId: string | undefined, topic: string): void {
    this.admit('mqtt_subscribe_refused', 'warn', deviceId)?.warn({ event: 'mqtt_subscribe_refused', deviceId: deviceId ?? null, topic: bounded(topic), reason: 'not_own_topic' }, 'MQTT SUBSCRIBE refused');
  }

  /** A reading answered with a rejection (or refused unanswered over the frame cap, TOO_LARGE); `seq` when it could be read. */
  readingRejected(deviceId: string, code: ErrorCode, seq: number | null): void {
    const level: Level = ATTACK_CODES.has(code) ? 'warn' : 'info';
    this.admit('reading_rejected', level, deviceId)?.[level]({ event: 'reading_rejected', code, deviceId, seq }, 'reading rejected');
  }

  // The HTTP client's address is bounded too: behind a trusted proxy it is what X-Forwarded-For names (found by review:
  // the registry events wrote it whole).
  agencyRegistered(agencyId: string, kid: Uint8Array, certRef: Uint8Array, index: number, address: string): void {
    this.admit('agency_registered', 'info', address)?.info({ event: 'agency_registered', agencyId, kid: toHex(kid), certRef: toHex(certRef), index, address: bounded(address) }, 'agency registered');
  }

  deviceRegistered(deviceId: string, agencyId: string, kid: Uint8Array, certRef: Uint8Array, index: number, address: string): void {
    this.admit('device_registered', 'info', address)?.info({ event: 'device_registered', deviceId, agencyId, kid: toHex(kid), certRef: toHex(certRef), index, address: bounded(address) }, 'device registered');
  }

  revocationRegistered(certRef: Uint8Array, sub: string, reason: string, revokedFrom: number, index: number, address: string): void {
    this.admit('revocation_registered', 'info', address)?.info({ event: 'revocation_registered', certRef: toHex(certRef), sub, reason, revokedFrom, index, address: bounded(address) }, 'revocation registered');
  }

  /**
   * A registry write refused with `code` (a forged or unchained certificate, an agency acting on another's devices, a
   * revoked agency: warn, as ATTACK_CODES; the rest, a malformed body, a conflict, the store unavailable: info).
   */
  registryWriteRefused(what: RegistryWrite, code: string, address: string): void {
    const level: Level = ATTACK_CODES.has(code as ErrorCode) ? 'warn' : 'info';
    this.admit('registry_write_refused', level, address)?.[level]({ event: 'registry_write_refused', what, code, address: bounded(address) }, 'registry write refused');
  }

  /** Write the suppressed counts not yet reported (at shutdown); no event is written after. */
  close(): void {
    if (this.closed) return;
    this.reportSuppressed();
    this.closed = true;
  }

  /**
   * The logger when the event is to be written (its level on, a token of its level's bucket taken); otherwise null,
   * and it is counted, under its name and its `source` (a device id or a client address).
   */
  private admit(event: SecurityEvent, level: Level, source: string | undefined): EventSink | null {
    if (this.perSecond === 0 || this.closed) return null;
    const sink = this.sink();
    if (!sink || (sink.isLevelEnabled && !sink.isLevelEnabled(level))) return null;
    if (this.buckets[level].take(this.now())) return sink;
    this.suppressed.set(event, (this.suppressed.get(event) ?? 0) + 1);
    // Kept as written (bounded): a source is a client's text (an address a proxy's X-Forwarded-For names), and the
    // table holds up to MAX_COUNTED_SOURCES of them a second (found by review: kept whole, 1,024 of 16 kB each).
    const shown = bounded(source) ?? '';
    const key = `${event} ${shown}`;
    const counted = this.bySource.get(key);
    if (counted) counted.count++;
    else if (this.bySource.size < MAX_COUNTED_SOURCES) this.bySource.set(key, { event, source: shown, count: 1 });
    if (!this.report) {
      this.report = setTimeout(() => this.reportSuppressed(), 1000);
      this.report.unref();
    }
    return null;
  }

  private reportSuppressed(): void {
    if (this.report) clearTimeout(this.report);
    this.report = null;
    if (this.suppressed.size === 0) return;
    const counts = Object.fromEntries(this.suppressed);
    let total = 0;
    for (const n of this.suppressed.values()) total += n;
    this.suppressed.clear();
    const top = [...this.bySource.values()].sort((a, b) => b.count - a.count).slice(0, TOP_SUPPRESSED_SOURCES)
      .map(({ event, source, count }) => ({ event, source, count }));
    const others = total - top.reduce((n, x) => n + x.count, 0);
    this.bySource.clear();
    // Not through the buckets: at most one a second.
    this.sink()?.warn({ event: 'events_suppressed', suppressed: counts, total, top, others }, 'security events not logged: over eventLogPerSecond');
  }
}
