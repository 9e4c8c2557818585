/**
 * The ingestion pipeline alone: signed readings handed to `Pipeline.accept` as the broker hands them, without MQTT
 * (no sockets, no publisher process), through the gateway's own registry, LevelDB ledger and a verify pool of
 * worker threads, each reading to a durable block and an encoded receipt. It reports the CPU per reading by thread
 * kind. The event loop's share is the gateway's own work on the reading path less MQTT, which end-to-end figures mix
 * with the sockets, the publisher process and the verify workers' share of two cores. CPU time per reading still
 * moves with a shared VM's speed (24–40 µs between the rounds of one run here): compare builds over interleaved runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALG_EDDSA, ALG_ES256, algName, deviceIdFromKey, fromHex, publicKey, type Alg } from '../protocol/index.js';
import { startGateway, type RunningGateway } from '../gateway/gateway.js';
import { Pipeline } from '../gateway/pipeline.js';
import { VerifyPool } from '../gateway/crypto/verify-pool.js';
import { createMetrics } from '../gateway/metrics.js';
import { resolveEd25519 } from '../gateway/crypto/sodium.js';
import { DEFAULT_CONFIG } from '../gateway/config.js';
import { benchReading, benchRoot, makeFleet } from './fleet.js';
import { nodeSigner } from './node-signer.js';
import { mark, threadCpuOf, type ThreadCpu } from './gateway-under-test.js';
import { quantile } from './stats.js';
import { standaloneArgs } from './standalone-args.js';

export interface PipelineBenchOptions {
  alg: Alg;
  devices: number;
  /** timed rounds; each sends `readingsPerRound` readings of every device, as fast as the pipeline takes them */
  rounds: number;
  readingsPerRound: number;
  /** verify worker threads (default: the gateway's own default) */
  verifyWorkers?: number;
  log?: (line: string) => void;
}

export interface PipelineRound {
  perSec: number;
  /** CPU µs per reading by thread kind: event loop, verify workers, V8's and libuv's helpers */
  threadsUs: ThreadCpu;
}

/** Both algorithms, as `npm run bench` runs them. */
export async function runPipelineBenches(quick: boolean, verifyWorkers?: number): Promise<PipelineBenchResult[]> {
  const out: PipelineBenchResult[] = [];
  for (const alg of [ALG_EDDSA, ALG_ES256] as Alg[]) {
    out.push(await runPipelineBench({ alg, devices: 1000, rounds: quick ? 3 : 5, readingsPerRound: quick ? 10 : 20, ...(verifyWorkers !== undefined ? { verifyWorkers } : {}) }));
  }
  return out;
}

export interface PipelineBenchResult {
  alg: string;
  devices: number;
  readingsPerRound: number;
  verifyWorkers: number;
  rounds: PipelineRound[];
  /** medians over the rounds */
  perSec: number;
  loopUs: number;
  workersUs: number;
  otherUs: number;
}

/**
 * Warm-up: two rounds of one reading per device (lanes loaded, every worker holding the device keys), then one
 * untimed round of full size (the first full round ran ~35% slower than the rest: code not yet optimised, and the
 * signing's garbage still to collect).
 */
const WARMUP_SINGLE_ROUNDS = 2;

export async function runPipelineBench(opts: PipelineBenchOptions): Promise<PipelineBenchResult> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const label = `pipeline ${algName(opts.alg)}, ${opts.devices.toLocaleString('en-US')} devices`;
  const workers = opts.verifyWorkers ?? DEFAULT_CONFIG.verifyWorkers;
  const dir = await mkdtemp(join(tmpdir(), 'op-bench-pipeline-'));
  let gw: RunningGateway | null = null;
  let pool: VerifyPool | null = null;
  try {
    const root = await benchRoot(dir);
    // The gateway's own verify pool stays empty (verifyWorkers 0: no threads); the bench's pipeline has its own.
    gw = await startGateway({ dataDir: join(dir, 'data'), host: '127.0.0.1', httpPort: 0, mqttPort: 0, trustFile: join(dir, 'trust.json'), logLevel: 'warn', verifyWorkers: 0, writeRateLimit: 1_000_000 });
    const app = gw.app;
    const post = async (url: string, payload: object) => {
      const r = await app.inject({ method: 'POST', url, payload });
      return { status: r.statusCode, text: r.body };
    };
    const fleet = await makeFleet(post, root, opts.alg, opts.devices, `agency-pipeline-${algName(opts.alg).toLowerCase()}.bench`);
    const warmup = WARMUP_SINGLE_ROUNDS + opts.readingsPerRound;
    const perDevice = warmup + opts.rounds * opts.readingsPerRound;
    const t = Math.floor(Date.now() / 1000);
    const signStart = performance.now();
    // readings[seq - 1][device]: a round sends seq by seq across the fleet, as a fleet's arrivals interleave
    const readings: Uint8Array[][] = Array.from({ length: perDevice }, () => new Array<Uint8Array>(fleet.length));
    await Promise.all(
      fleet.map(async (d, i) => {
        const signer = nodeSigner(d.alg, fromHex(d.secret));
        const deviceId = deviceIdFromKey(publicKey(d.alg, signer.publicKey));
        for (let s = 1; s <= perDevice; s++) readings[s - 1]![i] = await benchReading(signer, deviceId, s, t);
      }),
    );
    log(`${label}: ${fleet.length * perDevice} readings signed in ${Math.round(performance.now() - signStart)} ms`);

    let answered = 0;
    let rejected = '';
    let waiting: { until: number; resolve: () => void } | null = null;
    pool = new VerifyPool(workers, undefined, undefined, resolveEd25519('auto'));
    const pipeline = new Pipeline(
      gw.registry,
      gw.ledger,
      pool,
      createMetrics(false),
      { maxReadingBytes: DEFAULT_CONFIG.maxReadingBytes, clockSkewSeconds: DEFAULT_CONFIG.clockSkewSeconds, maxReadingAgeSeconds: DEFAULT_CONFIG.maxReadingAgeSeconds, queueHighWater: DEFAULT_CONFIG.queueHighWater },
      // The answer is encoded, as for a device; the bench only counts it (nothing is written to a socket).
      (deviceId, kind) => {
        if (kind === 'rejections' && !rejected) rejected = `device ${deviceId} got a rejection`;
        answered++;
        if (waiting && answered >= waiting.until) waiting.resolve();
      },
    );
    const ids = fleet.map((d) => d.id);
    /** Hand seqs [from, to] of every device to the pipeline (waiting whenever it parks one) and wait for the answers. */
    const send = async (from: number, to: number): Promise<void> => {
      const until = answered + (to - from + 1) * ids.length;
      const done = new Promise<void>((resolve) => (waiting = { until, resolve }));
      for (let s = from; s <= to; s++) {
        const row = readings[s - 1]!;
        for (let i = 0; i < ids.length; i++) {
          const taken = pipeline.accept(ids[i]!, row[i]!);
          if (pipeline.parked > 0) await taken;
        }
      }
      if (answered < until) await done;
      waiting = null;
      if (rejected) throw new Error(`${label}: ${rejected}`);
    };
    const logged0 = gw.ledger.size();
    for (let s = 1; s <= WARMUP_SINGLE_ROUNDS; s++) await send(s, s);
    await send(WARMUP_SINGLE_ROUNDS + 1, warmup);

    const rounds: PipelineRound[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      const from = warmup + r * opts.readingsPerRound + 1;
      const n = opts.readingsPerRound * ids.length;
      const cpu0 = await threadCpuOf(process.pid);
      const t0 = performance.now();
      mark(`${label} round ${r + 1}`); // OP_BENCH_MARKS=1: on the clock of a --cpu-prof profile
      await send(from, from + opts.readingsPerRound - 1);
      mark(`${label} round ${r + 1} end`);
      const seconds = (performance.now() - t0) / 1000;
      const cpu1 = await threadCpuOf(process.pid);
      if (!cpu0 || !cpu1) throw new Error('the pipeline bench reads thread CPU from /proc (Linux)');
      const us = (a: number, b: number) => Math.round(((b - a) / n) * 1e6 * 10) / 10;
      const round = { perSec: Math.round(n / seconds), threadsUs: { loop: us(cpu0.loop, cpu1.loop), workers: us(cpu0.workers, cpu1.workers), other: us(cpu0.other, cpu1.other) } };
      rounds.push(round);
      log(`${label}: round ${r + 1}: ${round.perSec}/s; CPU per reading: event loop ${round.threadsUs.loop} µs, verify workers ${round.threadsUs.workers} µs, helpers ${round.threadsUs.other} µs`);
    }
    // Every answer was a receipt, and a receipt is sent only once its block is durable: all of them are logged.
    const logged = gw.ledger.size() - logged0;
    if (logged !== fleet.length * perDevice) throw new Error(`${label}: ${logged} entries logged for ${fleet.length * perDevice} readings receipted`);
    const med = (f: (r: PipelineRound) => number) => quantile(rounds.map(f));
    const result: PipelineBenchResult = {
      alg: algName(opts.alg), devices: fleet.length, readingsPerRound: opts.readingsPerRound, verifyWorkers: workers, rounds,
      perSec: med((r) => r.perSec), loopUs: med((r) => r.threadsUs.loop), workersUs: med((r) => r.threadsUs.workers), otherUs: med((r) => r.threadsUs.other),
    };
    log(`${label}: median of ${rounds.length} rounds: ${result.perSec}/s; event loop ${result.loopUs} µs, verify workers ${result.workersUs} µs, helpers ${result.otherUs} µs per reading`);
    return result;
  } finally {
    await pool?.close();
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// Standalone: node dist/bench/pipeline.js [--alg eddsa|es256] [--devices N] [--rounds N] [--per-round N] [--workers N]
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = standaloneArgs();
  const out: PipelineBenchResult[] = [];
  for (const alg of args.algs()) {
    const workers = args.number('workers', -1);
    out.push(await runPipelineBench({ alg, devices: args.number('devices', 1000), rounds: args.number('rounds', 5), readingsPerRound: args.number('per-round', 20), ...(workers >= 0 ? { verifyWorkers: workers } : {}) }));
  }
  console.log(JSON.stringify(out, null, 2));
}
