/**
 * Disk full, for real: the gateway (its own process) keeps its data directory on a small tmpfs, and a filler file
 * takes every free byte while a fleet publishes. The gateway must stop accepting (readings and registry writes get
 * STORAGE_UNAVAILABLE, /readyz 503 with that code), stay up (/healthz), never receipt a reading it did not write,
 * and come back once the filler is deleted: readiness green, the refused readings (kept by the devices) resent and
 * accepted, new ones too. Then it is SIGKILLed: everything it receipted must be in the ledger as found on disk
 * (LevelDB drops writes made on the same handle after a failed one at the next open, which is why the gateway
 * reopens the store), `ledger verify` passes, and a restarted gateway carries on from there.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HttpError, onboardDevice, type Agency, type RootAuthority } from '../../device-sim/index.js';
import {
  checkCrashInvariants, checkEverythingReceipted, cliLedgerVerify, FleetRecorder, killGateway, newRoot, readLedger, removeDirs, setUpFleet,
  spawnGateway, until, type GatewayProcess,
} from './harness.js';
import { mountTmpfs, type Tmpfs } from './tmpfs.js';

const DEVICES = 4;
const RATE = 200;

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('disk full: the gateway stops accepting, never receipts what it did not write, and recovers', () => {
  let fs: Tmpfs | undefined;
  let root: RootAuthority;
  let agency: Agency;
  let dir: string;
  let trustFile: string;
  let dataDir: string;
  let gw: GatewayProcess | null = null;
  let fleet: FleetRecorder | undefined;

  beforeAll(async () => {
    fs = await mountTmpfs(32); // throws (the suite fails) where no tmpfs can be mounted
    ({ root, dir, trustFile } = await newRoot());
    dataDir = join(fs.dir, 'data');
    gw = await spawnGateway({ dataDir, trustFile });
    const set = await setUpFleet(root, gw.httpUrl, DEVICES, join(dir, 'devices'));
    agency = set.agency;
    fleet = new FleetRecorder(set.devices);
    fleet.pointAt(gw.mqttUrl);
    await Promise.all(set.devices.map((d) => d.connect()));
  }, 30_000);

  afterAll(async () => {
    await fleet?.stop();
    await Promise.all((fleet?.devices ?? []).map((d) => d.close()));
    await killGateway(gw);
    await fs?.unmount();
    if (dir) await removeDirs([dir]);
  });

  test('STORAGE_UNAVAILABLE and /readyz 503 while full; back to accepting once space returns; every receipt durable', async () => {
    const f = fleet!;
    const g = gw!;
    f.publish(RATE);
    await until(() => f.receiptCount >= 200, 20_000, 'receipts before the disk fills');
    expect((await getJson(`${g.httpUrl}/readyz`)).status).toBe(200);

    const connects = () => f.devices.map((d) => d.stats.connects);
    const connectsBefore = connects();
    await fs!.fill();
    expect(await fs!.freeBytes()).toBe(0);
    const storageRejections = () => f.rejectionCodes().STORAGE_UNAVAILABLE ?? 0;
    await until(() => storageRejections() > 0, 20_000, 'a STORAGE_UNAVAILABLE rejection');
    const ready = await getJson(`${g.httpUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.code).toBe('STORAGE_UNAVAILABLE');
    expect((await getJson(`${g.httpUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${g.httpUrl}/metrics`)).text()).toMatch(/^originproof_storage_writable 0$/m);
    // Registry writes are refused with the same code.
    const refused = await onboardDevice(agency, { gateway: { httpUrl: g.httpUrl, mqttUrl: g.mqttUrl }, kind: 'water-meter' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).status).toBe(503);
    expect(((refused as HttpError).body as { code: string }).code).toBe('STORAGE_UNAVAILABLE');
    // Told why in words, naming no file (the store's error was quoted as it was: LevelDB's names the file it failed on).
    expect(((refused as HttpError).body as { message: string }).message).toMatch(/^the gateway cannot write to its store \(its disk is full\)/);
    for (const r of [...f.rejections.values()].flat()) expect(r.message).not.toContain(fs!.dir);
    // While full: readings keep arriving and are refused; the log does not move.
    const sizeWhileFull = Number((await getJson(`${g.httpUrl}/v1/log`)).body.size);
    const refusedBefore = storageRejections();
    await until(() => storageRejections() >= refusedBefore + 100, 20_000, 'more refusals while full');
    expect(Number((await getJson(`${g.httpUrl}/v1/log`)).body.size)).toBe(sizeWhileFull);
    expect(f.rejectionCodes()).toEqual({ STORAGE_UNAVAILABLE: storageRejections() });
    expect(connects()).toEqual(connectsBefore); // refused with a code, not disconnected

    await fs!.free();
    await until(async () => (await getJson(`${g.httpUrl}/readyz`)).status === 200, 20_000, '/readyz to turn green');
    expect(await (await fetch(`${g.httpUrl}/metrics`)).text()).toMatch(/^originproof_storage_writable 1$/m);
    const receiptsAfter = f.receiptCount;
    await until(() => f.receiptCount >= receiptsAfter + 200, 20_000, 'receipts after the recovery');
    await f.stop();
    await until(() => f.devices.every((d) => d.outbox.size === 0), 30_000, 'every refused reading to be resent and receipted');
    expect(g.alive()).toBe(true);
    // Connections from before the recovery were closed: each device reconnected and resent in seq order.
    connects().forEach((n, i) => expect(n).toBeGreaterThan(connectsBefore[i]!));

    // Not a graceful stop: what was receipted must already be on disk, and stay there after the store is reopened.
    await killGateway(g);
    const cli = cliLedgerVerify(dataDir);
    expect(cli.stdout).toMatch(/^ok: /);
    expect(cli.status).toBe(0);
    const ids = f.devices.map((d) => d.id);
    const l = await readLedger(join(dataDir, 'ledger'), ids);
    checkCrashInvariants(l, f);
    checkEverythingReceipted(l, f);
    expect(f.rejectionCodes()).toEqual({ STORAGE_UNAVAILABLE: storageRejections() });

    // A restarted gateway carries on: one more reading per device is accepted and receipted.
    gw = await spawnGateway({ dataDir, trustFile });
    f.pointAt(gw.mqttUrl);
    for (const d of f.devices) f.sent.get(d.id)!.push((await d.sendReading())!);
    await until(() => f.devices.every((d) => d.outbox.size === 0), 15_000, 'receipts from the restarted gateway');
    const stopped = gw.exited;
    gw.child.kill('SIGTERM');
    expect((await stopped).code).toBe(0);
    checkEverythingReceipted(await readLedger(join(dataDir, 'ledger'), ids), f);
  }, 120_000);
});
