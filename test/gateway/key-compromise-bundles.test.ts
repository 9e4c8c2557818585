/**
 * A keyCompromise revocation of a certificate since replaced revokes the key at the gateway (registry.ts) and, with
 * the bundles the gateway now serves, offline too (protocol/key-compromise.ts): readings the key signed from
 * revokedFrom on are CERT_REVOKED in their bundles, also those admitted under the current certificate before the
 * compromise was posted; earlier readings stay valid. Renewal by the same agency, a transfer from another agency,
 * and an agency key compromised through its earlier certificate; rebuilt the same from the log.
 */
import { describe, expect, test } from 'vitest';
import {
  createRevocation, decodeCertificate, decodeProofBundle, decodeRevocation, encodeProofBundle, toBase64, verifyBundle, type TrustMaterial, type Verdict,
} from '../../protocol/index.js';
import { parseRevocationListing } from '../../protocol/revocation-listing.js';
import {
  certify, connectDevice, entryBundle, nowS, post, postCert, postRevocation, reading, register, type Device, type TestGateway, useTrustedGateway
} from './harness.js';

const DAY = 86_400;
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

/** Publish readings signed at the given times (seq 1, 2, ...); their log indexes. */
async function publishAt(t: TestGateway, d: Device, times: number[]): Promise<number[]> {
  const c = await connectDevice(t.gw, d);
  const indexes: number[] = [];
  try {
    for (const [i, iat] of times.entries()) {
      await c.publish(await reading(d, i + 1, { iat }));
      const a = await c.next();
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
      indexes.push(a.receipt.index);
    }
  } finally {
    await c.end();
  }
  return indexes;
}

async function bundleVerdict(t: TestGateway, index: number, trust: TrustMaterial): Promise<{ verdict: Verdict; certificates: number }> {
  const bundle = await entryBundle(t, index);
  return { verdict: verifyBundle(bundle, trust), certificates: bundle.certificates.length };
}

const statusOf = async (t: TestGateway, d: Device) => (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json();

describe('bundles carry a keyCompromise named through a replaced certificate', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  useTrustedGateway((g) => ({ t, trust } = g));

  test('renewed device: readings from revokedFrom on are CERT_REVOKED offline, earlier ones valid; the same after a restart', async () => {
    const g = await t.pki.agency('renew.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', nowS() - 600))).status).toBe(201);
    const [before, after] = await publishAt(t, d, [nowS() - 300, nowS()]);
    // Admitted under the renewed certificate; then the agency reports the key compromised through the old one.
    expect((await postRevocation(t, g, d.cert, nowS() - 120, 'keyCompromise')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('revoked');
    for (let round = 0; round < 2; round++) {
      const ok = await bundleVerdict(t, before!, trust);
      expect([ok.verdict.valid, failed(ok.verdict), ok.certificates]).toEqual([true, [], 3]);
      const revoked = await bundleVerdict(t, after!, trust);
      expect([revoked.verdict.valid, failed(revoked.verdict)]).toEqual([false, [['revocation', 'CERT_REVOKED']]]);
      await t.restart();
    }
  });

  test("a bundle stripped to its chain: the gateway's revocations (GET /v1/revocations) still catch the compromise", async () => {
    const g = await t.pki.agency('stripped.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', nowS() - 600))).status).toBe(201);
    const [index] = await publishAt(t, d, [nowS()]);
    expect((await postRevocation(t, g, d.cert, nowS() - 120, 'keyCompromise')).status).toBe(201);
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const full = decodeProofBundle(new Uint8Array(raw.rawPayload));
    const stripped = { ...full, certificates: full.certificates.slice(0, 2), revocations: [] };
    expect(verifyBundle(stripped, trust).valid).toBe(true); // whoever stripped it hid the compromise
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as { checkpoint: string; revocations: { index: number; revocation: string }[] };
    const held = listed.revocations.map((x) => new Uint8Array(Buffer.from(x.revocation, 'base64')));
    expect(failed(verifyBundle(stripped, trust, { revocations: held }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // the whole list with its checkpoint: the same verdict, now from a list the checkpoint proves complete
    const log = { checkpoint: listed.checkpoint, revocations: listed.revocations.map((x, i) => ({ index: x.index, statement: held[i]! })) };
    expect(failed(verifyBundle(stripped, trust, { revocationLog: log }))).toEqual([['revocation', 'CERT_REVOKED']]);
    const compromise = log.revocations.findIndex((r) => r.index === Math.max(...log.revocations.map((x) => x.index)));
    const withoutIt = { ...log, revocations: log.revocations.filter((_, i) => i !== compromise) };
    expect(failed(verifyBundle(stripped, trust, { revocationLog: withoutIt }))).toEqual([['revocation', 'CHECKPOINT_INVALID']]);
  });

  test('two earlier certificates reported compromised: the bundle carries the strictest (earliest) compromise', async () => {
    const g = await t.pki.agency('twice.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const second = await certify(g, d, 'device', nowS() - 1000);
    expect((await postCert(t, 'devices', second)).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', nowS() - 600))).status).toBe(201);
    const [index] = await publishAt(t, d, [nowS() - 200]);
    expect((await postRevocation(t, g, d.cert, nowS() - 300, 'keyCompromise')).status).toBe(201);
    expect((await postRevocation(t, g, second, nowS() - 100, 'keyCompromise')).status).toBe(201);
    expect(failed((await bundleVerdict(t, index!, trust)).verdict)).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test("registration entries: a compromise through another certificate of the key covering the entry's time is CERT_REVOKED offline", async () => {
    const verdictOf = async (index: number) => {
      const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
      return failed(verifyBundle(decodeProofBundle(new Uint8Array(raw.rawPayload)), trust));
    };
    const deviceEntry = async (d: Device) => ((await statusOf(t, d)) as { registeredAt: number }).registeredAt;
    const agencyEntry = async (id: string) =>
      ((await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json() as { id: string; registeredAt: number }[]).find((x) => x.id === id)!.registeredAt;

    // a device key reported compromised, through its renewed certificate, from a day before it was registered
    const g = await t.pki.agency('registered.example');
    const d = await t.pki.device(g);
    const e = await t.pki.device(g);
    await register(t.gw, g, [d, e]);
    const [dIndex, eIndex] = [await deviceEntry(d), await deviceEntry(e)];
    const renewed = await certify(g, d, 'device', nowS() - 600);
    expect((await postCert(t, 'devices', renewed)).status).toBe(201);
    expect((await postRevocation(t, g, renewed, nowS() - DAY, 'keyCompromise')).status).toBe(201);
    expect(await verdictOf(dIndex)).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(await verdictOf(eIndex)).toEqual([]); // another device of the agency: untouched

    // an agency key: compromised from later than its entries (valid), then from earlier (stricter, taken): revoked
    const h = await t.pki.agency('registered2.example');
    const f = await t.pki.device(h);
    await register(t.gw, h, [f]);
    const [hIndex, fIndex] = [await agencyEntry('registered2.example'), await deviceEntry(f)];
    const hRenewed = await certify(t.pki.root, h, 'agency', nowS() - 600);
    expect((await postCert(t, 'agencies', hRenewed)).status).toBe(201);
    expect((await postRevocation(t, t.pki.root, hRenewed, nowS() + 3600, 'keyCompromise')).status).toBe(201);
    expect([await verdictOf(hIndex), await verdictOf(fIndex)]).toEqual([[], []]);
    expect((await postRevocation(t, t.pki.root, hRenewed, nowS() - DAY, 'keyCompromise')).status).toBe(201);
    expect([await verdictOf(hIndex), await verdictOf(fIndex)]).toEqual([[['revocation', 'CERT_REVOKED']], [['revocation', 'CERT_REVOKED']]]);
  });

  test("transferred device: the previous agency's keyCompromise of its certificate, with that agency's certificate", async () => {
    const a = await t.pki.agency('before.example');
    const b = await t.pki.agency('after.example');
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    await register(t.gw, b, []);
    const from = nowS() - 100;
    expect((await postRevocation(t, a, d.cert, from, 'affiliationChanged')).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(b, d, 'device', nowS()))).status).toBe(201);
    const [index] = await publishAt(t, d, [nowS()]);
    expect((await bundleVerdict(t, index!, trust)).verdict.valid).toBe(true);
    // the same time, now marked keyCompromise (stricter, so taken)
    expect((await postRevocation(t, a, d.cert, from, 'keyCompromise')).status).toBe(201);
    const v = await bundleVerdict(t, index!, trust);
    expect([failed(v.verdict), v.certificates]).toEqual([[['revocation', 'CERT_REVOKED']], 4]);
    // Stripped to its chain, the bundle hides the compromise; the log's list carries, beside the statement, the
    // certificate it names and the previous agency's (UNKNOWN_KEY before: the statement could not be placed).
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const full = decodeProofBundle(new Uint8Array(raw.rawPayload));
    const stripped = { ...full, certificates: full.certificates.slice(0, 2), revocations: [] };
    expect(failed(verifyBundle(stripped, trust))).toEqual([]);
    const listing = parseRevocationListing((await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json());
    const ofDevice = listing.revocations.filter((r) => decodeRevocation(r.statement).claims.sub === d.id);
    const listed = ofDevice.filter((r) => r.certificate && r.issuer);
    expect(listed.map((r) => decodeRevocation(r.statement).claims.reason)).toEqual(['keyCompromise']);
    expect(listed.map((r) => [decodeCertificate(r.certificate!).claims.sub, decodeCertificate(r.issuer!).claims.sub])).toEqual([[d.id, 'before.example']]);
    const log = { checkpoint: listing.checkpoint!, revocations: listing.revocations };
    expect(failed(verifyBundle(stripped, trust, { revocationLog: log }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // without the issuer beside it, the statement cannot be placed: not passed over
    const noIssuer = { ...log, revocations: log.revocations.map(({ issuer: _, ...r }) => r) };
    expect(failed(verifyBundle(stripped, trust, { revocationLog: noIssuer }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    // POST /v1/verify checks a bundle of its own log against that list
    const posted = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: toBase64(encodeProofBundle(stripped)) } });
    expect(failed(posted.json() as Verdict)).toEqual([['revocation', 'CERT_REVOKED']]);
    // a release (affiliationChanged) names a device certificate too, but places nothing: listed without certificates
    expect(ofDevice.filter((r) => decodeRevocation(r.statement).claims.reason === 'affiliationChanged').map((r) => [r.certificate, r.issuer])).toEqual([[undefined, undefined]]);
  });

  test("an agency key compromised through its earlier certificate: its devices' later readings are CERT_REVOKED offline", async () => {
    const g = await t.pki.agency('older.example');
    const old = await certify(t.pki.root, g, 'agency', nowS() - 2 * DAY);
    expect((await postCert(t, 'agencies', old)).status).toBe(201);
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]); // the harness's agency certificate, issued later (now - 1 day): a renewal
    const [before, after] = await publishAt(t, d, [nowS() - 300, nowS()]);
    const earlier = (await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${before}/bundle` })).rawPayload;
    expect(decodeProofBundle(new Uint8Array(earlier)).certificates.length).toBe(2);
    expect((await postRevocation(t, t.pki.root, old, nowS() - 120, 'keyCompromise')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('agency-revoked');
    expect((await bundleVerdict(t, before!, trust)).verdict.valid).toBe(true);
    expect(failed((await bundleVerdict(t, after!, trust)).verdict)).toEqual([['revocation', 'CERT_REVOKED']]);
  });
  // A reading's entry pins its device certificate, not its agency's: a bundle carrying the agency's earlier
  // certificate (same key, still valid, not revoked) in place of the renewed one the gateway checks readings against,
  // and revoked, passed with the log's revocation list (the revocation named neither chain certificate).
  test("an agency renewed with the same key, the renewal revoked: a bundle carrying the earlier certificate fails with the revocation list too", async () => {
    const g = await t.pki.agency('swap.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]); // A1: the harness's agency certificate, issued now - 1 day
    const a2 = await certify(t.pki.root, g, 'agency', nowS() - 600);
    expect((await postCert(t, 'agencies', a2)).status).toBe(201);
    const [before, after] = await publishAt(t, d, [nowS() - 300, nowS()]);
    expect((await postRevocation(t, t.pki.root, a2, nowS() - 120, 'cessationOfOperation')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('agency-revoked'); // the gateway: the agency's current certificate is revoked
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${after}/bundle` });
    const honest = decodeProofBundle(new Uint8Array(raw.rawPayload));
    expect(failed(verifyBundle(honest, trust))).toEqual([['revocation', 'CERT_REVOKED']]);
    const swapped = { ...honest, certificates: [d.cert.bytes, g.cert.bytes], revocations: [] };
    expect(verifyBundle(swapped, trust).valid).toBe(true); // a bundle alone cannot tell

    type Listed = { checkpoint: string; revocations: { index: number; revocation: string; certificate?: string }[] };
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as Listed;
    const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
    const mine = listed.revocations.filter((x) => x.certificate !== undefined && bytes(x.certificate).length === a2.bytes.length && Buffer.from(bytes(x.certificate)).equals(Buffer.from(a2.bytes)));
    expect(mine.length).toBe(1); // the list carries the agency certificate beside its revocation
    const log = {
      checkpoint: listed.checkpoint,
      revocations: listed.revocations.map((x) => ({ index: x.index, statement: bytes(x.revocation), ...(x.certificate ? { certificate: bytes(x.certificate) } : {}) })),
    };
    expect(failed(verifyBundle(swapped, trust, { revocationLog: log }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // the statement alone cannot be placed: not passed over (UNKNOWN_KEY); with its certificate, CERT_REVOKED
    const statement = bytes(mine[0]!.revocation);
    expect(failed(verifyBundle(swapped, trust, { revocations: [statement] }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    expect(failed(verifyBundle(swapped, trust, { revocations: [statement], certificates: [a2.bytes] }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // a reading signed before revokedFrom stays valid, whichever certificate of the key its bundle carries
    const early = decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${before}/bundle` })).rawPayload));
    expect(failed(verifyBundle(early, trust, { revocationLog: log }))).toEqual([]);
    expect(failed(verifyBundle({ ...early, certificates: [d.cert.bytes, g.cert.bytes], revocations: [] }, trust, { revocationLog: log }))).toEqual([]);
  });

  test('an agency renewed, its earlier certificate revoked as superseded: the gateway and the list both pass its readings over', async () => {
    const g = await t.pki.agency('superseded.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS() - 600))).status).toBe(201);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 120, 'superseded')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('active');
    const [index] = await publishAt(t, d, [nowS()]);
    type Listed = { checkpoint: string; revocations: { index: number; revocation: string; certificate?: string }[] };
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as Listed;
    const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
    const log = {
      checkpoint: listed.checkpoint,
      revocations: listed.revocations.map((x) => ({ index: x.index, statement: bytes(x.revocation), ...(x.certificate ? { certificate: bytes(x.certificate) } : {}) })),
    };
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const v = verifyBundle(decodeProofBundle(new Uint8Array(raw.rawPayload)), trust, { revocationLog: log });
    expect([v.valid, failed(v)]).toEqual([true, []]);
  });

  // registry.ts revoke refuses a device revocation signed by an agency key revoked for keyCompromise, in effect; the
  // offline verifier counted such a statement when the verifier brought it (--revocations), so the thief's backdated
  // revocation the gateway refused still voided the device's logged readings offline.
  test('a device revocation by an agency key reported compromised: refused by the gateway, passed over offline too; one the gateway took before counts', async () => {
    const g = await t.pki.agency('thief.example');
    const [d1, d2] = [await t.pki.device(g), await t.pki.device(g)];
    await register(t.gw, g, [d1, d2]);
    const [r1] = await publishAt(t, d1, [nowS() - 300]);
    const [r2] = await publishAt(t, d2, [nowS() - 300]);
    expect((await postRevocation(t, g, d2.cert, nowS() - 600, 'decommissioned')).status).toBe(201); // before the compromise is known
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 120, 'keyCompromise')).status).toBe(201);
    const thief = await createRevocation(g.signer, d1.cert, { reason: 'decommissioned', revokedFrom: nowS() - 600, iat: nowS() });
    const refused = await post(t.gw, '/v1/revocations', { revocation: toBase64(thief) });
    expect([refused.status, refused.body.code]).toEqual([422, 'CERT_REVOKED']);
    const bundleOf = async (index: number) => decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload));
    const b1 = await bundleOf(r1!);
    expect(failed(verifyBundle(b1, trust))).toEqual([]);
    expect(failed(verifyBundle(b1, trust, { revocations: [thief] }))).toEqual([]);
    // d2's revocation, taken before: in its bundle, and from the log's list with the bundle stripped of it
    const b2 = await bundleOf(r2!);
    expect(failed(verifyBundle(b2, trust))).toEqual([['revocation', 'CERT_REVOKED']]);
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as { checkpoint: string; revocations: { index: number; revocation: string }[] };
    const log = { checkpoint: listed.checkpoint, revocations: listed.revocations.map((x) => ({ index: x.index, statement: new Uint8Array(Buffer.from(x.revocation, 'base64')) })) };
    expect(failed(verifyBundle({ ...b2, revocations: [] }, trust, { revocationLog: log }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});
