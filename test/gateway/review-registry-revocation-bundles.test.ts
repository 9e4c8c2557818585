/**
 * Review of the registry (adversarial): a revocation entry's bundle carries the certificate the statement names, so
 * that the offline verifier agrees with the gateway that took it. A statement may name either encoding of an
 * ES256-signed certificate (certificate-refs.ts), and any certificate registered, also one since renewed. Before the
 * fix the bundle looked the certificate up by its registered encoding, or the subject's current certificate: a
 * revocation naming the other encoding of a replaced certificate (say `superseded` after a renewal) was taken (201)
 * but its entry's bundle carried nothing and failed offline (chain UNKNOWN_KEY).
 */
import { describe, expect, test } from 'vitest';
import { createRevocation, toBase64, verifyBundle, type TrustMaterial } from '../../protocol/index.js';
import { certify, entryBundle, nowS, post, postCert, register, type TestGateway, useTrustedGateway } from './harness.js';
import { twinCertificate as twinOf } from '../protocol/high-s-twin.js';

/** The same certificate with its ES256 signature's s replaced by n - s: a second valid encoding anyone can make. */

describe('review: revocation entries naming the other encoding of a replaced certificate', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  useTrustedGateway((g) => ({ t, trust } = g));

  const verdictOf = async (index: number) => {
    const v = verifyBundle(await entryBundle(t, index), trust);
    return { valid: v.valid, failed: v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]) };
  };

  test('a device certificate renewed, its earlier one revoked (superseded) through its twin: taken, and the entry verifies offline; also after a restart', async () => {
    const g = await t.pki.agency('es.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', nowS()))).status).toBe(201);
    const rev = await createRevocation(g.signer, twinOf(d.cert), { reason: 'superseded', revokedFrom: nowS() - 60, iat: nowS() });
    const res = await post(t.gw, '/v1/revocations', { revocation: toBase64(rev) });
    expect(res.status).toBe(201);
    expect(await verdictOf(res.body.index as number)).toEqual({ valid: true, failed: [] });
    await t.restart();
    expect(await verdictOf(res.body.index as number)).toEqual({ valid: true, failed: [] });
    // the device's current certificate is untouched
    expect((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json().status).toBe('active');
  });
});
