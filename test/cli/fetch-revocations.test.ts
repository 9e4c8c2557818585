/**
 * `fetch-revocations` (GET /v1/revocations): the gateway's whole set of revocations, for `verify --revocations`.
 * A bundle's own revocations are chosen by whoever made the bundle; one stripped of them verifies, and the
 * revocations fetched from the gateway catch it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeProofBundle, encodeProofBundle, toBase64 } from '../../protocol/index.js';
import { fetchRevocations } from '../../cli/commands/fetch-revocations.js';
import { runVerify } from '../../cli/commands/verify.js';
import { connectDevice, nowS, Pki, reading, register, revoke, startTestGateway, type TestGateway } from '../gateway/harness.js';

describe('fetch-revocations', () => {
  let t: TestGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create());
    dir = await mkdtemp(join(tmpdir(), 'op-revs-'));
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a bundle stripped of its revocation verifies; the revocations fetched from the gateway make it CERT_REVOKED', async () => {
    const agency = await t.pki.agency('psb.example');
    const d = await t.pki.device(agency);
    await register(t.gw, agency, [d]);
    const c = await connectDevice(t.gw, d);
    await c.publish(await reading(d, 1));
    const answer = await c.next();
    await c.end();
    if (answer.kind !== 'receipt') throw new Error('expected a receipt');
    // A key compromise found later, dated from before the reading.
    expect((await revoke(t.gw, agency, d.cert, nowS() - 3600, 'keyCompromise')).status).toBe(201);

    const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ sub: d.id, reason: 'keyCompromise' });

    const trust = join(dir, 'trust.json');
    await writeFile(trust, JSON.stringify({ roots: [{ certificate: toBase64(t.pki.root.cert.bytes) }], checkpointKeys: [{ key: t.gw.checkpointVerifierKey }] }));
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${answer.receipt.index}/bundle` });
    const bundle = decodeProofBundle(new Uint8Array(raw.rawPayload));
    expect(bundle.revocations).toHaveLength(1);
    const whole = join(dir, 'whole.cbor'), stripped = join(dir, 'stripped.cbor');
    await writeFile(whole, encodeProofBundle(bundle));
    await writeFile(stripped, encodeProofBundle({ ...bundle, revocations: [] }));
    const revCheck = (r: ReturnType<typeof runVerify>) => r.verdict?.checks.find((x) => x.name === 'revocation');
    expect(revCheck(runVerify({ bundle: whole, trust }))).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
    expect(runVerify({ bundle: stripped, trust }).exitCode).toBe(0); // what a bundle alone cannot show

    const fetched = await fetchRevocations({ gateway: t.gw.httpUrl, out: join(dir, 'revs') });
    expect(fetched.map((f) => [f.sub, f.reason])).toEqual([[d.id, 'keyCompromise']]);
    const withFetched = runVerify({ bundle: stripped, trust, revocations: fetched.map((f) => f.file) });
    expect(withFetched.exitCode).toBe(1);
    expect(revCheck(withFetched)).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
  });
});
