/**
 * A run whose stop came before it began (`sim run` given SIGINT while it loaded the fleet, its handler now taken
 * first): nothing is connected, no reading made, the attacks asked for are reported not run (so not passed), and the
 * devices are closed (their state-file locks let go). Before, the fleet connected and the attacks ran in full after
 * the stop. A real gateway (port 0, temp dir) and fleet.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { loadFleet, runFleet } from '../../device-sim/index.js';
import { simGatewayFixture } from './helpers.js';

describe('runFleet stopped before it began', () => {
  const env = simGatewayFixture('op-sim-stopped-first-', { fleet: 2 });

  test('no connection, no reading; the attacks not run and not passed; no lock left', async () => {
    const f = loadFleet(env.fleet);
    const s = await runFleet({
      devices: f.devices, rate: 50, durationMs: 5_000, attacks: ['tampered'], agency: env.t.agency, gateway: f.manifest.gateway,
      signal: AbortSignal.abort(),
    });
    expect([s.connected, s.connectFailures, s.sent, s.stoppedAfterMs !== null]).toEqual([0, {}, 0, true]);
    expect(s.attacks.map((a) => [a.name, a.got, a.ok])).toEqual([['tampered', null, false]]);
    expect(s.attacksOk).toBe(false);
    expect(f.devices.map((d) => d.stats.connects)).toEqual([0, 0]);
    expect(readdirSync(env.fleet).filter((name) => name.endsWith('.lock'))).toEqual([]);
  }, 30_000);
});
