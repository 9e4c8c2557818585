/**
 * The pipeline bench's harness on a small fleet (no rates asserted: speed is measured by `npm run bench`): the
 * gateway's registry and ledger, a real verify pool, every reading receipted and logged, CPU read per thread kind.
 */
import { describe, expect, test } from 'vitest';
import { ALG_ES256 } from '../../protocol/index.js';
import { runPipelineBench } from '../../bench/pipeline.js';

describe('bench pipeline harness', () => {
  test('a small ES256 fleet: every round timed, CPU per reading by thread kind recorded', { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const r = await runPipelineBench({ alg: ALG_ES256, devices: 10, rounds: 2, readingsPerRound: 3, verifyWorkers: 1, log: (l) => lines.push(l) });
    expect(r).toMatchObject({ alg: 'ES256', devices: 10, readingsPerRound: 3, verifyWorkers: 1 });
    expect(r.rounds).toHaveLength(2);
    for (const round of r.rounds) {
      expect(round.perSec).toBeGreaterThan(0);
      // tick-granular (10 ms) figures over 30 readings: present and non-negative, not exact
      expect(Object.keys(round.threadsUs).sort()).toEqual(['loop', 'other', 'workers']);
      for (const us of Object.values(round.threadsUs)) expect(us).toBeGreaterThanOrEqual(0);
    }
    expect(r.perSec).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith('pipeline ES256, 10 devices: median of 2 rounds:'))).toBe(true);
  });
});
