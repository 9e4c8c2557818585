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
import { describe, expect, test } from 'vitest';
import { toHex, verifyBundle } from '../../protocol/index.js';
import { entryBundle, gatewayTrust, nowS, postCert, publishEach, reading, register, revoke, type TestGateway } from './harness.js';
import { agencyCert, DAY, failedChecks as failed, useTwoRootsGateway, type TwoRoots } from './agency-roots.js';

describe('review: a reading logged before its agency moved to another root, the key compromised after the reading', () => {
  let t: TestGateway;
  let pki: TwoRoots;
  const now = nowS();
  useTwoRootsGateway(now - 3600, (g) => ({ t, pki } = g));

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
