/**
 * Review of the registry (adversarial): revocations landing while a device's MQTT connection is open. The connection
 * stays (README: a reconnect is then refused), but each reading is checked against the registry as it is admitted:
 * a compromise of the agency's key named through its replaced certificate, or a transfer, takes effect on the open
 * connection at once. Coverage only: no defect was found here.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { certify, connectDevice, connackCode, freshToken, nowS, Pki, postCert, postRevocation, reading, register, startTestGateway, type TestGateway } from './harness.js';
import { plainMqttUrl } from '../../gateway/gateway.js';

describe('review: revocations reaching open MQTT connections', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 });
  });
  afterAll(() => t.stop());

  test("the agency's key compromised through its replaced certificate: the open connection's next reading from revokedFrom on is CERT_REVOKED, an earlier one taken; a reconnect refused", async () => {
    const g = await t.pki.agency('mid.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS()))).status).toBe(201); // renewed
    const c = await connectDevice(t.gw, d);
    try {
      await c.publish(await reading(d, 1));
      expect((await c.next()).kind).toBe('receipt');
      expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 30, 'keyCompromise')).status).toBe(201); // the replaced one
      await c.publish(await reading(d, 2));
      const refused = await c.next();
      expect(refused.kind === 'rejection' && refused.rejection.code).toBe('CERT_REVOKED');
      await c.publish(await reading(d, 3, { iat: nowS() - 60 }));
      expect((await c.next()).kind).toBe('receipt');
    } finally {
      await c.end();
    }
    expect(await connackCode(plainMqttUrl(t.gw), d.id, await freshToken(d))).toBe(5);
  });

  test('a device transferred while connected: its next reading is logged under the new certificate', async () => {
    const [a, b] = [await t.pki.agency('from.example'), await t.pki.agency('to.example')];
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    await register(t.gw, b, []);
    const c = await connectDevice(t.gw, d);
    try {
      await c.publish(await reading(d, 1));
      const first = await c.next();
      expect((await postRevocation(t, a, d.cert, nowS() - 1, 'affiliationChanged')).status).toBe(201);
      const moved = await certify(b, d, 'device', nowS());
      expect((await postCert(t, 'devices', moved)).status).toBe(201);
      await c.publish(await reading(d, 2));
      const second = await c.next();
      if (first.kind !== 'receipt' || second.kind !== 'receipt') throw new Error(`expected receipts, got ${JSON.stringify([first, second])}`);
      expect(Buffer.from(first.receipt.certRef).equals(Buffer.from(d.cert.certRef))).toBe(true);
      expect(Buffer.from(second.receipt.certRef).equals(Buffer.from(moved.certRef))).toBe(true);
    } finally {
      await c.end();
    }
  });
});
