/**
 * Every complete run's result file on one machine, counted against the targets, so that README's "met in N of M"
 * is read from `bench/results/`, not kept by hand. `npm run bench -- --readme` rewrites README's tally block after
 * each complete run; on its own:
 *   node dist/bench/tally.js [--dir bench/results] [--machine SUBSTRING] [--readme]
 * The machine defaults to the newest complete run's CPU model (each file records it: env.cpuModel).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rewriteReadmeBlock } from './readme-block.js';

/** One complete run as its result file records it (the flat keys of `summarize`, env, the e2e fleets). */
export interface RunRecord {
  file: string;
  date: string;
  commit: string;
  cpuModel: string;
  /**
   * Recorded by the harness as reviewed on 2026-12-04 (every answer audited, paced latency from each reading's slot in
   * the schedule, MB of 10^6 bytes); its files are the ones with `e2e_answers_clean`.
   */
  audited: boolean;
  flat: Record<string, unknown>;
  connected10k: number | null;
}

interface Target {
  label: string;
  value(r: RunRecord): number | null;
  met(v: number): boolean;
  show(v: number): string;
}

const num = (r: RunRecord, key: string): number | null => (typeof r.flat[key] === 'number' ? (r.flat[key] as number) : null);
const rate = (v: number): string => `${Math.round(v).toLocaleString('en-US')}/s`;
const ratio = (v: number): string => v.toFixed(2);
const ms = (v: number): string => `${v} ms`;

/** Files before the 2026-12-04 review recorded the gateway's RSS in MiB under the `_mb` key. */
function gatewayRssMb(r: RunRecord): number | null {
  const v = num(r, 'gateway_peak_rss_mb');
  return v === null ? null : r.audited ? v : Math.round(v * 1.048576);
}

export const TARGETS: readonly Target[] = [
  { label: 'EdDSA end to end >= 10,000/s', value: (r) => num(r, 'e2e_ed25519_per_s'), met: (v) => v >= 10_000, show: rate },
  { label: 'EdDSA ratio >= 1.0 (end to end / raw node:crypto, one key)', value: (r) => num(r, 'ratio_ed25519'), met: (v) => v >= 1, show: ratio },
  { label: 'EdDSA receipt p99 at 80% < 250 ms', value: (r) => num(r, 'receipt_p99_ms_ed25519'), met: (v) => v < 250, show: ms },
  { label: 'ES256 end to end >= 14,000/s', value: (r) => num(r, 'e2e_es256_per_s'), met: (v) => v >= 14_000, show: rate },
  { label: 'ES256 ratio >= 1.0 (end to end / raw node:crypto, one key)', value: (r) => num(r, 'ratio_es256'), met: (v) => v >= 1, show: ratio },
  { label: 'ES256 receipt p99 at 80% < 250 ms', value: (r) => num(r, 'receipt_p99_ms_es256'), met: (v) => v < 250, show: ms },
  { label: '10,000 devices connected at once', value: (r) => r.connected10k, met: (v) => v >= 10_000, show: (v) => v.toLocaleString('en-US') },
  { label: 'gateway peak RSS < 500 MB', value: gatewayRssMb, met: (v) => v < 500, show: (v) => `${v} MB` },
  { label: 'ledger append >= 200,000 entries/s (10M entries)', value: (r) => num(r, 'ledger_append_per_s'), met: (v) => v >= 200_000, show: rate },
];

const ES256_LABELS = TARGETS.filter((t) => t.label.startsWith('ES256')).map((t) => t.label);
const GATEWAY_LABELS = TARGETS.filter((t) => !t.label.startsWith('ledger')).map((t) => t.label);

/** Met when every named target was recorded and met in the run. */
function allMet(r: RunRecord, labels: readonly string[]): boolean {
  return TARGETS.filter((t) => labels.includes(t.label)).every((t) => {
    const v = t.value(r);
    return v !== null && t.met(v);
  });
}

export function parseRun(file: string, text: string): RunRecord | null {
  const j = JSON.parse(text) as Record<string, unknown> & { env?: { cpuModel?: string }; results?: { e2e?: { fleets?: Array<{ devices: number; connected: number }> } } };
  if (j.complete !== true) return null;
  const big = j.results?.e2e?.fleets?.find((f) => f.devices === 10_000);
  return {
    file, date: String(j.date ?? ''), commit: String(j.commit ?? 'unknown'), cpuModel: j.env?.cpuModel ?? 'unknown',
    audited: 'e2e_answers_clean' in j, flat: j, connected10k: big ? big.connected : null,
  };
}

/** The dated result files (`bench-*.json`, not latest.json, which is a copy of one of them), complete runs only. */
export function loadRuns(dir: string): RunRecord[] {
  return readdirSync(dir)
    .filter((f) => /^bench-.*\.json$/.test(f))
    .map((f) => parseRun(f, readFileSync(join(dir, f), 'utf8')))
    .filter((r): r is RunRecord => r !== null)
    .sort((a, b) => a.date.localeCompare(b.date));
}

function countCell(runs: readonly RunRecord[], met: (r: RunRecord) => boolean | null): string {
  const judged = runs.map(met).filter((m): m is boolean => m !== null);
  return judged.length === 0 ? '—' : `${judged.filter(Boolean).length} of ${judged.length}`;
}

/** README's tally: a sentence saying which runs, then one row per target and two rows for targets met together. */
export function tallyTable(all: readonly RunRecord[], machine?: string): string {
  const cpu = machine ?? all.at(-1)?.cpuModel;
  const runs = all.filter((r) => cpu !== undefined && r.cpuModel.includes(cpu));
  if (runs.length === 0) return `No complete run on record${cpu ? ` on ${cpu}` : ''}.`;
  const audited = runs.filter((r) => r.audited);
  const dirty = runs.filter((r) => r.commit.endsWith('-dirty')).length;
  const latest = runs.at(-1)!;
  const lines = [
    `${runs.length} complete run${runs.length === 1 ? '' : 's'} on ${runs[0]!.cpuModel}, ${runs[0]!.date.slice(0, 10)} to ${latest.date.slice(0, 10)} ` +
      `(${dirty} of them on a tree with uncommitted changes, their commit marked \`-dirty\`); ${audited.length} with the harness ` +
      'that audits every answer and times paced readings from their slot in the schedule (since 2026-12-04; the earlier ' +
      "runs' p99 understates by at least the publisher's 10 ms tick, and their RSS, recorded in MiB, is shown in MB). " +
      `The latest is ${latest.file} (${latest.commit}).`,
    '',
    '| target | met: every complete run | met: audited harness | lowest – highest | latest run |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const t of TARGETS) {
    const values = runs.map(t.value).filter((v): v is number => v !== null);
    const judge = (r: RunRecord): boolean | null => {
      const v = t.value(r);
      return v === null ? null : t.met(v);
    };
    const range = values.length === 0 ? '—' : `${t.show(Math.min(...values))} – ${t.show(Math.max(...values))}`;
    const last = t.value(latest);
    lines.push(`| ${t.label} | ${countCell(runs, judge)} | ${countCell(audited, judge)} | ${range} | ${last === null ? '—' : t.show(last)} |`);
  }
  for (const [label, labels] of [['ES256, all three in one run', ES256_LABELS], ['every gateway target in one run', GATEWAY_LABELS]] as const) {
    const judge = (r: RunRecord): boolean => allMet(r, labels);
    lines.push(`| ${label} | ${countCell(runs, judge)} | ${countCell(audited, judge)} | | ${judge(latest) ? 'met' : 'not met'} |`);
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const table = tallyTable(loadRuns(val('dir') ?? 'bench/results'), val('machine'));
  process.stdout.write(`${table}\n`);
  if (argv.includes('--readme')) await rewriteReadmeBlock('tally', table);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
