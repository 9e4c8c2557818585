/**
 * Review of the agency certificate the offline verifier takes for a reading's chain (protocol/verify-reading.ts): of
 * the bundle's certificates of the agency's key valid at the reading's time, the latest issued. Found by review: after
 * an agency moved to another root (released by the first, affiliationChanged; same key and id) that the trust material
 * trusts only from after a reading's time, and that root then revoked the key for keyCompromise from after the
 * reading's time, the bundle of a reading logged before the move carried its chain (the first root's certificate) and,
 * for the compromise (protocol/key-compromise.ts), the second root's certificate with its revocation: the verifier took
 * that one for the chain and failed it (chain CERT_NOT_YET_VALID), though the reading is valid (the compromise starts
 * after it, and the first root's chain holds). It now takes, among those, one whose root is trusted at the reading's
 * time when there is one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, decodeCertificate, generateSecretKey, issueCertificate, nobleSigner, toBase64, toHex, verifyBundle, type DecodedCertificate, type Verdict,
} from '../../protocol/index.js';
import { entryBundle, gatewayTrust, kidOf, nowS, Pki, postCert, publishEach, pubOf, reading, register, revoke, startTestGateway, type Party, type TestGateway } from './harness.js';

const DAY = 86_400;
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

/** A PKI whose trust file also holds a second root, trusted from `root2Nbf` on (its certificate's window). */
class TwoRoots extends Pki {
  root2!: Party;
  static async withSecond(root2Nbf: number): Promise<TwoRoots> {
    const p = Object.assign(new TwoRoots(), await Pki.create());
    const signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const cert = decodeCertificate(
      await issueCertificate(signer, kidOf(signer), { iss: 'root2.example', sub: 'root2.example', role: 'root', holderKey: pubOf(signer), iat: root2Nbf, nbf: root2Nbf, exp: root2Nbf + 3650 * DAY }),
    );
    p.root2 = { signer, cert };
    return p;
  }
  override trustJson(): string {
    return JSON.stringify({ roots: [{ certificate: toBase64(this.root.cert.bytes) }, { certificate: toBase64(this.root2.cert.bytes) }] });
  }
}

async function agencyCert(root: Party, agency: Party, w: { iat: number; nbf: number; exp: number }): Promise<DecodedCertificate> {
  return decodeCertificate(
    await issueCertificate(root.signer, kidOf(root.signer), { iss: root.cert.claims.sub, sub: agency.cert.claims.sub, role: 'agency', holderKey: pubOf(agency.signer), ...w }),
  );
}

describe('review: a reading logged before its agency moved to another root, the key compromised after the reading', () => {
  let t: TestGateway;
  let pki: TwoRoots;
  const now = nowS();
  beforeAll(async () => {
    pki = await TwoRoots.withSecond(now - 3600);
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
  });
  afterAll(() => t?.stop());

  test('the bundle carries both certificates of the key: the reading is VALID under the first root\'s; one dated after the compromise, CERT_REVOKED', async () => {
    const g = await pki.agency('moving-compromised.example');
    const d = await pki.device(g);
    await register(t.gw, g, [d]);
    const logged = await publishEach(t, d, [await reading(d, 1, { iat: now - 7200 }), await reading(d, 2, { iat: now - 1800 })]);
    const [early, late] = logged.map((o) => {
      if (typeof o === 'string') throw new Error(`refused: ${o}`);
      return o;
    });
    expect((await revoke(t.gw, pki.root, g.cert, now - 600, 'affiliationChanged')).status).toBe(201);
    const moved = await agencyCert(pki.root2, g, { iat: now, nbf: now - 2 * DAY, exp: now + 365 * DAY });
    expect((await postCert(t, 'agencies', moved)).status).toBe(201);
    expect((await revoke(t.gw, pki.root2, moved, now - 3000, 'keyCompromise')).status).toBe(201);
    const trust = await gatewayTrust(t);
    const bundle = await entryBundle(t, early!.index);
    expect(bundle.certificates.map((c) => toHex(c))).toEqual(expect.arrayContaining([toHex(g.cert.bytes), toHex(moved.bytes)]));
    expect(failed(verifyBundle(bundle, trust))).toEqual([]);
    expect(failed(verifyBundle(await entryBundle(t, late!.index), trust))).toEqual([['revocation', 'CERT_REVOKED']]);
  }, 20_000);
});
