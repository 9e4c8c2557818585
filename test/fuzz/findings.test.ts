/**
 * Regressions for what the fuzzers found, each through the real gateway (the unit-level ones are in
 * test/protocol/cbor-depth.test.ts and test/protocol/rejection-text.test.ts):
 * 1. CBOR nested thousands deep in a /v1/verify bundle escaped as a RangeError: HTTP 500 instead of 400 MALFORMED.
 * 2. A rejection quoting a long claim key or topic was longer than a device's rejection decoder allows.
 * 3. Router-level errors (a path parameter over maxParamLength, a bad %-escape) had Fastify's body, not a registered code.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSign1, encode, keyThumbprint, readingClaimsToMap, CT_READING, deviceIdFromKey, readingsTopic } from '../../protocol/index.js';
import { connectDevice, FIRMWARE, gatewayWithDevices, nowS, pubOf, type Device, type TestGateway } from '../gateway/harness.js';

function nestedMaps(depth: number): string {
  const b = Buffer.alloc(2 * depth + 1);
  for (let i = 0; i < depth; i++) b.set([0xa1, 0x00], 2 * i); // map(1) {0: ...}
  return b.toString('base64');
}

describe('fuzz findings, through the gateway', () => {
  let t: TestGateway;
  let dev: Device;
  beforeAll(async () => {
    const g = await gatewayWithDevices(1, {}, 'fuzz.example');
    t = g.t;
    dev = g.devices[0]!;
  });
  afterAll(() => t.stop());

  test('1. deeply nested CBOR in a bundle is 400 MALFORMED at every depth, never a 500', async () => {
    for (let depth = 100; depth <= 20_000; depth += 250) {
      const res = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: nestedMaps(depth) } });
      expect([res.statusCode, res.json().code], `depth ${depth}`).toEqual([400, 'MALFORMED']);
    }
  });

  test('2. a 300-character claim key and a 2,000-character topic: the device still decodes its rejection', async () => {
    const c = await connectDevice(t.gw, dev);
    const claims = readingClaimsToMap({ deviceId: deviceIdFromKey(pubOf(dev.signer)), seq: 1, iat: nowS(), firmware: FIRMWARE, body: { kind: 'sensor', type: 'temperature', value: 1, scale: 0, unit: 'Cel' } });
    claims.set(' '.repeat(300), 1);
    const bytes = await createSign1({ signer: dev.signer, payload: encode(claims), kid: keyThumbprint(pubOf(dev.signer)), contentType: CT_READING });
    await c.publish(bytes);
    const a = await c.next(); // the harness decodes with decodeRejection, as a device does
    expect(a.kind === 'rejection' && a.rejection.code).toBe('CLAIM_INVALID');
    await c.client.publishAsync(`${readingsTopic(dev.id)}/${'x'.repeat(2000)}`, Buffer.from([0xa0]), { qos: 0 });
    const b = await c.next();
    expect(b.kind === 'rejection' && b.rejection.code).toBe('TOPIC_MISMATCH');
    await c.end().catch(() => undefined);
    expect(t.gw.ledger.size()).toBe(2); // agency and device only
  });

  test('3. router errors answer with a registered code: 414 for an over-long parameter, 400 for a bad escape', async () => {
    const long = await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${'a'.repeat(5000)}` });
    expect([long.statusCode, long.json().code]).toEqual([414, 'BAD_REQUEST']);
    const bad = await t.gw.app.inject({ method: 'GET', url: '/v1/devices/%zz/entries' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'BAD_REQUEST']);
  });
});
