/**
 * `--rate R --duration D` sends R x D readings over the fleet. Found by the simulator review: the runner issued the
 * readings due at each tick of its loop and stopped at the first tick past D, so the readings due between its last
 * tick and D were never made; when signing kept the loop from ticking (a high rate on a busy machine) that was a
 * large part of the run (`sim run --rate 5000 --duration 1s` on 4 devices: sent 2,875 of 5,000, the summary saying
 * "5000 readings/s for 1.0 s"). The readings due at D are now issued when the loop ends.
 * A real gateway (port 0, temp dir) and fleet.
 */
import { describe, expect, test } from 'vitest';
import { loadFleet, runFleet } from '../../device-sim/index.js';
import { simGatewayFixture } from './helpers.js';

describe('runFleet sends rate x duration readings', () => {
  const env = simGatewayFixture('op-sim-rate-', { fleet: 2 });

  test.each([
    [30, 1_000], // the loop keeps up: the last tick's share only
    [1_500, 1_000], // signing holds the loop back: whole ticks of readings were left out
  ])('%i readings/s for %i ms', async (rate, durationMs) => {
    const f = loadFleet(env.fleet);
    const s = await runFleet({ devices: f.devices, rate, durationMs });
    expect(s.sent).toBe((rate * durationMs) / 1000);
    expect([s.receipted, s.pending]).toEqual([s.sent, 0]);
  }, 60_000);
});
