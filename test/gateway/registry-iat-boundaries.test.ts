/**
 * How far ahead of the gateway's clock a certificate or revocation may be dated (registry-rules.ts assertIssuedBy,
 * registry.ts "revocation issued in the future"): up to clockSkewSeconds, not a second more. Found by hand mutation
 * testing: either bound could be moved by a second (mutants RG4, RG5) and no test noticed. The gateway's clock is held
 * still (GatewayRuntime.now) so that "now" is the same second when the test signs and when the gateway checks.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRevocation, decodeCertificate, issueCertificate, toBase64, type DecodedCertificate } from '../../protocol/index.js';
import { FIRMWARE, kidOf, possessionFor, pubOf } from '../protocol/fixtures.js';
import { Pki, post, postCert, register, startTestGateway, type Party, type TestGateway } from './harness.js';

const DAY = 86_400;
const SKEW = 300;
const frozenMs = Date.now();
const NOW = Math.floor(frozenMs / 1000);

/** A device certificate valid from a minute ago, its iat `iat` (a clock ahead at the agency). */
async function issuedAt(t: TestGateway, a: Party, iat: number): Promise<DecodedCertificate> {
  const d = await t.pki.device(a);
  return decodeCertificate(await issueCertificate(a.signer, kidOf(a.signer), {
    iss: a.cert.claims.sub, sub: d.id, role: 'device', holderKey: pubOf(d.signer), iat, nbf: NOW - 60, exp: NOW + 365 * DAY,
    profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE }, proofOfPossession: await possessionFor(d.signer, a.cert.claims.sub),
  }));
}

describe('statements dated ahead of the gateway clock', () => {
  let t: TestGateway;
  let a: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5, clockSkewSeconds: SKEW }, undefined, { now: () => frozenMs });
    a = await pki.agency('a.example');
    await register(t.gw, a, []);
  });
  afterAll(() => t.stop());

  // RG5: assertIssuedBy `iat > now + skew` -> `iat > now + skew + 1`.
  test('a device certificate issued exactly the skew ahead is taken; a second more is CLAIM_INVALID', async () => {
    const ok = await issuedAt(t, a, NOW + SKEW);
    expect((await postCert(t, 'devices', ok)).status).toBe(201);
    const late = await issuedAt(t, a, NOW + SKEW + 1);
    const r = await postCert(t, 'devices', late);
    expect([r.status, r.body.code]).toEqual([422, 'CLAIM_INVALID']);
  });

  // RG4: registry.ts `rev.claims.iat > now + skew` -> `> now + skew + 1`.
  test('a revocation issued exactly the skew ahead is taken; a second more is CLAIM_INVALID', async () => {
    const d1 = await t.pki.device(a);
    const d2 = await t.pki.device(a);
    await register(t.gw, a, [d1, d2]);
    const ok = await createRevocation(a.signer, d1.cert, { reason: 'decommissioned', revokedFrom: NOW + DAY, iat: NOW + SKEW });
    expect((await post(t.gw, '/v1/revocations', { revocation: toBase64(ok) })).status).toBe(201);
    const late = await createRevocation(a.signer, d2.cert, { reason: 'decommissioned', revokedFrom: NOW + DAY, iat: NOW + SKEW + 1 });
    const r = await post(t.gw, '/v1/revocations', { revocation: toBase64(late) });
    expect([r.status, r.body.code]).toEqual([422, 'CLAIM_INVALID']);
  });
});
