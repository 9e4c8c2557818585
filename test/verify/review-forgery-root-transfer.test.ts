/**
 * Adversarial review 2: an agency moved from one trusted root to another (the first root releases it with
 * affiliationChanged; the second certifies the same key and subject, issued later: gateway/registry-rules.ts), then
 * its key reported compromised by the second root through that certificate. The gateway revokes the key
 * (gateway/registry-view.ts compromisedKey) and its bundles carry the other certificate and the statement
 * (gateway/bundle-material.ts). A forger strips those two from the bundle of a reading (or registration) signed in the
 * compromise; the verifier holding the log's whole revocation list, with the certificate beside the statement, must
 * not answer VALID. It did: protocol/agency-renewal.ts only looked at statements by the chain agency's own root.
 * Likewise a renewal by the second root, valid at the reading's time and revoked (any reason), that a forger replaces
 * with the first root's certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, createRevocation, decodeCertificate, decodeProofBundle, generateSecretKey, issueCertificate, nobleSigner, parseTrust, toBase64, verifyBundle,
  type ProofBundle, type TrustMaterial, type Verdict,
} from '../../protocol/index.js';
import { signCheckpoint } from '../../protocol/checkpoint.js';
import { commitRevocations, revocationsExtension } from '../../protocol/revocation-log.js';
import { NOW, signerFor } from '../protocol/fixtures.js';
import { CP, ORIGIN, c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';
import { certify, connectDevice, kidOf, nowS, Pki, postCert, postRevocation, pubOf, reading, register, startTestGateway, type Device, type Party, type TestGateway } from '../gateway/harness.js';

const DAY = 86_400;
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

async function secondRoot(): Promise<Party> {
  const signer = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  const t = nowS();
  const cert = decodeCertificate(
    await issueCertificate(signer, kidOf(signer), { iss: 'root2.example', sub: 'root2.example', role: 'root', holderKey: pubOf(signer), iat: t - 365 * DAY, nbf: t - 365 * DAY, exp: t + 3650 * DAY }),
  );
  return { signer, cert };
}

async function publishAt(t: TestGateway, d: Device, iat: number, seq = 1): Promise<number> {
  const c = await connectDevice(t.gw, d);
  try {
    await c.publish(await reading(d, seq, { iat }));
    const a = await c.next();
    if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
    return a.receipt.index;
  } finally {
    await c.end();
  }
}

describe('an agency moved to another trusted root, then revoked there: a bundle stripped to the first root\'s certificate', () => {
  let t: TestGateway;
  let root2: Party;
  let trust: TrustMaterial;
  beforeAll(async () => {
    const pki = await Pki.create();
    root2 = await secondRoot();
    pki.trustJson = () => JSON.stringify({ roots: [{ certificate: toBase64(pki.root.cert.bytes) }, { certificate: toBase64(root2.cert.bytes) }] });
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
  });
  afterAll(() => t.stop());

  const bundleOf = async (index: number): Promise<ProofBundle> => decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload));
  const revocationLog = async () => {
    type Listed = { checkpoint: string; revocations: { index: number; revocation: string; certificate?: string }[] };
    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as Listed;
    return {
      checkpoint: listed.checkpoint,
      revocations: listed.revocations.map((x) => ({ index: x.index, statement: bytes(x.revocation), ...(x.certificate ? { certificate: bytes(x.certificate) } : {}) })),
    };
  };
  const entryOf = async (kind: 'devices' | 'agencies', id: string): Promise<number> => {
    if (kind === 'devices') return ((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${id}` })).json() as { registeredAt: number }).registeredAt;
    return ((await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json() as { id: string; registeredAt: number }[]).find((x) => x.id === id)!.registeredAt;
  };

  test('keyCompromise by the second root: CERT_REVOKED for the reading and the registrations, also stripped, against the log list', async () => {
    const g = await t.pki.agency('moved.example'); // A1, by root.example
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const index = await publishAt(t, d, nowS() - 300);
    const [deviceEntry, agencyEntry] = [await entryOf('devices', d.id), await entryOf('agencies', 'moved.example')];
    await new Promise((r) => setTimeout(r, 1100)); // the release is dated after the registrations: it covers none of these entries
    expect((await postRevocation(t, t.pki.root, g.cert, nowS(), 'affiliationChanged')).status).toBe(201);
    const a2 = await certify(root2, g, 'agency', nowS() - 5); // valid from now - 65: not at the reading's time
    expect((await postCert(t, 'agencies', a2)).status).toBe(201);
    expect((await postRevocation(t, root2, a2, nowS() - DAY / 2, 'keyCompromise')).status).toBe(201);
    expect(((await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json() as { status: string }).status).toBe('agency-revoked');

    const log = await revocationLog();
    const honest = await bundleOf(index);
    expect(honest.certificates.length).toBe(3); // device, A1, and A2 with its keyCompromise
    expect(failed(verifyBundle(honest, trust))).toEqual([['revocation', 'CERT_REVOKED']]);
    const stripped = { ...honest, certificates: [d.cert.bytes, g.cert.bytes], revocations: [] };
    expect(failed(verifyBundle(stripped, trust))).toEqual([]); // a bundle alone cannot tell
    expect(failed(verifyBundle(stripped, trust, { revocationLog: log }))).toEqual([['revocation', 'CERT_REVOKED']]);

    // the registrations of the device and of the agency (A1), both checked after the compromise's revokedFrom
    for (const entry of [deviceEntry, agencyEntry]) {
      const b = await bundleOf(entry);
      expect(failed(verifyBundle(b, trust))).toEqual([['revocation', 'CERT_REVOKED']]);
      const bare = { ...b, certificates: b.certificates.filter((c) => !Buffer.from(c).equals(Buffer.from(a2.bytes))), revocations: [] };
      expect(failed(verifyBundle(bare, trust, { revocationLog: log }))).toEqual([['revocation', 'CERT_REVOKED']]);
    }
  });

  test('a renewal by the second root valid at the reading\'s time, revoked for cessationOfOperation: the bundle carrying the first root\'s certificate fails too', async () => {
    const g = await t.pki.agency('renewed.example'); // A1, by root.example, valid from now - 1 day
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const index = await publishAt(t, d, nowS() - 300);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 10, 'affiliationChanged')).status).toBe(201);
    const a2 = decodeCertificate(
      await issueCertificate(root2.signer, kidOf(root2.signer), {
        iss: 'root2.example', sub: 'renewed.example', role: 'agency', holderKey: pubOf(g.signer), iat: nowS() - 5, nbf: nowS() - DAY, exp: nowS() + 365 * DAY,
      }),
    );
    expect((await postCert(t, 'agencies', a2)).status).toBe(201);
    expect((await postRevocation(t, root2, a2, nowS() - 600, 'cessationOfOperation')).status).toBe(201);
    const honest = await bundleOf(index);
    expect(failed(verifyBundle(honest, trust))).toEqual([['revocation', 'CERT_REVOKED']]); // A2 is the agency certificate of its time
    const swapped = { ...honest, certificates: [d.cert.bytes, g.cert.bytes], revocations: [] };
    expect(failed(verifyBundle(swapped, trust))).toEqual([]);
    expect(failed(verifyBundle(swapped, trust, { revocationLog: await revocationLog() }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});

describe('the same from protocol material: a second root in the trust material or not', async () => {
  const other = signerFor(ALG_EDDSA, 'second root');
  const otherCert = decodeCertificate(await issueCertificate(other, kidOf(other), { iss: 'root2.example', sub: 'root2.example', role: 'root', holderKey: pubOf(other), iat: NOW - 365 * DAY, nbf: NOW - 365 * DAY, exp: NOW + 365 * DAY }));
  const window = { iat: NOW - 10, nbf: NOW - 10 * DAY, exp: NOW + 365 * DAY };
  const sameKey = decodeCertificate(await issueCertificate(other, kidOf(other), { iss: 'root2.example', sub: c.agencyCert.claims.sub, role: 'agency', holderKey: c.agencyCert.holderKey, ...window }));
  const rekeyed = decodeCertificate(await issueCertificate(other, kidOf(other), { iss: 'root2.example', sub: c.agencyCert.claims.sub, role: 'agency', holderKey: pubOf(signerFor(ALG_EDDSA, 'new agency key')), ...window }));
  const compromise = (cert: typeof sameKey) => createRevocation(other, cert, { reason: 'keyCompromise', revokedFrom: NOW - DAY, iat: NOW });
  const both = trustWith(undefined, { origin: ORIGIN, roots: [{ certificate: toBase64(c.rootCert.bytes) }, { certificate: toBase64(otherCert.bytes) }] });
  const listOf = async (statement: Uint8Array, certificate: Uint8Array) => {
    const revocations = [{ index: 3, statement, certificate }];
    const checkpoint = await signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7), extensions: [revocationsExtension(commitRevocations(revocations))] }, CP);
    return { checkpoint, revocations };
  };

  test('trusted second root: CERT_REVOKED from the log list or with the certificate at hand; UNKNOWN_KEY without it', async () => {
    const bundle = await make({ entries: [await readingEntry()] });
    const rev = await compromise(sameKey);
    expect(fails(verifyBundle(bundle, both))).toEqual([]);
    expect(fails(verifyBundle(bundle, both, { revocationLog: await listOf(rev, sameKey.bytes) }))).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(fails(verifyBundle(bundle, both, { revocations: [rev], certificates: [sameKey.bytes] }))).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(fails(verifyBundle(bundle, both, { revocations: [rev] }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    // another key of the same subject (re-keyed under the second root): passed over
    expect(fails(verifyBundle(bundle, both, { revocationLog: await listOf(await compromise(rekeyed), rekeyed.bytes) }))).toEqual([]);
  });

  test('a second root the verifier does not trust: the log\'s statement about the key is UNKNOWN_KEY; one it brings is passed over', async () => {
    const bundle = await make({ entries: [await readingEntry()] });
    const rev = await compromise(sameKey);
    expect(fails(verifyBundle(bundle, trustWith(), { revocationLog: await listOf(rev, sameKey.bytes) }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    expect(fails(verifyBundle(bundle, trustWith(), { revocations: [rev], certificates: [sameKey.bytes] }))).toEqual([]);
    expect(fails(verifyBundle(bundle, trustWith(), { revocations: [rev] }))).toEqual([]);
    expect(fails(verifyBundle(bundle, trustWith(), { revocationLog: await listOf(await compromise(rekeyed), rekeyed.bytes) }))).toEqual([]);
    // the log's release of an earlier certificate of the key by that root (the agency moved from it): revokes nothing
    const earlier = decodeCertificate(await issueCertificate(other, kidOf(other), { iss: 'root2.example', sub: c.agencyCert.claims.sub, role: 'agency', holderKey: c.agencyCert.holderKey, iat: c.agencyCert.claims.iat - 1, nbf: NOW - 20 * DAY, exp: NOW + DAY }));
    const release = await createRevocation(other, earlier, { reason: 'affiliationChanged', revokedFrom: NOW - DAY, iat: NOW });
    expect(fails(verifyBundle(bundle, trustWith(), { revocationLog: await listOf(release, earlier.bytes) }))).toEqual([]);
    expect(fails(verifyBundle(bundle, both, { revocationLog: await listOf(release, earlier.bytes) }))).toEqual([]);
  });
});
