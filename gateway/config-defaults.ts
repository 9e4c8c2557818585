/**
 * The gateway configuration's defaults, its environment variables and its error: what the CLI needs to describe the
 * gateway command (its --help). Kept apart from config.ts's schema and validation, which load TypeBox: ~250 modules
 * and ~0.25 s that every other CLI command (verify, cert, keys, ...) paid at start for nothing.
 */
import { availableParallelism } from 'node:os';
import type { GatewayConfig } from './config.js';

/** The most entries a block may hold (blockMaxEntries): also what a crash can leave past the log's committed entries. */
export const BLOCK_MAX_ENTRIES_LIMIT = 100_000;

/** The longest log origin (config.ts `origin`): twice in every checkpoint, which every receipt carries. */
export const MAX_ORIGIN_LENGTH = 256;

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
  // No proxy is trusted: X-Forwarded-For is anyone's to send (README "Behind a reverse proxy").
  trustProxy: null,
  // A flood of junk readings or CONNECTs writes 100 lines a second, not one per packet; the rest are counted.
  eventLogPerSecond: 100,
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
  ORIGINPROOF_EVENT_LOG_PER_SECOND: 'eventLogPerSecond',
  ORIGINPROOF_WRITE_RATE_LIMIT: 'writeRateLimit',
  ORIGINPROOF_TRUST_PROXY: 'trustProxy',
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
  ORIGINPROOF_BLOCK_MAX_ENTRIES: 'blockMaxEntries',
  ORIGINPROOF_BLOCK_MAX_MS: 'blockMaxMs',
  ORIGINPROOF_VERIFY_WORKERS: 'verifyWorkers',
};

/**
 * The gateway command's flags and the config key each sets (cli/commands/gateway.ts): the CLI defines its options
 * from these, and a setting that does not validate is named by the flag that set it.
 */
export const FLAGS = {
  dataDir: '--data-dir',
  host: '--host',
  httpPort: '--http-port',
  mqttPort: '--mqtt-port',
  mqttTlsPort: '--mqtt-tls-port',
  wsPort: '--ws-port',
  tlsCertFile: '--tls-cert',
  tlsKeyFile: '--tls-key',
  httpTls: '--https',
  trustFile: '--trust',
  origin: '--origin',
  gatewayId: '--gateway-id',
  clockSkewSeconds: '--clock-skew',
  blockMaxEntries: '--block-max-entries',
  blockMaxMs: '--block-max-ms',
  verifyWorkers: '--verify-workers',
  mqttMaxConnections: '--mqtt-max-connections',
  ed25519Library: '--ed25519-library',
  trustProxy: '--trust-proxy',
  logLevel: '--log-level',
} as const satisfies Partial<Record<keyof GatewayConfig, string>>;

/**
 * Why a start (or a TLS reload) was refused: stable codes for scripts and supervisors, as the API's error codes
 * are for clients (one registry; README "Running the gateway" lists them). A start refused for any of them exits 2
 * and changes nothing the data directory held (a first start refused past its port check, listen-probe.ts, leaves
 * the key and empty log it made); whether to retry is the operator's call: LISTEN_FAILED and DATA_DIR_IN_USE may pass
 * once the other process is gone, the others need the setting or the data directory mended.
 */
export const START_ERROR_CODES = [
  'CONFIG_INVALID', // a setting, flag or environment variable does not validate
  'TRUST_FILE_UNUSABLE', // the trust file cannot be read, does not parse, or names no root
  'TLS_UNUSABLE', // the TLS certificate or key file cannot be read, does not parse, do not match, or is outside its validity
  'LISTEN_FAILED', // a listener's port is in use, needs privileges, or its host is not this machine's
  'DATA_DIR_UNUSABLE', // the data directory (or its ledger directory, or key file) cannot be made, opened, read or written (permissions, read-only, full), or the open-files limit at any start stage (gateway.ts openFilesRefusal)
  'DATA_DIR_IN_USE', // another process (a running gateway) holds the data directory's store
  'CHECKPOINT_KEY_UNUSABLE', // the checkpoint key file cannot be read (not for permissions or the open-files limit) or is not a key
  'CHECKPOINT_KEY_MISSING', // the data directory holds a log but not the key that signs it
  'CHECKPOINT_KEY_MISMATCH', // the checkpoint key file holds a valid key, but not the one the log is signed with (ledger/errors.ts)
  'LEDGER_MISSING', // the checkpoint key file is there but the log it signs is not
  'LEDGER_FORMAT_UNSUPPORTED', // the log was written by a later version, in a store format this one does not read (ledger/errors.ts)
  'LEDGER_DAMAGED', // the log's store or segment files are damaged, incomplete or restored apart (ledger/errors.ts)
  'THREADS_UNAVAILABLE', // a verify worker thread cannot be made: the process's limit on threads, or no memory for one (start-refusal.ts)
] as const;

export type StartErrorCode = (typeof START_ERROR_CODES)[number];

/**
 * Codes of the offline `originproof ledger` commands' own refusals, beside the start codes they share (shown in
 * brackets by the CLI, exit 2, nothing written): README "Checkpoint key rotation".
 */
export const LEDGER_COMMAND_ERROR_CODES = [
  'NEXT_KEY_NOT_HEARD', // rotate-key: an active device has had no receipt naming the announced next key (gateway/next-key-coverage.ts)
] as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: StartErrorCode;

  constructor(code: StartErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
