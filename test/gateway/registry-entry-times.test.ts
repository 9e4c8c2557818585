/**
 * A registry event's entry is checked offline at its receivedAt (protocol/verify-registry-event.ts), so the gateway
 * must log it with the time it checked it at: a registration taken at `now` but dated when its block was sealed (up
 * to blockMaxMs later, more with writes queued before it) was judged offline at a time the gateway never checked,
 * and a revocation or expiry falling in between made a registration the gateway took invalid for good.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeLogEntry, decodeProofBundle, parseTrust, verifyBundle, type TrustMaterial, type Verdict } from '../../protocol/index.js';
import { nowS, Pki, postCert, postRevocation, register, startTestGateway, type TestGateway } from './harness.js';

const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('registry entries carry the time they were checked at', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let offsetMs = 0; // the gateway's clock runs this far ahead of the test's
  beforeAll(async () => {
    // Blocks sealed up to 2 s after their first entry: the window between a registration's check and its block.
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, blockMaxMs: 2000 }, undefined, { now: () => Date.now() + offsetMs });
    trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
  });
  afterAll(() => t.stop());

  test('a device registration checked before its agency revocation took effect, its block sealed after: valid offline, as taken', async () => {
    const g = await t.pki.agency('late.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, []);
    // 6 s ahead, not 4: the revocation's own POST waits for its 2 s block, and the registration below must be checked
    // before `from` (a second boundary could leave 3 s, and a loaded machine took the rest).
    const from = nowS() + 6;
    expect((await postRevocation(t, t.pki.root, g.cert, from, 'cessationOfOperation')).status).toBe(201); // scheduled
    const posting = postCert(t, 'devices', d.cert);
    // Checked (agency not revoked yet), waiting for its block: seen as an entry not yet committed, not assumed after a
    // fixed 500 ms. (Were it dated at sealing, it would show no time; the 1.5 s bound then still lets the block seal late.)
    for (const until = Date.now() + 1500; t.gw.ledger.ledger.oldestUncommittedMs() === undefined && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
    offsetMs = 10_000; // the block is sealed after the agency revocation took effect
    const taken = await posting;
    expect(taken.status).toBe(201);
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${taken.body.registeredAt}/bundle` });
    const bundle = decodeProofBundle(new Uint8Array(raw.rawPayload));
    expect(Math.floor(decodeLogEntry(bundle.entry).receivedAtMs / 1000)).toBeLessThan(from);
    expect(failed(verifyBundle(bundle, trust, { now: Math.floor((Date.now() + offsetMs) / 1000) }))).toEqual([]);
  });
});
