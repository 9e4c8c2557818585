/**
 * SPEC conventions and reading.cddl's safe-uint/safe-int: integers are at most 2^53 - 1 in magnitude. CBOR could
 * carry a larger seq; the gateway refuses it (CLAIM_INVALID) and takes 2^53 - 1. Checked against a real gateway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CT_READING, createSign1, deviceIdFromKey, encode, keyThumbprint, publicKey, readingClaimsToMap } from '../../protocol/index.js';
import { deviceFrom, onboardDevice, SIM_FIRMWARE, type Device } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

describe('integers beyond 2^53 - 1 (SPEC conventions)', () => {
  let t: SimGateway;
  let d: Device;
  beforeAll(async () => {
    t = await startSimGateway();
    d = deviceFrom(await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'temperature-sensor' }));
    await d.connect();
  });
  afterAll(async () => {
    await d.close();
    await t.stop();
  });

  test("reading.cddl's safe-uint and safe-int end at Number.MAX_SAFE_INTEGER", () => {
    const cddl = readFileSync(join(import.meta.dirname, '..', '..', 'firmware-specs', 'reading.cddl'), 'utf8');
    expect(/^safe-uint = 0\.\.(\d+)$/m.exec(cddl)?.[1]).toBe(String(Number.MAX_SAFE_INTEGER));
    expect(/^safe-int = -(\d+)\.\.(\d+)$/m.exec(cddl)?.slice(1)).toEqual([String(Number.MAX_SAFE_INTEGER), String(Number.MAX_SAFE_INTEGER)]);
  });

  test('seq 2^53 is refused with CLAIM_INVALID (claims.seq); seq 2^53 - 1 is receipted', async () => {
    const key = publicKey(d.se.alg, d.se.publicKey);
    const claims = readingClaimsToMap({
      deviceId: deviceIdFromKey(key), seq: 0, iat: d.clock.now(), firmware: SIM_FIRMWARE,
      body: { kind: 'sensor', type: 'temperature', value: 215, scale: -1, unit: 'Cel' },
    });
    claims.set(-65539, 2n ** 53n); // a CBOR uint, one past the safe range
    const tooBig = await createSign1({ signer: d.se, payload: encode(claims), kid: keyThumbprint(key), contentType: CT_READING });
    const rejection = d.nextRejection();
    d.publishRaw(tooBig);
    expect(await rejection).toMatchObject({ code: 'CLAIM_INVALID', path: 'claims.seq' });

    const { bytes } = await d.signOnly(undefined, { seq: Number.MAX_SAFE_INTEGER });
    const receipt = new Promise((resolve) => d.on('receipt', (r: { seq: number }) => r.seq === Number.MAX_SAFE_INTEGER && resolve(r.seq)));
    d.publishRaw(bytes);
    expect(await receipt).toBe(Number.MAX_SAFE_INTEGER);
  });
});
