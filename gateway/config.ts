/**
 * Gateway configuration: defaults in one place, overridden by environment variables and then by CLI flags,
 * validated at boot (TypeBox). A config that does not validate stops the start with a clear message.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { availableParallelism } from 'node:os';
import { ENTITY_ID } from '../protocol/schema.js';

export const GatewayConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, description: 'LevelDB and key directory' }),
    host: Type.String({ minLength: 1, description: 'address the listeners bind to' }),
    httpPort: Type.Integer({ minimum: 0, maximum: 65535 }),
    /** Plain MQTT over TCP; null (off) leaves only MQTT over TLS, which then must be on. */
    mqttPort: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()]),
    /** MQTT over TLS (firmware-specs/SPEC.md §4); off unless a port is given, and needs tlsCertFile and tlsKeyFile. */
    mqttTlsPort: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()]),
    /** MQTT over WebSocket; off unless a port is given (0 = ephemeral). With a TLS certificate it is WebSocket over TLS. */
    wsPort: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()]),
    /** The gateway's TLS certificate chain (PEM file: its certificate first, then any intermediates). */
    tlsCertFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** The private key of that certificate (PEM file). */
    tlsKeyFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    /** Serve the HTTP API over TLS (HTTPS) with that certificate. */
    httpTls: Type.Boolean(),
    /** Checkpoint origin line (C2SP tlog-checkpoint): names this log. */
    origin: Type.String({ minLength: 1, pattern: '^[^\\s]+$' }),
    /**
     * This gateway's id: the audience (`aud`) a device's connect token must name (firmware-specs/SPEC.md §2, §4), so
     * that a token made for, or captured at, another gateway is refused here. Lowercase, like agency ids.
     */
    gatewayId: Type.String({ pattern: ENTITY_ID.source, description: 'gateway id: the aud of connect tokens' }),
    /**
     * Trust file (JSON) with the root authority key(s); without one the registry refuses writes (README "Trust"). An
     * empty name (`ORIGINPROOF_TRUST_FILE=` from an unset variable) is refused, not taken as "no trust file".
     */
    trustFile: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    maxReadingBytes: Type.Integer({ minimum: 256, maximum: 1_048_576 }),
    /** How far in the future a reading's iat may be (device clock ahead). */
    clockSkewSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    /** How old a reading may be on arrival (devices keep readings while offline and resend them). */
    maxReadingAgeSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000 }),
    blockMaxEntries: Type.Integer({ minimum: 1, maximum: 100_000 }),
    blockMaxMs: Type.Integer({ minimum: 1, maximum: 60_000 }),
    /** Readings admitted but not yet in a block; above this, publishers are paused (backpressure). */
    queueHighWater: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    verifyWorkers: Type.Integer({ minimum: 0, maximum: 64 }),
    /** Ed25519 reading signatures: libsodium where it loads (auto), or the library named (crypto/sodium.ts). */
    ed25519Library: Type.Union([Type.Literal('auto'), Type.Literal('libsodium'), Type.Literal('node')]),
    /** An MQTT connection that has not sent CONNECT by then is closed (silent sockets hold no slot for long). */
    mqttConnectTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
    /** Most MQTT connections not yet authenticated at once; over it the oldest of them is dropped. */
    mqttMaxPendingConnections: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** Most device connections at once; a CONNECT above it gets CONNACK 3 (server unavailable). */
    mqttMaxConnections: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    /** Longest a reading's PUBACK waits for the device's next answer, to leave in the same write (0: no wait). */
    mqttAckHoldMs: Type.Integer({ minimum: 0, maximum: 10_000 }),
    /** A device connection whose writes stay backed up this long (the device does not read them) is closed. */
    mqttDrainTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
    /** Longest MQTT keep alive honoured; a CONNECT with 0 (off) or more gets this one. */
    mqttMaxKeepaliveS: Type.Integer({ minimum: 1, maximum: 65_535 }),
    /** MQTT CONNECTs per client address (IPv6: per /64) that may fail the device and token check, per minute (0: no limit). */
    mqttConnectFailuresPerMinute: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    /** Most bytes of answers waiting on connections whose device is not reading them, across the gateway. */
    mqttMaxAnswerBacklogBytes: Type.Integer({ minimum: 0, maximum: 17_179_869_184 }),
    /** Longest an HTTP request may take to arrive whole (headers and body); a slower one gets 408 and is closed. */
    httpRequestTimeoutMs: Type.Integer({ minimum: 1000, maximum: 3_600_000 }),
    /** Most HTTP connections open at once; a connection over it is closed as it arrives. */
    httpMaxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** Most milliseconds per second that POST /v1/verify requests may take together; past it, 429 RATE_LIMITED. */
    httpVerifyMsPerSecond: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** Writes per minute per client IP on the registry API. */
    writeRateLimit: Type.Integer({ minimum: 1 }),
    logLevel: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('silent')]),
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfigSchema>;

export const DEFAULT_CONFIG: GatewayConfig = {
  dataDir: './data',
  host: '0.0.0.0',
  httpPort: 8080,
  mqttPort: 1883,
  mqttTlsPort: null,
  wsPort: null,
  tlsCertFile: null,
  tlsKeyFile: null,
  httpTls: false,
  origin: 'originproof.local/log',
  gatewayId: 'originproof', // what the device simulator provisions by default (device-sim DEFAULT_AUD)
  trustFile: null,
  maxReadingBytes: 1024, // firmware-specs/SPEC.md §8; a reading is ~150–250 bytes
  clockSkewSeconds: 300,
  maxReadingAgeSeconds: 7 * 86_400,
  blockMaxEntries: 1000,
  blockMaxMs: 50,
  // 2,500 rather than 5,000: six interleaved pairs of standalone bench runs gave the same maximum rates (ratio
  // 1.18/1.07 EdDSA/ES256 either way) and a lower receipt p99 at 80% load (mean 164/219 ms against 245/288 ms, lower
  // in 11 of the 12 comparisons); fewer readings in flight is less for the young generation to copy and promote.
  // 1,000 starved the verify workers (README, Performance).
  queueHighWater: 2500,
  // One per core: the workers run at a lower OS priority than the event loop (crypto/verify-pool.ts), so they use
  // every core the loop leaves idle without starving it. On the 2-core bench machine, same code otherwise, one worker
  // gave 8,781/9,858 readings/s (EdDSA/ES256) and two niced workers 10,541/12,070 (README, Performance).
  verifyWorkers: availableParallelism(),
  // libsodium verifies Ed25519 ~2.2x as fast as node:crypto on the bench machine (`npm run bench`, crypto section).
  ed25519Library: 'auto',
  mqttConnectTimeoutMs: 10_000,
  mqttMaxPendingConnections: 1000,
  // What npm start's 256 MB old space holds with every device publishing at once (`node dist/bench/e2e.js --devices N
  // --readings 4`): 10,000 and 11,000 ran at 7,480 and 6,000 readings/s; 12,000 went into back-to-back mark-compacts
  // (1,759/s) and 15,000 ran out of heap. Raise it with the heap (README "Capacity").
  mqttMaxConnections: 11_000,
  // About two block intervals: a receipt follows its reading by one block interval plus the block write.
  mqttAckHoldMs: 100,
  // aedes' default drainTimeout: a device that reads nothing for a minute is gone or broken; it reconnects and resends.
  mqttDrainTimeoutMs: 60_000,
  // AWS IoT Core's: it takes 30-1,200 s and uses 1,200 for 0 or more. A device gone without a word frees its slot
  // within 30 minutes.
  mqttMaxKeepaliveS: 1200,
  // A device that fails its CONNECT backs off (SPEC §4: seconds, then minutes), so even a few dozen broken devices
  // behind one NAT address stay under one a second; a client trying forged tokens gets one signature check a second.
  mqttConnectFailuresPerMinute: 60,
  // 256 devices stuck at their own 256 kB cap; a quarter of npm start's heap, outside it (Buffers). Devices that read
  // their sockets never wait on it.
  mqttMaxAnswerBacklogBytes: 64 * 1024 * 1024,
  // A body of the largest size (bodyLimit, 1 MiB by default) in 60 s is ~140 kbit/s: a slow agency link gets through,
  // a client holding a request open (a connection and its buffers) for good does not.
  httpRequestTimeoutMs: 60_000,
  // The API's clients are agencies, auditors and the verifier page, not the fleet (MQTT); without a cap, connections
  // opened faster than they time out (httpRequestTimeoutMs) took file descriptors the MQTT listeners then lacked.
  httpMaxConnections: 1024,
  // A verdict runs on the event loop that takes the readings; with thousands of revocations one took ~200 ms. A
  // quarter of each second for them all, whoever asks: the readings keep the rest.
  httpVerifyMsPerSecond: 250,
  writeRateLimit: 600,
  logLevel: 'info',
};

/** Environment variables and the config key each sets. */
export const ENV_VARS: Record<string, keyof GatewayConfig> = {
  ORIGINPROOF_DATA_DIR: 'dataDir',
  ORIGINPROOF_HOST: 'host',
  ORIGINPROOF_HTTP_PORT: 'httpPort',
  ORIGINPROOF_MQTT_PORT: 'mqttPort',
  ORIGINPROOF_MQTT_TLS_PORT: 'mqttTlsPort',
  ORIGINPROOF_WS_PORT: 'wsPort',
  ORIGINPROOF_TLS_CERT: 'tlsCertFile',
  ORIGINPROOF_TLS_KEY: 'tlsKeyFile',
  ORIGINPROOF_HTTPS: 'httpTls',
  ORIGINPROOF_ORIGIN: 'origin',
  ORIGINPROOF_GATEWAY_ID: 'gatewayId',
  ORIGINPROOF_TRUST_FILE: 'trustFile',
  ORIGINPROOF_CLOCK_SKEW: 'clockSkewSeconds',
  ORIGINPROOF_MAX_READING_BYTES: 'maxReadingBytes',
  ORIGINPROOF_MAX_READING_AGE: 'maxReadingAgeSeconds',
  ORIGINPROOF_LOG_LEVEL: 'logLevel',
  ORIGINPROOF_WRITE_RATE_LIMIT: 'writeRateLimit',
  ORIGINPROOF_HTTP_REQUEST_TIMEOUT_MS: 'httpRequestTimeoutMs',
  ORIGINPROOF_HTTP_MAX_CONNECTIONS: 'httpMaxConnections',
  ORIGINPROOF_HTTP_VERIFY_MS_PER_SECOND: 'httpVerifyMsPerSecond',
  ORIGINPROOF_QUEUE_HIGH_WATER: 'queueHighWater',
  ORIGINPROOF_MQTT_CONNECT_TIMEOUT_MS: 'mqttConnectTimeoutMs',
  ORIGINPROOF_MQTT_MAX_PENDING: 'mqttMaxPendingConnections',
  ORIGINPROOF_MQTT_MAX_CONNECTIONS: 'mqttMaxConnections',
  ORIGINPROOF_MQTT_ACK_HOLD_MS: 'mqttAckHoldMs',
  ORIGINPROOF_MQTT_DRAIN_TIMEOUT_MS: 'mqttDrainTimeoutMs',
  ORIGINPROOF_MQTT_MAX_KEEPALIVE_S: 'mqttMaxKeepaliveS',
  ORIGINPROOF_MQTT_CONNECT_FAILURES_PER_MINUTE: 'mqttConnectFailuresPerMinute',
  ORIGINPROOF_MQTT_MAX_ANSWER_BACKLOG_BYTES: 'mqttMaxAnswerBacklogBytes',
  ORIGINPROOF_ED25519_LIBRARY: 'ed25519Library',
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const INTEGER_KEYS = new Set(
  Object.entries(GatewayConfigSchema.properties)
    .filter(([, s]) => JSON.stringify(s).includes('"integer"'))
    .map(([k]) => k),
);

/** Listener ports that can be switched off ("off", "none" or empty in the environment or on the command line). */
const OPTIONAL_PORTS = new Set<string>(['mqttPort', 'mqttTlsPort', 'wsPort']);

const BOOLEAN_KEYS = new Set(
  Object.entries(GatewayConfigSchema.properties)
    .filter(([, s]) => JSON.stringify(s).includes('"boolean"'))
    .map(([k]) => k),
);

function coerce(key: string, raw: unknown): unknown {
  if (typeof raw === 'string' && BOOLEAN_KEYS.has(key)) {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    return raw;
  }
  if (typeof raw !== 'string' || !INTEGER_KEYS.has(key)) return raw;
  if (raw === '' || raw === 'off' || raw === 'none') return OPTIONAL_PORTS.has(key) ? null : raw;
  return /^-?\d+$/.test(raw) ? Number(raw) : raw;
}

/** Rules across keys, after each key has validated on its own. */
function crossChecks(c: GatewayConfig): string[] {
  const problems: string[] = [];
  if ((c.tlsCertFile === null) !== (c.tlsKeyFile === null)) problems.push('  tlsCertFile, tlsKeyFile: give both (the certificate and its private key) or neither');
  if (c.mqttTlsPort !== null && c.tlsCertFile === null) problems.push('  mqttTlsPort: MQTT over TLS needs tlsCertFile and tlsKeyFile');
  if (c.httpTls && c.tlsCertFile === null) problems.push('  httpTls: HTTPS needs tlsCertFile and tlsKeyFile');
  if (c.mqttPort === null && c.mqttTlsPort === null) problems.push('  mqttPort: off, and MQTT over TLS is off too: devices could not connect at all');
  // Ephemeral ports (0) never clash; two listeners on one fixed port would fail at start with the port "in use".
  const ports = (['httpPort', 'mqttPort', 'mqttTlsPort', 'wsPort'] as const).filter((k) => c[k] !== null && c[k] !== 0);
  for (const [i, a] of ports.entries()) {
    const b = ports.slice(i + 1).find((k) => c[k] === c[a]);
    if (b) problems.push(`  ${a}, ${b}: both on port ${c[a]}; each listener needs a port of its own`);
  }
  if (c.tlsCertFile !== null && c.tlsKeyFile !== null && c.mqttTlsPort === null && c.wsPort === null && !c.httpTls) {
    problems.push('  tlsCertFile: no listener uses it (set mqttTlsPort, wsPort for WebSocket over TLS, or httpTls)');
  }
  return problems;
}

/** Merge defaults <- env <- overrides, then validate. Throws ConfigError listing every problem. */
export function loadConfig(overrides: Partial<Record<keyof GatewayConfig, unknown>> = {}, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [name, key] of Object.entries(ENV_VARS)) {
    if (env[name] !== undefined) merged[key] = coerce(key, env[name]);
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) merged[key] = coerce(key, value);
  }
  const errors = [...Value.Errors(GatewayConfigSchema, merged)];
  if (errors.length > 0) {
    const lines = errors.map((e) => `  ${e.path.replace(/^\//, '') || '(config)'}: ${e.message} (got ${JSON.stringify(e.value)})`);
    throw new ConfigError(`invalid gateway configuration:\n${lines.join('\n')}`);
  }
  const problems = crossChecks(merged as GatewayConfig);
  if (problems.length > 0) throw new ConfigError(`invalid gateway configuration:\n${problems.join('\n')}`);
  return merged as GatewayConfig;
}
