/**
 * What a re-posted signed object may change in the registry (gateway/registry-rules.ts). Certificates and
 * revocations are public (they are in the log), so anyone can post an old one again: none of that may undo a
 * revocation, bring back a revoked key or take a device from its agency. Renewals by the issuer still work.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  toBase64, createRevocation, decodeProofBundle, verifyBundle, parseTrust, certificateRefs, type DecodedCertificate,
} from '../../protocol/index.js';
import { certify, connectDevice, kidOf, nowS, Pki, post, postCert, postRevocation, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';
import { highSTwin } from '../protocol/high-s-twin.js';
import { CONNACK } from '../../gateway/mqtt/connack.js';

const DAY = 86_400;
/**
 * Blocks sealed every 5 ms, not the default 50 (a number these tests did not choose), where no test races two
 * writes: each registration and revocation still waits for its block to be durable and signed before its answer.
 * 'registry: agencies' keeps the default (two certificates posted at once must still meet while one is pending),
 * and the test of a revocation in force before its block is durable keeps its blocks of 1.5 s.
 */
const FAST_BLOCKS = 5;

/** The same certificate with its ES256 signature's s replaced by n - s: a second valid encoding anyone can make. */
const twinOf = (cert: DecodedCertificate): Uint8Array => highSTwin(cert.bytes);

const statusOf = async (t: TestGateway, d: Device) => (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json();

describe('registry: re-posted statements change nothing they should not', () => {
  let t: TestGateway;
  let a: Party;
  let b: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: FAST_BLOCKS });
    a = await pki.agency('a.example');
    b = await pki.agency('b.example');
    await register(t.gw, a, []);
    await register(t.gw, b, []);
  });
  afterAll(() => t.stop());

  test('CONFLICT: an older revocation with a later revokedFrom, re-posted by anyone, does not shorten a revocation', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const later = await createRevocation(a.signer, d.cert, { reason: 'decommissioned', revokedFrom: nowS() + 30 * DAY, iat: nowS() });
    expect((await post(t.gw, '/v1/revocations', { revocation: toBase64(later) })).status).toBe(201);
    expect((await postRevocation(t, a, d.cert, nowS() - 3600, 'keyCompromise')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('revoked');
    const replay = await post(t.gw, '/v1/revocations', { revocation: toBase64(later) });
    expect([replay.status, replay.body.code]).toEqual([409, 'CONFLICT']);
    expect((await statusOf(t, d)).status).toBe('revoked');
    // and the reading path agrees: a reading from now on is refused (CONNACK 5, not any failure to connect)
    const refused = await connectDevice(t.gw, d).then(async (c) => (await c.end(), 'connected'), (err: { code?: unknown }) => err.code);
    expect(refused).toBe(CONNACK.NOT_AUTHORIZED);
  });

  test('a stricter revocation is taken: an earlier revokedFrom, or the same one marked keyCompromise', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const t0 = nowS() + 10 * DAY;
    expect((await postRevocation(t, a, d.cert, t0, 'decommissioned')).status).toBe(201);
    expect((await postRevocation(t, a, d.cert, t0, 'keyCompromise')).status).toBe(201);
    expect((await postRevocation(t, a, d.cert, t0, 'decommissioned')).body.code).toBe('CONFLICT');
    expect((await postRevocation(t, a, d.cert, t0 + 1, 'keyCompromise')).body.code).toBe('CONFLICT');
    expect((await statusOf(t, d)).status).toBe('active'); // scheduled, not in effect yet
    expect((await postRevocation(t, a, d.cert, nowS() - 10, 'keyCompromise')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('revoked');
  });

  test('renewal: a later certificate for the same key replaces the registered one; an older one or a twin is a CONFLICT', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const renewed = await certify(a, d, 'device', nowS());
    expect((await postCert(t, 'devices', renewed)).status).toBe(201);
    expect((await statusOf(t, d)).certRef).toBe(Buffer.from(renewed.certRef).toString('hex'));
    const older = await postCert(t, 'devices', d.cert);
    expect([older.status, older.body.code]).toEqual([409, 'CONFLICT']);
    // a device key certified by an ES256 agency: the other encoding of the registered certificate
    const twin = await postCert(t, 'devices', twinOf(renewed));
    expect([twin.status, twin.body.code]).toEqual([409, 'CONFLICT']);
    expect((await statusOf(t, d)).certRef).toBe(Buffer.from(renewed.certRef).toString('hex'));
  });

  test('CERT_REVOKED: a key revoked for keyCompromise is never certified again, by an older or a newer certificate', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const renewed = await certify(a, d, 'device', nowS() - 600);
    expect((await postCert(t, 'devices', renewed)).status).toBe(201);
    expect((await postRevocation(t, a, renewed, nowS() - 60, 'keyCompromise')).status).toBe(201);
    for (const c of [d.cert, await certify(a, d, 'device', nowS())]) {
      const r = await postCert(t, 'devices', c);
      expect([r.status, r.body.code]).toEqual([422, 'CERT_REVOKED']);
    }
    expect((await statusOf(t, d)).status).toBe('revoked');
  });

  test('keyCompromise named through a replaced certificate revokes the key: the current certificate is unusable from then on', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const renewed = await certify(a, d, 'device', nowS() - 600);
    expect((await postCert(t, 'devices', renewed)).status).toBe(201);
    // The agency revokes the old certificate (the one it replaced) for keyCompromise: the same key is in the current one.
    expect((await postRevocation(t, a, d.cert, nowS() - 60, 'keyCompromise')).status).toBe(201);
    const shown = await statusOf(t, d);
    expect([shown.status, shown.revocationReason, shown.certRef]).toEqual(['revoked', 'keyCompromise', Buffer.from(renewed.certRef).toString('hex')]);
    await expect(connectDevice(t.gw, d)).rejects.toMatchObject({ code: 5 });
    // A later, less strict revocation of the current certificate does not lift it.
    expect((await postRevocation(t, a, renewed, nowS(), 'decommissioned')).status).toBe(201);
    expect((await statusOf(t, d)).revocationReason).toBe('keyCompromise');
    // rebuilt from the log on a restart, the same
    await t.restart();
    expect([(await statusOf(t, d)).status, (await statusOf(t, d)).revocationReason]).toEqual(['revoked', 'keyCompromise']);
  });

  test('a decommissioned device may be certified again by its agency (a later certificate)', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    expect((await postRevocation(t, a, d.cert, nowS() - 60, 'decommissioned')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('revoked');
    expect((await postCert(t, 'devices', await certify(a, d, 'device', nowS()))).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('active');
  });

  // registry-rules.ts assertMayReplace (found by review): any revocation in effect let any other agency register the
  // device's public key (it is in the log), and the unchanged device then reported as that agency's.
  test('ROLE_VIOLATION: a device decommissioned (or superseded) by its agency is not free for another agency; its own agency certifies it again', async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    expect((await postRevocation(t, a, d.cert, nowS() - 60, 'decommissioned')).status).toBe(201);
    const taken = await postCert(t, 'devices', await certify(b, d, 'device', nowS()));
    expect([taken.status, taken.body.code]).toEqual([403, 'ROLE_VIOLATION']);
    expect((await postCert(t, 'devices', await certify(a, d, 'device', nowS()))).status).toBe(201);
    expect(await statusOf(t, d)).toMatchObject({ agency: 'a.example', status: 'active' });
  });

  // registry-rules.ts assertIssuedBy (found by review): a certificate dated far ahead could never be replaced (a
  // replacement must be issued later), so one posted during a transfer held the key for good.
  test('CLAIM_INVALID: a certificate dated ahead of the gateway clock beyond the skew is refused; within it, taken', async () => {
    const d = await t.pki.device(a);
    const ahead = await postCert(t, 'devices', await certify(a, d, 'device', nowS() + 3600));
    expect([ahead.status, ahead.body.code]).toEqual([422, 'CLAIM_INVALID']);
    const g = await t.pki.agency('ahead.example');
    const agencyAhead = await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS() + 3600));
    expect([agencyAhead.status, agencyAhead.body.code]).toEqual([422, 'CLAIM_INVALID']);
    expect((await postCert(t, 'devices', await certify(a, d, 'device', nowS() + 60))).status).toBe(201);
  });

  test("ROLE_VIOLATION: another agency cannot take a device whose revocation is only scheduled; once it is in effect it can", async () => {
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    expect((await postRevocation(t, a, d.cert, nowS() + DAY, 'affiliationChanged')).status).toBe(201);
    const early = await postCert(t, 'devices', await certify(b, d, 'device', nowS()));
    expect([early.status, early.body.code]).toEqual([403, 'ROLE_VIOLATION']);
    expect((await statusOf(t, d)).agency).toBe('a.example');
    expect((await postRevocation(t, a, d.cert, nowS() - 1, 'affiliationChanged')).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(b, d, 'device', nowS() + 1))).status).toBe(201);
    expect(await statusOf(t, d)).toMatchObject({ agency: 'b.example', status: 'active' });
  });
});

describe('registry: agencies', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 });
  });
  afterAll(() => t.stop());

  test('CERT_REVOKED: a root-revoked agency cannot come back through an older certificate or its revoked one', async () => {
    const g = await t.pki.agency('gov.example');
    const cert0 = await certify(t.pki.root, g, 'agency', nowS() - 2 * DAY);
    expect((await postCert(t, 'agencies', cert0)).status).toBe(201);
    expect((await postCert(t, 'agencies', g.cert)).status).toBe(201); // the harness issued it later (now - 1 day)
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 60, 'keyCompromise')).status).toBe(201);
    const back = await postCert(t, 'agencies', cert0);
    expect([back.status, back.body.code]).toEqual([422, 'CERT_REVOKED']);
    expect((await postCert(t, 'agencies', g.cert)).status).toBe(200); // the same bytes: nothing changes
    const shown = (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json().find((x: { id: string }) => x.id === 'gov.example');
    expect(shown.revoked).toBe(true);
    const d = await t.pki.device(g);
    const dev = await postCert(t, 'devices', d.cert);
    expect([dev.status, dev.body.code]).toEqual([422, 'CERT_REVOKED']);
  });

  test("an agency's devices follow its renewed certificate, and its revocation", async () => {
    const g = await t.pki.agency('water.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const renewed = await certify(t.pki.root, g, 'agency', nowS());
    expect((await postCert(t, 'agencies', renewed)).status).toBe(201);
    expect((await postRevocation(t, t.pki.root, renewed, nowS() - 1, 'cessationOfOperation')).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('agency-revoked');
  });

  // registry.ts revoke (found by review): a revocation signed by an agency key the root had revoked for keyCompromise
  // was taken, so whoever stole the key could revoke the agency's devices from a time before the theft and void
  // their logged readings (readings signed from revokedFrom on fail offline).
  test("CERT_REVOKED: a revocation signed by an agency key revoked for keyCompromise, in effect; while only scheduled, taken", async () => {
    const g = await t.pki.agency('stolen.example');
    const [d1, d2] = [await t.pki.device(g), await t.pki.device(g)];
    await register(t.gw, g, [d1, d2]);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() + DAY, 'keyCompromise')).status).toBe(201);
    expect((await postRevocation(t, g, d1.cert, nowS() - DAY, 'decommissioned')).status).toBe(201); // not in effect yet
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 60, 'keyCompromise')).status).toBe(201);
    const backdated = await postRevocation(t, g, d2.cert, nowS() - DAY, 'keyCompromise');
    expect([backdated.status, backdated.body.code]).toEqual([422, 'CERT_REVOKED']);
    expect(await statusOf(t, d2)).toMatchObject({ status: 'agency-revoked' });
    expect((await statusOf(t, d2)).revokedFrom).toBeUndefined();
  });

  test("a device whose agency's key is revoked for keyCompromise, in effect, may be certified by another agency; before that, ROLE_VIOLATION", async () => {
    const [g, other] = [await t.pki.agency('lost.example'), await t.pki.agency('heir.example')];
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    await register(t.gw, other, []);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() + DAY, 'keyCompromise')).status).toBe(201);
    const early = await postCert(t, 'devices', await certify(other, d, 'device', nowS()));
    expect([early.status, early.body.code]).toEqual([403, 'ROLE_VIOLATION']);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 60, 'keyCompromise')).status).toBe(201);
    expect(await statusOf(t, d)).toMatchObject({ agency: 'lost.example', status: 'agency-revoked' });
    const moved = await postCert(t, 'devices', await certify(other, d, 'device', nowS() + 1));
    expect(moved.status).toBe(201);
    expect(await statusOf(t, d)).toMatchObject({ agency: 'heir.example', status: 'active' });
    // it works again, and offline its reading (and its registration under the new agency) verifies
    const c = await connectDevice(t.gw, d);
    await c.publish(await reading(d, 1));
    const answer = await c.next();
    await c.end();
    if (answer.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(answer)}`);
    const trust = parseTrust({ roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [t.gw.checkpointVerifierKey] });
    for (const index of [answer.receipt.index, moved.body.registeredAt]) {
      const bundle = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
      const verdict = verifyBundle(decodeProofBundle(new Uint8Array(bundle.rawPayload)), trust);
      expect(verdict.checks.filter((x) => x.status === 'fail')).toEqual([]);
      expect(verdict.valid).toBe(true);
    }
  });

  // registry.ts registerAgency (found by review): writes were serialized by subject only, so two certificates for one
  // key under two names, posted at once, both passed the rename check (one record, two ids, a listing showing it twice).
  test('CONFLICT: two certificates for one agency key under two names, posted at once: one is taken', async () => {
    const g = await t.pki.agency('x1.example');
    const [one, two] = await Promise.all([
      postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS() - 10, 'x1.example')),
      postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS() - 5, 'x2.example')),
    ]);
    expect([one.status, two.status].sort()).toEqual([201, 409]);
    expect([one, two].find((r) => r.status === 409)!.body.code).toBe('CONFLICT');
    const ids = (await t.gw.app.inject({ method: 'GET', url: '/v1/agencies' })).json().map((x: { id: string }) => x.id);
    expect(ids.filter((id: string) => id === 'x1.example' || id === 'x2.example')).toHaveLength(1);
  });

  test('CONFLICT: a renewal that renames the agency, or is not issued later', async () => {
    const g = await t.pki.agency('air.example');
    await register(t.gw, g, []);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', nowS(), 'other.example'))).body.code).toBe('CONFLICT');
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', g.cert.claims.iat))).body.code).toBe('CONFLICT');
  });

  test('a revocation naming the other encoding of an ES256 certificate revokes it', async () => {
    const g = await t.pki.agency('noise.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const claims = new Map<number, unknown>([[1, certificateRefs(d.cert)[1]!], [2, d.cert.claims.sub], [3, 'keyCompromise'], [4, nowS() - 1], [6, nowS()]]);
    const { createSign1, encode, CT_REVOCATION } = await import('../../protocol/index.js');
    const rev = await createSign1({ signer: g.signer, payload: encode(claims), kid: kidOf(g.signer), contentType: CT_REVOCATION });
    expect((await post(t.gw, '/v1/revocations', { revocation: toBase64(rev) })).status).toBe(201);
    expect((await statusOf(t, d)).status).toBe('revoked');
  });
});

describe('registry: bundles of readings admitted under a certificate since replaced', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, blockMaxMs: FAST_BLOCKS });
  });
  afterAll(() => t.stop());

  test('still verify offline after the device and its agency were renewed', async () => {
    const g = await t.pki.agency('permits.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const c = await connectDevice(t.gw, d);
    await c.publish(await reading(d, 1));
    const first = await c.next();
    await c.end();
    if (first.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(first)}`);
    // renewals valid only from a minute after the reading: the bundle must carry the certificates of its time
    const later = nowS() + 60;
    expect((await postCert(t, 'agencies', await certify(t.pki.root, g, 'agency', later))).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', later))).status).toBe(201);
    const bundle = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${first.receipt.index}/bundle` });
    const trust = parseTrust({ roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [t.gw.checkpointVerifierKey] });
    const verdict = verifyBundle(decodeProofBundle(new Uint8Array(bundle.rawPayload)), trust);
    expect(verdict.checks.filter((x) => x.status === 'fail')).toEqual([]);
    expect(verdict.valid).toBe(true);
  });
});

describe('registry: a revocation is in force once submitted', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, blockMaxMs: 1500 });
  });
  afterAll(() => t.stop());

  test('before its block is durable, not only after (a reading admitted meanwhile would be logged after it)', async () => {
    const g = await t.pki.agency('slow.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const size = t.gw.ledger.size();
    let answered = false;
    const pending = postRevocation(t, g, d.cert, nowS() - 60, 'keyCompromise').finally(() => (answered = true));
    // Polled, not read once after a fixed 200 ms (a loaded machine may not have taken the POST by then); the
    // revocation waits for its block (up to 1.5 s): shown revoked while its entry is not yet durable (log size).
    let status = (await statusOf(t, d)).status;
    while (status !== 'revoked' && !answered) {
      await new Promise((r) => setTimeout(r, 10));
      status = (await statusOf(t, d)).status;
    }
    expect([status, t.gw.ledger.size()]).toEqual(['revoked', size]);
    expect((await pending).status).toBe(201);
  });
});

describe('registry: revocation entries verify offline as the gateway took them', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, clockSkewSeconds: 60, blockMaxMs: FAST_BLOCKS });
  });
  afterAll(() => t.stop());

  test("a device revoked by its agency after the root revoked the agency: taken, and the entry's bundle is valid", async () => {
    const g = await t.pki.agency('closing.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    expect((await postRevocation(t, t.pki.root, g.cert, nowS() - 5, 'cessationOfOperation')).status).toBe(201);
    const r = await postRevocation(t, g, d.cert, nowS() - 5, 'decommissioned');
    expect(r.status).toBe(201);
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${r.body.index}/bundle` });
    const trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
    const verdict = verifyBundle(decodeProofBundle(new Uint8Array(raw.rawPayload)), trust);
    expect(verdict.checks.filter((x) => x.status === 'fail')).toEqual([]);
    expect(verdict.valid).toBe(true);
  });

  test("CLAIM_INVALID: a revocation dated beyond the gateway's clockSkewSeconds (60 s here), as the offline check would fail it", async () => {
    const g = await t.pki.agency('ahead.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const bytes = await createRevocation(g.signer, d.cert, { reason: 'decommissioned', revokedFrom: nowS(), iat: nowS() + 200 });
    const r = await post(t.gw, '/v1/revocations', { revocation: toBase64(bytes) });
    expect([r.status, r.body.code]).toEqual([422, 'CLAIM_INVALID']);
  });
});
