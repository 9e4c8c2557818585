/**
 * `npm run bench`: the whole measurement in one command (~5 minutes on 2 cores, ~6 with the build): raw verification rates, the ledger
 * at 10,000,000 entries (with proof times at 10^4, 10^6 and 10^7 on the way), the ingestion pipeline alone (no MQTT:
 * the gateway's own CPU per reading), and the gateway end to end in its own process with fleets of 10, 1,000 and
 * 10,000 devices publishing from another process. Prints the table and the
 * scaling table, writes bench/results/latest.json (flat keys, see `summarize`) and a dated copy.
 *   npm run bench                          everything
 *   npm run bench -- --quick               ledger at 1,000,000 entries and smaller fleets (~1.5 minutes; no latest.json)
 *   npm run bench -- --only ledger,crypto  some sections (crypto, ledger, pipeline, e2e; no latest.json); --entries N sets the ledger size
 *   npm run bench -- --readme              also rewrite README's bench tables and its tally of every complete run
 *                                          (between the bench:latest and bench:tally markers; bench/tally.ts)
 * Rates depend on what else runs on the machine: each result file records the load average.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { makeDirectoriesAsync } from '../node-fs/make-directories.js';
import { runCryptoBench, type CryptoBenchResult } from './crypto.js';
import { runLedgerBench, type LedgerBenchResult } from './ledger.js';
import { runE2eBench, type E2eFleet, type E2eResult } from './e2e.js';
import { runPipelineBenches, type PipelineBenchResult } from './pipeline.js';
import { ALG_EDDSA, ALG_ES256 } from '../protocol/algorithms.js';
import { rewriteReadmeBlock } from './readme-block.js';
import { loadRuns, tallyTable } from './tally.js';
import { OBSERVING_ONLY, answerProblems, latestTable, scalingTable, settingsFromEnv, summarize, type BenchResults } from './report.js';

export interface Args {
  only?: string[];
  quick: boolean;
  readme: boolean;
  entries?: number;
  out: string;
  workers?: number;
}

const SECTIONS = ['crypto', 'ledger', 'pipeline', 'e2e'] as const;

export function parseArgs(argv: string[]): Args {
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = val('only')?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = (only ?? []).filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
  return {
    quick: argv.includes('--quick'), readme: argv.includes('--readme'), out: val('out') ?? 'bench/results',
    ...(only ? { only } : {}), ...(val('entries') ? { entries: Number(val('entries')) } : {}), ...(val('workers') ? { workers: Number(val('workers')) } : {}),
  };
}

/** The fleets: both algorithms at 1,000 devices with latency, then EdDSA at 10 and 10,000 for the scaling table. */
function fleets(quick: boolean): E2eFleet[] {
  return [
    { alg: ALG_EDDSA, devices: 1000, readingsPerDevice: quick ? 30 : 60, paced: true },
    { alg: ALG_ES256, devices: 1000, readingsPerDevice: quick ? 30 : 60, paced: true },
    { alg: ALG_EDDSA, devices: 10, readingsPerDevice: quick ? 1000 : 3000, paced: false },
    { alg: ALG_EDDSA, devices: quick ? 3000 : 10_000, readingsPerDevice: 4, paced: false },
  ];
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const args = parseArgs(argv);
  const run = (s: (typeof SECTIONS)[number]) => !args.only || args.only.includes(s);
  const started = new Date();
  const results: BenchResults = {};
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    process.stderr.write(`bench: ${name}...\n`);
    const t0 = performance.now();
    const r = await f();
    seconds[name] = Math.round((performance.now() - t0) / 100) / 10;
    return r;
  };
  if (run('crypto')) results.crypto = await timed<CryptoBenchResult[]>('crypto', async () => runCryptoBench());
  if (run('ledger')) {
    const entries = args.entries ?? (args.quick ? 1_000_000 : 10_000_000);
    const proofSizes = [10_000, 1_000_000, 10_000_000].filter((n) => n < entries);
    results.ledger = await timed<LedgerBenchResult>('ledger', () => runLedgerBench({ entries, proofs: 2000, proofSizes }));
  }
  if (run('pipeline')) results.pipeline = await timed<PipelineBenchResult[]>('pipeline', () => runPipelineBenches(args.quick, args.workers));
  if (run('e2e')) results.e2e = await timed<E2eResult>('e2e', () => runE2eBench({ fleets: fleets(args.quick), ...(args.workers !== undefined ? { verifyWorkers: args.workers } : {}) }));

  const settings = settingsFromEnv(process.env);
  const env = { node: process.version, nodeFlags: process.execArgv, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAvgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), started: started.toISOString(), settings };
  const summary = summarize(results, { commit: commit(), date: started.toISOString() });
  const tables = `${latestTable(results)}\n\n${scalingTable(results)}`;
  process.stdout.write(`\n${tables}\n`);
  await makeDirectoriesAsync(args.out);
  // Complete: every section at full size, default settings, and every reading answered with one valid receipt.
  const nonDefault = Object.keys(settings).filter((k) => !OBSERVING_ONLY.has(k));
  const problems = answerProblems(results);
  for (const p of problems) process.stdout.write(`NOT CLEAN: ${p}\n`);
  if (nonDefault.length > 0) process.stdout.write(`settings from the environment: ${nonDefault.join(', ')} (not a complete run)\n`);
  const complete = !args.only && !args.quick && args.entries === undefined && args.workers === undefined && nonDefault.length === 0 && problems.length === 0;
  const body = `${JSON.stringify({ ...summary, complete, env, args, seconds, results }, null, 2)}\n`;
  const stamp = started.toISOString().slice(0, 16).replace(/[:T]/g, '-');
  const dated = join(args.out, `${complete ? 'bench' : (args.only ?? ['quick']).join('+')}-${stamp}.json`);
  await writeFile(dated, body);
  process.stdout.write(`written to ${dated}\n`);
  // latest.json is the record README quotes: only a complete run (all sections, the 10M ledger) replaces it.
  if (complete) {
    await writeFile(join(args.out, 'latest.json'), body);
    process.stdout.write(`written to ${join(args.out, 'latest.json')}\n`);
    if (args.readme) {
      await rewriteReadmeBlock('latest', tables);
      await rewriteReadmeBlock('tally', tallyTable(loadRuns(args.out)));
    }
  } else if (args.readme) {
    process.stdout.write('README not rewritten: only a complete run (no --only/--quick/--entries/--workers, no OP_BENCH_*/ORIGINPROOF_* settings, every reading answered) updates it\n');
  }
}

await main();
