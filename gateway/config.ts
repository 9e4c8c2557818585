/**
 * Gateway configuration: defaults in one place, overridden by environment variables and then by CLI flags,
 * validated at boot (TypeBox). A config that does not validate stops the start with a clear message.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isIPv4, isIPv6 } from 'node:net';
import { ENTITY_ID } from '../protocol/schema.js';
import { BLOCK_MAX_ENTRIES_LIMIT, ConfigError, MAX_ORIGIN_LENGTH, DEFAULT_CONFIG, ENV_VARS, START_ERROR_CODES, type StartErrorCode } from './config-defaults.js';

export { ConfigError, DEFAULT_CONFIG, ENV_VARS, START_ERROR_CODES, type StartErrorCode };

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
    /**
     * Checkpoint origin line (C2SP tlog-checkpoint): names this log, and is the name of its checkpoint key. No '+'
     * (the verifier key `<name>+<key id>+<key>` is split at its first two) and at most 256 characters: it is in every
     * checkpoint twice, and a receipt, checkpoint included, stays within the 4,096 bytes devices make room for (SPEC §4).
     */
    origin: Type.String({ minLength: 1, maxLength: MAX_ORIGIN_LENGTH, pattern: '^[^\\s+]+$' }),
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
    blockMaxEntries: Type.Integer({ minimum: 1, maximum: BLOCK_MAX_ENTRIES_LIMIT }),
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
    /**
     * Most bytes of answers waiting on connections whose device is not reading them, across the gateway; one tick's
     * receipts may add 1 kB per blockMaxEntries past it (0: only those).
     */
    mqttMaxAnswerBacklogBytes: Type.Integer({ minimum: 0, maximum: 17_179_869_184 }),
    /** Longest an HTTP request may take to arrive whole (headers and body); a slower one gets 408 and is closed. */
    httpRequestTimeoutMs: Type.Integer({ minimum: 1000, maximum: 3_600_000 }),
    /** Most HTTP connections open at once; a connection over it is closed as it arrives. */
    httpMaxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** Most milliseconds per second that POST /v1/verify requests may take together; past it, 429 RATE_LIMITED. */
    httpVerifyMsPerSecond: Type.Integer({ minimum: 1, maximum: 1000 }),
    /**
     * Writes per minute per client IP on the registry API. Bounded like every count here: without a maximum, 2^53 + 1
     * was taken as 2^53 and 1e20 as a limit (found by the config review); the bench's "no limit" is 1,000,000.
     */
    writeRateLimit: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /**
     * The reverse proxies in front of the HTTP API and MQTT over WebSocket (addresses, CIDR ranges, or proxy-addr's
     * `loopback`, `linklocal`, `uniquelocal`): a request from one of them is the client's that its X-Forwarded-For
     * names, for the per-address rate limits, the request log (Fastify's trustProxy) and the WebSocket listener's
     * connect-failure limit (mqtt/listeners.ts clientAddressBehindProxies). Null (the default): none; the header is ignored, since
     * any client can send it. What each entry must be is checked in crossChecks (trustedProxyProblem).
     */
    trustProxy: Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 64 }), Type.Null()]),
    /**
     * Security event lines (event-log.ts: refused CONNECTs, rejected readings, registrations, ...) a second across the
     * gateway, and as many in a burst; past it they are counted in one events_suppressed line a second (0: none).
     */
    eventLogPerSecond: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    logLevel: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('silent')]),
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfigSchema>;

const INTEGER_KEYS = new Set(
  Object.entries(GatewayConfigSchema.properties)
    .filter(([, s]) => JSON.stringify(s).includes('"integer"'))
    .map(([k]) => k),
);

/**
 * Listener ports that can be switched off ("off" or "none" in the environment or on the command line). An empty value
 * is refused, as an empty file name is: `ORIGINPROOF_MQTT_PORT=${UNSET}` in a unit file turned the devices' plain MQTT
 * listener off without a word (found by review).
 */
const OPTIONAL_PORTS = new Set<string>(['mqttPort', 'mqttTlsPort', 'wsPort']);

const BOOLEAN_KEYS = new Set(
  Object.entries(GatewayConfigSchema.properties)
    .filter(([, s]) => JSON.stringify(s).includes('"boolean"'))
    .map(([k]) => k),
);

function coerce(key: string, raw: unknown): unknown {
  // A comma-separated list in the environment or on the command line; "off", "none" or empty: none.
  if (key === 'trustProxy' && typeof raw === 'string') {
    return raw.trim() === '' || /^(off|none)$/i.test(raw.trim()) ? null : raw.split(',').map((s) => s.trim());
  }
  if (typeof raw === 'string' && BOOLEAN_KEYS.has(key)) {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    return raw;
  }
  if (typeof raw !== 'string' || !INTEGER_KEYS.has(key)) return raw;
  if (raw === 'off' || raw === 'none') return OPTIONAL_PORTS.has(key) ? null : raw;
  // "-0" stays text (refused): as a number it is 0, which passes `minimum: 0`, and port -0 listened on any free port.
  return /^-?\d+$/.test(raw) && !/^-0+$/.test(raw) ? Number(raw) : raw;
}

/** proxy-addr's named ranges (loopback: 127.0.0.1/8 and ::1; linklocal; uniquelocal: 10/8, 172.16/12, 192.168/16, fc00::/7). */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Why `entry` cannot name a trusted proxy, or null: an IPv4 or IPv6 address, optionally with a prefix length (CIDR),
 * or a named range. Refused: a hop count (Fastify 5 no longer trusts one: it cannot tell a proxy from a client that
 * reached the gateway directly) and `true`, `*` or a /0 range, which would trust every address, so that any client
 * could name its own address in X-Forwarded-For and get a fresh rate-limit budget per request.
 */
function trustedProxyProblem(entry: string): string | null {
  if (PROXY_RANGES.has(entry)) return null;
  if (/^\d+$/.test(entry)) return 'a hop count is not taken (it would trust whoever connects): name the proxies\' addresses';
  if (/^(true|all|\*)$/i.test(entry)) return 'trusting every address would let any client choose its own in X-Forwarded-For: name the proxies\' addresses';
  const [address = '', prefix, ...more] = entry.split('/');
  const bits = isIPv4(address) ? 32 : isIPv6(address) && !address.includes('%') ? 128 : 0;
  if (bits === 0 || more.length > 0) return 'expected an IP address, a CIDR range (address/prefix length), or loopback, linklocal, uniquelocal';
  if (prefix === undefined) return null;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) return `expected a prefix length from 1 to ${bits}`;
  if (Number(prefix) === 0) return 'a /0 range trusts every address, so that any client could choose its own in X-Forwarded-For';
  return null;
}

/**
 * Why `host` cannot be what the listeners bind to, or null: an IPv4 or IPv6 address (a zone allowed: fe80::1%eth0) or
 * a host name (RFC 1123 labels). Found by the config review: a port in it (127.0.0.1:8080), brackets ([::1]), a space
 * or 999.1.1.1 got past the config and stopped the start at the first listen (LISTEN_FAILED, "host ... not found"),
 * after the data directory, its key and an empty log were made.
 */
function hostProblem(host: string): string | null {
  if (isIPv4(host) || isIPv6(host)) return null;
  if (/^\[.*\]$/.test(host)) return 'an IPv6 address goes without brackets (::1, not [::1])';
  if (/^[\d.]+$/.test(host)) return 'not an IPv4 address (four numbers from 0 to 255)';
  const labels = host.split('.');
  if (host.length <= 253 && labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(l))) return null;
  return /:\d+$/.test(host) ? 'an address without a port (the ports are settings of their own)' : 'expected an IP address or a host name';
}

/**
 * Where the keys of a problem were set, as its line ends: ` (set by --http-port, ORIGINPROOF_MQTT_PORT)`; nothing for
 * defaults and for overrides their caller gave no name. The operator typed the flag or variable, not the key: a
 * message naming only `httpPort` left them to find which of the two (or a unit file's) set it.
 */
type SetByNote = (...keys: (keyof GatewayConfig)[]) => string;

/** Rules across keys, after each key has validated on its own. */
/**
 * The checks of one setting the schema cannot say, on each setting the schema took (`schemaRefused`: the settings
 * it refused, whose values may not even be strings): listed with the schema's problems, so that one start names every
 * bad setting (found by review: a bad host was only told once every other setting validated).
 */
function fieldChecks(c: Record<string, unknown>, schemaRefused: ReadonlySet<string>, setBy: SetByNote): string[] {
  const problems: string[] = [];
  const took = (key: keyof GatewayConfig) => !schemaRefused.has(key);
  if (took('host')) {
    const hostWhy = hostProblem(c.host as string);
    if (hostWhy) problems.push(`  host: ${hostWhy} (got ${JSON.stringify(c.host)})${setBy('host')}`);
  }
  if (took('trustProxy')) {
    for (const entry of (c.trustProxy as string[] | null) ?? []) {
      const why = trustedProxyProblem(entry);
      if (why) problems.push(`  trustProxy: ${why} (got ${JSON.stringify(entry)})${setBy('trustProxy')}`);
    }
  }
  // The origin is the checkpoint note's first line and its key's name: what signed-note refuses in either
  // (protocol/checkpoint.ts) is refused here, as a setting. The schema's pattern (JS \s) lets through a control
  // character (the gateway started, and then no block could be signed), U+0085 and a lone surrogate (the start
  // failed with the protocol's CHECKPOINT_INVALID, no start code). Found by review.
  // eslint-disable-next-line no-control-regex
  if (took('origin') && /[\p{White_Space}+\x00-\x1f]|\p{Cs}/u.test(c.origin as string)) {
    problems.push(`  origin: holds a space, a control character, a '+' or a lone surrogate (got ${JSON.stringify(c.origin)}): it is the first line of every checkpoint and its key's name${setBy('origin')}`);
  }
  return problems;
}

/** The checks across settings, once each setting is valid on its own. */
function crossChecks(c: GatewayConfig, setBy: SetByNote): string[] {
  const problems: string[] = [];
  if ((c.tlsCertFile === null) !== (c.tlsKeyFile === null)) problems.push(`  tlsCertFile, tlsKeyFile: give both (the certificate and its private key) or neither${setBy('tlsCertFile', 'tlsKeyFile')}`);
  if (c.mqttTlsPort !== null && c.tlsCertFile === null) problems.push(`  mqttTlsPort: MQTT over TLS needs tlsCertFile and tlsKeyFile${setBy('mqttTlsPort')}`);
  if (c.httpTls && c.tlsCertFile === null) problems.push(`  httpTls: HTTPS needs tlsCertFile and tlsKeyFile${setBy('httpTls')}`);
  if (c.mqttPort === null && c.mqttTlsPort === null) problems.push(`  mqttPort: off, and MQTT over TLS is off too: devices could not connect at all${setBy('mqttPort')}`);
  // Ephemeral ports (0) never clash; two listeners on one fixed port would fail at start with the port "in use".
  const ports = (['httpPort', 'mqttPort', 'mqttTlsPort', 'wsPort'] as const).filter((k) => c[k] !== null && c[k] !== 0);
  for (const [i, a] of ports.entries()) {
    const b = ports.slice(i + 1).find((k) => c[k] === c[a]);
    if (b) problems.push(`  ${a}, ${b}: both on port ${c[a]}; each listener needs a port of its own${setBy(a, b)}`);
  }
  if (c.tlsCertFile !== null && c.tlsKeyFile !== null && c.mqttTlsPort === null && c.wsPort === null && !c.httpTls) {
    problems.push(`  tlsCertFile: no listener uses it (set mqttTlsPort, wsPort for WebSocket over TLS, or httpTls)${setBy('tlsCertFile')}`);
  }
  return problems;
}

/**
 * TypeBox says only "Expected union value" for a value that fits none of a union's members (`mqttPort=abc`, an empty
 * trust file name): the operator is told what each member takes instead. Other messages name their bound already.
 */
function describeError(path: string, message: string): string {
  const key = path.replace(/^\//, '');
  const schema = (GatewayConfigSchema.properties as Record<string, TSchema | undefined>)[key];
  if (!schema || !Array.isArray(schema.anyOf)) return message;
  return `expected ${(schema.anyOf as TSchema[]).map((member) => describeMember(key, member)).join(', or ')}`;
}

function describeMember(key: string, s: TSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === 'null') return OPTIONAL_PORTS.has(key) ? 'off (or "none"; not empty)' : key === 'trustProxy' ? 'off (also "none" or empty)' : 'left unset';
  if (s.type === 'integer') return `an integer from ${s.minimum as number} to ${s.maximum as number}`;
  if (s.type === 'string') return key.endsWith('File') ? 'a file name (not empty)' : 'a string';
  if (s.type === 'array' && key === 'trustProxy') return `a comma-separated list of at most ${s.maxItems as number} proxy addresses or CIDR ranges`;
  return JSON.stringify(s);
}

/**
 * Merge defaults <- env <- overrides, then validate. Throws ConfigError listing every problem, each naming the
 * environment variable or the override's name in `overrideNames` (the CLI: its flags) that set the value.
 */
export function loadConfig(
  overrides: Partial<Record<keyof GatewayConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
  overrideNames: Partial<Record<keyof GatewayConfig, string>> = {},
): GatewayConfig {
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG };
  const setBy = new Map<string, string>();
  for (const [name, key] of Object.entries(ENV_VARS)) {
    if (env[name] !== undefined) {
      merged[key] = coerce(key, env[name]);
      setBy.set(key, name);
    }
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    merged[key] = coerce(key, value);
    const name = overrideNames[key as keyof GatewayConfig];
    if (name) setBy.set(key, name);
    else setBy.delete(key);
  }
  const setByNote: SetByNote = (...keys) => {
    const names = keys.flatMap((k) => setBy.get(k) ?? []);
    return names.length > 0 ? ` (set by ${names.join(', ')})` : '';
  };
  const errors = [...Value.Errors(GatewayConfigSchema, merged)];
  // trustProxy/0: the setting is the path's first step
  const keyOf = (path: string) => path.replace(/^\//, '').split('/')[0]!;
  const lines = errors.map((e) => `  ${e.path.replace(/^\//, '') || '(config)'}: ${describeError(e.path, e.message)} (got ${JSON.stringify(e.value)})${setByNote(keyOf(e.path) as keyof GatewayConfig)}`);
  lines.push(...fieldChecks(merged, new Set(errors.map((e) => keyOf(e.path))), setByNote));
  if (lines.length > 0) throw new ConfigError('CONFIG_INVALID', `invalid gateway configuration:\n${lines.join('\n')}`);
  const problems = crossChecks(merged as GatewayConfig, setByNote);
  if (problems.length > 0) throw new ConfigError('CONFIG_INVALID', `invalid gateway configuration:\n${problems.join('\n')}`);
  return merged as GatewayConfig;
}
