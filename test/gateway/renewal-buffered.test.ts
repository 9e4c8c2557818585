/**
 * Readings a device signed before a renewal (kept while it was offline, or on their way) are checked and logged under
 * the certificates of the same keys valid then (Registry.chainAt): the device's earlier certificate (the entry pins
 * it), its agency's earlier one. Before, renewing a device's or an agency's certificate refused them all
 * CERT_NOT_YET_VALID, which a device drops (SPEC §8): renewing an agency lost every reading its devices had kept.
 * Each is proved offline with its bundle; the earlier certificates' own revocations still count, and so does the
 * earlier profile (what the renewal allows no longer is refused after it, not before).
 */
import { describe, expect, test } from 'vitest';
import { toBase64, toHex, verifyBundle, type TrustMaterial, type Verdict } from '../../protocol/index.js';
import { certify, entryBundle, nowS, post, postCert, postRevocation, publishEach, reading, register, type TestGateway, useTrustedGateway } from './harness.js';

const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

const publish = publishEach;

const bundleVerdict = async (t: TestGateway, index: number, trust: TrustMaterial): Promise<Verdict> => verifyBundle(await entryBundle(t, index), trust);

const humidity = { kind: 'sensor', type: 'humidity', value: 40, scale: 0, unit: '%RH' } as const;

describe('readings signed before a renewal', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  useTrustedGateway((g) => ({ t, trust } = g));

  test("device renewed: a reading from before is logged under the earlier certificate, with the earlier profile; one after, under the new", async () => {
    const g = await t.pki.agency('device-renewed.example');
    const d = await t.pki.device(g); // temperature, humidity, biometric
    await register(t.gw, g, [d]);
    const renewed = await certify(g, d, 'device', nowS()); // temperature only, from now - 60 s
    expect((await postCert(t, 'devices', renewed)).status).toBe(201);
    const hourAgo = nowS() - 3600;
    const [before, beforeHumidity, after, afterHumidity] = await publish(t, d, [
      await reading(d, 1, { iat: hourAgo }),
      await reading(d, 2, { iat: hourAgo + 1, body: humidity }),
      await reading(d, 3),
      await reading(d, 4, { body: humidity }),
    ]);
    expect([before, beforeHumidity].map((r) => (r as { certRef: string }).certRef)).toEqual([toHex(d.cert.certRef), toHex(d.cert.certRef)]);
    expect((after as { certRef: string }).certRef).toBe(toHex(renewed.certRef));
    expect(afterHumidity).toBe('TYPE_NOT_ALLOWED');
    for (const r of [before, beforeHumidity, after]) expect(failed(await bundleVerdict(t, (r as { index: number }).index, trust))).toEqual([]);
    // the same after a restart (the view rebuilt from the log keeps each key's certificates)
    await t.restart();
    expect(await publish(t, d, [await reading(d, 5, { iat: hourAgo + 2 })])).toEqual([{ certRef: toHex(d.cert.certRef), index: expect.any(Number) }]);
  });

  test("agency renewed: its devices' readings from before are logged, and their bundles carry the earlier agency certificate", async () => {
    const g = await t.pki.agency('agency-renewed.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS()))).status).toBe(201);
    const [before, after] = await publish(t, d, [await reading(d, 1, { iat: nowS() - 3600 }), await reading(d, 2)]);
    for (const r of [before, after]) {
      expect(r).toMatchObject({ certRef: toHex(d.cert.certRef) });
      expect(failed(await bundleVerdict(t, (r as { index: number }).index, trust))).toEqual([]);
    }
    // POST /v1/verify {envelope} answers as the pipeline does
    const v = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(await reading(d, 3, { iat: nowS() - 1800 })) } });
    expect(failed(v.json() as Verdict)).toEqual([]);
  });

  test("the earlier certificate's own revocation counts (superseded from the renewal): before it logged, after it CERT_REVOKED", async () => {
    const g = await t.pki.agency('superseded.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', nowS()))).status).toBe(201);
    expect((await postRevocation(t, g, d.cert, nowS() - 1800, 'superseded')).status).toBe(201);
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('active');
    const [kept, revoked] = await publish(t, d, [await reading(d, 1, { iat: nowS() - 3600 }), await reading(d, 2, { iat: nowS() - 900 })]);
    expect(kept).toMatchObject({ certRef: toHex(d.cert.certRef) });
    expect(revoked).toBe('CERT_REVOKED');
    const v = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(await reading(d, 3, { iat: nowS() - 900 })) } });
    expect(failed(v.json() as Verdict)).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test("an agency's earlier certificate revoked: its devices' readings from before are CERT_REVOKED from then on", async () => {
    const g = await t.pki.agency('agency-superseded.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS()))).status).toBe(201);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 1800, 'superseded')).status).toBe(201);
    const [kept, revoked] = await publish(t, d, [await reading(d, 1, { iat: nowS() - 3600 }), await reading(d, 2, { iat: nowS() - 900 })]);
    expect(kept).toMatchObject({ certRef: toHex(d.cert.certRef) });
    expect(revoked).toBe('CERT_REVOKED');
    expect(failed(await bundleVerdict(t, (kept as { index: number }).index, trust))).toEqual([]);
  });

  test('transferred device: a reading from before the release is logged under the previous agency; one after it, before the new certificate, CERT_REVOKED', async () => {
    const a = await t.pki.agency('released-by.example');
    const b = await t.pki.agency('taken-by.example');
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    await register(t.gw, b, []);
    const releasedFrom = nowS() - 1800;
    expect((await postRevocation(t, a, d.cert, releasedFrom, 'affiliationChanged')).status).toBe(201);
    const taken = await certify(b, d, 'device', nowS());
    expect((await postCert(t, 'devices', taken)).status).toBe(201);
    const [before, between, after] = await publish(t, d, [
      await reading(d, 1, { iat: nowS() - 3600 }),
      await reading(d, 2, { iat: nowS() - 900 }),
      await reading(d, 3),
    ]);
    expect(before).toMatchObject({ certRef: toHex(d.cert.certRef) });
    expect(between).toBe('CERT_REVOKED');
    expect(after).toMatchObject({ certRef: toHex(taken.certRef) });
    for (const r of [before, after]) expect(failed(await bundleVerdict(t, (r as { index: number }).index, trust))).toEqual([]);
    // the earlier reading's bundle carries the previous agency's certificate
    const carried = (await entryBundle(t, (before as { index: number }).index)).certificates.map((c) => toHex(c));
    expect([carried.includes(toHex(a.cert.bytes)), carried.includes(toHex(b.cert.bytes))]).toEqual([true, false]);
  });

  test('a reading from before every certificate of the key is still CERT_NOT_YET_VALID', async () => {
    const g = await t.pki.agency('too-early.example');
    const d = await t.pki.device(g); // from now - 1 day
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', nowS()))).status).toBe(201);
    expect(await publish(t, d, [await reading(d, 1, { iat: nowS() - 2 * 86_400 })])).toEqual(['CERT_NOT_YET_VALID']);
    const res = await post(t.gw, '/v1/verify', { envelope: toBase64(await reading(d, 2, { iat: nowS() - 2 * 86_400 })) });
    expect(failed(res.body as unknown as Verdict)).toEqual([['chain', 'CERT_NOT_YET_VALID']]);
  });
});
