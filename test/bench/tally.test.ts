/** bench/tally.ts: how complete runs are counted against the targets (synthetic result files). */
import { describe, expect, test } from 'vitest';
import { parseRun, tallyTable, type RunRecord } from '../../bench/tally.js';

interface Fake {
  date: string;
  cpu?: string;
  commit?: string;
  complete?: boolean;
  audited?: boolean;
  es256?: number;
  ratioEs?: number;
  p99Es?: number;
  rss?: number;
  connected?: number;
}

function run(f: Fake): RunRecord | null {
  const body = {
    commit: f.commit ?? 'abc1234', date: f.date, complete: f.complete ?? true,
    e2e_ed25519_per_s: 15_000, ratio_ed25519: 1.5, receipt_p99_ms_ed25519: 120,
    e2e_es256_per_s: f.es256 ?? 14_500, ratio_es256: f.ratioEs ?? 1.02, receipt_p99_ms_es256: f.p99Es ?? 130,
    gateway_peak_rss_mb: f.rss ?? 440, ledger_append_per_s: 210_000,
    ...(f.audited === false ? {} : { e2e_answers_clean: true }),
    env: { cpuModel: f.cpu ?? 'AMD EPYC' },
    results: { e2e: { fleets: [{ devices: 1000, connected: 1000 }, { devices: 10_000, connected: f.connected ?? 10_000 }] } },
  };
  return parseRun(`bench-${f.date}.json`, JSON.stringify(body));
}

const runs = (...fs: Fake[]): RunRecord[] => fs.map(run).filter((r): r is RunRecord => r !== null);
const row = (table: string, label: string): string[] => {
  const line = table.split('\n').find((l) => l.startsWith(`| ${label}`));
  if (!line) throw new Error(`no row ${label} in\n${table}`);
  return line.split('|').slice(1, -1).map((c) => c.trim());
};

describe('bench tally', () => {
  test('a run that is not complete is not a record', () => {
    expect(run({ date: '2026-12-01T00:00:00Z', complete: false })).toBeNull();
  });

  test('each target counts the runs that met it, over every run and over the audited ones', () => {
    const t = tallyTable(runs(
      { date: '2026-12-01T00:00:00Z', audited: false, es256: 13_000 },
      { date: '2026-12-02T00:00:00Z', es256: 14_000 },
      { date: '2026-12-03T00:00:00Z', es256: 13_999 },
    ));
    expect(row(t, 'ES256 end to end >= 14,000/s')).toEqual(['ES256 end to end >= 14,000/s', '1 of 3', '1 of 2', '13,000/s – 14,000/s', '13,999/s']);
    expect(t.split('\n')[0]).toMatch(/^3 complete runs on AMD EPYC, 2026-12-01 to 2026-12-03 \(0 of them .*\); 2 with the harness/);
  });

  test('the targets met together: all three ES256 ones in the same run, not each in some run', () => {
    const t = tallyTable(runs(
      { date: '2026-12-01T00:00:00Z', es256: 13_000 },
      { date: '2026-12-02T00:00:00Z', ratioEs: 0.99 },
      { date: '2026-12-03T00:00:00Z', p99Es: 250 },
      { date: '2026-12-04T00:00:00Z' },
      { date: '2026-12-05T00:00:00Z', p99Es: 400 },
    ));
    expect(row(t, 'ES256 end to end')[1]).toBe('4 of 5');
    expect(row(t, 'ES256 ratio')[1]).toBe('4 of 5');
    expect(row(t, 'ES256 receipt p99')[1]).toBe('3 of 5');
    expect(row(t, 'ES256, all three in one run').slice(1)).toEqual(['1 of 5', '1 of 5', '', 'not met']);
    expect(row(t, 'every gateway target in one run')[1]).toBe('1 of 5');
  });

  test('RSS recorded in MiB before the harness review is judged in MB', () => {
    const t = tallyTable(runs({ date: '2026-12-01T00:00:00Z', audited: false, rss: 480 }, { date: '2026-12-02T00:00:00Z', rss: 480 }));
    expect(row(t, 'gateway peak RSS').slice(1)).toEqual(['1 of 2', '1 of 1', '480 MB – 503 MB', '480 MB']);
  });

  test('fewer than 10,000 devices connected is a miss', () => {
    const t = tallyTable(runs({ date: '2026-12-01T00:00:00Z', connected: 9_999 }, { date: '2026-12-02T00:00:00Z' }));
    expect(row(t, '10,000 devices')[1]).toBe('1 of 2');
    expect(row(t, 'every gateway target in one run')[1]).toBe('1 of 2');
  });

  test('one machine at a time: the newest run\'s, or the one asked for', () => {
    const all = runs(
      { date: '2026-11-01T00:00:00Z', cpu: 'Intel(R) Xeon', commit: 'old' },
      { date: '2026-12-01T00:00:00Z', cpu: 'AMD EPYC', commit: 'new-dirty' },
    );
    expect(tallyTable(all)).toMatch(/^1 complete run on AMD EPYC.*\(1 of them on a tree with uncommitted changes/);
    expect(tallyTable(all, 'Intel')).toMatch(/^1 complete run on Intel\(R\) Xeon.*The latest is bench-2026-11-01T00:00:00Z\.json \(old\)\./);
    expect(tallyTable(all, 'ARM')).toBe('No complete run on record on ARM.');
  });
});
