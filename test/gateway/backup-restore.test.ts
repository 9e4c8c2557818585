/**
 * Backups of the data directory, as README's Durability section tells an operator to take them: a copy made while the
 * gateway is stopped is a whole gateway (the log verifies, the same checkpoint key, readings go on). Restoring an
 * older copy rolls the log back: readings receipted since are gone from it, and the gateway cannot tell. What catches
 * it is a verifier that saw a later checkpoint: `originproof monitor` alarms (CONSISTENCY_INVALID) at once when the
 * log serves a smaller tree, and again once the restored log grows past what it saw with other entries (REWRITE).
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { monitorOnce } from '../../cli/commands/monitor.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { connectDevice, gatewayWithDevices, reading, type Device, type TestGateway } from './harness.js';

describe('a backup of the data directory, and restoring an older one', () => {
  let t: TestGateway;
  let dev: Device;
  let scratch: string;
  const data = () => join(t.dir, 'data');
  const backup = () => join(scratch, 'backup');
  const round = () => monitorOnce({ gateway: t.gw.httpUrl, statePath: join(scratch, 'monitor.json') });

  /** Publish readings `seqs` and return their receipts' entry indexes. */
  async function publish(...seqs: number[]): Promise<number[]> {
    const c = await connectDevice(t.gw, dev);
    const indexes: number[] = [];
    try {
      for (const seq of seqs) {
        await c.publish(await reading(dev, seq));
        const a = await c.next();
        if (a.kind !== 'receipt') throw new Error(`seq ${seq}: ${a.rejection.code}`);
        indexes.push(a.receipt.index);
      }
    } finally {
      await c.end();
    }
    return indexes;
  }

  async function verifyStoppedLog(dir: string): Promise<void> {
    const backend = await LevelBackend.open(join(dir, 'ledger'), { sync: false });
    try {
      expect(await verifyLedger(backend, { workers: 0 })).toMatchObject({ ok: true });
    } finally {
      await backend.close();
    }
  }

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'op-backup-'));
    // One HTTP port across the restarts: the monitor's state file is for one gateway URL.
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const httpPort = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const fx = await gatewayWithDevices(1, { blockMaxMs: 5, httpPort });
    t = fx.t;
    dev = fx.devices[0]!;
  });
  afterAll(async () => {
    await t?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  test('a copy taken while stopped is a whole gateway; an older copy restored rolls back, and the monitor alarms', async () => {
    await publish(1, 2);
    expect((await round()).status).toBe('first');
    const key = t.gw.checkpointVerifierKey;
    const backedUpSize = t.gw.ledger.size();

    // The backup: stop, copy the whole data directory, start again.
    await t.restart(async () => {
      await cp(data(), backup(), { recursive: true });
    });
    await verifyStoppedLog(backup());
    expect([t.gw.checkpointVerifierKey, t.gw.ledger.size()]).toEqual([key, backedUpSize]);
    const later = await publish(3, 4);
    expect((await round()).status).toBe('grew');
    const seenSize = t.gw.ledger.size();
    expect(seenSize).toBeGreaterThan(backedUpSize);

    // Restoring the older copy: the gateway starts on it (same key), without the readings receipted since.
    await t.restart(async () => {
      await rm(data(), { recursive: true, force: true });
      await cp(backup(), data(), { recursive: true });
    });
    expect([t.gw.checkpointVerifierKey, t.gw.ledger.size()]).toEqual([key, backedUpSize]);
    for (const index of later) expect((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}` })).statusCode).toBe(404);
    const shrank = await round();
    expect([shrank.status, shrank.code]).toEqual(['alarm', 'CONSISTENCY_INVALID']);

    // The device goes on from its own counter; the restored log grows past the size the monitor saw, with other
    // entries at the places of the lost ones: a second alarm, a rewrite.
    await publish(5, 6, 7, 8);
    expect(t.gw.ledger.size()).toBeGreaterThan(seenSize);
    const rewritten = await round();
    expect([rewritten.status, rewritten.code, rewritten.unacknowledged]).toEqual(['alarm', 'CONSISTENCY_INVALID', 2]);
    expect(rewritten.message).toMatch(/^REWRITE/);
  });
});
