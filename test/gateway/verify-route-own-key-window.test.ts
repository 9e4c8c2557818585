/**
 * POST /v1/verify checks a bundle "as `originproof verify` would, with this gateway's trust material": the gateway's
 * own checkpoint key is added to it only when the trust file does not name it, as GET /v1/trust serves it (suspected
 * last session, confirmed: the route added the key again without a window, so a key the trust file bounds, say
 * retired by notAfter, still verified checkpoints there, where an offline verifier given GET /v1/trust failed them).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseTrust, verifyBundle, decodeProofBundle } from '../../protocol/index.js';
import { nowS, Pki, register, startTestGateway, type TestGateway } from './harness.js';

type Check = { name: string; status: string; code?: string };
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway(await Pki.create(), { blockMaxMs: 5 });
  await register(t.gw, await t.pki.agency('own-key.example'), []);
  const own = t.gw.checkpointVerifierKey;
  const trustFile = join(t.dir, 'trust.json');
  await t.restart(async () => {
    const trust = JSON.parse(await readFile(trustFile, 'utf8')) as { checkpointKeys?: unknown[] };
    trust.checkpointKeys = [...(trust.checkpointKeys ?? []), { key: own, notBefore: nowS() - 3600, notAfter: nowS() - 60 }];
    await writeFile(trustFile, JSON.stringify(trust));
  });
}, 60_000);
afterAll(() => t.stop());

test('a trust file that retires the gateway\'s key: POST /v1/verify gives the offline verdict (CHECKPOINT_INVALID)', async () => {
  const served = await t.gw.app.inject({ method: 'GET', url: '/v1/trust' });
  const keys = (served.json() as { checkpointKeys: { key: string; notAfter?: number }[] }).checkpointKeys;
  expect(keys.filter((k) => k.key === t.gw.checkpointVerifierKey)).toHaveLength(1);
  const raw = new Uint8Array((await t.gw.app.inject({ method: 'GET', url: '/v1/entries/0/bundle' })).rawPayload);
  // offline with the gateway's revocation list too, which the route adds from its own log
  const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as { checkpoint: string; revocations: { index: number; revocation: string }[] };
  const revocations = listed.revocations.map((r) => ({ index: r.index, statement: new Uint8Array(Buffer.from(r.revocation, 'base64')) }));
  const offline = verifyBundle(decodeProofBundle(raw), parseTrust(served.json()), { revocationLog: { checkpoint: listed.checkpoint, revocations } });
  const posted = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: Buffer.from(raw).toString('base64') } })).json() as { valid: boolean; checks: Check[] };
  const codes = (checks: Check[]) => checks.map((c) => [c.name, c.status, c.code]);
  expect(offline.valid).toBe(false);
  expect(offline.checks.some((c) => c.code === 'CHECKPOINT_INVALID')).toBe(true);
  expect(posted.valid).toBe(false); // was true: the key added again without its window
  expect(codes(posted.checks)).toEqual(codes(offline.checks));
}, 30_000);
