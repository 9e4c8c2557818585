/**
 * The gateway judges a reading's revocations as the offline verifier places it (review-time follow-up): at its iat, or
 * when it arrived if earlier (Registry readingRevokedAt; protocol/verify-reading.ts min(iat, receivedAt)). Before, a
 * device whose clock ran ahead (within the skew) was refused CERT_REVOKED, which tells it to stop sending (SPEC §8),
 * by a revocation scheduled to start after its reading arrived, though the reading, logged, verifies offline. A
 * revocation in effect when the reading arrives still refuses every reading dated from its start on.
 */
import { describe, expect, test } from 'vitest';
import { toBase64, verifyBundle, type TrustMaterial } from '../../protocol/index.js';
import { entryBundle, nowS, publishEach, reading, register, revoke, type Device, type Party, type TestGateway, useTrustedGateway } from './harness.js';

describe('a revocation scheduled to start after a reading dated ahead arrives', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  useTrustedGateway((g) => ({ t, trust } = g));
  let agency: Party;
  const devices: Device[] = [];

  test('setup: two devices, one decommissioned from now + 100 s, the other from 5 s ago', async () => {
    agency = await t.pki.agency('schedule.example');
    devices.push(await t.pki.device(agency), await t.pki.device(agency));
    await register(t.gw, agency, devices);
    expect((await revoke(t.gw, agency, devices[0]!.cert, nowS() + 100, 'decommissioned')).status).toBe(201);
    expect((await revoke(t.gw, agency, devices[1]!.cert, nowS() - 5, 'decommissioned')).status).toBe(201);
  });

  test('dated past the start (150 s ahead, within the 300 s skew), arriving before it: receipted, and its bundle verifies offline', async () => {
    const [out] = await publishEach(t, devices[0]!, [await reading(devices[0]!, 1, { iat: nowS() + 150 })]);
    expect(typeof out).toBe('object'); // was 'CERT_REVOKED'
    const v = verifyBundle(await entryBundle(t, (out as { index: number }).index), trust);
    expect(v.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(v.valid).toBe(true);
    // POST /v1/verify {envelope} judges an envelope as the pipeline would, arriving now
    const envelope = await reading(devices[0]!, 2, { iat: nowS() + 150 });
    const verdict = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: toBase64(envelope) } })).json();
    expect(verdict.checks.find((c: { name: string }) => c.name === 'revocation').status).toBe('pass'); // was fail CERT_REVOKED
  });

  // (A revoked device is refused at CONNECT: its readings are given to the pipeline directly.)
  test('a revocation in effect when the reading arrives refuses it, dated ahead or not', async () => {
    const d = devices[1]!;
    const codes = [];
    for (const r of [await reading(d, 1, { iat: nowS() + 150 }), await reading(d, 2)]) {
      const o = await t.gw.pipeline.process(d.id, r, Date.now());
      codes.push(o.ok ? 'receipt' : o.error.code);
    }
    expect(codes).toEqual(['CERT_REVOKED', 'CERT_REVOKED']);
  });
});
