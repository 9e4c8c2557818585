/**
 * SPEC §4: the gateway orders a device's connect tokens by iat and takes only those it accepts. A token refused with
 * CONNACK 1, 2, 4 or 5 was not taken, so it must not move the device's own record of its last token (else one
 * refused token dated an hour ahead locks the device out for that hour, reboots included); one refused with
 * CONNACK 3, or whose CONNACK never came, may have been taken and is kept.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConnackRefused, Device, loadSecureElement, onboardDevice, readState } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

/** The code of the first connection attempt (CONNACK 0 when connected), the device closed afterwards. */
async function firstAttempt(d: Device): Promise<string> {
  try {
    await d.connect();
    return 'CONNACK_0';
  } catch (err) {
    if (err instanceof ConnackRefused) return err.code;
    throw err;
  } finally {
    await d.close();
  }
}

describe('connect tokens the gateway refused do not move the device’s token order', () => {
  let t: SimGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startSimGateway({ mqttMaxConnections: 1 });
    dir = await mkdtemp(join(tmpdir(), 'op-sim-token-'));
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a clock an hour ahead gets CONNACK 4 (TOKEN_EXPIRED) once; set right, the device connects at once, after a reboot too', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir });
    const path = o.statePath!;
    const boot = () => new Device({ state: readState(path), statePath: path, se: loadSecureElement(join(dir, o.state.keyFile)) });
    const d = boot();
    expect(await firstAttempt(d)).toBe('CONNACK_0');
    const accepted = readState(path).lastTokenIat!;

    d.clock.setDrift(3_600);
    expect(await firstAttempt(d)).toBe('CONNACK_BAD_CREDENTIALS');
    expect(d.state.lastTokenIat).toBe(accepted); // the refused token's iat (accepted + 3600) is forgotten...
    expect(readState(path).lastTokenIat).toBe(accepted); // ...in non-volatile memory too

    d.clock.setDrift(0);
    expect(await firstAttempt(d)).toBe('CONNACK_0');
    d.clock.setDrift(3_600);
    expect(await firstAttempt(d)).toBe('CONNACK_BAD_CREDENTIALS');
    expect(await firstAttempt(boot())).toBe('CONNACK_0'); // rebooted with the clock right
  });

  test('CONNACK 5 (the device is not registered): the token was not taken, the state keeps no token iat', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir, register: false });
    const path = o.statePath!;
    const d = new Device({ state: readState(path), statePath: path, se: loadSecureElement(join(dir, o.state.keyFile)) });
    expect(await firstAttempt(d)).toBe('CONNACK_NOT_AUTHORIZED');
    expect(d.state.lastTokenIat).toBeUndefined();
    expect(readState(path).lastTokenIat).toBeUndefined();
  });

  test('CONNACK 3 (the gateway holds its most connections): the token may be used up, its iat is kept', async () => {
    const a = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir });
    const b = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir });
    const da = new Device({ state: readState(a.statePath!), statePath: a.statePath!, se: loadSecureElement(join(dir, a.state.keyFile)) });
    await da.connect();
    try {
      const db = new Device({ state: readState(b.statePath!), statePath: b.statePath!, se: loadSecureElement(join(dir, b.state.keyFile)) });
      db.clock.setDrift(100); // ahead within the skew: the token's iat is 100 s on
      const before = Math.floor(Date.now() / 1000);
      expect(await firstAttempt(db)).toBe('CONNACK_SERVER_UNAVAILABLE');
      expect(readState(b.statePath!).lastTokenIat).toBeGreaterThanOrEqual(before + 100);
    } finally {
      await da.close();
    }
  });
});
