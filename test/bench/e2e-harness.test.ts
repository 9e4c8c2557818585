/**
 * The end-to-end bench's harness on a small fleet (no rates asserted: speed is measured by `npm run bench`): a real
 * gateway, the real publisher process, and every reading of every phase audited (bench/receipt-audit.ts).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ALG_EDDSA, ALG_ES256, ed25519NoteSigner, formatVerifierKey, generateSecretKey } from '../../protocol/index.js';

// The built bench, as `npm run bench` runs it (global setup builds dist/): it forks its publisher from dist/bench.
const { runE2eBench } = (await import(pathToFileURL(join(process.cwd(), 'dist/bench/e2e.js')).href)) as typeof import('../../bench/e2e.js');

// The raw verification samples the bench takes around each fleet's phases (1 s each by default, three of node:crypto,
// for Ed25519 three of libsodium, one of 1.5 s over the fleet's keys) measure a rate no test here asserts: short ones
// still verify real signatures (a failed one throws) and are still reported, for a fraction of the CPU.
const RAW_SAMPLE_MS = 50;

describe('bench e2e harness', () => {
  test('a small paced ES256 fleet: each reading answered by one valid receipt, latency and memory recorded', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const r = await runE2eBench({ fleets: [{ alg: ALG_ES256, devices: 20, readingsPerDevice: 10, paced: true }], inProcess: true, verifyWorkers: 1, rawSampleMs: RAW_SAMPLE_MS, log: (l) => lines.push(l) });
    const f = r.fleets[0]!;
    expect(f.answerProblem).toBeNull();
    // warm-up 1 + maximum 5 + paced 4 readings per device; every receipt of these small phases (20, 100 and 80, each
    // under the sample of 200) also proved in the gateway's log
    expect(f.answers).toEqual({ readings: 200, receipts: 200, rejected: {}, duplicates: 0, unexpected: 0, invalid: 0, inLog: 200 });
    expect(lines.some((l) => l.includes('answers clean (200 readings, each one valid receipt; 200 of them proved in the log)'))).toBe(true);
    expect(f.paced).not.toBeNull();
    expect(f.paced!.p99Ms).toBeGreaterThan(0);
    expect(f.paced!.maxSendLagMs).toBeGreaterThanOrEqual(0);
    expect(f.gatewayRssMb).toBeGreaterThan(0);
    expect(r.maxRssMb).toBeGreaterThanOrEqual(f.gatewayRssMb);
  });

  test('receipts checked against another key than the gateway\'s: every one counted invalid, the fleet not clean', { timeout: 120_000 }, async () => {
    const other = ed25519NoteSigner('another.example', generateSecretKey(ALG_EDDSA));
    const r = await runE2eBench({ fleets: [{ alg: ALG_EDDSA, devices: 5, readingsPerDevice: 10, paced: false }], inProcess: true, verifyWorkers: 1, rawSampleMs: RAW_SAMPLE_MS, auditKey: formatVerifierKey(other.name, other.publicKey), log: () => {} });
    const f = r.fleets[0]!;
    expect(f.answers.receipts).toBe(50);
    expect(f.answers.invalid).toBe(50);
    expect(f.answers.inLog).toBe(0); // none passed the audit, so none was sampled to prove
    expect(f.answerProblem).toMatch(/^50 invalid receipts \(first: CHECKPOINT_INVALID: /);
  });

  test('a fleet too small to give every phase a reading per device is refused at once (a phase of none never ended)', { timeout: 30_000 }, async () => {
    // 2 readings: warm-up 1, maximum 1, paced 0; 1 reading unpaced: maximum 0
    await expect(runE2eBench({ fleets: [{ alg: ALG_EDDSA, devices: 2, readingsPerDevice: 2, paced: true }], inProcess: true, verifyWorkers: 1, log: () => {} })).rejects.toThrow(/readingsPerDevice/);
    await expect(runE2eBench({ fleets: [{ alg: ALG_EDDSA, devices: 2, readingsPerDevice: 1, paced: false }], inProcess: true, verifyWorkers: 1, log: () => {} })).rejects.toThrow(/readingsPerDevice/);
  });
});
