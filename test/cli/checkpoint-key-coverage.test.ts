/**
 * `ledger rotate-key` tells which active devices heard of the next key (gateway/next-key-coverage.ts, README
 * "Checkpoint key rotation"), and refuses while one has not (NEXT_KEY_NOT_HEARD, exit 2, nothing written) unless
 * --allow-unheard. One gateway's life, as an operator runs it: devices publish; a first key is announced and one device
 * publishes under it; it is withdrawn for a second key, under which another device publishes; one device is revoked,
 * one has expired by then, one never published. Real gateway (in process), device-sim over MQTT, the built CLI (dist/).
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice, type Device } from '../../device-sim/index.js';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { NEXT_CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-next-key.js';
import { startSimGateway } from '../sim/helpers.js';
import { cliSandbox } from './cli-sandbox.js';

const { p, cli } = cliSandbox('op-cli-coverage-');

describe('originproof ledger rotate-key: which devices heard of the next key', () => {
  test('refused naming the devices that did not (published before, under a withdrawn key, never); revoked and expired ones not required; --allow-unheard switches', async () => {
    const t = await startSimGateway();
    const data = join(t.dir, 'data');
    const onboard = (name: string, exp?: number) => onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir: p(name), ...(exp !== undefined ? { exp } : {}) });
    const connected = async (name: string): Promise<Device> => {
      const d = deviceFrom(await onboard(name), { reconnectMinMs: 20, reconnectMaxMs: 100 });
      await d.connect();
      return d;
    };
    const publish = async (d: Device) => d.nextReceipt((await d.sendReading())!);
    const expiresAt = Math.floor(Date.now() / 1000) + 3;
    const expiring = await onboard('expiring', expiresAt); // registered, never publishes, expired by the check
    const revoked = await onboard('revoked');
    const never = await onboard('never');
    const [after, before, firstKey] = await Promise.all([connected('after'), connected('before'), connected('first-key')]);
    for (const d of [after, before, firstKey]) await publish(d);

    const announce = () => expect(cli('ledger', 'announce-key', '--data-dir', data).code).toBe(0);
    await t.restart(true, async () => announce());
    await publish(firstKey); // its receipt names the first key
    const first = firstKey.checkpointKeys!.next!;
    expect(first).toBeTruthy();
    await t.restart(true, async () => {
      expect(cli('ledger', 'withdraw-key', '--data-dir', data).code).toBe(0);
      announce();
    });
    await publish(after); // its receipt names the second key
    const second = after.checkpointKeys!.next!;
    expect(second).not.toBe(first);
    await t.agency.revoke(t.gw.httpUrl, revoked.cert);
    for (const d of [after, before, firstKey]) await d.close();
    await t.gw.close();
    while (Date.now() / 1000 < expiresAt) await new Promise((r) => setTimeout(r, 100));

    const keyFile = await readFile(join(data, CHECKPOINT_KEY_FILE), 'utf8');
    const refused = cli('ledger', 'rotate-key', '--data-dir', data);
    expect([refused.code, refused.err]).toEqual([2, expect.stringMatching(/^originproof: \[NEXT_KEY_NOT_HEARD\] 1 of 4 active devices had a receipt naming the next key /)]);
    const unheard = [before.id, firstKey.id, never.state.deviceId];
    const named = (out: string) => [after.id, ...unheard, revoked.state.deviceId, expiring.state.deviceId].map((id) => out.includes(id));
    expect(named(refused.err)).toEqual([false, true, true, true, false, false]);
    expect(refused.err).toContain(second);
    // nothing written: the announcement and the key file as they were
    expect(existsSync(join(data, NEXT_CHECKPOINT_KEY_FILE))).toBe(true);
    expect(await readFile(join(data, CHECKPOINT_KEY_FILE), 'utf8')).toBe(keyFile);

    const rotated = cli('ledger', 'rotate-key', '--data-dir', data, '--allow-unheard');
    expect(rotated.code, rotated.out).toBe(0);
    expect(rotated.out).toMatch(/next key heard by 1 of 4 active devices/);
    expect(rotated.out).toMatch(/not heard by 3 \(--allow-unheard\)/);
    expect(named(rotated.out)).toEqual([false, true, true, true, false, false]);
    expect(rotated.out).toContain(`checkpoint key  ${second}`);
    expect(existsSync(join(data, NEXT_CHECKPOINT_KEY_FILE))).toBe(false);
    await rm(t.dir, { recursive: true, force: true });
  }, 60_000);
});
