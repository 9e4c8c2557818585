/**
 * Registry writes' time rules at their exact boundaries, against a real gateway whose clock the test sets, each
 * registration's entry then verified offline (verifyBundle with the gateway's trust): the verifier checks a registry
 * event at its entry's receivedAt (protocol/verify-registry-event.ts) and bounds its signed iat by receivedAt + the
 * clock skew (protocol/verify-bundle.ts), as the gateway checked it (gateway/registry-rules.ts, registry.ts):
 * - a certificate is registered while valid: nbf <= now < exp (CERT_NOT_YET_VALID, CERT_EXPIRED);
 * - a certificate or revocation dated more than clockSkewSeconds after the gateway's clock is CLAIM_INVALID.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRevocation, decodeCertificate, ALG_ES256, generateSecretKey, issueCertificate, nobleSigner, toBase64, verifyBundle, type TrustMaterial, type Verdict } from '../../protocol/index.js';
import { entryBundle, gatewayTrust, kidOf, nowS, Pki, post, postCert, pubOf, register, startTestGateway, type Party, type TestGateway } from './harness.js';

const DAY = 86_400;
const SKEW = 300;
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('registry write time boundaries: gateway and offline verifier agree at the second', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  const T = nowS();
  let clockMs = T * 1000 + 999;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 }, undefined, { now: () => clockMs });
    trust = await gatewayTrust(t);
  });
  afterAll(() => t.stop());

  /** An agency certificate from the harness's root, with these times. */
  async function agencyCert(id: string, times: { iat: number; nbf: number; exp: number }): Promise<Party> {
    const signer = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const root = t.pki.root.signer;
    return { signer, cert: decodeCertificate(await issueCertificate(root, kidOf(root), { iss: 'root.example', sub: id, role: 'agency', holderKey: pubOf(signer), ...times })) };
  }

  /** The answer's status and code, or for a 201 whether the entry it logged verifies offline. */
  async function outcome(res: { status: number; body: Record<string, unknown> }): Promise<string> {
    if (res.status !== 201) return `${res.status} ${String(res.body.code)}`;
    const index = (res.body.registeredAt ?? res.body.index) as number;
    const v = verifyBundle(await entryBundle(t, index), trust, { now: Math.floor(clockMs / 1000) });
    return v.valid ? '201, valid offline' : `201, offline ${JSON.stringify(failed(v))}`;
  }

  test(`a certificate dated now + ${SKEW} s is registered (and verifies offline); now + ${SKEW + 1} s is CLAIM_INVALID`, async () => {
    const times = (iat: number) => ({ iat, nbf: T - DAY, exp: T + DAY });
    expect(await outcome(await postCert(t, 'agencies', (await agencyCert('late.example', times(T + SKEW + 1))).cert))).toBe('422 CLAIM_INVALID');
    expect(await outcome(await postCert(t, 'agencies', (await agencyCert('ahead.example', times(T + SKEW))).cert))).toBe('201, valid offline');
  });

  test('a certificate is registered at exp - 1 (verifies offline), not at exp (CERT_EXPIRED); at nbf, not at nbf - 1 (CERT_NOT_YET_VALID)', async () => {
    expect(await outcome(await postCert(t, 'agencies', (await agencyCert('gone.example', { iat: T - DAY, nbf: T - DAY, exp: T })).cert))).toBe('422 CERT_EXPIRED');
    expect(await outcome(await postCert(t, 'agencies', (await agencyCert('ending.example', { iat: T - DAY, nbf: T - DAY, exp: T + 1 })).cert))).toBe('201, valid offline');
    expect(await outcome(await postCert(t, 'agencies', (await agencyCert('soon.example', { iat: T - DAY, nbf: T + 1, exp: T + DAY })).cert))).toBe('422 CERT_NOT_YET_VALID');
    expect(await outcome(await postCert(t, 'agencies', (await agencyCert('now.example', { iat: T - DAY, nbf: T, exp: T + DAY })).cert))).toBe('201, valid offline');
  });

  test(`a revocation dated now + ${SKEW} s is taken (and verifies offline); now + ${SKEW + 1} s is CLAIM_INVALID`, async () => {
    const g = await t.pki.agency('revoking.example');
    await register(t.gw, g, []);
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const revoke = async (iat: number) => outcome(await post(t.gw, '/v1/revocations', { revocation: toBase64(await createRevocation(g.signer, d.cert, { reason: 'cessationOfOperation', revokedFrom: T + DAY, iat })) }));
    expect(await revoke(T + SKEW + 1)).toBe('422 CLAIM_INVALID');
    expect(await revoke(T + SKEW)).toBe('201, valid offline');
  });
});
