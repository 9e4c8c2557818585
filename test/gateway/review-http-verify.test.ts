/**
 * Review of POST /v1/verify against what GET answers for the same record (review-http).
 * - A bundle is "checked as `originproof verify` would" (README), and verify takes the JSON view as well as CBOR:
 *   the gateway's own `?format=json` bundle, base64'd, was 400 MALFORMED (cbor-x's "length over 4294967295").
 * - An envelope signed before its device moved to another agency is checked (chain) and would be logged under its
 *   previous agency (Registry.chainAt); its verdict's record named the current one, where the verdict of the same
 *   envelope once logged (its bundle's) names the previous one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toBase64 } from '../../protocol/index.js';
import { certify, nowS, Pki, postCert, postRevocation, reading, register, startTestGateway, type TestGateway } from './harness.js';

interface VerdictOut {
  valid: boolean;
  checks: { name: string; status: string; code?: string }[];
  record?: Record<string, unknown>;
}

const failed = (v: VerdictOut) => v.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.code]);

describe('review-http: POST /v1/verify agrees with the GET routes', () => {
  let t: TestGateway;
  const verify = async (payload: Record<string, string>) => {
    const res = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload });
    return { status: res.statusCode, body: res.json() as VerdictOut & { code?: string } };
  };

  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, blockMaxMs: 5 });
  });
  afterAll(() => t.stop());

  test("the gateway's own JSON-view bundle (format=json) is verified as its CBOR bundle is", async () => {
    const agency = await t.pki.agency('json.example');
    const d = await t.pki.device(agency);
    await register(t.gw, agency, [d]);
    const done = await t.gw.pipeline.process(d.id, await reading(d, 1), Date.now());
    if (!done.ok) throw new Error(done.error.code);
    const index = done.receipt.index;
    const cbor = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const json = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle?format=json` });
    expect([cbor.statusCode, json.statusCode]).toEqual([200, 200]);
    const byCbor = await verify({ bundle: toBase64(new Uint8Array(cbor.rawPayload)) });
    expect([byCbor.status, byCbor.body.valid]).toEqual([200, true]);
    const byJson = await verify({ bundle: Buffer.from(json.body, 'utf8').toString('base64') });
    expect(byJson.body.code).toBeUndefined(); // was MALFORMED
    expect(byJson.status).toBe(200);
    expect(byJson.body).toEqual(byCbor.body);
    // neither encoding: still MALFORMED, as verify exits 2 on it
    const neither = await verify({ bundle: Buffer.from('{"entry": 1}', 'utf8').toString('base64') });
    expect([neither.status, neither.body.code]).toEqual([400, 'MALFORMED']);
    const deep = await verify({ bundle: Buffer.from(`${'{"a":'.repeat(8000)}1${'}'.repeat(8000)}`, 'utf8').toString('base64') });
    expect([deep.status, deep.body.code]).toEqual([400, 'MALFORMED']);
  });

  test('an envelope signed before a transfer names the agency it is checked and logged under, before and after it is logged', async () => {
    const [a, b] = [await t.pki.agency('before.example'), await t.pki.agency('after.example')];
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    await register(t.gw, b, []);
    const now = nowS();
    expect((await postRevocation(t, a, d.cert, now - 3600, 'affiliationChanged')).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(b, d, 'device', now))).status).toBe(201);
    const envelope = await reading(d, 1, { iat: now - 7200 });

    const unlogged = (await verify({ envelope: toBase64(envelope) })).body;
    expect(failed(unlogged)).toEqual([]);
    expect(unlogged.checks.find((c) => c.name === 'chain')!.status).toBe('pass');

    const done = await t.gw.pipeline.process(d.id, envelope, Date.now());
    if (!done.ok) throw new Error(done.error.code);
    const logged = (await verify({ envelope: toBase64(envelope) })).body;
    expect([logged.valid, logged.record?.index]).toEqual([true, done.receipt.index]);
    expect(logged.record?.agency).toBe('before.example');
    expect(unlogged.record?.agency).toBe('before.example'); // was after.example, the device's current agency
  });
});
