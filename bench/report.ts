/**
 * The bench's outputs: the flat summary written to bench/results/latest.json, the main table and the scaling table
 * (markdown, printed and optionally written into README). Pure functions over the sections' results.
 */
import type { CryptoBenchResult } from './crypto.js';
import type { LedgerBenchResult } from './ledger.js';
import type { E2eFleetResult, E2eResult, ThreadCpu } from './e2e.js';
import type { PipelineBenchResult } from './pipeline.js';

export interface BenchResults {
  crypto?: CryptoBenchResult[];
  ledger?: LedgerBenchResult;
  /** the ingestion pipeline alone, no MQTT (bench/pipeline.ts): one result per algorithm */
  pipeline?: PipelineBenchResult[];
  e2e?: E2eResult;
}

/** latest.json's keys. A figure the run did not measure is null; `_10m` keys are null unless the ledger had 10M entries. */
export interface BenchSummary {
  commit: string;
  date: string;
  e2e_ed25519_per_s: number | null;
  e2e_es256_per_s: number | null;
  raw_verify_ed25519_per_s: number | null;
  raw_verify_es256_per_s: number | null;
  ratio_ed25519: number | null;
  ratio_es256: number | null;
  /** raw node:crypto over the 1,000-device fleet's keys in turn (the like-for-like baseline) and end to end / that */
  raw_verify_ed25519_fleet_keys_per_s: number | null;
  raw_verify_es256_fleet_keys_per_s: number | null;
  ratio_ed25519_fleet_keys: number | null;
  ratio_es256_fleet_keys: number | null;
  /** who verified Ed25519 in the gateway (libsodium or node:crypto), its raw single-core rate and end to end / that */
  ed25519_verifier: string | null;
  raw_verify_ed25519_sodium_per_s: number | null;
  ratio_ed25519_sodium: number | null;
  /** the worse of the two algorithms' p99 at 80% of their maximum rate */
  receipt_p99_ms: number | null;
  receipt_p99_ms_ed25519: number | null;
  receipt_p99_ms_es256: number | null;
  /** MB = 10^6 bytes (result files before 2026-12-04 gave the gateway's in MiB) */
  gateway_peak_rss_mb: number | null;
  /** every reading of every fleet got exactly one receipt, each valid (bench/receipt-audit.ts); null: no e2e section */
  e2e_answers_clean: boolean | null;
  /** the pipeline alone, no MQTT (1,000 devices): readings/s and the event loop's CPU µs per reading (medians of rounds) */
  pipeline_ed25519_per_s: number | null;
  pipeline_es256_per_s: number | null;
  pipeline_ed25519_loop_us: number | null;
  pipeline_es256_loop_us: number | null;
  ledger_entries: number | null;
  ledger_append_per_s: number | null;
  ledger_proof_ms_10m: number | null;
  ledger_verify_per_s: number | null;
  ledger_open_ms_10m: number | null;
  ledger_rss_mb_10m: number | null;
}

const MAIN_FLEET = 1000;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function mainFleet(r: BenchResults, alg: 'EdDSA' | 'ES256'): E2eFleetResult | undefined {
  return r.e2e?.fleets.find((f) => f.alg === alg && f.devices === MAIN_FLEET);
}

function pipelineOf(r: BenchResults, alg: 'EdDSA' | 'ES256'): PipelineBenchResult | undefined {
  return r.pipeline?.find((p) => p.alg === alg);
}

function rawRate(r: BenchResults, alg: 'EdDSA' | 'ES256'): number | null {
  return mainFleet(r, alg)?.rawVerifyPerSec ?? r.crypto?.find((c) => c.alg === alg && c.op !== 'sign')?.nodePerSec ?? null;
}

function sodiumRate(r: BenchResults): number | null {
  return mainFleet(r, 'EdDSA')?.rawSodiumPerSec ?? r.crypto?.find((c) => c.alg === 'EdDSA' && c.op !== 'sign')?.sodiumPerSec ?? null;
}

export function summarize(r: BenchResults, meta: { commit: string; date: string }): BenchSummary {
  const ed = mainFleet(r, 'EdDSA');
  const es = mainFleet(r, 'ES256');
  const p99s = [ed?.paced?.p99Ms, es?.paced?.p99Ms].filter((x): x is number => x !== undefined);
  const l = r.ledger;
  const at10m = l?.entries === 10_000_000;
  return {
    commit: meta.commit,
    date: meta.date,
    e2e_ed25519_per_s: ed?.maxPerSec ?? null,
    e2e_es256_per_s: es?.maxPerSec ?? null,
    raw_verify_ed25519_per_s: rawRate(r, 'EdDSA'),
    raw_verify_es256_per_s: rawRate(r, 'ES256'),
    ratio_ed25519: ed?.ratio ?? null,
    ratio_es256: es?.ratio ?? null,
    raw_verify_ed25519_fleet_keys_per_s: ed?.rawVerifyFleetKeysPerSec ?? null,
    raw_verify_es256_fleet_keys_per_s: es?.rawVerifyFleetKeysPerSec ?? null,
    ratio_ed25519_fleet_keys: ed?.ratioFleetKeys ?? null,
    ratio_es256_fleet_keys: es?.ratioFleetKeys ?? null,
    ed25519_verifier: r.e2e?.ed25519Verifier ?? null,
    raw_verify_ed25519_sodium_per_s: sodiumRate(r),
    ratio_ed25519_sodium: ed?.ratioSodium ?? null,
    receipt_p99_ms: p99s.length > 0 ? Math.max(...p99s) : null,
    receipt_p99_ms_ed25519: ed?.paced?.p99Ms ?? null,
    receipt_p99_ms_es256: es?.paced?.p99Ms ?? null,
    gateway_peak_rss_mb: r.e2e?.maxRssMb ?? null,
    e2e_answers_clean: r.e2e ? answerProblems(r).length === 0 : null,
    pipeline_ed25519_per_s: pipelineOf(r, 'EdDSA')?.perSec ?? null,
    pipeline_es256_per_s: pipelineOf(r, 'ES256')?.perSec ?? null,
    pipeline_ed25519_loop_us: pipelineOf(r, 'EdDSA')?.loopUs ?? null,
    pipeline_es256_loop_us: pipelineOf(r, 'ES256')?.loopUs ?? null,
    ledger_entries: l?.entries ?? null,
    ledger_append_per_s: l?.appendPerSec ?? null,
    ledger_proof_ms_10m: at10m ? l.inclusionProofMedianMs : null,
    ledger_verify_per_s: l?.verifyPerSec ?? null,
    ledger_open_ms_10m: at10m ? l.openMs : null,
    ledger_rss_mb_10m: at10m ? l.rssMaxMB : null,
  };
}

/**
 * Environment variables that change what the bench measures (ledger fsync, the gateway's node flags or settings):
 * recorded in every result file, and a run with any of them set is not complete (it does not replace latest.json).
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (k.startsWith('OP_BENCH_') || k.startsWith('ORIGINPROOF_'))) out[k] = v;
  return out;
}

/** Settings that only add output (phase marks, a log copy), not a different measurement. */
export const OBSERVING_ONLY = new Set(['OP_BENCH_MARKS', 'OP_BENCH_GATEWAY_LOG']);

/** Each fleet whose readings were not all answered with one valid receipt, and what was wrong (older files: none). */
export function answerProblems(r: BenchResults): string[] {
  return (r.e2e?.fleets ?? []).flatMap((f) => (f.answerProblem ? [`${f.alg}, ${fmt(f.devices)} devices: ${f.answerProblem}`] : []));
}

function markdown(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The main table: every issue target with its measured figure. */
export function latestTable(r: BenchResults): string {
  const rows: string[][] = [];
  for (const alg of ['EdDSA', 'ES256'] as const) {
    const f = mainFleet(r, alg);
    const raw = rawRate(r, alg);
    const samples = f?.rawVerifySamples && f.rawVerifySamples.length > 1 ? ` (median of ${f.rawVerifySamples.map(fmt).join(', ')})` : '';
    if (raw !== null) rows.push([`${alg} raw node:crypto verify, one core`, `${fmt(raw)}/s${samples}` + (f?.rawVerifyFleetKeysPerSec ? ` (${fmt(f.rawVerifyFleetKeysPerSec)}/s over the fleet's ${fmt(Math.min(f.devices, 1000))} keys in turn)` : ''), '']);
    const sodium = alg === 'EdDSA' ? sodiumRate(r) : null;
    if (sodium !== null) rows.push([`${alg} raw libsodium verify, one core`, `${fmt(sodium)}/s`, '']);
    const p = pipelineOf(r, alg);
    if (p) {
      rows.push([
        `${alg} pipeline alone, ${fmt(p.devices)} devices, no MQTT (accepted -> verified -> signed block -> receipt encoded)`,
        `${fmt(p.perSec)} readings/s (${p.loopUs} µs event loop CPU per reading; verify workers ${p.workersUs}, helpers ${p.otherUs}; medians of ${p.rounds.length} rounds)`,
        '',
      ]);
    }
    if (!f) continue;
    const by = alg === 'ES256' ? 'node:crypto' : (r.e2e?.ed25519Verifier ?? 'node:crypto');
    rows.push(
      [
        `${alg} end to end, ${fmt(f.devices)} devices (publish -> verified on ${by} -> signed block -> receipt)`,
        `${fmt(f.maxPerSec)} readings/s` +
          (f.gatewayCpuUsPerReading
            ? ` (gateway ${f.gatewayCpuUsPerReading} µs CPU per reading${threads(f.gatewayThreadsUs)}; devices' process ${f.publisherCores} cores)`
            : ''),
        alg === 'EdDSA' ? '>= 10,000/s' : '>= 14,000/s',
      ],
      [
        `${alg} ratio end to end / raw node:crypto (the issue's measure)`,
        `${f.ratio}` + (f.ratioFleetKeys ? ` (over the fleet's keys: ${f.ratioFleetKeys})` : '') + (f.ratioSodium ? ` (end to end / raw libsodium, the verifier the gateway uses: ${f.ratioSodium})` : ''),
        '>= 1.0',
      ],
    );
    if (f.paced) {
      const cpu = f.paced.gatewayCpuUsPerReading ? ` (gateway ${f.paced.gatewayCpuUsPerReading} µs CPU per reading${threads(f.paced.gatewayThreadsUs)})` : '';
      const from = f.paced.maxSendLagMs !== undefined ? ", from each reading's slot in the schedule" : '';
      rows.push([`${alg} receipt latency at 80% of max (${fmt(f.paced.ratePerSec)}/s${from}): p50 / p95 / p99`, `${f.paced.p50Ms} / ${f.paced.p95Ms} / ${f.paced.p99Ms} ms${cpu}`, 'p99 < 250 ms']);
    }
  }
  if (r.e2e) {
    const big = [...r.e2e.fleets].sort((a, b) => b.devices - a.devices)[0];
    const audited = r.e2e.fleets.every((f) => f.answers !== undefined);
    if (big) rows.push([`devices connected at once${audited ? '' : ' (each gets its receipts)'}`, `${fmt(big.connected)} of ${fmt(big.devices)}`, '10,000']);
    if (audited) {
      const problems = answerProblems(r);
      const readings = r.e2e.fleets.reduce((n, f) => n + f.answers.readings, 0);
      rows.push(['readings answered, every fleet and phase (receipt checked: seq, leaf hash, signed checkpoint covering it)', problems.length === 0 ? `${fmt(readings)} of ${fmt(readings)}, one valid receipt each` : `NOT CLEAN: ${problems.join('; ')}`, 'all']);
    }
    rows.push([`gateway peak RSS (own process, verify worker threads: ${r.e2e.verifyWorkers})`, `${r.e2e.maxRssMb} MB`, '< 500 MB']);
  }
  const l = r.ledger;
  if (l) {
    const M = `${(l.entries / 1e6).toLocaleString('en-US')}M`;
    rows.push(
      [`ledger append, blocks of ${fmt(l.blockSize)}, ${M} entries`, `${fmt(l.appendPerSec)} entries/s (${fmt(l.appendPerCpuSec)} per CPU-second)`, '>= 200,000/s'],
      [`ledger RSS while appending ${M}`, `${l.rssMaxMB} MB max; samples ${l.rssSamplesMB.join(', ')}`, '< 300 MB, flat'],
      [`inclusion proof at ${M}, median / p99`, `${l.inclusionProofMedianMs} / ${l.inclusionProofP99Ms} ms`, '< 2 ms median'],
      [`open a ${M}-entry ledger`, `${l.openMs} ms`, '< 1 s'],
    );
    if (l.verifyPerSec !== undefined) rows.push(['ledger verify', `${fmt(l.verifyPerSec)} entries/s`, '>= 200,000/s']);
  }
  return markdown(['measure', 'result', 'target'], rows);
}

/** The cost curve: throughput and gateway memory by fleet size, proof time by log size. */
export function scalingTable(r: BenchResults): string {
  const rows: string[][] = [];
  const fleets = [...(r.e2e?.fleets ?? [])].filter((f) => f.alg === 'EdDSA').sort((a, b) => a.devices - b.devices);
  for (const f of fleets) {
    rows.push([`${fmt(f.devices)} devices connected (EdDSA)`, `${fmt(f.maxPerSec)} readings/s`, `gateway RSS ${f.gatewayRssMb} MB`]);
  }
  const l = r.ledger;
  if (l) {
    for (const p of l.proofsAtSize ?? []) rows.push([`inclusion proof, ${fmt(p.entries)} entries`, `${p.medianMs} ms median`, `p99 ${p.p99Ms} ms`]);
    rows.push([`inclusion proof, ${fmt(l.entries)} entries`, `${l.inclusionProofMedianMs} ms median`, `p99 ${l.inclusionProofP99Ms} ms`]);
  }
  return markdown(['scale', 'throughput / time', 'memory / tail'], rows);
}

/** The gateway's CPU per reading by thread kind, where the run measured it (older result files have none). */
export function threads(t: ThreadCpu | null | undefined): string {
  return t ? `: event loop ${t.loop}, verify workers ${t.workers}, helpers ${t.other}` : '';
}
