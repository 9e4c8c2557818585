/**
 * Ledger bench: append rate (blocks of 1000), RSS while appending, open time, inclusion proof median latency
 * at the final size, `ledger verify` rate. `runLedgerBench(opts)` returns the figures; run directly:
 *   node dist/bench/ledger.js --entries N [--block 1000] [--proofs 2000] [--out bench/results]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDirectoriesAsync } from '../node-fs/make-directories.js';
import { Ledger, type EntryInput } from '../ledger/ledger.js';
import { LevelBackend } from '../ledger/level-backend.js';
import { nodeNoteSigner } from '../ledger/signer.js';
import { verifyLedger } from '../ledger/verify.js';
import { quantile } from './stats.js';
import { standaloneArgs } from './standalone-args.js';

export interface LedgerBenchOptions {
  entries?: number;
  blockSize?: number;
  proofs?: number;
  payloadBytes?: number;
  verify?: boolean;
  dir?: string;
  /** Blocks submitted before waiting for the oldest to be durable (a gateway under load keeps submitting). */
  inflight?: number;
  /** Log sizes (multiples of blockSize) at which to pause appending and time inclusion proofs, for the cost curve. */
  proofSizes?: number[];
}

export interface LedgerBenchResult {
  entries: number;
  blockSize: number;
  payloadBytes: number;
  appendPerSec: number;
  appendSeconds: number;
  /** Entries per second of CPU time of the whole process (all threads: JS, LevelDB writer, compaction) while appending. */
  appendPerCpuSec: number;
  /** Load average (1 min) when the append finished: other work on the machine slows the wall-clock figures. */
  loadAvg1: number;
  /** Peak RSS (MB, 10^6 bytes) while appending: the kernel's high-water mark, reset as the append starts (Linux), else the samples' highest */
  rssMaxMB: number;
  /** RSS every 50 blocks while appending (at most ~20 of them kept, evenly spaced) */
  rssSamplesMB: number[];
  /** Anonymous resident memory (what the process allocated, without mapped file pages) while appending. */
  rssAnonMaxMB?: number;
  /** During `ledger verify`: anonymous and file-backed resident MB at the end (mapped table pages are page cache). */
  verifyRssAnonMB?: number;
  verifyRssFileMB?: number;
  openMs: number;
  inclusionProofMedianMs: number;
  inclusionProofP99Ms: number;
  verifyPerSec?: number;
  /** Inclusion proof latency at each of `proofSizes` (timed between blocks; excluded from the append time). */
  proofsAtSize?: { entries: number; medianMs: number; p99Ms: number }[];
  node: string;
}

const mb = (): number => Math.round(process.memoryUsage().rss / 1e6);
/** Anonymous (heap, native allocations) and file-backed (LevelDB mmaps its table files) resident MB, on Linux. */
function rssParts(): { anon: number; file: number } | undefined {
  try {
    const st = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? NaN);
    return { anon: Math.round((kb('RssAnon') * 1024) / 1e6), file: Math.round((kb('RssFile') * 1024) / 1e6) };
  } catch {
    return undefined;
  }
}

/** The process's peak RSS (VmHWM) in MB, on Linux. */
function vmHwmMB(): number | undefined {
  try {
    const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
    return Number.isFinite(kb) ? Math.round((kb * 1024) / 1e6) : undefined;
  } catch {
    return undefined;
  }
}

export async function runLedgerBench(opts: LedgerBenchOptions = {}): Promise<LedgerBenchResult> {
  const entries = opts.entries ?? 1_000_000;
  const blockSize = opts.blockSize ?? 1000;
  const payloadBytes = opts.payloadBytes ?? 180;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'op-ledger-bench-')));
  const signer = nodeNoteSigner('bench.originproof/log', new Uint8Array(32).fill(5));
  const base = { origin: 'bench.originproof/log', signer, sync: process.env.OP_BENCH_SYNC !== '0' };
  try {
    const ledger = await Ledger.open({ dir, ...base });
    const payload = new Uint8Array(payloadBytes).fill(0x42);
    const certRef = new Uint8Array(32).fill(7);
    // 1,000 devices; each id is one string, as a gateway holds it per connection (not rebuilt per reading).
    const deviceIds = Array.from({ length: 1000 }, (_, i) => `dev-${i}`);
    const samples: number[] = [];
    let anonMax = 0;
    // The peak from here on (the process ran other sections before): echo 5 > /proc/self/clear_refs (Linux 4.0+).
    const peakReset = await writeFile('/proc/self/clear_refs', '5').then(() => true, () => false);
    const inflight = Math.max(1, opts.inflight ?? 2);
    const window: Promise<unknown>[] = [];
    const c0 = process.cpuUsage();
    const proofsAtSize: NonNullable<LedgerBenchResult['proofsAtSize']> = [];
    let pausedMs = 0;
    const t0 = performance.now();
    for (let first = 0; first < entries; first += blockSize) {
      const n = Math.min(blockSize, entries - first);
      const inputs: EntryInput[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const idx = first + i;
        inputs[i] = { type: 1, payload, certRef, receivedAtMs: 1_700_000_000_000 + idx, deviceId: deviceIds[idx % 1000]!, seq: Math.floor(idx / 1000) };
      }
      window.push(ledger.appendBlock(inputs));
      if (window.length >= inflight) await window.shift();
      if (opts.proofSizes?.includes(first + n)) {
        const p0 = performance.now();
        await Promise.all(window.splice(0));
        proofsAtSize.push({ entries: first + n, ...(await timeProofs(ledger, first + n, 500)) });
        pausedMs += performance.now() - p0;
      }
      if ((first / blockSize) % 50 === 0) {
        samples.push(mb());
        anonMax = Math.max(anonMax, rssParts()?.anon ?? 0);
      }
    }
    await Promise.all(window);
    const appendSeconds = (performance.now() - t0 - pausedMs) / 1000;
    const cpu = process.cpuUsage(c0);
    const appendCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const loadAvg1 = Math.round(loadavg()[0]! * 100) / 100;
    samples.push(mb());
    const peakMB = peakReset ? vmHwmMB() : undefined;
    await ledger.close();

    const o0 = performance.now();
    const reopened = await Ledger.open({ dir, ...base });
    const openMs = performance.now() - o0;
    const times: number[] = [];
    const proofs = opts.proofs ?? 2000;
    for (let i = 0; i < proofs; i++) {
      const index = Math.floor(Math.random() * entries);
      const p0 = performance.now();
      await reopened.inclusionProof(index);
      times.push(performance.now() - p0);
    }
    await reopened.close();

    let verifyPerSec: number | undefined;
    let verifyRss: { anon: number; file: number } | undefined;
    if (opts.verify ?? true) {
      const backend = await LevelBackend.open(dir, { sync: false });
      const r = await verifyLedger(backend);
      verifyRss = rssParts();
      await backend.close();
      if (!r.ok) throw new Error(`verify failed: ${JSON.stringify(r.problem)}`);
      verifyPerSec = Math.round(r.entries / (r.elapsedMs / 1000));
    }
    return {
      entries, blockSize, payloadBytes, appendPerSec: Math.round(entries / appendSeconds), appendSeconds: Math.round(appendSeconds * 10) / 10,
      appendPerCpuSec: Math.round(entries / appendCpuSeconds), loadAvg1,
      rssMaxMB: Math.max(peakMB ?? 0, ...samples), rssSamplesMB: samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 20)) === 0),
      openMs: Math.round(openMs * 10) / 10, inclusionProofMedianMs: Math.round(quantile(times) * 1000) / 1000,
      inclusionProofP99Ms: Math.round(quantile(times, 0.99) * 1000) / 1000, ...(verifyPerSec === undefined ? {} : { verifyPerSec }),
      ...(proofsAtSize.length > 0 ? { proofsAtSize } : {}), ...(anonMax > 0 ? { rssAnonMaxMB: anonMax } : {}), ...(verifyRss ? { verifyRssAnonMB: verifyRss.anon, verifyRssFileMB: verifyRss.file } : {}), node: process.version,
    };
  } finally {
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  }
}

/** Median and p99 of `count` inclusion proofs for random indexes in a log of `size` entries. */
async function timeProofs(ledger: Ledger, size: number, count: number): Promise<{ medianMs: number; p99Ms: number }> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const index = Math.floor(Math.random() * size);
    const p0 = performance.now();
    await ledger.inclusionProof(index);
    times.push(performance.now() - p0);
  }
  return { medianMs: Math.round(quantile(times) * 1000) / 1000, p99Ms: Math.round(quantile(times, 0.99) * 1000) / 1000 };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = standaloneArgs().text;
  const entries = Number(arg('entries') ?? 1_000_000);
  const result = await runLedgerBench({ entries, blockSize: Number(arg('block') ?? 1000), proofs: Number(arg('proofs') ?? 2000), inflight: Number(arg('inflight') ?? 2) });
  const out = arg('out') ?? 'bench/results';
  await makeDirectoriesAsync(out);
  const file = join(out, `ledger-${new Date().toISOString().slice(0, 10)}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${file}\n`);
}
