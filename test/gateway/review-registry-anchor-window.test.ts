/**
 * Review of the registry (adversarial): revocations logged after the root's trust window ended (its certificate
 * expired). Revoking only restricts, so the gateway takes them, from the root (of an agency) and from an agency (of
 * a device), as it takes them from an agency expired or revoked itself; the offline verifier checks the issuing
 * agency at a time its own window covers (protocol/verify-registry-event.ts). Before the fix it checked the root's
 * window at the entry's time, so the agency's revocation entry failed offline (chain CERT_EXPIRED) where the root's
 * verified. Now both verify, as the gateway took them (201).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_EDDSA, decodeCertificate, decodeProofBundle, generateSecretKey, issueCertificate, nobleSigner, parseTrust, verifyBundle, type TrustMaterial } from '../../protocol/index.js';
import { kidOf, nowS, Pki, postRevocation, pubOf, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

describe("review: revocations logged after the root's trust window ended", () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let g: Party;
  let d: Device;
  let rootExp: number;
  beforeAll(async () => {
    const pki = new Pki();
    const root = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const t0 = nowS();
    rootExp = t0 + 3;
    pki.root = {
      signer: root,
      cert: decodeCertificate(await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pubOf(root), iat: t0 - 100, nbf: t0 - 100, exp: rootExp })),
    };
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
    g = await pki.agency('late.example');
    d = await pki.device(g);
    await register(t.gw, g, [d]);
    while (nowS() <= rootExp) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(() => t.stop());

  const verdictOf = async (index: number) => {
    const res = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const v = verifyBundle(decodeProofBundle(new Uint8Array(res.rawPayload)), trust);
    return { valid: v.valid, failed: v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]) };
  };

  test("the agency's revocation of its device and the root's of the agency: both taken, both verify offline", async () => {
    const byAgency = await postRevocation(t, g, d.cert, nowS() - 60, 'decommissioned');
    expect(byAgency.status).toBe(201);
    expect(await verdictOf(byAgency.body.index as number)).toEqual({ valid: true, failed: [] });
    const byRoot = await postRevocation(t, t.pki.root, g.cert, nowS() - 60, 'cessationOfOperation');
    expect(byRoot.status).toBe(201);
    expect(await verdictOf(byRoot.body.index as number)).toEqual({ valid: true, failed: [] });
  });
});
