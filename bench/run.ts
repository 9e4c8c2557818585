/**
 * `npm run bench`: runs named sections, prints a table, writes bench/results/<name>-<date>.json.
 *   npm run bench                          all sections (ledger at 1,000,000 entries: a few minutes)
 *   npm run bench -- --only ledger         one section (comma-separated list allowed)
 *   npm run bench -- --only ledger --full  the 10,000,000-entry ledger case (long: run it in the background)
 *   npm run bench -- --entries 300000      ledger size; --name NAME names the result file (default: the sections)
 * A section is a name and a function returning rows (measure, result, target); add one to `sections` below.
 * Rates depend on what else runs on the machine: each result file records the load average.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { runCryptoBench } from './crypto.js';
import { runLedgerBench } from './ledger.js';

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
  return { full: argv.includes('--full'), out: val('out') ?? 'bench/results', ...(only ? { only } : {}), ...(entries ? { entries: Number(entries) } : {}), ...(name ? { name } : {}) };
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
