/**
 * While a next checkpoint key is announced, /metrics says how many active devices have heard of it
 * (`originproof_next_key_devices{state="heard"|"unheard"}`, gateway/next-key-coverage.ts NextKeyCoverageWatch), as
 * `ledger rotate-key` will count them offline: readings logged by the running gateway count at once, those logged
 * before its start (the same key announced) are read from the log; readings from before the announcement, or under a
 * key withdrawn for another, do not; a revoked device is not counted. Absent without an announcement. Real gateway
 * (in process), LevelDB, MQTT.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { announceNextCheckpointKey, withdrawNextCheckpointKey } from '../../gateway/checkpoint-next-key.js';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { readNextKeyCoverage } from '../../gateway/next-key-coverage.js';
import { gatewayWithDevices, nowS, publishEach, reading, revoke, type Device, type TestGateway } from './harness.js';

const ORIGIN = 'originproof.local/log'; // the gateway's default origin

describe('/metrics originproof_next_key_devices', () => {
  let t: TestGateway | undefined;
  afterAll(() => t?.stop());

  test('counts the active devices with a reading logged since the checkpoints name the key, across a restart; not before it, nor under a withdrawn key', async () => {
    const fx = await gatewayWithDevices(4);
    t = fx.t;
    const [before, here, earlier, gone] = fx.devices as [Device, Device, Device, Device];
    const dataDir = join(t.dir, 'data');
    let seq = 0;
    const publish = async (d: Device) => expect(typeof (await publishEach(t!, d, [await reading(d, ++seq)]))[0]).toBe('object');
    const scrape = async () => {
      const text = (await t!.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
      const value = (state: string) => Number(new RegExp(`^originproof_next_key_devices\\{state="${state}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
      return text.includes('originproof_next_key_devices') ? { heard: value('heard'), unheard: value('unheard') } : null;
    };

    await publish(before);
    expect(await scrape()).toBeNull(); // nothing announced
    await t.restart(async () => void (await announceNextCheckpointKey(dataDir, ORIGIN)));
    expect(await scrape()).toEqual({ heard: 0, unheard: 4 });
    await publish(earlier); // logged by this gateway: counted at once
    expect(await scrape()).toEqual({ heard: 1, unheard: 3 });

    await t.restart(); // the same key announced: the reading before this start is read from the log
    expect(await scrape()).toEqual({ heard: 1, unheard: 3 });
    await publish(here);
    await revoke(t.gw, fx.agency, gone.cert, nowS());
    expect(await scrape()).toEqual({ heard: 2, unheard: 1 }); // `before` only; `gone` is not active

    // offline, as rotate-key counts: the same
    const key = t.gw.nextCheckpointVerifierKey!;
    await t.restart(async () => {
      const offline = await readNextKeyCoverage(dataDir, ORIGIN, (await loadOrCreateCheckpointKey(dataDir)).secretKey, key, Date.now());
      expect([offline.heard, offline.unheard]).toEqual([2, [before.cert.claims.sub]]);
      // withdrawn for another key: nothing logged under the first counts
      await withdrawNextCheckpointKey(dataDir);
      await announceNextCheckpointKey(dataDir, ORIGIN);
    });
    expect(t.gw.nextCheckpointVerifierKey).not.toBe(key);
    expect(await scrape()).toEqual({ heard: 0, unheard: 3 });
    await publish(here);
    expect(await scrape()).toEqual({ heard: 1, unheard: 2 });
  }, 60_000);
});
