/**
 * Adversarial review of POST /v1/verify's kept revocation list (gateway/http/routes/verify.ts PreparedRevocationLists:
 * kept while the listing's entries, the very same objects, and Registry.certificatesEpoch stay as they are). After each
 * change that could move the certificates beside a statement (Registry.revocationCertificates) — a device transferred
 * to another agency and its key then reported compromised by the first through the other ES256 encoding of its old
 * certificate, the first agency renewed, a device registered, the registry read again — the kept list must be the one
 * prepared afresh: the same certificates beside each statement, and the same verdicts (route and raw input alike).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  encodeProofBundle, parseCheckpoint, parseNote, toBase64, verifyBundle,
  type ProofBundle, type RevocationLogInput, type TrustMaterial, type Verdict,
} from '../../protocol/index.js';
import { parseRevocationListing } from '../../protocol/revocation-listing.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';
import { PreparedRevocationLists } from '../../gateway/http/routes/verify.js';
import { certify, entryBundle, gatewayTrust, nowS, Pki, postCert, postRevocation, publishEach, reading, register, startTestGateway, type TestGateway } from './harness.js';
import { twinCertificate as twinOf } from '../protocol/high-s-twin.js';

const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('POST /v1/verify: the kept revocation list against one prepared afresh, after each registry change', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let pki: Pki;
  const kept = () => new PreparedRevocationLists(t.gw.registry);
  let lists: PreparedRevocationLists;
  const bundles: ProofBundle[] = [];

  const listAt = async (): Promise<RevocationLogInput> => {
    const listing = parseRevocationListing((await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json());
    return { checkpoint: listing.checkpoint!, revocations: listing.revocations };
  };
  /** Every entry below the latest checkpoint (nothing on its way). */
  const settled = async (): Promise<void> => {
    for (;;) {
      const size = ((await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json() as { size: number }).size;
      const cp = (await listAt()).checkpoint;
      if (cp && parseCheckpoint(parseNote(cp).text).size === size) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  /** The kept list is the fresh one (certificates beside each statement), and every verdict agrees: route, kept, fresh, raw. */
  const agree = async (): Promise<string[][][]> => {
    await settled();
    const { revocations: entries, checkpoint } = await t.gw.ledger.ledger.revocationListing();
    const mine = lists.get(entries);
    const fresh = kept().get(entries);
    expect(mine.revocations).toEqual(fresh.revocations);
    const raw = await listAt();
    const now = nowS();
    const out: string[][][] = [];
    for (const b of bundles) {
      const viaRoute = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: toBase64(encodeProofBundle(b)) } })).json() as Verdict;
      const opts = { verifier: nodeVerify, now };
      const withKept = verifyBundle(b, trust, { ...opts, revocationLog: { list: mine, checkpoint: checkpoint! } });
      expect(withKept).toEqual(verifyBundle(b, trust, { ...opts, revocationLog: { list: fresh, checkpoint: checkpoint! } }));
      expect(withKept).toEqual(verifyBundle(b, trust, { ...opts, revocationLog: raw }));
      expect(failed(viaRoute)).toEqual(failed(withKept));
      out.push(failed(withKept) as string[][]);
    }
    return out;
  };

  beforeAll(async () => {
    pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 });
    trust = await gatewayTrust(t);
    lists = kept();
  });
  afterAll(() => t?.stop());

  test('a transfer, a keyCompromise through the other encoding, a renewal, a registration, a reload', async () => {
    const a = await pki.agency('first.example');
    const b = await pki.agency('second.example');
    const x = await pki.device(a);
    await register(t.gw, a, [x]);
    await register(t.gw, b, []);
    const [before] = await publishEach(t, x, [await reading(x, 1, { iat: nowS() - 5 })]);
    // the first agency releases the device, the second takes it over; a reading under the second
    expect((await postRevocation(t, a, x.cert, nowS() - 3, 'affiliationChanged')).status).toBe(201);
    const moved = await certify(b, x, 'device', nowS() - 2);
    expect((await postCert(t, 'devices', moved)).status).toBe(201);
    const [after] = await publishEach(t, x, [await reading(x, 2, { iat: nowS() })]);
    for (const o of [before, after]) {
      if (o === undefined || typeof o === 'string') throw new Error(String(o));
      const full = await entryBundle(t, o.index);
      bundles.push(full, { ...full, certificates: full.certificates.slice(0, 2), revocations: [] });
    }
    expect(await agree()).toEqual([[], [], [], []]);
    // the first agency reports the device key compromised from before both readings, naming its certificate's twin
    expect((await postRevocation(t, a, twinOf(x.cert), nowS() - 60, 'keyCompromise')).status).toBe(201);
    const compromised = await agree();
    expect(compromised.map((f) => f.some(([n, c]) => n === 'revocation' && c === 'CERT_REVOKED'))).toEqual([true, true, true, true]);
    // the first agency renewed with a certificate valid from before the device's old certificate: the agency certificate
    // beside the keyCompromise (the last registered valid at that certificate's iat) is now the renewal
    const renewal = await certify(pki.root, a, 'agency', a.cert.claims.iat + 30);
    expect(renewal.claims.nbf).toBeLessThanOrEqual(x.cert.claims.iat);
    expect((await postCert(t, 'agencies', renewal)).status).toBe(201);
    expect(await agree()).toEqual(compromised);
    const beside = lists.get((await t.gw.ledger.ledger.revocationListing()).revocations).revocations.find((r) => r.issuer !== undefined);
    expect(beside?.issuer).toEqual(renewal.bytes);
    // another device registered: nothing beside the statements moves, the list is kept
    const first = lists.get((await t.gw.ledger.ledger.revocationListing()).revocations);
    await register(t.gw, b, [await pki.device(b)]);
    expect(await agree()).toEqual(compromised);
    expect(lists.get((await t.gw.ledger.ledger.revocationListing()).revocations)).toBe(first);
    // the registry read again: prepared again, the same verdicts
    await t.gw.registry.load();
    expect(await agree()).toEqual(compromised);
    expect(lists.get((await t.gw.ledger.ledger.revocationListing()).revocations)).not.toBe(first);
  });
});
