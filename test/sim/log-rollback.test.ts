/**
 * Devices notice a log that went back (SPEC §7, device-sim/log-watch.ts). A real gateway (port 0, temp dir) and real
 * simulated devices; the operator restores an older copy of the data directory, as test/gateway/backup-restore.test.ts
 * does: the gateway signs checkpoints of a smaller tree with the same key. A device that stayed up through it, and one
 * restarted from its state file, each report it once, with both signed notes as evidence (in the state file too);
 * their readings go on being receipted. The fleet's summary, and `sim run` (the built CLI: exit 1), count them.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openCheckpoint, parseVerifierKey } from '../../protocol/index.js';
import { Device, formatSummary, loadFleet, loadSecureElement, onboardDevice, onboardFleet, readState, runFleet, type LogEvidence, type Onboarded } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

describe('a device sees the log go back after an older backup is restored', () => {
  let t: SimGateway;
  let dir: string;
  const data = () => join(t.dir, 'data');
  const backup = () => join(dir, 'backup');
  const lines: string[] = [];
  const boot = (o: Onboarded) =>
    new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)), reconnectMinMs: 100, reconnectMaxMs: 400, log: (l) => lines.push(l) });
  const receipted = async (d: Device, n: number) => {
    for (let i = 0; i < n; i++) await d.nextReceipt((await d.sendReading())!, 15_000);
  };

  beforeAll(async () => {
    t = await startSimGateway({ blockMaxMs: 5 });
    dir = await mkdtemp(join(tmpdir(), 'op-sim-rollback-'));
  });
  afterAll(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('reported once, with both notes signed by the gateway key; the device goes on', async () => {
    const [oa, ob] = [await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'temperature-sensor', dir }), await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir })];
    const a = boot(oa); // stays up throughout
    let b = boot(ob); // restarted while the gateway is restored
    const seen: LogEvidence[] = [];
    a.on('log-rollback', (e: LogEvidence) => seen.push(e));
    try {
      await a.connect();
      await b.connect();
      await receipted(a, 2);
      await receipted(b, 1);
      const key = parseVerifierKey(t.gw.checkpointVerifierKey);

      await t.restart(true, () => cp(data(), backup(), { recursive: true }));
      const backedUp = t.gw.ledger.size();
      await receipted(a, 3);
      const aLargest = t.gw.ledger.size();
      await receipted(b, 1);
      const largest = t.gw.ledger.size();
      expect([a.logWatch.size, b.logWatch.size, a.stats.logRollbacks]).toEqual([aLargest, largest, 0]);
      await b.close(); // its largest checkpoint is on disk (written at close)

      // The older copy restored: the same key, the readings receipted since are gone.
      await t.restart(true, async () => {
        await rm(data(), { recursive: true, force: true });
        await cp(backup(), data(), { recursive: true });
      });
      expect([t.gw.ledger.size(), t.gw.checkpointVerifierKey]).toEqual([backedUp, t.endpoint.checkpointVerifierKey]);

      await receipted(a, 1); // its receipt holds for the log as it is now
      expect(seen).toHaveLength(1);
      const e = seen[0]!;
      expect(e).toMatchObject({ kind: 'rollback', keptSize: aLargest, receivedSize: backedUp + 1 });
      // Evidence: two notes, each verifying with the gateway's key, of one origin and a smaller tree after a larger.
      const [kept, received] = [openCheckpoint(e.kept, [key]), openCheckpoint(e.received, [key])];
      expect([kept.origin, kept.size, received.origin, received.size]).toEqual([e.origin, aLargest, e.origin, backedUp + 1]);
      expect(readState(oa.statePath!).evidence).toEqual([e]); // written at once
      expect(lines.filter((l) => l.includes(a.id))).toEqual([expect.stringMatching(/CONSISTENCY_INVALID: the log .* went back from size \d+ to \d+/)]);

      // A device restarted from its state file compares with the checkpoint it kept there.
      b = boot(ob);
      expect(b.logWatch.size).toBe(largest);
      await b.connect();
      await receipted(b, 1);
      expect(b.stats.logRollbacks).toBe(1);
      expect(readState(ob.statePath!).evidence).toMatchObject([{ kind: 'rollback', keptSize: largest, receivedSize: backedUp + 2 }]);

      // Once per rollback: each adopted the restored log's checkpoint, so their next receipts, of the very sizes
      // they kept before (each the same size with another root: a fork next to the old reference), say nothing.
      await receipted(a, 1);
      await receipted(b, 1);
      expect([a.logWatch.size, b.logWatch.size]).toEqual([aLargest, largest]);
      expect([seen.length, a.stats.logRollbacks, a.stats.receiptInvalid, b.stats.logRollbacks, b.stats.receiptInvalid]).toEqual([1, 1, 0, 1, 0]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a fleet run after the restore: the summary counts the devices and names one; sim run exits 1', async () => {
    const fleet = join(dir, 'fleet');
    const older = join(dir, 'backup-fleet');
    await onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: 2, kinds: ['temperature-sensor'], out: fleet });
    await t.restart(true, () => cp(data(), older, { recursive: true }));
    const before = await runFleet({ devices: loadFleet(fleet).devices, rate: 20, durationMs: 500 }); // closed at the end: references written
    expect([before.receipted, before.pending, before.logRollbacks]).toEqual([before.sent, 0, { devices: 0, example: null }]);
    expect(formatSummary(before)).not.toMatch(/ROLLBACK/);
    await t.restart(true, async () => {
      await rm(data(), { recursive: true, force: true });
      await cp(older, data(), { recursive: true });
    });

    const main = join(process.cwd(), 'dist/cli/main.js');
    // Not spawnSync: the gateway runs in this process and must answer meanwhile.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [main, 'sim', 'run', '--fleet', fleet, '--rate', '20', '--duration', '1s', '--no-progress'], { encoding: 'utf8', timeout: 30_000 }, (_err, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr }));
    });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/LOG ROLLBACK \(CONSISTENCY_INVALID\): seen by 2 devices, e\.g\. [0-9a-f]+: \S+ (size \d+ -> \d+|fork at size \d+); both signed checkpoints are in each device's state file \(evidence\)/);
    expect(run.stderr).toMatch(/2 of 2 devices saw the log go back \(CONSISTENCY_INVALID\)/);
    // One line per device (a fork, the same size with another root, only on a machine too slow to sign more than one reading per device in the run before).
    expect(run.stderr.match(/CONSISTENCY_INVALID: the log .* (went back|forked)/g)).toHaveLength(2);

    // Run again: each device reported it once and adopted the restored log; nothing new to report.
    const after = await runFleet({ devices: loadFleet(fleet).devices, rate: 20, durationMs: 500 });
    expect([after.receipted, after.logRollbacks.devices]).toEqual([after.sent, 0]);
  });
});
