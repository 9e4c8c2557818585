/**
 * A trust file's root key windows (`notBefore <= t < notAfter`, README "Trust file") at their exact boundaries, end to
 * end: the gateway checks a reading's chain at its iat against the root's window, and the offline verifier, given the
 * gateway's trust (GET /v1/trust), must agree at the same second. protocol/trust-windows.test.ts pins notAfter on the
 * chain alone; review-time-root-window.test.ts a rotation's bundles, not the second either side.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_EDDSA, decodeCertificate, generateSecretKey, issueCertificate, nobleSigner, toHex, verifyBundle, type TrustMaterial, type Verdict } from '../../protocol/index.js';
import { connectDevice, entryBundle, gatewayTrust, kidOf, nowS, Pki, pubOf, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

const DAY = 86_400;
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('root key windows in the trust file, at the second', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  const T = nowS();
  const rootB = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  let underA: Device, underB: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    // root A (the harness's) trusted until T + 100; root B from T - 100
    pki.trustJson = () => JSON.stringify({ roots: [
      { name: 'root.example', alg: 'EdDSA', publicKey: toHex(pki.root.signer.publicKey), notBefore: T - 30 * DAY, notAfter: T + 100 },
      { name: 'rootb.example', alg: 'EdDSA', publicKey: toHex(rootB.publicKey), notBefore: T - 100 },
    ] });
    t = await startTestGateway(pki, { writeRateLimit: 1000 }, undefined, { now: () => T * 1000 + 999 });
    trust = await gatewayTrust(t);
    const a = await pki.agency('a.example', { nbf: T - 30 * DAY });
    const signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const b: Party = { signer, cert: decodeCertificate(await issueCertificate(rootB, kidOf(rootB), {
      iss: 'rootb.example', sub: 'b.example', role: 'agency', holderKey: pubOf(signer), iat: T - 30 * DAY, nbf: T - 30 * DAY, exp: T + 365 * DAY,
    })) };
    underA = await pki.device(a, { nbf: T - 30 * DAY });
    underB = await pki.device(b, { nbf: T - 30 * DAY });
    await register(t.gw, a, [underA]);
    await register(t.gw, b, [underB]);
  });
  afterAll(() => t.stop());

  async function outcomes(d: Device, iats: number[]): Promise<string[]> {
    const c = await connectDevice(t.gw, d);
    const out: string[] = [];
    try {
      for (const [i, iat] of iats.entries()) {
        await c.publish(await reading(d, i + 1, { iat }));
        const a = await c.next();
        if (a.kind === 'rejection') out.push(a.rejection.code);
        else {
          const v = verifyBundle(await entryBundle(t, a.receipt.index), trust, { now: T });
          out.push(v.valid ? 'receipt, valid offline' : `receipt, offline ${JSON.stringify(failed(v))}`);
        }
      }
    } finally {
      await c.end();
    }
    return out;
  }

  test("a reading at the root's notAfter - 1 is taken and verifies offline; at notAfter, CERT_EXPIRED", async () => {
    expect(await outcomes(underA, [T + 99, T + 100])).toEqual(['receipt, valid offline', 'CERT_EXPIRED']);
  });

  test("a reading at the root's notBefore is taken and verifies offline; a second before, CERT_NOT_YET_VALID", async () => {
    expect(await outcomes(underB, [T - 101, T - 100])).toEqual(['CERT_NOT_YET_VALID', 'receipt, valid offline']);
  });
});
