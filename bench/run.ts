/**
 * `npm run bench`: runs named sections, prints a table, writes bench/results/<name>-<date>.json.
 *   npm run bench                          all sections (ledger at 1,000,000 entries: a few minutes)
 *   npm run bench -- --only ledger         one section (comma-separated list allowed)
 *   npm run bench -- --only ledger --full  the 10,000,000-entry ledger case (long: run it in the background)
 *   npm run bench -- --entries 300000      ledger size; --name NAME names the result file (default: the sections)
 *   npm run bench -- --only e2e            gateway end to end (--devices 1000 --connections 10000 --workers 2)
 * A section is a name and a function returning rows (measure, result, target); add one to `sections` below.
 * Rates depend on what else runs on the machine: each result file records the load average.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { runCryptoBench } from './crypto.js';
import { runLedgerBench } from './ledger.js';
import { runE2eBench } from './e2e.js';
import { ALG_EDDSA, ALG_ES256 } from '../protocol/algorithms.js';

export interface Row {
  measure: string;
  result: string;
  target?: string;
}

export interface Section {
  name: string;
  run(args: Args): Promise<{ rows: Row[]; raw: unknown }>;
}

export interface Args {
  only?: string[];
  full: boolean;
  entries?: number;
  name?: string;
  out: string;
  devices?: number;
  connections?: number;
  workers?: number;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export const sections: Section[] = [
  {
    name: 'ledger',
    async run(args) {
      const entries = args.entries ?? (args.full ? 10_000_000 : 1_000_000);
      const r = await runLedgerBench({ entries, proofs: 2000 });
      const M = (entries / 1e6).toLocaleString('en-US');
      return {
        raw: r,
        rows: [
          { measure: `append, blocks of ${r.blockSize}, ${M}M entries (wall)`, result: `${fmt(r.appendPerSec)} entries/s`, target: '>= 200,000/s' },
          { measure: 'append, per CPU-second of the process', result: `${fmt(r.appendPerCpuSec)} entries/s` },
          { measure: 'RSS while appending (max; anonymous max)', result: `${r.rssMaxMB} MB (${r.rssAnonMaxMB ?? '?'} MB)`, target: '< 300 MB, flat' },
          { measure: 'RSS samples while appending', result: `${r.rssSamplesMB.join(', ')} MB` },
          { measure: `inclusion proof at ${M}M, median / p99`, result: `${r.inclusionProofMedianMs} / ${r.inclusionProofP99Ms} ms`, target: '< 2 ms median' },
          { measure: `open a ${M}M-entry ledger`, result: `${r.openMs} ms`, target: '< 1 s' },
          { measure: 'ledger verify', result: `${fmt(r.verifyPerSec ?? 0)} entries/s`, target: '>= 200,000/s' },
          { measure: 'RSS at the end of verify: anonymous / mapped table files', result: `${r.verifyRssAnonMB ?? '?'} / ${r.verifyRssFileMB ?? '?'} MB` },
        ],
      };
    },
  },
  {
    name: 'e2e',
    async run(args) {
      const r = await runE2eBench({
        devices: args.devices ?? 1000,
        readingsPerDevice: args.full ? 120 : 60,
        connections: args.connections ?? 10_000,
        verifyWorkers: args.workers ?? 2,
        algs: [ALG_EDDSA, ALG_ES256],
      });
      const rows: Row[] = [];
      for (const a of r.algs) {
        rows.push(
          { measure: `${a.alg} end to end, ${fmt(a.devices)} devices (publish -> verified -> signed block -> receipt)`, result: `${fmt(a.maxPerSec)} readings/s`, target: a.alg === 'EdDSA' ? '>= 10,000/s' : '>= 14,000/s' },
          { measure: `${a.alg} raw node:crypto verify, one core, same run`, result: `${fmt(a.rawVerifyPerSec)}/s; ratio end-to-end/raw ${a.ratio}`, target: 'ratio >= 1.0' },
          { measure: `${a.alg} receipt latency at 80% of max (${fmt(a.paced.ratePerSec)}/s): p50 / p95 / p99`, result: `${a.paced.p50Ms} / ${a.paced.p95Ms} / ${a.paced.p99Ms} ms`, target: 'p99 < 250 ms' },
        );
      }
      if (r.connections) rows.push({ measure: 'devices connected at once (each sends a reading, gets its receipt)', result: `${fmt(r.connections.connected)} in ${fmt(r.connections.connectMs)} ms`, target: '10,000' });
      rows.push({ measure: `gateway process RSS (own process, as npm start), max over the run (${r.verifyWorkers} verify workers)`, result: `${r.maxRssMb} MB`, target: '< 500 MB' });
      rows.push({ measure: 'gateway RSS, max per phase', result: Object.entries(r.rssByPhaseMb).map(([k, v]) => `${k}: ${v} MB`).join('; ') });
      if (r.heapAtMaxRss) rows.push({ measure: 'at the max RSS', result: r.heapAtMaxRss });
      return { raw: r, rows };
    },
  },
  {
    name: 'crypto',
    async run() {
      const r = runCryptoBench();
      return { raw: r, rows: r.map((x) => ({ measure: `${x.alg} verify, node:crypto / @noble`, result: `${fmt(x.nodePerSec)} / ${fmt(x.noblePerSec)} per s (x${x.speedup})` })) };
    },
  },
];

export function parseArgs(argv: string[]): Args {
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = val('only')?.split(',').map((s) => s.trim()).filter(Boolean);
  const entries = val('entries');
  const name = val('name');
  const num = (k: string) => (val(k) === undefined ? {} : { [k]: Number(val(k)) });
  return {
    full: argv.includes('--full'), out: val('out') ?? 'bench/results', ...(only ? { only } : {}), ...(entries ? { entries: Number(entries) } : {}), ...(name ? { name } : {}),
    ...num('devices'), ...num('connections'), ...num('workers'),
  };
}

function table(rows: (Row & { section: string })[]): string {
  const head = ['section', 'measure', 'result', 'target'];
  const cells = rows.map((r) => [r.section, r.measure, r.result, r.target ?? '']);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((x, i) => x.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const args = parseArgs(argv);
  const chosen = sections.filter((s) => !args.only || args.only.includes(s.name));
  const unknown = (args.only ?? []).filter((n) => !sections.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${sections.map((s) => s.name).join(', ')}`);
  const started = new Date();
  const results: Record<string, unknown> = {};
  const rows: (Row & { section: string })[] = [];
  for (const s of chosen) {
    process.stderr.write(`bench: ${s.name}...\n`);
    const t0 = performance.now();
    const r = await s.run(args);
    results[s.name] = { ...(r.raw as object), seconds: Math.round((performance.now() - t0) / 100) / 10 };
    rows.push(...r.rows.map((x) => ({ ...x, section: s.name })));
  }
  const env = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAvgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), started: started.toISOString() };
  process.stdout.write(`${table(rows)}\n`);
  await mkdir(args.out, { recursive: true });
  const name = args.name ?? (chosen.map((s) => s.name).join('+') + (args.full ? '-full' : ''));
  const file = join(args.out, `${name}-${started.toISOString().slice(0, 10)}.json`);
  await writeFile(file, `${JSON.stringify({ env, args, results, rows }, null, 2)}\n`);
  process.stdout.write(`written to ${file}\n`);
}

await main();
