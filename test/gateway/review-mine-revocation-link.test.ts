/**
 * Review of the link between a revocation list and a bundle of another tree size (protocol/verify-revocation-log.ts,
 * POST /v1/verify's withOwnRevocations). The 'not linked' advice must be a request fetch-bundle (GET
 * /v1/entries/N/bundle) accepts for that entry, and a bundle followed from it must then be linked.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeProofBundle, ENTRY_DEVICE_REGISTRATION, parseTrust, toBase64, verifyBundle, type ProofBundle, type TrustMaterial } from '../../protocol/index.js';
import { nowS, Pki, register, revoke, startTestGateway, type TestGateway } from './harness.js';

interface Listed {
  treeSize: number;
  checkpoint: string;
  revocations: { index: number; revocation: string }[];
}
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const statements = (l: Listed) => l.revocations.map((r) => ({ index: r.index, statement: b64(r.revocation) }));
const revocationCheck = (v: { checks: { name: string; status: string; code?: string; message: string }[] }) => v.checks.find((c) => c.name === 'revocation')!;

/** The fetch-bundle options the advice names, as the query string fetch-bundle sends (cli/commands/fetch-bundle.ts). */
function adviceQueries(message: string): string[] {
  const m = /fetch the bundle with (.*?) to check they are one log/.exec(message);
  if (!m) return [];
  return m[1]!.split(' or ').map((way) => {
    const q = new URLSearchParams();
    for (const [, opt, v] of way.matchAll(/--([a-z-]+) (\d+)/g)) q.set(opt === 'tree-size' ? 'treeSize' : opt!, v!);
    return q.toString();
  });
}

describe('review: the not-linked advice', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let listed: Listed;
  let entry: number; // a device registration in a block before the list's size
  let size: number;
  const get = async (url: string) => t.gw.app.inject({ method: 'GET', url });
  const bundleAt = async (query: string): Promise<ProofBundle> => decodeProofBundle(new Uint8Array((await get(`/v1/entries/${entry}/bundle?${query}`)).rawPayload));

  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 });
    trust = parseTrust((await get('/v1/trust')).json());
    const agency = await t.pki.agency('advice.example');
    const [kept, gone] = [await t.pki.device(agency), await t.pki.device(agency)];
    await register(t.gw, agency, [kept, gone]);
    expect((await revoke(t.gw, agency, gone.cert, nowS(), 'decommissioned')).status).toBe(201);
    listed = (await get('/v1/revocations')).json() as Listed;
    entry = (await t.gw.ledger.ledger.indexesByType(ENTRY_DEVICE_REGISTRATION)).find((i) => i < listed.treeSize)!;
    await register(t.gw, await t.pki.agency('advice-later.example'), []);
    size = t.gw.ledger.ledger.size;
  });
  afterAll(() => t.stop());

  test('a bundle proved against a later checkpoint, its entry in a block before the list: every advised request is accepted and links them', async () => {
    const own = await bundleAt('');
    expect(own.treeSize).toBeLessThan(listed.treeSize); // the entry's own block is before the list's checkpoint
    const v = verifyBundle(await bundleAt(`treeSize=${size}`), trust, { revocationLog: { checkpoint: listed.checkpoint, revocations: statements(listed) } });
    const queries = adviceQueries(revocationCheck(v).message);
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) {
      const res = await get(`/v1/entries/${entry}/bundle?${q}`);
      expect([q, res.statusCode]).toEqual([q, 200]);
      const followed = verifyBundle(decodeProofBundle(new Uint8Array(res.rawPayload)), trust, { revocationLog: { checkpoint: listed.checkpoint, revocations: statements(listed) } });
      expect(followed.valid).toBe(true);
      expect(revocationCheck(followed).message).not.toMatch(/not linked/);
    }
  });

  test('a list newer than the bundle (already handled): the advice --tree-size is accepted and links them', async () => {
    const latest = (await get('/v1/revocations')).json() as Listed;
    const v = verifyBundle(await bundleAt(''), trust, { revocationLog: { checkpoint: latest.checkpoint, revocations: statements(latest) } });
    const queries = adviceQueries(revocationCheck(v).message);
    expect(queries).toEqual([`treeSize=${latest.treeSize}`]);
    const followed = verifyBundle(await bundleAt(queries[0]!), trust, { revocationLog: { checkpoint: latest.checkpoint, revocations: statements(latest) } });
    expect(revocationCheck(followed).message).not.toMatch(/not linked/);
  });

  test('POST /v1/verify (already handled): a bundle at its own block, one at a later size, one with treeSize beyond the log: no 5xx, linked or refused', async () => {
    const verify = async (b: Uint8Array) => t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: toBase64(b) } });
    for (const q of ['', `treeSize=${size}`, `treeSize=${listed.treeSize}`]) {
      const res = await verify(new Uint8Array((await get(`/v1/entries/${entry}/bundle?${q}`)).rawPayload));
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.valid).toBe(true);
      expect(revocationCheck(body).message).not.toMatch(/not linked/);
    }
    // its tree size changed (beyond the log, one above its checkpoint's): a verdict, not a 5xx
    const json = (await get(`/v1/entries/${entry}/bundle?format=json`)).json() as Record<string, unknown>;
    for (const treeSize of [size + 10, (json.treeSize as number) + 1, Number.MAX_SAFE_INTEGER]) {
      const res = await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: Buffer.from(JSON.stringify({ ...json, treeSize })).toString('base64') } });
      expect([treeSize, res.statusCode]).toEqual([treeSize, 200]);
      expect(res.json().valid).toBe(false);
    }
  });
});
