/**
 * Review of the agency certificate a reading's proof bundle carries (gateway/bundle-material.ts): the last registered
 * certificate of the agency's key valid at the reading's time. Found by review: after the agency moved to another
 * root (its first root released it, affiliationChanged; the second certified the same key and id, its certificate
 * dated back over the reading's time), the bundle of a reading logged before the move carried the second root's
 * certificate, whose root the trust material trusts only from after the reading's time: a reading the gateway had
 * taken under the first root's chain, valid then and still, failed offline (chain CERT_NOT_YET_VALID). README: "renewals
 * never break the bundles of older readings". The bundle now carries a certificate whose root is trusted at the
 * reading's time when there is one.
 */
import { describe, expect, test } from 'vitest';
import { toHex, verifyBundle } from '../../protocol/index.js';
import { entryBundle, gatewayTrust, nowS, postCert, publishEach, reading, register, revoke, type TestGateway } from './harness.js';
import { agencyCert, DAY, failedChecks as failed, useTwoRootsGateway, type TwoRoots } from './agency-roots.js';

describe('review: bundles of readings logged before their agency moved to another root', () => {
  let t: TestGateway;
  let pki: TwoRoots;
  const now = nowS();
  useTwoRootsGateway(now - 3600, (g) => ({ t, pki } = g));

  test('the second root is trusted only from after the reading\'s time: the bundle carries the first root\'s certificate and verifies', async () => {
    const g = await pki.agency('moving.example');
    const d = await pki.device(g);
    await register(t.gw, g, [d]);
    const [logged] = await publishEach(t, d, [await reading(d, 1, { iat: now - 7200 })]);
    if (logged === undefined || typeof logged === 'string') throw new Error(`refused: ${String(logged)}`);
    const trust = await gatewayTrust(t);
    expect(failed(verifyBundle(await entryBundle(t, logged.index), trust))).toEqual([]);
    expect((await revoke(t.gw, pki.root, g.cert, now - 600, 'affiliationChanged')).status).toBe(201);
    const moved = await agencyCert(pki.root2, g, { iat: now, nbf: now - 2 * DAY, exp: now + 365 * DAY });
    expect((await postCert(t, 'agencies', moved)).status).toBe(201);
    const bundle = await entryBundle(t, logged.index);
    expect(failed(verifyBundle(bundle, trust))).toEqual([]);
    expect(bundle.certificates.map((c) => toHex(c))).toContain(toHex(g.cert.bytes));
  }, 20_000);

  test('a reading of the second root\'s window, logged before the move: its bundle still carries the second root\'s (renewed) certificate', async () => {
    const g = await pki.agency('moving-later.example');
    const d = await pki.device(g);
    await register(t.gw, g, [d]);
    const [logged] = await publishEach(t, d, [await reading(d, 1, { iat: now - 1800 })]);
    if (logged === undefined || typeof logged === 'string') throw new Error(`refused: ${String(logged)}`);
    expect((await revoke(t.gw, pki.root, g.cert, now - 600, 'affiliationChanged')).status).toBe(201);
    const moved = await agencyCert(pki.root2, g, { iat: now, nbf: now - 2 * DAY, exp: now + 365 * DAY });
    expect((await postCert(t, 'agencies', moved)).status).toBe(201);
    const bundle = await entryBundle(t, logged.index);
    expect(failed(verifyBundle(bundle, await gatewayTrust(t)))).toEqual([]);
    expect(bundle.certificates.map((c) => toHex(c))).toContain(toHex(moved.bytes));
  }, 20_000);

  test('the second root\'s certificate revoked over the reading\'s time: the bundle carries it and its revocation, and the reading is not VALID', async () => {
    const g = await pki.agency('moving-revoked.example');
    const d = await pki.device(g);
    await register(t.gw, g, [d]);
    const [logged] = await publishEach(t, d, [await reading(d, 1, { iat: now - 7200 })]);
    if (logged === undefined || typeof logged === 'string') throw new Error(`refused: ${String(logged)}`);
    expect((await revoke(t.gw, pki.root, g.cert, now - 600, 'affiliationChanged')).status).toBe(201);
    const moved = await agencyCert(pki.root2, g, { iat: now, nbf: now - 2 * DAY, exp: now + 365 * DAY });
    expect((await postCert(t, 'agencies', moved)).status).toBe(201);
    expect((await revoke(t.gw, pki.root2, moved, now - DAY, 'cessationOfOperation')).status).toBe(201);
    const bundle = await entryBundle(t, logged.index);
    expect(bundle.certificates.map((c) => toHex(c))).toContain(toHex(moved.bytes));
    expect(failed(verifyBundle(bundle, await gatewayTrust(t)))).toEqual([['chain', 'CERT_NOT_YET_VALID'], ['revocation', 'CERT_REVOKED']]);
  }, 20_000);
});
