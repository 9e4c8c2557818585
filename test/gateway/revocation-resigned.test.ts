/**
 * A revocation signed again on a retry. An issuer's tool that lost the answer to its post and signs the same statement
 * again (same certificate, reason, revokedFrom and iat, by the same key) posts other bytes when it signs with ES256:
 * the signature is randomized (and any ES256 signature has a twin, r, n - s, that anyone can make). That is answered
 * as the very same bytes are: 200 naming the revocation already registered (its log index), nothing logged. A
 * statement that differs in any field, or whose signature is not the issuer's, gets what it got before
 * (gateway/registry-rules.ts sameStatement, assertStricter).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ALG_ES256, CT_CERTIFICATE, CT_REVOCATION, bytesEqual, createRevocation, createSign1, decodeRevocation, toBase64, type DecodedCertificate, type RevocationReason,
} from '../../protocol/index.js';
import { kidOf, nowS, Pki, post, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';
import { highSTwin, twinCertificate } from '../protocol/high-s-twin.js';
import { sample, sleep } from './metrics-sample.js';
import { createSecureElement } from '../../device-sim/secure-element.js';

const DAY = 86_400;
/** Blocks sealed every 5 ms: each write still answers once its block is durable; a block after it would show in 100 ms. */
const FAST_BLOCKS = 5;
/**
 * An ES256 key that signs as node:crypto, hardware and most HSMs do: a random nonce each time (so a statement signed
 * again has other bytes), high-S half the time. @noble/curves, the CLI's signer, is RFC 6979 deterministic: the same
 * statement signed again by it is the same bytes.
 */
const randomizedEs256 = () => createSecureElement(ALG_ES256, 'node');

type Claims = { reason: RevocationReason; revokedFrom: number; iat: number };

describe('registry: a revocation signed again is answered as the same bytes are', () => {
  let t: TestGateway;
  let a: Party;
  /** Another agency, whose key signs what only `a` may. */
  let b: Party;
  beforeAll(async () => {
    // The root too: its revocations of agencies are signed again the same way (the harness's EdDSA root signs deterministically).
    const pki = await Pki.create(randomizedEs256());
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: FAST_BLOCKS });
    a = await pki.agency('a.example', {}, randomizedEs256());
    b = await pki.agency('b.example', {}, randomizedEs256());
    await register(t.gw, a, []);
    await register(t.gw, b, []);
  });
  afterAll(() => t.stop());

  const postRev = (bytes: Uint8Array) => post(t.gw, '/v1/revocations', { revocation: toBase64(bytes) });
  const newDevice = async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    return d;
  };
  /** The log's size, the metrics of what is logged, and the revocation entries naming `cert`, as stored. */
  const logged = async (cert: DecodedCertificate) => {
    await sleep(20 * FAST_BLOCKS); // a block for anything appended would be sealed by now
    const list = (await t.gw.app.inject({ url: '/v1/revocations' })).json() as { revocations: { index: number; sub: string; revocation: string }[] };
    return {
      size: ((await t.gw.app.inject({ url: '/v1/log' })).json() as { size: number }).size,
      ledgerSize: await sample(t.gw, 'originproof_ledger_size'),
      blocks: await sample(t.gw, 'originproof_blocks_total'),
      entries: list.revocations.filter((r) => r.sub === cert.claims.sub).map((r) => ({ index: r.index, revocation: r.revocation })),
    };
  };

  test('a device revocation signed again by its agency: 200 with the registered entry, as for the same bytes; nothing logged', async () => {
    const d = await newDevice();
    const claims: Claims = { reason: 'decommissioned', revokedFrom: nowS() + 10 * DAY, iat: nowS() };
    const first = await createRevocation(a.signer, d.cert, claims);
    const again = await createRevocation(a.signer, d.cert, claims);
    expect(bytesEqual(first, again)).toBe(false); // a new signature each time
    const taken = await postRev(first);
    expect(taken.status).toBe(201);
    const before = await logged(d.cert);
    expect(before.entries).toEqual([{ index: taken.body.index, revocation: toBase64(first) }]);

    const sameBytes = await postRev(first);
    const resigned = await postRev(again);
    const twin = await postRev(highSTwin(first)); // the other encoding of the registered statement, which anyone can make
    for (const r of [sameBytes, resigned, twin]) expect([r.status, r.body]).toEqual([200, taken.body]);
    expect(await logged(d.cert)).toEqual(before); // no entry, no block, the stored statement the first bytes
  });

  test('the original and its re-signed retry posted at once: one is registered, the other answered with its entry', async () => {
    const d = await newDevice();
    const claims: Claims = { reason: 'keyCompromise', revokedFrom: nowS() - 60, iat: nowS() };
    const [one, two] = await Promise.all([createRevocation(a.signer, d.cert, claims), createRevocation(a.signer, d.cert, claims)].map(async (b) => postRev(await b)));
    expect([one!.status, two!.status].sort()).toEqual([200, 201]);
    expect(one!.body).toEqual(two!.body);
    expect((await logged(d.cert)).entries.map((e) => e.index)).toEqual([one!.body.index]);
  });

  test('an agency revocation signed again by its (ES256) root: 200 with the registered entry; nothing logged', async () => {
    const g = await t.pki.agency('g.example');
    await register(t.gw, g, []);
    const claims: Claims = { reason: 'keyCompromise', revokedFrom: nowS() + DAY, iat: nowS() };
    const first = await createRevocation(t.pki.root.signer, g.cert, claims);
    const again = await createRevocation(t.pki.root.signer, g.cert, claims);
    expect(bytesEqual(first, again)).toBe(false);
    const taken = await postRev(first);
    expect(taken.status).toBe(201);
    const before = await logged(g.cert);
    const resigned = await postRev(again);
    expect([resigned.status, resigned.body]).toEqual([200, taken.body]);
    expect(await logged(g.cert)).toEqual(before);
    // a laxer one by the root is still refused, a stricter one still taken
    const later = await postRev(await createRevocation(t.pki.root.signer, g.cert, { ...claims, revokedFrom: claims.revokedFrom + 1 }));
    expect([later.status, later.body.code]).toEqual([409, 'CONFLICT']);
    expect((await postRev(await createRevocation(t.pki.root.signer, g.cert, { ...claims, revokedFrom: claims.revokedFrom - 1 }))).status).toBe(201);
  });

  type Variant = (d: Device, claims: Claims, first: Uint8Array) => Promise<Uint8Array>;
  const payloadOf = (bytes: Uint8Array) => decodeRevocation(bytes).sign1.payload;
  test.each<[string, Variant, [number, string | undefined]]>([
    ['a later iat', (d, c) => createRevocation(a.signer, d.cert, { ...c, iat: c.iat + 1 }), [409, 'CONFLICT']],
    ['a later revokedFrom', (d, c) => createRevocation(a.signer, d.cert, { ...c, revokedFrom: c.revokedFrom + 1 }), [409, 'CONFLICT']],
    ['another reason', (d, c) => createRevocation(a.signer, d.cert, { ...c, reason: 'superseded' }), [409, 'CONFLICT']],
    ['the other encoding of the certificate named', (d, c) => createRevocation(a.signer, twinCertificate(d.cert), c), [409, 'CONFLICT']],
    ["the agency's kid and the same payload, signed by another key", (_d, _c, first) => createSign1({ signer: b.signer, payload: payloadOf(first), kid: kidOf(a.signer), contentType: CT_REVOCATION }), [422, 'BAD_SIGNATURE']],
    ["another agency's kid and signature over the same payload", (_d, _c, first) => createSign1({ signer: b.signer, payload: payloadOf(first), kid: kidOf(b.signer), contentType: CT_REVOCATION }), [403, 'ROLE_VIOLATION']],
    ['the same time marked keyCompromise (stricter)', (d, c) => createRevocation(a.signer, d.cert, { ...c, reason: 'keyCompromise' }), [201, undefined]],
    ['an earlier revokedFrom (stricter)', (d, c) => createRevocation(a.signer, d.cert, { ...c, revokedFrom: c.revokedFrom - 1 }), [201, undefined]],
  ])('a statement that differs from the registered one gets what it got before: %s', async (_what, variant, expected) => {
    const d = await newDevice();
    const claims: Claims = { reason: 'decommissioned', revokedFrom: nowS() + 10 * DAY, iat: nowS() - 60 };
    const first = await createRevocation(a.signer, d.cert, claims);
    expect((await postRev(first)).status).toBe(201);
    const before = await logged(d.cert);
    const bytes = await variant(d, claims, first);
    const r = await postRev(bytes);
    expect([r.status, r.body.code]).toEqual(expected);
    const after = await logged(d.cert);
    if (expected[0] === 201) expect(after.entries).toEqual([...before.entries, { index: r.body.index, revocation: toBase64(bytes) }]);
    else expect(after).toEqual(before);
  });

  test('the registered statement, once replaced by a stricter one, is refused in either signing', async () => {
    const d = await newDevice();
    const claims: Claims = { reason: 'decommissioned', revokedFrom: nowS() + 10 * DAY, iat: nowS() - 60 };
    const first = await createRevocation(a.signer, d.cert, claims);
    expect((await postRev(first)).status).toBe(201);
    expect((await postRev(await createRevocation(a.signer, d.cert, { ...claims, revokedFrom: claims.revokedFrom - 1 }))).status).toBe(201);
    for (const bytes of [first, await createRevocation(a.signer, d.cert, claims)]) {
      const r = await postRev(bytes);
      expect([r.status, r.body.code]).toEqual([409, 'CONFLICT']);
    }
  });

  test("an agency's statement signed again after its key is revoked for keyCompromise is refused as any of its statements is", async () => {
    const c = await t.pki.agency('c.example', {}, randomizedEs256());
    const d = await t.pki.device(c);
    await register(t.gw, c, [d]);
    const claims: Claims = { reason: 'decommissioned', revokedFrom: nowS() + DAY, iat: nowS() };
    const first = await createRevocation(c.signer, d.cert, claims);
    const taken = await postRev(first);
    expect(taken.status).toBe(201);
    expect((await postRev(await createRevocation(t.pki.root.signer, c.cert, { reason: 'keyCompromise', revokedFrom: nowS() - 60, iat: nowS() }))).status).toBe(201);
    // whoever stole the key could sign it; the bytes already registered are still answered as such
    const resigned = await postRev(await createRevocation(c.signer, d.cert, claims));
    expect([resigned.status, resigned.body.code]).toEqual([422, 'CERT_REVOKED']);
    expect([(await postRev(first)).status]).toEqual([200]);
  });

  test("a certificate signed again is another certificate: still 409 CONFLICT (re-post the registered file's bytes)", async () => {
    // The same payload (cti included: each certificate the CLI issues gets a random one) signed again by the root.
    const g = await t.pki.agency('h.example');
    await register(t.gw, g, []);
    const again = await createSign1({ signer: t.pki.root.signer, payload: g.cert.sign1.payload, kid: kidOf(t.pki.root.signer), contentType: CT_CERTIFICATE });
    expect(bytesEqual(again, g.cert.bytes)).toBe(false);
    const r = await post(t.gw, '/v1/agencies', { certificate: toBase64(again) });
    expect([r.status, r.body.code]).toEqual([409, 'CONFLICT']);
    expect((await post(t.gw, '/v1/agencies', { certificate: toBase64(g.cert.bytes) })).status).toBe(200);
  });
});
