/**
 * A fleet run whose devices cannot keep their readings (disk full, a write error): a reading is published only once
 * its outbox log holds it (SPEC §7), so none goes out, and the summary says so. Found by review: such a reading was
 * counted as sent (before its write), the failure was swallowed by the fleet, and `sim run` printed "sent N ...
 * pending 0" with nothing telling that none had left the device. Here a real failing write: the device's outbox log
 * path is taken by a directory (EISDIR, as ENOSPC would be), with the real gateway.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Device, formatSummary, loadSecureElement, onboardDevice, outboxFilePath, readState, runFleet } from '../../device-sim/index.js';
import { simGatewayFixture } from './helpers.js';

describe('a fleet whose readings cannot be kept', () => {
  const env = simGatewayFixture('op-sim-fleet-fail-');

  test('nothing is counted as sent; the failed readings are counted by code and shown', async () => {
    const { t, dir } = env;
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir });
    const d = new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)) });
    mkdirSync(outboxFilePath(o.statePath!)); // from now on every write of the outbox log fails
    const s = await runFleet({ devices: [d], rate: 20, durationMs: 1_000, drainMs: 500 });
    expect(s.connected).toBe(1);
    expect(s.sent).toBe(0);
    expect(s.pending).toBe(0);
    expect(s.notSent.EISDIR).toBeGreaterThan(5);
    expect(formatSummary(s)).toMatch(/not sent \(could not be made or kept\): EISDIR \d+/);
  });
});
