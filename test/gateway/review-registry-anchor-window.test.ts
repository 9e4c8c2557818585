/**
 * Review of the registry (adversarial): revocations logged after the root's trust window ended (its certificate
 * expired). Revoking only restricts, so the gateway takes them, from the root (of an agency) and from an agency (of
 * a device), as it takes them from an agency expired or revoked itself; the offline verifier checks the issuing
 * agency at a time its own window covers (protocol/verify-registry-event.ts). Before the fix it checked the root's
 * window at the entry's time, so the agency's revocation entry failed offline (chain CERT_EXPIRED) where the root's
 * verified. Now both verify, as the gateway took them (201).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_EDDSA, createRevocation, decodeCertificate, decodeProofBundle, generateSecretKey, issueCertificate, nobleSigner, parseTrust, toBase64, verifyBundle, type DecodedCertificate, type RevocationReason, type TrustMaterial } from '../../protocol/index.js';
import { kidOf, nowS, Pki, post, pubOf, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

describe("review: revocations logged after the root's trust window ended", () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let g: Party;
  let d: Device;
  let rootExp: number;
  // The gateway's clock is set past the root's expiry once the agency and device are registered. The root used to
  // expire 3 s after t0 in real time, and starting the gateway and registering took longer on a loaded machine: the
  // registration was refused CERT_EXPIRED (anchor) and the suite never ran.
  let offsetMs = 0;
  const gatewayNowS = () => Math.floor((Date.now() + offsetMs) / 1000);
  beforeAll(async () => {
    const pki = new Pki();
    const root = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const t0 = nowS();
    rootExp = t0 + 60;
    pki.root = {
      signer: root,
      cert: decodeCertificate(await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pubOf(root), iat: t0 - 100, nbf: t0 - 100, exp: rootExp })),
    };
    t = await startTestGateway(pki, { writeRateLimit: 1000 }, undefined, { now: () => Date.now() + offsetMs });
    trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
    g = await pki.agency('late.example');
    d = await pki.device(g);
    await register(t.gw, g, [d]);
    offsetMs = Math.max(0, (rootExp + 1) * 1000 - Date.now()); // the root's certificate has expired (gateway time)
    expect(gatewayNowS()).toBeGreaterThan(rootExp);
  });
  afterAll(() => t.stop());

  const verdictOf = async (index: number) => {
    const res = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const v = verifyBundle(decodeProofBundle(new Uint8Array(res.rawPayload)), trust, { now: gatewayNowS() });
    return { valid: v.valid, failed: v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]) };
  };

  /** A revocation from a minute before the gateway's now, issued at its now (after the root's expiry). */
  const postRevocation = async (issuer: Party, cert: DecodedCertificate, reason: RevocationReason) =>
    post(t.gw, '/v1/revocations', { revocation: toBase64(await createRevocation(issuer.signer, cert, { reason, revokedFrom: gatewayNowS() - 60, iat: gatewayNowS() })) });

  test("the agency's revocation of its device and the root's of the agency: both taken, both verify offline", async () => {
    const byAgency = await postRevocation(g, d.cert, 'decommissioned');
    expect(byAgency.status).toBe(201);
    expect(await verdictOf(byAgency.body.index as number)).toEqual({ valid: true, failed: [] });
    const byRoot = await postRevocation(t.pki.root, g.cert, 'cessationOfOperation');
    expect(byRoot.status).toBe(201);
    expect(await verdictOf(byRoot.body.index as number)).toEqual({ valid: true, failed: [] });
  });
});
