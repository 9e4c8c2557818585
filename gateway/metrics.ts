/** Prometheus metrics (prom-client), one registry per gateway instance so several can run in one process (tests). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CODES } from '../protocol/errors.js';
import { FIRMWARE_REFUSALS } from './mqtt/connack.js';
import type { BrokerPublishRefusal } from './mqtt/broker.js';

export interface GatewayMetrics {
  /** The gateway's own metrics; /metrics is these after the process's (exposition()). */
  registry: Registry;
  /** The process's metrics (processMetricsText) come first in the exposition. */
  withProcessMetrics: boolean;
  accepted: Counter<'kind'>;
  rejected: Counter<'code'>;
  pipelineSeconds: Histogram<'outcome'>;
  queueDepth: Gauge;
  connectedDevices: Gauge;
  /** CONNECTs refused (unknown device, bad or replayed token, at mqttMaxConnections, ...), by error code. */
  connectsRefused: Counter<'code'>;
  ledgerSize: Gauge;
  blocks: Counter;
  peakRss: Gauge;
  storageWritable: Gauge;
  storageFailures: Counter;
  /** Damage found in the store while answering (a bundle whose entry does not lead to its checkpoint's root). */
  ledgerDamageFound: Counter;
  waitingToBeRead: Gauge;
  answerBacklogBytes: Gauge;
  answersDropped: Counter<'reason'>;
  /** Readings PUBLISHed in a way the gateway does not take (QoS 2): the connection closed, no answer. */
  publishesRefused: Counter<'reason'>;
  parked: Gauge;
  /** MQTT connections not authenticated yet, and those dropped over mqttMaxPendingConnections (read from the broker). */
  pendingConnections: Gauge;
  pendingDropped: Counter;
  /** When the TLS certificate in use expires (Unix seconds); not set without TLS. */
  tlsNotAfter: Gauge;
  tlsReloads: Counter<'result'>;
  verifyWorkers: Gauge;
  verifyWorkersLost: Counter;
  /** Read when /metrics is scraped; the gateway points them at its broker, pipeline and verify pool once they exist. */
  probes: { waitingToBeRead: () => number; parked: () => number; verifyWorkers: () => number; answerBacklogBytes: () => number; pendingConnections: () => number; pendingDropped: () => number };
}

const TLS_EXPIRY = 'originproof_tls_certificate_expiry_seconds';

/** How long the process's metrics are served as read (a Prometheus scrape interval is 10 s or more). */
export const PROCESS_METRICS_MAX_AGE_MS = 1000;

let processMetrics: { registry: Registry; text: Promise<string> | null; readAtMs: number } | null = null;

/**
 * The process's own metrics (prom-client's defaults, under the gateway's prefix: CPU, memory, file descriptors, event
 * loop, GC): collected once per process, shared by every gateway in it, and read at most once per
 * PROCESS_METRICS_MAX_AGE_MS whoever asks. Found by review: /metrics is on the public API, unauthenticated, and the
 * open-files metric reads /proc/self/fd synchronously at each scrape (~13 ms of blocked event loop with 10,000
 * descriptors open, as at 10,000 device connections); and collected per gateway, each start in a process added a GC
 * observer and an event-loop monitor that nothing removed.
 */
export function processMetricsText(nowMs = performance.now()): Promise<string> {
  const p = (processMetrics ??= (() => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'originproof_' });
    return { registry, text: null, readAtMs: 0 };
  })());
  if (p.text === null || nowMs - p.readAtMs >= PROCESS_METRICS_MAX_AGE_MS) {
    const text = p.registry.metrics();
    p.text = text;
    p.readAtMs = nowMs;
    text.catch(() => {
      if (p.text === text) p.text = null; // read again at the next scrape
    });
  }
  return p.text;
}

/** The text GET /metrics answers (content type: the registry's). */
export async function exposition(m: GatewayMetrics): Promise<string> {
  const processText = m.withProcessMetrics ? await processMetricsText() : '';
  return processText + (await m.registry.metrics());
}

/** `defaults`: the exposition has the process's metrics too (processMetricsText), as a running gateway's has. */
export function createMetrics(defaults = false): GatewayMetrics {
  const registry = new Registry();
  const probes = { waitingToBeRead: () => 0, parked: () => 0, verifyWorkers: () => 0, answerBacklogBytes: () => 0, pendingConnections: () => 0, pendingDropped: () => 0 };
  let droppedSeen = 0;
  const m: GatewayMetrics = {
    registry,
    withProcessMetrics: defaults,
    accepted: new Counter({ name: 'originproof_readings_accepted_total', help: 'Readings newly admitted to the ledger (durable in a signed block); a resend answered with its original receipt is not counted again', labelNames: ['kind'], registers: [registry] }),
    rejected: new Counter({ name: 'originproof_readings_rejected_total', help: 'Readings refused, by error code: each answered with a rejection carrying it, once; TOO_LARGE also counts a PUBLISH over the MQTT frame cap (its connection closed unanswered)', labelNames: ['code'], registers: [registry] }),
    pipelineSeconds: new Histogram({
      name: 'originproof_pipeline_seconds',
      help: 'Time from a reading arriving (its wait for a pipeline slot included) to its outcome, by outcome: receipt (durable in a signed block; a resend too) or rejection (those refused before the pipeline, TOPIC_MISMATCH and over the MQTT frame cap, are counted in readings_rejected_total only)',
      labelNames: ['outcome'],
      // Finer around the 250 ms receipt target (p99), and up to the waits of a full pipeline.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueDepth: new Gauge({ name: 'originproof_pipeline_queue_depth', help: 'Readings holding a pipeline slot: taken and their outcome (durable in a block, or rejected) not known yet; at most queueHighWater (parked readings: originproof_pipeline_parked)', registers: [registry] }),
    connectedDevices: new Gauge({ name: 'originproof_connected_devices', help: 'Devices connected over MQTT', registers: [registry] }),
    connectsRefused: new Counter({ name: 'originproof_mqtt_connects_refused_total', help: 'MQTT CONNECTs refused, every one, by error code (REPLAY: a connect token used again; UNAVAILABLE: at mqttMaxConnections; RATE_LIMITED: from an address over mqttConnectFailuresPerMinute; firmware bugs, refused before the token is looked at: PROTOCOL_VERSION not MQTT 3.1.1, WILL_MESSAGE, USERNAME_MISMATCH not the client id, NO_TOKEN)', labelNames: ['code'], registers: [registry] }),
    ledgerSize: new Gauge({ name: 'originproof_ledger_size', help: 'Entries in the log (tree size of the latest checkpoint)', registers: [registry] }),
    blocks: new Counter({ name: 'originproof_blocks_total', help: 'Blocks sealed since start', registers: [registry] }),
    peakRss: new Gauge({
      name: 'originproof_process_peak_resident_memory_bytes',
      help: 'Peak resident memory of the process since start (getrusage maxrss)',
      registers: [registry],
      collect() {
        this.set(process.resourceUsage().maxRSS * 1024);
      },
    }),
    storageWritable: new Gauge({ name: 'originproof_storage_writable', help: '1 while the store takes writes, 0 after a failed write until it is reopened', registers: [registry] }),
    storageFailures: new Counter({ name: 'originproof_storage_failures_total', help: 'Failed store writes that stopped ingestion (disk full, I/O error)', registers: [registry] }),
    ledgerDamageFound: new Counter({ name: 'originproof_ledger_damage_found_total', help: "Requests refused because what they would serve is damaged in the store: an entry that does not hash to its leaf in the log's tree, a proof bundle or proof that does not lead to the log's own signed checkpoint, a checkpoint whose signature does not verify with the log's key (run `originproof ledger verify`)", registers: [registry] }),
    waitingToBeRead: new Gauge({
      name: 'originproof_mqtt_connections_waiting',
      help: 'Device connections not read while the pipeline is full (their bytes wait in the socket)',
      registers: [registry],
      collect() {
        this.set(probes.waitingToBeRead());
      },
    }),
    answerBacklogBytes: new Gauge({
      name: 'originproof_mqtt_answer_backlog_bytes',
      help: 'Answer bytes waiting on connections whose device is not reading them (at most mqttMaxAnswerBacklogBytes, and one tick\'s receipts past it)',
      registers: [registry],
      collect() {
        this.set(probes.answerBacklogBytes());
      },
    }),
    answersDropped: new Counter({ name: 'originproof_mqtt_answers_dropped_total', help: 'Answers dropped for devices not reading their connections, by reason: connection (its own 256 kB), gateway (mqttMaxAnswerBacklogBytes)', labelNames: ['reason'], registers: [registry] }),
    publishesRefused: new Counter({ name: 'originproof_mqtt_publishes_refused_total', help: 'Readings not taken, their connection closed unanswered (the device keeps them), by reason: qos2 (published at QoS 2, SPEC §4), connection_closed (on a connection the gateway is closing), stale_connection (on a connection from before a storage recovery); not in readings_rejected_total, whose readings get a code', labelNames: ['reason'], registers: [registry] }),
    parked: new Gauge({
      name: 'originproof_pipeline_parked',
      help: 'Readings taken above the queue high-water mark, waiting for a slot',
      registers: [registry],
      collect() {
        this.set(probes.parked());
      },
    }),
    pendingConnections: new Gauge({
      name: 'originproof_mqtt_pending_connections',
      help: 'MQTT connections not authenticated yet (no CONNECT, or one being checked); at most mqttMaxPendingConnections',
      registers: [registry],
      collect() {
        this.set(probes.pendingConnections());
      },
    }),
    pendingDropped: new Counter({
      name: 'originproof_mqtt_pending_connections_dropped_total',
      help: 'MQTT connections not authenticated yet dropped to stay under mqttMaxPendingConnections (the oldest first): a flood of silent sockets, or devices pushed out by one',
      registers: [registry],
      collect() {
        const dropped = probes.pendingDropped();
        if (dropped > droppedSeen) this.inc(dropped - droppedSeen);
        droppedSeen = Math.max(droppedSeen, dropped);
      },
    }),
    verifyWorkers: new Gauge({
      name: 'originproof_verify_workers',
      help: 'Signature verification worker threads running (fewer than configured while a dead one waits to be replaced)',
      registers: [registry],
      collect() {
        this.set(probes.verifyWorkers());
      },
    }),
    verifyWorkersLost: new Counter({ name: 'originproof_verify_workers_lost_total', help: 'Verification worker threads that died and were replaced', registers: [registry] }),
    // Registered only once a certificate is in use (setTlsExpiry): unset, prom-client would show 0, an expiry alert's trigger.
    tlsNotAfter: new Gauge({ name: TLS_EXPIRY, help: 'When the TLS certificate in use expires (Unix time, seconds); absent without TLS', registers: [] }),
    tlsReloads: new Counter({ name: 'originproof_tls_reloads_total', help: 'TLS certificate reloads (SIGHUP), by result: ok, or failed (the previous certificate stays)', labelNames: ['result'], registers: [registry] }),
    probes,
  };
  // Every label value a counter can take is a series at 0 from the start (each set is closed, so the series are
  // bounded): Prometheus' increase() and rate() ignore a series' first sample, so one that first appeared at 1 hid
  // that event from alerts (a single CERT_REVOKED, a replayed connect token).
  m.accepted.inc({ kind: 'reading' }, 0);
  for (const code of ERROR_CODES) m.rejected.inc({ code }, 0);
  for (const code of [...ERROR_CODES, 'RATE_LIMITED', 'INTERNAL', ...FIRMWARE_REFUSALS]) m.connectsRefused.inc({ code }, 0);
  for (const outcome of ['receipt', 'rejection']) m.pipelineSeconds.zero({ outcome });
  for (const reason of ['connection', 'gateway']) m.answersDropped.inc({ reason }, 0);
  for (const reason of ['qos2', 'connection_closed', 'stale_connection'] satisfies BrokerPublishRefusal[]) m.publishesRefused.inc({ reason }, 0);
  for (const result of ['ok', 'failed']) m.tlsReloads.inc({ result }, 0);
  return m;
}

/** Publish when the TLS certificate in use expires (at start and on each reload); the metric exists only with TLS. */
export function setTlsExpiry(m: GatewayMetrics, notAfter: Date): void {
  if (!m.registry.getSingleMetric(TLS_EXPIRY)) m.registry.registerMetric(m.tlsNotAfter);
  m.tlsNotAfter.set(Math.floor(notAfter.getTime() / 1000));
}

/**
 * While a next checkpoint key is announced (README "Checkpoint key rotation"): the active devices that have heard of
 * it and those that have not, as `ledger rotate-key` will count them (gateway/next-key-coverage.ts), read at each
 * scrape. Absent without an announcement. A scrape while the store cannot be read keeps the last values.
 */
export function watchNextKeyCoverage(m: GatewayMetrics, coverage: () => Promise<{ heard: number; unheard: readonly string[] }>): void {
  const gauge = new Gauge({
    name: 'originproof_next_key_devices',
    help: 'While a next checkpoint key is announced: active devices (registered, not revoked, not expired) that have had a receipt naming it (state="heard": a reading logged since the checkpoints name it) and those that have not (state="unheard": ledger rotate-key refuses while any)',
    labelNames: ['state'],
    registers: [m.registry],
    async collect() {
      try {
        const c = await coverage();
        this.set({ state: 'heard' }, c.heard);
        this.set({ state: 'unheard' }, c.unheard.length);
      } catch {
        // the store failing: the last values stay (the storage metrics say why)
      }
    },
  });
  for (const state of ['heard', 'unheard']) gauge.set({ state }, 0);
}
