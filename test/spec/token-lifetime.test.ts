/**
 * SPEC §4: the connect token is checked at CONNECT only. A connection outlives its token's exp (and the skew after
 * it): the device keeps it open and makes a new token only for its next CONNECT, which the token's window then decides.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { createConnectToken } from '../../protocol/index.js';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { Pki, connackCode, connectDevice, connectsRefused, nowS, reading, register, startTestGateway, type TestGateway } from '../gateway/harness.js';

describe('a connection outlives its connect token (SPEC §4)', () => {
  let t: TestGateway | undefined;
  afterAll(() => t?.stop());

  test('an hour past exp + skew, the open connection still takes readings; the same token on a new CONNECT is TOKEN_EXPIRED (4)', async () => {
    let offsetMs = 0;
    const pki = await Pki.create();
    t = await startTestGateway(pki, { mqttConnectFailuresPerMinute: 0 }, undefined, { now: () => Date.now() + offsetMs });
    const agency = await pki.agency('psb.example');
    const d = await pki.device(agency);
    await register(t.gw, agency, [d]);
    const iat = nowS();
    const token = await createConnectToken(d.signer, { aud: 'originproof', iat, exp: iat + 1 }); // 1 s of life
    const c = await connectDevice(t.gw, d, { token });
    try {
      await new Promise((r) => setTimeout(r, 1500)); // past exp on the wall clock too
      offsetMs = 3600_000; // the gateway's clock an hour on: past exp + 300 s of skew
      await c.publish(await reading(d, 1, { iat: iat + 3600 }));
      const a = await c.next();
      expect(a.kind === 'receipt' ? a.receipt.seq : a.rejection.code).toBe(1);
      const before = await connectsRefused(t.gw, 'TOKEN_EXPIRED');
      expect(await connackCode(plainMqttUrl(t.gw), d.id, token)).toBe(4);
      expect(await connectsRefused(t.gw, 'TOKEN_EXPIRED')).toBe(before + 1);
    } finally {
      await c.end();
    }
  });
});
