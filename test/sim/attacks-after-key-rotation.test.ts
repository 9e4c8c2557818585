/**
 * `sim run --attack` on a fleet onboarded before the gateway's checkpoint key was rotated (README's rotation:
 * announce-key, restart, rotate-key). Found by the simulator review: the attacks' fresh devices were provisioned with
 * the key fleet.json saved at onboarding, the retired one, so every receipt they waited for failed its check
 * (CHECKPOINT_INVALID) and `replay` and `revoked` reported "not rejected" (exit 1) against a gateway that did
 * nothing wrong. They are onboarded now as `sim onboard` onboards: with the key the gateway publishes on GET /v1/log.
 * The fleet's own devices follow the handover themselves (SPEC §7); fleet.json keeps the onboarded key.
 * A real gateway (port 0, temp dir), its real key files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { announceNextCheckpointKey } from '../../gateway/checkpoint-next-key.js';
import { rotateCheckpointKey } from '../../gateway/checkpoint-rotate.js';
import { loadFleet, onboardFleet, runFleet } from '../../device-sim/index.js';
import { simGatewayFixture } from './helpers.js';

const ORIGIN = 'originproof.local/log';

describe('attacks after a checkpoint key rotation', () => {
  const env = simGatewayFixture('op-sim-attacks-rotated-');

  test("the attacks' devices take receipts signed by the gateway's new key", async () => {
    const { t, dir } = env;
    const fleet = join(dir, 'fleet');
    await onboardFleet({ gateway: t.endpoint, agency: t.agency, agencyKeyFile: 'unused.key', agencyCertFile: 'unused.cert', count: 1, kinds: ['water-meter'], out: fleet });
    const onboardedKey = t.gw.checkpointVerifierKey;
    const data = join(t.dir, 'data');
    await t.restart(true, async () => void (await announceNextCheckpointKey(data, ORIGIN)));
    const run = (attacks: ('replay' | 'revoked')[]) => {
      const f = loadFleet(fleet);
      return runFleet({ devices: f.devices, rate: 10, durationMs: 500, attacks, agency: t.agency, gateway: f.manifest.gateway, attackTimeoutMs: 5_000 });
    };
    expect((await run([])).receipted).toBeGreaterThan(0); // a checkpoint naming the next key; the device keeps it
    await t.restart(true, async () => void (await rotateCheckpointKey(data, ORIGIN)));
    expect(t.gw.checkpointVerifierKey).not.toBe(onboardedKey);
    expect((JSON.parse(readFileSync(join(fleet, 'fleet.json'), 'utf8')) as { gateway: { checkpointVerifierKey: string } }).gateway.checkpointVerifierKey).toBe(onboardedKey);

    const s = await run(['replay', 'revoked']);
    expect(s.attacks.map((a) => [a.name, a.got, a.ok])).toEqual([['replay', 'REPLAY', true], ['revoked', 'CERT_REVOKED', true]]);
    expect(s.attacksOk).toBe(true);
    expect(s.receiptInvalid).toBe(0);
    expect(s.receipted).toBeGreaterThan(0); // the fleet's device followed the handover
  });
});
