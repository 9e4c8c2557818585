/** The bench's report (bench/report.ts): what a run with bad answers or non-default settings shows and records. */
import { describe, expect, test } from 'vitest';
import { answerProblems, latestTable, settingsFromEnv, summarize, OBSERVING_ONLY, type BenchResults } from '../../bench/report.js';
import type { E2eFleetResult } from '../../bench/e2e.js';
import { emptyTally } from '../../bench/receipt-audit.js';

function fleet(alg: 'EdDSA' | 'ES256', devices: number, answerProblem: string | null): E2eFleetResult {
  return {
    alg, devices, readings: devices * 10, connected: devices, connectMs: 1, maxPerSec: 15_000, gatewayCores: 1.7, gatewayCpuUsPerReading: 110, gatewayThreadsUs: null,
    publisherCores: 0.2, rawVerifyPerSec: 15_000, rawVerifySamples: [15_000], ratio: 1, rawVerifyFleetKeysPerSec: null, ratioFleetKeys: null, rawSodiumPerSec: null,
    ratioSodium: null, atMaxP99Ms: 300, paced: null, answers: { ...emptyTally(devices * 10), receipts: devices * 10, inLog: 400 }, answerProblem, gatewayRssMb: 300,
  };
}

const results = (problem: string | null): BenchResults => ({
  e2e: { fleets: [fleet('EdDSA', 1000, null), fleet('ES256', 1000, problem)], maxRssMb: 460, heapAtEnd: '', verifyWorkers: 2, ed25519Verifier: 'libsodium' },
});

describe('bench report', () => {
  test('a clean run says every reading got one valid receipt, and latest.json records it', () => {
    expect(answerProblems(results(null))).toEqual([]);
    expect(latestTable(results(null))).toContain('| 20,000 of 20,000, one valid receipt each | all |');
    expect(summarize(results(null), { commit: 'x', date: 'd' }).e2e_answers_clean).toBe(true);
  });

  test('a fleet with rejected or invalid answers is named in the table and in latest.json', () => {
    const r = results('2 rejected (BAD_SIGNATURE 2)');
    expect(answerProblems(r)).toEqual(['ES256, 1,000 devices: 2 rejected (BAD_SIGNATURE 2)']);
    expect(latestTable(r)).toContain('NOT CLEAN: ES256, 1,000 devices: 2 rejected (BAD_SIGNATURE 2)');
    expect(summarize(r, { commit: 'x', date: 'd' }).e2e_answers_clean).toBe(false);
  });

  test('the pipeline alone gets a row per algorithm and its medians in latest.json, also without an e2e section', () => {
    const pipeline = [{ alg: 'ES256', devices: 1000, readingsPerRound: 20, verifyWorkers: 2, rounds: [{ perSec: 19_000, threadsUs: { loop: 26, workers: 64, other: 4 } }], perSec: 19_000, loopUs: 26, workersUs: 64, otherUs: 4 }];
    expect(latestTable({ pipeline })).toContain('| ES256 pipeline alone, 1,000 devices, no MQTT (accepted -> verified -> signed block -> receipt encoded) | 19,000 readings/s (26 µs event loop CPU per reading; verify workers 64, helpers 4; medians of 1 rounds) |');
    const s = summarize({ ...results(null), pipeline }, { commit: 'x', date: 'd' });
    expect([s.pipeline_es256_per_s, s.pipeline_es256_loop_us, s.pipeline_ed25519_per_s]).toEqual([19_000, 26, null]);
  });

  test('settings that change the measurement are picked up from the environment', () => {
    const s = settingsFromEnv({ OP_BENCH_SYNC: '0', ORIGINPROOF_QUEUE_HIGH_WATER: '1500', OP_BENCH_MARKS: '1', PATH: '/bin', HOME: '/root' });
    expect(s).toEqual({ OP_BENCH_SYNC: '0', ORIGINPROOF_QUEUE_HIGH_WATER: '1500', OP_BENCH_MARKS: '1' });
    expect(Object.keys(s).filter((k) => !OBSERVING_ONLY.has(k))).toEqual(['OP_BENCH_SYNC', 'ORIGINPROOF_QUEUE_HIGH_WATER']);
  });
});
