/**
 * Crash safety of the whole gateway: it runs as its own process (as `npm start` runs it) while a fleet of real
 * devices publishes over MQTT at QoS 1, and is killed with SIGKILL again and again: at each test-only crash point
 * (gateway/crash-points.ts: during checkpoint signing, before a block's write, after its segment write, with its
 * batch in LevelDB's hands, after its write, between receipts)
 * and at random times. After every kill the ledger is read as left on disk and must hold: `ledger verify` passes,
 * no reading twice, per device seqs 0..n without a gap, the device index (the gateway's last accepted seq) equal to
 * what is logged, and every receipt a device got for an entry that is there. And every signed checkpoint handed out
 * (each receipt's, each GET /v1/log answer read while the gateway ran) verifies with the gateway's key, covers its
 * receipt's entry and is of a prefix of the log on disk, consistent with the latest checkpoint there (no split view
 * across a crash: checkpoint-watch.ts). The gateway then restarts on the same data directory and, before any device
 * reaches it, serves a checkpoint with the same key at least as large as any handed out before the kill (never
 * backwards); the devices are pointed at its new ports, reconnect and resend what they hold.
 * At the end: every reading every device signed is in the ledger exactly once and receipted, and the sequence
 * state carries on (one more reading per device is accepted).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RootAuthority } from '../../device-sim/index.js';
import { CRASH_ENV, CRASH_POINTS, type CrashPoint } from '../../gateway/crash-points.js';
import {
  checkCrashInvariants, checkEverythingReceipted, cliLedgerVerify, FleetRecorder, killGateway, newRoot, readLedger, removeDirs, setUpFleet,
  spawnGateway, until, type GatewayProcess,
} from './harness.js';
import { entryLocation } from '../ledger/entry-location.js';
import { CheckpointWatch, getLog } from './checkpoint-watch.js';

const DEVICES = 8;
// Readings/s over the fleet. 150, not 300: at 300 the devices' signing and the gateway's checks of the resent backlog
// saturated a 2-core machine, so each run took longer to reach its crash point and the backlog grew run by run
// (30,000 readings sent). At 150 every block still holds several readings (blocks ~20/s), so a kill inside a block's
// receipts or its write still splits one, each restart still gets a backlog to resend (what the devices made
// while the gateway was down), and the run still sends several thousand readings (the bound below is 2,000).
const RATE = 150;
const RANDOM_KILLS = 3;
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
let watch: CheckpointWatch;
/** The log's size as GET /v1/log answers; the checkpoint in the answer is one handed out, kept for the checks. */
const logSize = async (gw: GatewayProcess): Promise<number> => {
  const log = await getLog(gw.httpUrl);
  if (log.checkpoint !== null) watch.saw(log.checkpoint, `GET /v1/log (size ${log.size})`);
  return log.size;
};

/**
 * Reads GET /v1/log every 50 ms until the gateway is gone; resolves with the checkpoints it answered with (handed to
 * the watch then, so that a failing check fails the test where it is awaited).
 */
async function pollLog(gw: GatewayProcess): Promise<string[]> {
  const notes: string[] = [];
  while (gw.alive()) {
    const log = await getLog(gw.httpUrl).catch(() => null); // null: killed under the request
    if (log?.checkpoint) notes.push(log.checkpoint);
    await Promise.race([gw.exited, new Promise((r) => setTimeout(r, 50))]);
  }
  return notes;
}
const sawPolled = (notes: string[]) => notes.forEach((n) => watch.saw(n, 'GET /v1/log (polled)'));

/** How far into a run each crash point fires: blocks are ~20/s, receipts ~RATE/s (more right after a restart: the resends). */
function nthFor(point: CrashPoint): number {
  return point === 'before-receipt' ? rand(100, 300) : rand(5, 15);
}

describe('crash safety: the gateway SIGKILLed while a fleet publishes (QoS 1)', () => {
  let root: RootAuthority;
  let dir: string;
  let trustFile: string;
  let dataDir: string;
  let gw: GatewayProcess | null = null;
  let fleet: FleetRecorder;

  beforeAll(async () => {
    ({ root, dir, trustFile } = await newRoot());
    dataDir = join(dir, 'data');
    gw = await spawnGateway({ dataDir, trustFile });
    const log = await getLog(gw.httpUrl);
    watch = new CheckpointWatch(log.verifierKey, log.origin);
    const { devices } = await setUpFleet(root, gw.httpUrl, DEVICES, join(dir, 'devices'));
    // The key the devices check their receipts with is the one the watch checks every checkpoint with.
    for (const d of devices) expect(d.state.gateway.checkpointVerifierKey).toBe(log.verifierKey);
    fleet = new FleetRecorder(devices);
    fleet.pointAt(gw.mqttUrl);
    await Promise.all(devices.map((d) => d.connect()));
  }, 30_000);

  afterAll(async () => {
    await fleet?.stop();
    await Promise.all((fleet?.devices ?? []).map((d) => d.close()));
    await killGateway(gw);
    await removeDirs([dir]);
  });

  const read = () => readLedger(join(dataDir, 'ledger'), fleet.devices.map((d) => d.id), watch.proofSizes(fleet));

  test('every receipted reading is in the ledger exactly once, every sent reading ends up receipted, `ledger verify` passes', async () => {
    fleet.publish(RATE);
    // The gateway from beforeAll goes first, killed at a random time; then one run per crash point, then more random kills.
    const plan: (CrashPoint | 'random')[] = ['random', ...CRASH_POINTS, ...Array<'random'>(RANDOM_KILLS - 1).fill('random')];
    let lastSize = 0;
    for (const [i, step] of plan.entries()) {
      if (i > 0) {
        const env: Record<string, string> = step === 'random' ? {} : { [CRASH_ENV]: `${step}:${nthFor(step)}` };
        gw = await spawnGateway({ dataDir, trustFile, env });
        await watch.restarted(gw, fleet);
        fleet.pointAt(gw.mqttUrl);
      }
      const running = gw!;
      const polling = pollLog(running);
      if (step === 'random') {
        // Mid-stream: once this run has logged 100 new readings, at a random moment within the next 400 ms.
        await until(async () => (await logSize(running)) >= lastSize + 100, 20_000, 'new entries from the restarted gateway');
        await new Promise((r) => setTimeout(r, rand(0, 400)));
        running.child.kill('SIGKILL');
      }
      const exit = await Promise.race([running.exited, new Promise<null>((r) => setTimeout(() => r(null), 25_000))]);
      expect(exit, `step ${i} (${step}): the gateway did not die`).not.toBeNull();
      expect(exit!.signal).toBe('SIGKILL');
      if (step !== 'random') expect(running.stderr()).toContain(`${CRASH_ENV}: reached ${step}:`);
      sawPolled(await polling);

      const l = await read();
      const { readings, receipts } = checkCrashInvariants(l, fleet);
      watch.check(l, fleet);
      // Each run did real work before its kill (before-receipt counts receipts, which may all be for resends).
      if (step !== 'before-receipt') expect(l.size, `step ${i} (${step}): the ledger did not grow`).toBeGreaterThan(lastSize);
      lastSize = l.size;
      if (step === 'after-segment-write') {
        // Killed between the segment write (fdatasync'ed) and the batch: the block's bytes lie past the committed
        // entries, unindexed (the restarted gateway cuts them before its first write).
        const last = await entryLocation(join(dataDir, 'ledger'), l.size - 1);
        expect((await stat(last.file)).size, 'bytes of the block killed after its segment write').toBeGreaterThan(last.end);
      }
      if (step === 'after-block-write') {
        // The block written just before the kill is durable, and not one of its receipts went out.
        const unreceipted = fleet.devices.some((d) => [...l.readings.get(d.id)!.keys()].some((seq) => !fleet.receipts.get(d.id)!.has(seq)));
        expect(unreceipted).toBe(true);
      }
      expect(readings).toBeGreaterThan(0);
      expect(receipts).toBeGreaterThan(0);
    }

    // Last restart: no crash; the fleet stops making readings and every device empties its outbox.
    gw = await spawnGateway({ dataDir, trustFile });
    await watch.restarted(gw, fleet);
    fleet.pointAt(gw.mqttUrl);
    const polling = pollLog(gw);
    await fleet.stop();
    await until(() => fleet.devices.every((d) => d.outbox.size === 0), 30_000, 'every device to hold a receipt for every reading');
    // The sequence state carried over: one more reading per device is accepted (not a REPLAY, not a duplicate).
    for (const d of fleet.devices) fleet.sent.get(d.id)!.push((await d.sendReading())!);
    await until(() => fleet.devices.every((d) => d.outbox.size === 0), 10_000, 'receipts for one more reading per device');
    const stopped = gw.exited;
    gw.child.kill('SIGTERM');
    expect((await stopped).code).toBe(0);
    sawPolled(await polling);

    const cli = cliLedgerVerify(dataDir);
    expect(cli.stdout).toMatch(/^ok: /);
    expect(cli.status).toBe(0);
    const l = await read();
    checkCrashInvariants(l, fleet);
    const { checkpoints } = watch.check(l, fleet);
    expect(checkpoints).toBeGreaterThan(CRASH_POINTS.length + RANDOM_KILLS);
    checkEverythingReceipted(l, fleet);
    expect(fleet.rejectionCodes()).toEqual({});
    expect(fleet.totalSent()).toBeGreaterThan(2_000);
  }, 240_000);
});
