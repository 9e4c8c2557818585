/**
 * End-to-end gateway bench: device publish -> verified -> in a signed block -> receipt back, with readings signed
 * before the timed phase and published from a separate process (bench/e2e-publisher.ts) by fleets of devices, each
 * device its own MQTT connection, all connected at once. The gateway runs in its own process as `npm start` runs it;
 * its memory and CPU are read from its /metrics. Each fleet also measures raw node:crypto single-core verification in
 * the same run and reports end-to-end / raw, and optionally receipt latency at 80% of its maximum rate.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALG_EDDSA, algName, decodeReceipt, fromBase64, parseCheckpoint, parseNote, parseVerifierKey, toHex, type Alg } from '../protocol/index.js';
import { FIRMWARE, benchRoot, makeFleet } from './fleet.js';
import { nodeVerifyRate, nodeVerifyRateOverKeys, sodiumVerifyRate } from './crypto.js';
import { threads } from './report.js';
import { quantile } from './stats.js';
import { standaloneArgs } from './standalone-args.js';
import { ReceiptAudit, addTallies, tallyProblem, type AnswerTally } from './receipt-audit.js';
import { nodeEd25519Verify } from '../ledger/signer.js';
import { DEFAULT_CONFIG } from '../gateway/config.js';
import { childGateway, inProcessGateway, mark, toMB, type GatewayUnderTest, type ThreadCpu } from './gateway-under-test.js';

export type { ThreadCpu } from './gateway-under-test.js';

/** One fleet: N devices of one algorithm, each its own MQTT connection, all connected at once. */
export interface E2eFleet {
  alg: Alg;
  devices: number;
  /** readings prepared per device: 10% warm-up, 50% at the maximum rate, the rest paced (if `paced`) */
  readingsPerDevice: number;
  /** also measure receipt latency at 80% of the maximum rate */
  paced: boolean;
}

export interface BenchTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** The repository's test-only TLS material (test/fixtures/tls: a certificate for localhost and 127.0.0.1). */
export function fixtureTls(): BenchTls {
  const dir = fileURLToPath(new URL('../../test/fixtures/tls/', import.meta.url));
  return { certFile: join(dir, 'gateway.pem'), keyFile: join(dir, 'gateway.key'), caFile: join(dir, 'ca.pem') };
}

export interface E2eOptions {
  fleets: E2eFleet[];
  /** verify worker threads (default: the gateway's own default) */
  verifyWorkers?: number;
  /** run the gateway inside the bench process instead of its own (default: its own process, as `npm start`) */
  inProcess?: boolean;
  /** the paced phase's rate as a fraction of the maximum (default 0.8, as the issue's latency target says) */
  pacedFraction?: number;
  /** gateway queueHighWater (default: the gateway's own) */
  queueHighWater?: number;
  /** gateway ed25519Library (default: the gateway's own, auto) */
  ed25519Library?: 'auto' | 'libsodium' | 'node';
  /** devices connect over MQTT over TLS (plain MQTT off) with this certificate, key and CA (PEM files) */
  tls?: BenchTls;
  /** the checkpoint key receipts are audited against (default: the gateway's own, from GET /v1/log; another key
   * makes every receipt fail the audit, which is how the audit itself is tested) */
  auditKey?: string;
  /** length of each raw single-core verification sample around a fleet's phases (default RAW_SAMPLE_MS, 1 s; the
   * sample over the fleet's keys 1.5 times that): the tests of the harness, which assert no rate, take short ones */
  rawSampleMs?: number;
  log?: (line: string) => void;
}

export interface E2eFleetResult {
  alg: string;
  devices: number;
  /** readings timed at the maximum rate */
  readings: number;
  connected: number;
  connectMs: number;
  maxPerSec: number;
  /** CPU cores the gateway process used during the maximum-rate phase */
  gatewayCores: number;
  /** the gateway's CPU time (all its threads) per reading in the maximum-rate phase */
  gatewayCpuUsPerReading: number;
  /** the same by thread kind (µs per reading: event loop, verify workers, helpers); null where /proc is missing */
  gatewayThreadsUs: ThreadCpu | null;
  /** CPU cores the publisher process (the simulated devices) used in the maximum-rate phase: not the gateway's */
  publisherCores: number;
  /**
   * Raw node:crypto on one core, one key: the median of `rawVerifySamples`, measured around the fleet's phases
   * (before the maximum-rate phase, after it, and after the paced phase or, without one, right after the second):
   * single-core rates on a shared VM move by 10-30% within a minute, and one sample taken in a slow or fast second
   * moved the ratio by as much.
   */
  rawVerifyPerSec: number;
  rawVerifySamples: number[];
  ratio: number;
  /**
   * Raw node:crypto on one core over this fleet's number of keys (at most 1,000) in turn, and end to end / that: the
   * like-for-like baseline (`rawVerifyPerSec` verifies one key, which stays in the CPU caches). Fleets with latency only.
   */
  rawVerifyFleetKeysPerSec: number | null;
  ratioFleetKeys: number | null;
  /** EdDSA: raw single-core libsodium verification (what the gateway uses where it loads; median of three samples taken
   * with `rawVerifySamples`) and end to end / that */
  rawSodiumPerSec: number | null;
  rawSodiumSamples?: number[];
  ratioSodium: number | null;
  atMaxP99Ms: number;
  /**
   * At a fraction of the maximum rate: receipt latency, each taken from when its reading was due in the schedule (not
   * when the publisher got to write it), the publisher's worst lag behind the schedule, and the gateway's CPU time
   * (all threads) per reading.
   */
  paced: { ratePerSec: number; perSec: number; p50Ms: number; p95Ms: number; p99Ms: number; maxSendLagMs: number; gatewayCpuUsPerReading: number; gatewayThreadsUs: ThreadCpu | null } | null;
  /** how the fleet's readings were answered, all phases (warm-up included): see receipt-audit.ts */
  answers: AnswerTally;
  /** what was wrong with the answers (rejections, missing, duplicate or invalid receipts), or null: a clean fleet */
  answerProblem: string | null;
  /** the gateway's peak RSS (MB, 10^6 bytes) while this fleet ran: its peak is reset as the fleet starts (Linux) */
  gatewayRssMb: number;
}

export interface E2eResult {
  fleets: E2eFleetResult[];
  /** the gateway process's peak resident memory (MB, 10^6 bytes; its own process unless inProcess) over the run */
  maxRssMb: number;
  /** the gateway's heap figures at the end of the run */
  heapAtEnd: string;
  verifyWorkers: number;
  /** who verified Ed25519 in the gateway: libsodium or node:crypto (its start banner) */
  ed25519Verifier: string;
}

/** Length of each raw single-core verification sample taken around a fleet's phases (three per fleet). */
const RAW_SAMPLE_MS = 1000;

/**
 * How many receipts of each phase (at random, of those that passed the publisher's audit) are also proved in the
 * gateway's log, after the fleet's phases: an RFC 9162 inclusion proof from GET /v1/proofs/inclusion against the root
 * of the receipt's signed checkpoint. A receipt carries no proof, so without this a gateway that signed checkpoints
 * without putting the readings in its tree would pass the audit; one leaving out a fraction f of them passes this
 * with probability (1 - f)^200 per phase.
 */
const INCLUSION_SAMPLE = 200;

/** Prove `sample` (receipts, base64) in the gateway's log, counted into `tally` (inLog, or invalid). */
async function proveInLog(gw: GatewayUnderTest, audit: ReceiptAudit, tally: AnswerTally, sample: unknown): Promise<void> {
  for (const b64 of (sample ?? []) as string[]) {
    const bytes = fromBase64(b64);
    const r = decodeReceipt(bytes);
    const treeSize = parseCheckpoint(parseNote(r.checkpoint).text).size;
    const res = await gw.getJson(`/v1/proofs/inclusion?index=${r.index}&treeSize=${treeSize}`);
    audit.tallyInclusion(tally, bytes, Array.isArray(res.proof) ? res.proof.map((p) => fromBase64(String(p))) : null);
  }
}

/** How long a publisher step (setup, or one phase) may take before the run fails instead of hanging. */
const PUBLISHER_STEP_TIMEOUT_MS = 300_000;

class Publisher {
  private child: ChildProcess;
  private waiting: ((m: Record<string, unknown>) => void) | null = null;
  private exited: Error | null = null;
  constructor() {
    this.child = fork(new URL('./e2e-publisher.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: Record<string, unknown>) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`the bench's publisher exited (${signal ?? code})`);
      this.waiting?.({ type: 'error', message: this.exited.message });
    });
  }
  ask(msg: unknown): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        this.child.kill();
        reject(new Error(`the bench's publisher did not finish ${(msg as { type: string }).type} within ${PUBLISHER_STEP_TIMEOUT_MS / 1000} s`));
      }, PUBLISHER_STEP_TIMEOUT_MS);
      this.waiting = (m) => {
        clearTimeout(timer);
        if (m.type === 'error') reject(new Error(String(m.message)));
        else resolve(m);
      };
      this.child.send(msg as object);
    });
  }
  exit(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ type: 'exit' });
    });
  }
}

/** Each device's readings per phase: 10% warm-up (at least one), half at the maximum rate (if paced), the rest paced. */
function phaseCounts(fleet: E2eFleet): { warm: number; maxCount: number; pacedCount: number } {
  const per = fleet.readingsPerDevice;
  const warm = Math.max(1, Math.floor(per * 0.1));
  const maxCount = fleet.paced ? Math.max(1, Math.floor(per * 0.5)) : per - warm;
  return { warm, maxCount, pacedCount: fleet.paced ? per - warm - maxCount : 0 };
}

/** µs per reading for each thread kind between two samples */
function perReading(a: ThreadCpu | null, b: ThreadCpu | null, readings: number): ThreadCpu | null {
  if (!a || !b || readings <= 0) return null;
  const us = (x: number, y: number) => Math.round(((y - x) / readings) * 1e6);
  return { loop: us(a.loop, b.loop), workers: us(a.workers, b.workers), other: us(a.other, b.other) };
}

export async function runE2eBench(opts: E2eOptions): Promise<E2eResult> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const rawMs = opts.rawSampleMs ?? RAW_SAMPLE_MS;
  // Each phase needs a reading per device: one of none waited for answers that never came (five minutes, then failed).
  for (const f of opts.fleets) {
    const p = phaseCounts(f);
    if (p.maxCount < 1 || (f.paced && p.pacedCount < 1)) throw new Error(`a fleet's readingsPerDevice (${f.readingsPerDevice}) leaves a phase without readings: at least ${f.paced ? 3 : 2}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'op-bench-e2e-'));
  const root = await benchRoot(dir);
  const gw = opts.inProcess
    ? await inProcessGateway(dir, opts)
    : await childGateway(dir, opts);
  // Peak RSS: the kernel's own high-water mark (VmHWM), restarted as each fleet starts so that a fleet's figure is its
  // own peak (the gateway process is shared by the fleets); the run's peak is the highest of them. A 500 ms sampler
  // of the current RSS is the fallback where VmHWM cannot be reset.
  let maxRss = 0;
  let sampledPeak = 0;
  let sampling = true;
  let heapAtEnd = '';
  const sampler = (async () => {
    while (sampling) {
      sampledPeak = Math.max(sampledPeak, await gw.rss().catch(() => 0));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  /** The peak since the last call (or since the process started), and a new peak started. */
  const takePeak = async (): Promise<number> => {
    const peak = Math.max(await gw.peakRss().catch(() => 0), sampledPeak);
    maxRss = Math.max(maxRss, peak);
    if (await gw.resetPeak()) sampledPeak = 0;
    return peak;
  };
  const verifierKey = opts.auditKey ?? (await gw.getJson('/v1/log')).verifierKey;
  if (typeof verifierKey !== 'string') throw new Error('GET /v1/log gave no verifierKey');
  const audit = new ReceiptAudit(parseVerifierKey(verifierKey), nodeEd25519Verify);
  const results: E2eFleetResult[] = [];
  try {
    for (const [k, fleet] of opts.fleets.entries()) {
      const name = algName(fleet.alg);
      const label = `${name}, ${fleet.devices.toLocaleString('en-US')} devices`;
      await takePeak(); // what came before (setup, earlier fleets) is not this fleet's
      log(`e2e ${label}: onboarding...`);
      const devices = await makeFleet(gw.post, root, fleet.alg, fleet.devices, `agency-${k}-${name.toLowerCase()}.bench`);
      const pub = new Publisher();
      // the phases share the prepared readings: warm-up, max rate, paced at 80%
      const per = fleet.readingsPerDevice;
      const { warm, maxCount, pacedCount } = phaseCounts(fleet);
      const ready = await pub.ask({ type: 'setup', mqttUrl: gw.mqttUrl, ...(opts.tls ? { ca: await readFile(opts.tls.caFile, 'utf8') } : {}), devices, readingsPerDevice: per, firmware: toHex(FIRMWARE), checkpointKey: verifierKey });
      log(`e2e ${label}: ${ready.connected} connected in ${ready.connectMs} ms; ${devices.length * per} readings signed in ${ready.signMs} ms`);
      // The warm-up goes round by round (one reading per device, then wait for the answers): sent at once, a device's
      // warm-up readings arrived in one TCP read and went to one verify worker together, so ~40% of the keys first
      // reached the other worker in the timed phase (a KeyObject import each, ~5% of a worker's time there).
      const warmup = await pub.ask({ type: 'run', rate: 0, count: warm, rounds: true, sample: INCLUSION_SAMPLE });
      const sodium = fleet.alg === ALG_EDDSA;
      const rawVerifySamples = [nodeVerifyRate(fleet.alg, rawMs)];
      const rawSodiumSamples: number[] = [];
      const sampleSodium = () => {
        const r = sodium ? sodiumVerifyRate(rawMs) : null; // null: sodium-native does not load here
        if (r !== null) rawSodiumSamples.push(r);
      };
      sampleSodium();
      const cpu0 = await gw.cpuSeconds();
      const threads0 = (await gw.threadCpu?.()) ?? null;
      mark(`${label} max`);
      const max = await pub.ask({ type: 'run', rate: 0, count: maxCount, sample: INCLUSION_SAMPLE });
      mark(`${label} max end`);
      const cpu = (await gw.cpuSeconds()) - cpu0;
      const maxThreads = perReading(threads0, (await gw.threadCpu?.()) ?? null, Number(max.receipts));
      const maxPerSec = Number(max.perSec);
      const cores = Math.round((cpu / (Number(max.elapsedMs) / 1000)) * 100) / 100;
      log(`e2e ${label}: max ${maxPerSec} readings/s (${max.receipts} receipts in ${max.elapsedMs} ms, p99 ${max.p99} ms); gateway used ${cores} cores (${Math.round((cpu / Number(max.receipts)) * 1e6)} µs per reading${threads(maxThreads)}), publisher ${max.publisherCores}`);
      rawVerifySamples.push(nodeVerifyRate(fleet.alg, rawMs));
      sampleSodium();
      const rawVerifyFleetKeysPerSec = fleet.paced ? nodeVerifyRateOverKeys(fleet.alg, Math.min(devices.length, 1000), Math.round(rawMs * 1.5)) : null;
      let paced: E2eFleetResult['paced'] = null;
      let answers = warmup.tally as AnswerTally;
      answers = addTallies(answers, max.tally as AnswerTally);
      const samples = [warmup.sample, max.sample];
      if (fleet.paced) {
        const rate = Math.floor(maxPerSec * (opts.pacedFraction ?? 0.8));
        const pcpu0 = await gw.cpuSeconds();
        const pthreads0 = (await gw.threadCpu?.()) ?? null;
        mark(`${label} paced`);
        const p = await pub.ask({ type: 'run', rate, count: pacedCount, sample: INCLUSION_SAMPLE });
        mark(`${label} paced end`);
        const cpuPerReadingUs = Math.round((((await gw.cpuSeconds()) - pcpu0) / (devices.length * pacedCount)) * 1e6);
        const pacedThreads = perReading(pthreads0, (await gw.threadCpu?.()) ?? null, devices.length * pacedCount);
        log(`e2e ${label}: at ${rate}/s (${Math.round((opts.pacedFraction ?? 0.8) * 100)}%): p50 ${p.p50} ms, p95 ${p.p95} ms, p99 ${p.p99} ms from each reading's slot in the schedule (publisher at most ${p.maxSendLagMs} ms behind it); gateway CPU ${cpuPerReadingUs} µs per reading${threads(pacedThreads)}, publisher ${p.publisherCores} cores`);
        paced = { ratePerSec: rate, perSec: Number(p.perSec), p50Ms: Number(p.p50), p95Ms: Number(p.p95), p99Ms: Number(p.p99), maxSendLagMs: Number(p.maxSendLagMs), gatewayCpuUsPerReading: cpuPerReadingUs, gatewayThreadsUs: pacedThreads };
        answers = addTallies(answers, p.tally as AnswerTally);
        samples.push(p.sample);
      }
      await pub.exit();
      rawVerifySamples.push(nodeVerifyRate(fleet.alg, rawMs));
      sampleSodium();
      // after the last raw sample, so that the phases and the samples keep their order and spacing
      for (const sample of samples) await proveInLog(gw, audit, answers, sample);
      const rawVerifyPerSec = quantile(rawVerifySamples);
      const rawSodiumPerSec = rawSodiumSamples.length > 0 ? quantile(rawSodiumSamples) : null;
      const answerProblem = tallyProblem(answers);
      log(`e2e ${label}: answers ${answerProblem ? `NOT CLEAN: ${answerProblem}` : `clean (${answers.receipts} readings, each one valid receipt; ${answers.inLog} of them proved in the log)`}`);
      const gatewayRssMb = toMB(await takePeak());
      log(`e2e ${label}: raw node:crypto verify, one core: ${rawVerifyPerSec}/s one key (median of ${rawVerifySamples.join(', ')})` + (rawVerifyFleetKeysPerSec ? `, ${rawVerifyFleetKeysPerSec}/s over ${Math.min(devices.length, 1000)} keys` : ''));
      results.push({
        alg: name, devices: devices.length, readings: devices.length * maxCount, connected: Number(ready.connected), connectMs: Number(ready.connectMs),
        maxPerSec, gatewayCores: cores, gatewayCpuUsPerReading: Math.round((cpu / Number(max.receipts)) * 1e6), gatewayThreadsUs: maxThreads, publisherCores: Number(max.publisherCores), rawVerifyPerSec, rawVerifySamples, ratio: Math.round((maxPerSec / rawVerifyPerSec) * 100) / 100,
        rawVerifyFleetKeysPerSec, ratioFleetKeys: rawVerifyFleetKeysPerSec ? Math.round((maxPerSec / rawVerifyFleetKeysPerSec) * 100) / 100 : null,
        rawSodiumPerSec, ...(rawSodiumSamples.length > 0 ? { rawSodiumSamples } : {}), ratioSodium: rawSodiumPerSec ? Math.round((maxPerSec / rawSodiumPerSec) * 100) / 100 : null, atMaxP99Ms: Number(max.p99), paced,
        answers, answerProblem, gatewayRssMb,
      });
    }
    await takePeak();
    if (gw.heap) heapAtEnd = await gw.heap().catch(() => '');
  } finally {
    sampling = false;
    await sampler;
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { fleets: results, maxRssMb: toMB(maxRss), heapAtEnd, verifyWorkers: opts.verifyWorkers ?? DEFAULT_CONFIG.verifyWorkers, ed25519Verifier: gw.ed25519Verifier };
}

// Standalone: node dist/bench/e2e.js [--devices N] [--readings N] [--alg eddsa|es256] [--workers N] [--queue N] [--pace F] [--ed25519 auto|libsodium|node] [--tls] [--in-process]
// --tls: devices connect over MQTT over TLS with the test certificate (test/fixtures/tls); npm run bench measures plain MQTT.
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = standaloneArgs();
  const workers = args.number('workers', -1);
  runE2eBench({
    fleets: args.algs().map((alg) => ({ alg, devices: args.number('devices', 1000), readingsPerDevice: args.number('readings', 100), paced: true })),
    ...(workers >= 0 ? { verifyWorkers: workers } : {}),
    ...(args.number('queue', 0) ? { queueHighWater: args.number('queue', 0) } : {}),
    ...(args.number('pace', 0) ? { pacedFraction: args.number('pace', 0) } : {}),
    ...(args.text('ed25519') ? { ed25519Library: args.text('ed25519') as 'auto' | 'libsodium' | 'node' } : {}),
    ...(args.has('tls') ? { tls: fixtureTls() } : {}),
    inProcess: args.has('in-process'),
  }).then((r) => console.log(JSON.stringify(r, null, 2)));
}
