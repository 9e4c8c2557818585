/**
 * A data directory that holds a log but whose checkpoint key file is gone (lost, or not restored with the ledger from
 * a backup): the gateway refuses to start (ConfigError) instead of making a new key. With a new key it went on
 * signing the same log's checkpoints with a key no verifier of that log trusts: a restart's checkpoint was no longer
 * signed by the key of the ones handed out before, and `ledger verify`, which checks the key the ledger recorded,
 * failed every block signed after the restart. No key file is made by the refused start; once the key is back, the
 * gateway starts with it and the log goes on under the same verifier key. (The key is made, synced and linked before
 * the ledger directory exists, so no crash leaves a log without its key: test/crash/key-create.test.ts.)
 */
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { gatewayWithDevices, startTestGateway, type TestGateway } from './harness.js';

describe('a log whose checkpoint key file is missing', () => {
  let t: TestGateway | undefined;
  let again: TestGateway | undefined;
  afterAll(async () => {
    await again?.gw.close();
    await t?.stop(); // closes the first gateway again (a no-op) and removes the directory both used
  });

  test('the start is refused (ConfigError) and no key is made; with the key restored the log goes on under it', async () => {
    ({ t } = await gatewayWithDevices(1));
    const size = t.gw.ledger.size();
    const key = t.gw.checkpointVerifierKey;
    expect(size).toBeGreaterThan(0); // the agency's and the device's registrations, under checkpoints signed with the key
    await t.gw.close();

    const keyFile = join(t.dir, 'data', CHECKPOINT_KEY_FILE);
    await rename(keyFile, `${keyFile}.away`);
    await expect(startTestGateway(t.pki, {}, t.dir)).rejects.toMatchObject({ name: 'ConfigError', code: 'CHECKPOINT_KEY_MISSING' });
    expect(existsSync(keyFile)).toBe(false);

    await rename(`${keyFile}.away`, keyFile);
    again = await startTestGateway(t.pki, {}, t.dir);
    expect(again.gw.checkpointVerifierKey).toBe(key);
    expect(again.gw.ledger.size()).toBe(size);
  }, 30_000);
});
