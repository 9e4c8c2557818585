/**
 * Composition of the gateway: config -> trust -> checkpoint key -> ledger -> registry -> verify pool ->
 * pipeline -> MQTT broker + HTTP API. `startGateway` listens; `close` shuts down gracefully (stop taking
 * readings, seal and sign the pending block, deliver its receipts, close the broker, the API and the store).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatVerifierKey } from '../protocol/checkpoint.js';
import { nodeEd25519NoteSigner } from './crypto/node-note-signer.js';
import { trustAnchors } from '../protocol/chain.js';
import { parseTrustText, TRUST_FILE_MAX_BYTES, type TrustMaterial } from '../protocol/trust.js';
import { keyWindows } from '../ledger/key-history.js';
import { receiptsTopic, rejectionsTopic } from '../protocol/topics.js';
import type { SignatureVerifier } from '../protocol/algorithms.js';
import type { LedgerBackend } from '../ledger/backend.js';
import { ConfigError, loadConfig, type GatewayConfig } from './config.js';
import { loadOrCreateCheckpointKey } from './checkpoint-key.js';
import { exposedKeyFileWarning } from './key-file-exposure.js';
import { loadNextCheckpointKey } from './checkpoint-next-key.js';
import { createNodeVerifier } from './crypto/node-verifier.js';
import { VerifyPool } from './crypto/verify-pool.js';
import { resolveEd25519, type LoadedSodium } from './crypto/sodium.js';
import { createMetrics, setTlsExpiry, watchNextKeyCoverage } from './metrics.js';
import { NextKeyCoverageWatch } from './next-key-coverage.js';
import { Registry } from './registry.js';
import { Pipeline } from './pipeline.js';
import { createBroker, type EmbeddedBroker, type ListeningPorts } from './mqtt/broker.js';
import { loadTlsMaterial, tlsServerOptions, type TlsMaterial } from './mqtt/tls-material.js';
import { listenError } from './mqtt/listeners.js';
import { probeListeners } from './listen-probe.js';
import { maxConnectionAnswerBytes, maxTickReceiptBytes } from './mqtt/device-connections.js';
import { mqttFrameCap } from './mqtt/frame-cap.js';
import { buildHttpApp, type HttpApp, type HttpAppOptions } from './http/app.js';
import { registryRoutes } from './http/routes/registry.js';
import { recordRoutes } from './http/routes/records.js';
import { verifyRoutes } from './http/routes/verify.js';
import { exploreRoutes } from './http/routes/explore.js';
import { VERSION } from './version.js';
import { encodeRejection } from '../protocol/receipt.js';
import { openGatewayLedger, type GatewayLedger } from './ledger-adapter.js';
import { isOpenFilesLimit, ledgerOpenRefusal, OPEN_FILES_LIMIT_REMEDY, threadsRefusal } from './start-refusal.js';
import { isAccessFailure } from '../ledger/errno.js';
import { StorageRecovery } from './storage/recovery.js';
import { CrashPoints, crashPlanFromEnv } from './crash-points.js';
import { MonotonicClock } from './monotonic-clock.js';
import { deviceAuthenticator } from './mqtt/device-auth.js';
import { ConnectTokenOrder } from './mqtt/connect-token-order.js';
import { bounded, EventLog } from './event-log.js';

/** How often a gateway whose store failed probes it again. */
const STORAGE_RETRY_MS = 500;
/** At shutdown, how long HTTP requests in progress may take to finish before their connections are closed. */
const HTTP_CLOSE_GRACE_MS = 3000;


export interface RunningGateway {
  config: GatewayConfig;
  httpUrl: string;
  /** Plain MQTT (null when switched off), MQTT over TLS and MQTT over WebSocket (ws: or wss:; null when off). */
  mqttUrl: string | null;
  mqttTlsUrl: string | null;
  wsUrl: string | null;
  httpPort: number;
  mqttPort: number | null;
  mqttTlsPort: number | null;
  /** The TLS certificate the MQTT (and WebSocket, HTTPS) listeners present; null without TLS. */
  readonly tlsCertificate: { subject: string; notAfter: Date } | null;
  /**
   * Read the certificate and key files again and present them on every TLS listener from now on (SIGHUP in the CLI;
   * open connections keep theirs). Checked as at start; a bad pair is refused with a ConfigError and the current
   * certificate stays.
   */
  reloadTls(): Promise<{ subject: string; notAfter: Date }>;
  /** C2SP verifier key of the checkpoint key: what verifiers put in their trust file. */
  checkpointVerifierKey: string;
  /** The announced next checkpoint key's verifier key (gateway/checkpoint-next-key.ts); null when none is announced. */
  nextCheckpointVerifierKey: string | null;
  /** Who verifies Ed25519 reading signatures (config ed25519Library; P-256 is node:crypto always). */
  ed25519Verifier: 'libsodium' | 'node:crypto';
  trust: TrustMaterial;
  app: HttpApp;
  broker: EmbeddedBroker;
  ledger: GatewayLedger;
  registry: Registry;
  pipeline: Pipeline;
  storage: StorageRecovery;
  /**
   * The check behind MQTT CONNECT (throws the OriginProofError that decides the CONNACK code): a registered, usable
   * device, and a connect token it signed for this client id and for this gateway (`aud` = config gatewayId), dated
   * later than its last accepted one (REPLAY otherwise). Returns a promise when the token was taken: it resolves once
   * the token is recorded as used in the store (the CONNACK waits for it). Refusals over MQTT are counted in
   * originproof_mqtt_connects_refused_total.
   */
  authenticateDevice(deviceId: string, token: Uint8Array): Promise<void> | undefined;
  /** KeyObjects cached now: the main thread's (tokens, registry), the verify workers' (readings), the verdicts' (POST /v1/verify). */
  keysCached(): { main: number; workers: number; verdicts: number };
  close(): Promise<void>;
}

export interface GatewayRuntime {
  /** What the caller calls each override, for the messages of a config that does not validate (the CLI: its flags). */
  overrideNames?: Partial<Record<keyof GatewayConfig, string>>;
  /** The gateway clock in ms (tests run published vectors at their own fixed time). Default Date.now. */
  now?: () => number;
  /** Test-only fault injection: wraps the store's LevelDB backend, below the fail-stop layer (storage/recovery.ts). */
  wrapBackend?: (backend: LedgerBackend) => LedgerBackend;
  /** Test-only: makes the verify pool (a test holds its answers, as a slow verification would). */
  verifyPool?: (workers: number, sodium: LoadedSodium | null) => VerifyPool;
  /** Test-only: every object the HTTP API answers, before serialization (HttpAppOptions.observePayload). */
  observePayload?: HttpAppOptions['observePayload'];
  /**
   * Test-only: the clock (ms) POST /v1/verify's time budget measures its work and its one-second window by
   * (VerifyRouteDeps.budgetClock). Default performance.now.
   */
  verifyBudgetClock?: () => number;
  /** Test-only: where the gateway's log lines go (HttpAppOptions.logStream; default stdout). */
  logStream?: HttpAppOptions['logStream'];
}

/**
 * The largest step back of the wall clock the gateway's clock holds through (monotonic-clock.ts): NTP steps, a VM
 * resumed, a leap second are seconds; a step of minutes corrects a clock that was wrong, and is taken.
 */
const CLOCK_HOLD_MAX_MS = 10_000;

export async function startGateway(overrides: Partial<Record<keyof GatewayConfig, unknown>> = {}, runtime: GatewayRuntime = {}): Promise<RunningGateway> {
  const config = loadConfig(overrides, process.env, runtime.overrideNames);
  let sodium: LoadedSodium | null;
  try {
    sodium = resolveEd25519(config.ed25519Library);
  } catch (err) {
    throw new ConfigError('CONFIG_INVALID', (err as Error).message, { cause: err });
  }
  // Read and checked before anything is opened: a bad certificate or key stops the start with a ConfigError.
  const tlsMaterial: TlsMaterial | null =
    config.tlsCertFile !== null && config.tlsKeyFile !== null ? await loadTlsMaterial(config.tlsCertFile, config.tlsKeyFile, Date.now()) : null;
  // One KeyObject cache on the main thread for registry and token checks (workers keep their own), on the same
  // Ed25519 library as the readings so that one acceptance rule holds across the gateway (crypto/sodium.ts). Each
  // holds at most as many keys as devices may be connected at once (found by review: 100,000 each, ~3 kB per P-256
  // KeyObject, 300 MB per thread once a registry of 100,000 ES256 devices had all connected in turns).
  const verifier = createNodeVerifier(config.mqttMaxConnections, sodium?.binding ?? null);
  // The verdicts' own (POST /v1/verify, node:crypto as before): a bundle's certificates carry keys anyone may make up,
  // which would otherwise push the devices' keys out of the one above; bounded the same way.
  const verdictVerifier = createNodeVerifier(config.mqttMaxConnections);
  const trust: TrustMaterial = config.trustFile
    ? await readTrustFile(config.trustFile, verifier)
    : { anchors: trustAnchors([]), roots: [], checkpointKeys: [] };
  // A trust file that names no root (a "root" for "roots", a key file given as --trust) would start a gateway that
  // refuses every device: refused here, as any bad config.
  if (config.trustFile && trust.roots.length === 0) {
    throw new ConfigError('TRUST_FILE_UNUSABLE', `trust file ${config.trustFile} names no root: it needs a "roots" array of root certificates (originproof trust --root ROOT.cert)`);
  }

  // Before anything is made: a refused start leaves no new data directory behind (listen-probe.ts).
  await probeListeners(config);

  // Test-only fault injection (gateway/crash-points.ts); null unless ORIGINPROOF_TEST_CRASH_AT is set.
  const crashPlan = crashPlanFromEnv();
  const crash = crashPlan ? new CrashPoints(crashPlan) : null;
  const ledgerDir = join(config.dataDir, 'ledger');
  const key = await loadOrCreateCheckpointKey(config.dataDir, { logDir: ledgerDir, ...(crash ? { beforeLink: () => crash.reach('key-create') } : {}) });
  const noteSigner = nodeEd25519NoteSigner(config.origin, key.secretKey);
  const checkpointVerifierKey = formatVerifierKey(config.origin, noteSigner.publicKey);
  // An announced next key (`originproof ledger announce-key`) signs every checkpoint beside the log's key and is named
  // in it (SPEC §7), read here at the start only: an announcement or its withdrawal takes effect at the next start.
  const nextKey = await loadNextCheckpointKey(config.dataDir, key);
  const nextNoteSigner = nextKey ? nodeEd25519NoteSigner(config.origin, nextKey.secretKey) : null;
  const nextCheckpointVerifierKey = nextNoteSigner ? formatVerifierKey(config.origin, nextNoteSigner.publicKey) : null;
  const metrics = createMetrics(true);
  if (tlsMaterial) setTlsExpiry(metrics, tlsMaterial.notAfter);
  // Logged once the logger is there (below), and the start goes on (key-file-exposure.ts).
  const keyFileWarnings = [
    exposedKeyFileWarning('checkpoint key file', key.path, key.mode),
    nextKey ? exposedKeyFileWarning('next checkpoint key file', nextKey.path, nextKey.mode) : null,
    tlsMaterial ? exposedKeyFileWarning('TLS key file (tlsKeyFile)', config.tlsKeyFile!, tlsMaterial.keyFileMode) : null,
  ];

  // Built further down; the storage callbacks only run after a failed write, i.e. once the gateway is up.
  let appRef: HttpApp | null = null;
  // Security events (event-log.ts), through the HTTP app's logger once it exists: nothing connects before.
  const events = new EventLog(config.eventLogPerSecond, () => appRef?.log);
  // Not back by a small step (monotonic-clock.ts): entries dated before ones already listed by time would be skipped
  // by a client paging by time. Larger steps are corrections of a wrong clock, taken at once.
  const maxHoldMs = Math.min(CLOCK_HOLD_MAX_MS, config.clockSkewSeconds * 1000);
  const clock = new MonotonicClock(runtime.now ?? Date.now, maxHoldMs, (behindMs, held) => {
    const msg = held
      ? `the wall clock went back by ${behindMs} ms; entries are dated at the gateway's latest time until it catches up`
      : `the wall clock went back by ${behindMs} ms, more than the ${maxHoldMs} ms the gateway holds its time for: entries from now on are dated before earlier ones, and a client paging GET /v1/entries by time past those may miss them`;
    if (appRef) appRef.log.warn(msg);
    else process.stderr.write(`${msg}\n`);
  });
  const nowMs = clock.now;
  const nowS = () => Math.floor(nowMs() / 1000);
  let broker: EmbeddedBroker | null = null;
  let pipelineRef: Pipeline | null = null;
  const storage: StorageRecovery = new StorageRecovery({
    dataDir: config.dataDir,
    ledger: () => ledger,
    retryMs: STORAGE_RETRY_MS,
    onFailure(err) {
      metrics.storageFailures.inc();
      metrics.storageWritable.set(0);
      pipelineRef?.suspend(err);
    },
    // Registry writes are refused until this has finished: a registration whose write "failed" may be on disk after
    // all, and one accepted meanwhile could be missed by the reload.
    reload: () => registry.load(),
    onRecovered() {
      pipelineRef!.resume();
      broker?.closeStaleConnections();
      metrics.ledgerSize.set(ledger.size());
      metrics.storageWritable.set(1);
    },
    log: (level, msg) => (appRef ? appRef.log[level](msg) : process.stderr.write(`${msg}\n`)),
  });
  // While a next key is announced: which devices heard of it (/metrics originproof_next_key_devices).
  let nextKeyWatch: NextKeyCoverageWatch | null = null;
  // Damaged, held by another process, unreadable or signed with another key: a ConfigError with its start code
  // (start-refusal.ts).
  const ledger = await openGatewayLedger(ledgerDir, {
    origin: config.origin,
    signer: crash ? crash.signer(noteSigner) : noteSigner,
    ...(nextNoteSigner ? { nextSigner: nextNoteSigner } : {}),
    blockMaxEntries: config.blockMaxEntries,
    blockMaxMs: config.blockMaxMs,
    clock: nowMs,
    onBlock: (size) => {
      metrics.blocks.inc();
      metrics.ledgerSize.set(size);
    },
    onStorageFailure: (err) => storage.failed(err),
    ...(nextNoteSigner ? { onReadingLogged: (deviceId: string) => nextKeyWatch?.logged(deviceId) } : {}),
    ...(crash || runtime.wrapBackend ? { wrapBackend: (b: LedgerBackend) => wrapTestBackend(b, runtime.wrapBackend, crash) } : {}),
  }).catch((err: unknown) => Promise.reject(ledgerOpenRefusal(err, ledgerDir, key.path)));
  // A key the log retired as the next key (its kept file copied over the next key's), as a copy of the current key is
  // (checkpoint-next-key.ts): announced, devices took the retired key back as their next one (found by review).
  if (nextKey && ledger.ledger.retiredKeys.some((r) => r.verifierKey === nextCheckpointVerifierKey)) {
    await ledger.close().catch(() => undefined);
    throw new ConfigError('CONFIG_INVALID', `the next checkpoint key ${nextKey.path} is ${nextCheckpointVerifierKey}, a key the log in ${ledgerDir} retired: a next key is a new key; remove it (originproof ledger withdraw-key), then announce one (originproof ledger announce-key)`);
  }
  metrics.ledgerSize.set(ledger.size());
  metrics.storageWritable.set(1);
  // A clock set back while the gateway was down is held as well (within the bound) from the log's latest block time.
  const registry = new Registry(trust.anchors, ledger, verifier);
  registry.clockSkewSeconds = config.clockSkewSeconds;
  registry.clock = nowMs;
  if (nextCheckpointVerifierKey) {
    const watch = (nextKeyWatch = new NextKeyCoverageWatch(ledger.ledger, nextCheckpointVerifierKey, () => registry.devices()));
    watchNextKeyCoverage(metrics, () => watch.coverage(nowMs()));
  }
  // Registry writes are refused at once (STORAGE_UNAVAILABLE, 503) from the first failed write until recovery has
  // finished, reload included: one taken meanwhile would wait for the reload and then land, or not, by timing.
  registry.writeGuard = () => {
    const failure = storage.failure;
    if (failure) throw failure;
  };
  let tokenOrder: ConnectTokenOrder;
  try {
    if (ledger.ledger.height >= 0) clock.notBefore((await ledger.ledger.blockHeader(ledger.ledger.height))?.timeMs ?? 0);
    await registry.load();
    // The connect tokens' rows too, before anything else is started (found by review: read later, a store error
    // escaped without a start code, the store and the verify workers left open).
    tokenOrder = await ConnectTokenOrder.load(ledger, nowS(), config.clockSkewSeconds);
  } catch (err) {
    // The log read back at start (its last block, the registry's entries, the token rows) is damaged, or may not be
    // read (readBackRefusal): said so, and the store closed
    // (found by review: it stayed open, its LOCK held, and a start again in this process was refused `LOCK: already
    // held by process` instead).
    await ledger.close().catch(() => undefined);
    throw readBackRefusal(err, ledgerDir, config.dataDir);
  }

  let pool: VerifyPool;
  try {
    pool = runtime.verifyPool?.(config.verifyWorkers, sodium) ?? new VerifyPool(config.verifyWorkers, undefined, undefined, sodium, config.mqttMaxConnections);
  } catch (err) {
    // The pool ended the workers it had made (verify-pool.ts): a thread it could not make is THREADS_UNAVAILABLE.
    await ledger.close().catch(() => undefined);
    throw (isOpenFilesLimit(err) ? null : threadsRefusal(err, config.verifyWorkers)) ?? openFilesRefusal(err, 'the verify workers cannot start');
  }
  // A stage after this that fails (the broker, the HTTP API, a verify worker, a listener): nothing of this start stays
  // open, the store's lock and the verify workers included, so that the gateway can be started again at once; and
  // the process out of file descriptors is a refusal saying so (openFilesRefusal), not node's bare EMFILE: thrown.
  const abandon = async (err: unknown, what: string): Promise<unknown> => {
    await broker?.close().catch(() => undefined);
    await appRef?.close().catch(() => undefined);
    await pool.close().catch(() => undefined);
    await storage.stop();
    await ledger.close().catch(() => undefined);
    return openFilesRefusal(err, what);
  };
  pool.onWorkerLost = (cause) => {
    metrics.verifyWorkersLost.inc();
    const msg = `verify worker died (${cause.message}); what it held is checked again, a replacement starts`;
    if (appRef) appRef.log.error(msg);
    else process.stderr.write(`${msg}\n`);
  };
  const deliver = (deviceId: string, kind: 'receipts' | 'rejections', payload: Uint8Array) =>
    broker!.deliver(deviceId, kind === 'receipts' ? receiptsTopic(deviceId) : rejectionsTopic(deviceId), payload, kind === 'receipts');
  const pipeline = new Pipeline(
    registry,
    ledger,
    pool,
    metrics,
    {
      maxReadingBytes: config.maxReadingBytes,
      clockSkewSeconds: config.clockSkewSeconds,
      maxReadingAgeSeconds: config.maxReadingAgeSeconds,
      queueHighWater: config.queueHighWater,
      now: nowMs,
      onSpace: () => broker?.resumeReading(),
      onOrderBroken: (deviceId) => broker?.closeDevice(deviceId),
      onRejected: (deviceId, code, seq) => events.readingRejected(deviceId, code, seq),
    },
    crash ? crash.deliver(deliver) : deliver,
  );
  pipelineRef = pipeline;

  const authenticateDevice = deviceAuthenticator({
    registry, verifier, gatewayId: config.gatewayId, skewSeconds: config.clockSkewSeconds, nowS,
    order: tokenOrder,
  });

  let connected = 0;
  broker = await createBroker(
    {
      authenticate: authenticateDevice,
      onReading: (deviceId, payload) => pipeline.accept(deviceId, payload),
      async onTopicViolation(deviceId, topic) {
        metrics.rejected.inc({ code: 'TOPIC_MISMATCH' });
        events.mqttPublishRefused(deviceId, topic, 'topic_mismatch');
        broker!.deliver(deviceId, rejectionsTopic(deviceId), topicMismatchRejection(`device ${deviceId} may publish only on its own readings topic, not ${topic}`));
      },
      onOversizeReading: (deviceId) => {
        metrics.rejected.inc({ code: 'TOO_LARGE' });
        events.readingRejected(deviceId, 'TOO_LARGE', null);
      },
      onConnect: (deviceId) => {
        metrics.connectedDevices.set(++connected);
        pipeline.deviceConnected(deviceId);
      },
      onDisconnect: (deviceId) => {
        metrics.connectedDevices.set(Math.max(0, --connected));
        pipeline.deviceLeft(deviceId);
      },
      connectionEpoch: () => pipeline.epoch,
      full: () => pipeline.full,
      onRefused: (code, clientId, address, username) => {
        metrics.connectsRefused.inc({ code });
        events.mqttConnectRefused(code, clientId, address, username);
      },
      onConnectionOpened: (deviceId, address) => events.mqttConnected(deviceId, address),
      onConnectionClosed: (deviceId, address) => events.mqttDisconnected(deviceId, address),
      onSubscribeRefused: (deviceId, topic) => events.mqttSubscribeRefused(deviceId, topic),
      onAnswerDropped: (reason) => metrics.answersDropped.inc({ reason }),
      onPublishRefused: (reason, deviceId, topic) => {
        metrics.publishesRefused.inc({ reason });
        events.mqttPublishRefused(deviceId, topic, reason);
      },
      onAddressLimited: (address) => {
        // Cut as the event log's fields are: behind a trusted proxy the address is what X-Forwarded-For names.
        const shown = bounded(address);
        const msg = `MQTT CONNECTs from ${shown} refused for now (CONNACK 3): more than mqttConnectFailuresPerMinute (${config.mqttConnectFailuresPerMinute}) failed their check`;
        if (appRef) appRef.log.warn({ code: 'RATE_LIMITED', address: shown }, msg);
        else process.stderr.write(`${msg}\n`);
      },
    },
    { maxPacketBytes: mqttFrameCap(config.maxReadingBytes), connectTimeoutMs: config.mqttConnectTimeoutMs, maxPendingConnections: config.mqttMaxPendingConnections, maxConnections: config.mqttMaxConnections, ackHoldMs: config.mqttAckHoldMs, drainTimeoutMs: config.mqttDrainTimeoutMs, maxKeepaliveS: config.mqttMaxKeepaliveS, connectFailuresPerMinute: config.mqttConnectFailuresPerMinute, now: nowMs, maxAnswerBacklogBytes: config.mqttMaxAnswerBacklogBytes, trustProxy: config.trustProxy, maxConnectionAnswerBytes: maxConnectionAnswerBytes(config.blockMaxEntries), maxTickReceiptBytes: maxTickReceiptBytes(config.blockMaxEntries) },
  ).catch(async (err: unknown) => {
    throw await abandon(err, 'the MQTT broker cannot be made');
  });

  metrics.probes.waitingToBeRead = () => broker!.waitingToBeRead;
  metrics.probes.parked = () => pipeline.parked;
  metrics.probes.answerBacklogBytes = () => broker!.answerBacklog.bytes;
  metrics.probes.verifyWorkers = () => pool.size;
  metrics.probes.pendingConnections = () => broker!.pending.size;
  metrics.probes.pendingDropped = () => broker!.pending.droppedCount;

  let ready = false;
  let ports: ListeningPorts | null = null;
  const app = await buildHttpApp({
    logLevel: config.logLevel,
    writeRateLimit: config.writeRateLimit,
    trustProxy: config.trustProxy,
    requestTimeoutMs: config.httpRequestTimeoutMs,
    bodyLimit: Math.max(1_048_576, config.maxReadingBytes * 4),
    metrics,
    notReady: () => {
      if (!ready) return { code: 'NOT_READY', message: 'gateway is starting or shutting down' };
      // Damage that stopped storage recovery: said as such, not as a full disk that will recover (no file names: the
      // gateway's log has them).
      if (storage.damaged) return { code: 'STORAGE_UNAVAILABLE', message: "the gateway's store is damaged and will not take writes again: its operator must run `originproof ledger verify` and restore the data directory from a backup" };
      const failure = storage.failure;
      return failure ? { code: failure.code, message: failure.message } : null;
    },
    version: VERSION,
    tls: config.httpTls && tlsMaterial ? { cert: tlsMaterial.cert, key: tlsMaterial.key } : null,
    ...(runtime.observePayload ? { observePayload: runtime.observePayload } : {}),
    ...(runtime.logStream ? { logStream: runtime.logStream } : {}),
    routes: (a) => {
      const ownCheckpointKeys = keyWindows(ledger.ledger.verifierKey, ledger.ledger.retiredKeys);
      registryRoutes(a, registry, nowS, ledger.ledger, events);
      recordRoutes(a, {
        ledger, registry, checkpointVerifierKey, nextCheckpointVerifierKey, origin: config.origin, gatewayId: config.gatewayId, mqttPorts: () => ports,
        settledBeforeMs: () => Math.min(nowMs(), pipeline.oldestInFlightMs() ?? Infinity, ledger.ledger.oldestUncommittedMs() ?? Infinity),
      });
      verifyRoutes(a, {
        ledger,
        registry,
        trust,
        checkpointVerifierKey,
        ownCheckpointKeys,
        maxReadingBytes: config.maxReadingBytes,
        clockSkewSeconds: config.clockSkewSeconds,
        maxReadingAgeSeconds: config.maxReadingAgeSeconds,
        verifyMsPerSecond: config.httpVerifyMsPerSecond,
        ...(runtime.verifyBudgetClock ? { budgetClock: runtime.verifyBudgetClock } : {}),
        now: nowMs,
        admitted: (deviceId) => pipeline.admitted(deviceId),
        verifier: verdictVerifier,
      });
      exploreRoutes(a, { ledger, registry, trust, checkpointVerifierKey, ownCheckpointKeys, origin: config.origin, metrics, startedAtMs: nowMs(), clockSkewSeconds: config.clockSkewSeconds });
    },
  }).catch(async (err: unknown) => {
    throw await abandon(err, 'the HTTP API cannot be built (its modules and files loaded)');
  });

  appRef = app;
  for (const w of keyFileWarnings) if (w) app.log.warn(w.fields, w.message);
  // Every socket of the API, for the end of the shutdown grace period (close below).
  const httpSockets = new Set<import('node:net').Socket>();
  // Over the cap, node closes a new connection as it arrives (before any byte of it is read).
  app.server.maxConnections = config.httpMaxConnections;
  app.server.on('connection', (socket: import('node:net').Socket) => {
    httpSockets.add(socket);
    socket.once('close', () => httpSockets.delete(socket));
  });
  try {
    // The verify workers started meanwhile: one that could not, for want of a file descriptor, refuses the start (the
    // gateway would answer every reading UNAVAILABLE while it is replaced again and again); one that died otherwise
    // is replaced, as at any time.
    const workers = await pool.started();
    if (workers && isOpenFilesLimit(workers)) throw openFilesRefusal(workers, 'a verify worker cannot start');
    ports = await broker.listen({ host: config.host, mqttPort: config.mqttPort, mqttTlsPort: config.mqttTlsPort, wsPort: config.wsPort, tls: tlsMaterial });
    await app.listen({ host: config.host, port: config.httpPort }).catch((err: NodeJS.ErrnoException) => {
      throw listenError('httpPort', config.host, config.httpPort, err);
    });
  } catch (err) {
    // A listener that cannot be opened: a ConfigError naming it (mqtt/listeners.ts listenError).
    throw await abandon(err, 'a listener cannot be opened');
  }
  const { mqttPort, mqttTlsPort, wsPort, wsTls } = ports;
  const httpPort = (app.server.address() as import('node:net').AddressInfo).port;
  ready = true;
  const shown = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;

  let tlsInUse = tlsMaterial;
  const reloadTls = async () => {
    if (config.tlsCertFile === null || config.tlsKeyFile === null) throw new ConfigError('CONFIG_INVALID', 'no TLS certificate is configured (tlsCertFile, tlsKeyFile)');
    let next: TlsMaterial;
    try {
      next = await loadTlsMaterial(config.tlsCertFile, config.tlsKeyFile, Date.now());
    } catch (err) {
      metrics.tlsReloads.inc({ result: 'failed' });
      throw err;
    }
    const exposed = exposedKeyFileWarning('TLS key file (tlsKeyFile)', config.tlsKeyFile, next.keyFileMode);
    if (exposed) app.log.warn(exposed.fields, exposed.message);
    broker!.setTlsMaterial(next);
    if (config.httpTls) (app.server as unknown as import('node:https').Server).setSecureContext(tlsServerOptions(next));
    tlsInUse = next;
    setTlsExpiry(metrics, next.notAfter);
    metrics.tlsReloads.inc({ result: 'ok' });
    return { subject: next.subject, notAfter: next.notAfter };
  };

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      ready = false;
      // Every step runs though one before it failed (a drain whose store failed must still let the ports go, stop the
      // workers and close the store); the first failure is close's answer.
      const failures: unknown[] = [];
      const step = async (run: () => Promise<unknown>): Promise<void> => {
        await run().catch((err: unknown) => void failures.push(err));
      };
      const probing = storage.stop(); // no new probes from here on
      await step(() => pipeline.drain(() => ledger.flush())); // every admitted reading: block sealed and signed, receipt sent
      await step(() => probing);
      await step(() => broker!.close());
      // Requests in progress may finish; a connection still open after the grace period (a request whose headers or
      // body never completed, a TLS handshake never finished: the API sets no request timeout) is cut off rather than
      // holding the process open.
      const cutOff = setTimeout(() => {
        for (const socket of [...httpSockets]) socket.destroy();
      }, HTTP_CLOSE_GRACE_MS);
      await step(() => app.close());
      clearTimeout(cutOff);
      await step(() => pool.close());
      // The last suppressed counts before the store's close, which can fail: no event comes after the broker and API.
      events.close();
      await step(() => ledger.close());
      if (failures.length > 0) throw failures[0];
    })());

  return {
    config,
    httpUrl: `${config.httpTls ? 'https' : 'http'}://${shown}:${httpPort}`,
    mqttUrl: mqttPort === null ? null : `mqtt://${shown}:${mqttPort}`,
    mqttTlsUrl: mqttTlsPort === null ? null : `mqtts://${shown}:${mqttTlsPort}`,
    wsUrl: wsPort === null ? null : `${wsTls ? 'wss' : 'ws'}://${shown}:${wsPort}`,
    httpPort,
    mqttPort,
    mqttTlsPort,
    get tlsCertificate() {
      return tlsInUse ? { subject: tlsInUse.subject, notAfter: tlsInUse.notAfter } : null;
    },
    reloadTls,
    checkpointVerifierKey,
    nextCheckpointVerifierKey,
    ed25519Verifier: sodium ? 'libsodium' : 'node:crypto',
    trust,
    app,
    broker,
    ledger,
    registry,
    pipeline,
    storage,
    authenticateDevice,
    keysCached: () => ({ main: verifier.keys(), workers: pool.keysCached, verdicts: verdictVerifier.keys() }),
    close,
  };
}

/** The plain MQTT URL of a gateway started with plain MQTT on (the demo, the bench, the fuzzer start their own). */
export function plainMqttUrl(gw: Pick<RunningGateway, 'mqttUrl'>): string {
  if (gw.mqttUrl === null) throw new Error('plain MQTT is off on this gateway (mqttPort off)');
  return gw.mqttUrl;
}

/** Test-only wrappers of the LevelDB backend: injected faults under the crash points. */
function wrapTestBackend(b: LedgerBackend, faults: GatewayRuntime['wrapBackend'], crash: CrashPoints | null): LedgerBackend {
  const inner = faults ? faults(b) : b;
  return crash ? crash.backend(inner) : inner;
}

function topicMismatchRejection(message: string): Uint8Array {
  return encodeRejection({ seq: null, code: 'TOPIC_MISMATCH', message, path: 'topic' });
}

/** The gateway's trust file, or a ConfigError naming it (a start with a bad config stops with a clear message). */
async function readTrustFile(path: string, verifier: SignatureVerifier): Promise<TrustMaterial> {
  try {
    // Only a regular file of a trust file's size is read: /dev/zero never ends, and a directory is named as one.
    const st = await stat(path);
    if (!st.isFile()) throw new Error(st.isDirectory() ? 'it is a directory' : 'it is not a regular file');
    if (st.size > TRUST_FILE_MAX_BYTES) throw new Error(`it is ${st.size} bytes, more than a trust file's ${TRUST_FILE_MAX_BYTES}`);
    return parseTrustText(await readFile(path, 'utf8'), { verifier });
  } catch (err) {
    throw new ConfigError('TRUST_FILE_UNUSABLE', `trust file ${path} is unusable: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The log read back at start (its last block, the registry's entries, the token rows) failed: damage, LEDGER_DAMAGED,
 * unless the process may not read its files (permissions, its open-files limit: ledger/errno.ts isAccessFailure),
 * which a backup's restore (LEDGER_DAMAGED's remedy) does not mend: DATA_DIR_UNUSABLE. Found by review: a segment file
 * the gateway's user may not read, or no file descriptor left, was "restore the whole data directory from a backup".
 */
function readBackRefusal(err: unknown, ledgerDir: string, dataDir: string): ConfigError {
  const message = (err as Error).message;
  if (isOpenFilesLimit(err)) return new ConfigError('DATA_DIR_UNUSABLE', `the log in ${ledgerDir} cannot be read back: ${message}: ${OPEN_FILES_LIMIT_REMEDY}`, { cause: err });
  if (isAccessFailure(err)) {
    return new ConfigError('DATA_DIR_UNUSABLE', `the log in ${ledgerDir} cannot be read back: ${message}; fix its permissions (the gateway's user reads every file in it), then start again; nothing is damaged`, { cause: err });
  }
  return new ConfigError('LEDGER_DAMAGED', `the log in ${ledgerDir} cannot be read back: ${message}; \`originproof ledger verify --data ${dataDir}\` names what is damaged: restore the whole data directory from a backup`, { cause: err });
}

/**
 * `err`, a start stage's after the store is open (`what`), as a refusal when the process had no file descriptor left
 * (its open-files limit): DATA_DIR_UNUSABLE, as when the key or the store could not be opened for it, saying to raise
 * the limit; otherwise `err` as it is. Found by review: a start under a tight limit that got past the store failed
 * with node's bare EMFILE (the HTTP API's modules and files) or LISTEN_FAILED ("free the port").
 */
function openFilesRefusal(err: unknown, what: string): unknown {
  if (err instanceof ConfigError || !isOpenFilesLimit(err)) return err;
  return new ConfigError('DATA_DIR_UNUSABLE', `${what}: ${(err as Error).message}: ${OPEN_FILES_LIMIT_REMEDY}`, { cause: err });
}
