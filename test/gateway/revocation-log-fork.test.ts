/**
 * The revocation list's checkpoint and the bundle's, of different tree sizes (protocol/verify-revocation-log.ts).
 * Each is signed by a trusted key, so a gateway (or a thief of its checkpoint key) could serve a list from a fork
 * that leaves a revocation out: before, the two were compared only at the same size (left open last session). Now a
 * consistency proof links them: the bundle's own (fetch-bundle --since the list's size), or one given with the list
 * (the web page and POST /v1/verify fetch or make it); a fork fails the revocation check (CHECKPOINT_INVALID), and
 * a list not linked passes saying so. Real gateway; the forged list is signed with the gateway's own key.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  commitRevocations, decodeProofBundle, toBase64, ed25519NoteSigner, ENTRY_DEVICE_REGISTRATION, parseTrust, revocationsExtension, signCheckpoint, verifyBundle,
  type ProofBundle, type TrustMaterial,
} from '../../protocol/index.js';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
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

describe('a revocation list and a bundle of different tree sizes', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let listed: Listed; // at size m, one revocation
  let entry: number; // a device registration below m
  let size: number; // the log's size now, n > m
  const get = async (url: string) => t.gw.app.inject({ method: 'GET', url });
  const bundleAt = async (query: string): Promise<ProofBundle> => decodeProofBundle(new Uint8Array((await get(`/v1/entries/${entry}/bundle?${query}`)).rawPayload));
  const proof = async (from: number, to: number) => ((await get(`/v1/proofs/consistency?from=${from}&to=${to}`)).json() as { proof: string[] }).proof.map(b64);

  /** The list as a forking gateway would serve it: the revocation left out, committed to by a checkpoint of size m with another root. */
  async function forgedList(): Promise<{ checkpoint: string; revocations: [] }> {
    const { secretKey } = await loadOrCreateCheckpointKey(join(t.dir, 'data'));
    const name = t.gw.checkpointVerifierKey.split('+')[0]!;
    const checkpoint = await signCheckpoint(
      { origin: t.gw.ledger.ledger.origin, size: listed.treeSize, root: new Uint8Array(32).fill(9), extensions: [revocationsExtension(commitRevocations([]))] },
      ed25519NoteSigner(name, secretKey),
    );
    return { checkpoint, revocations: [] };
  }

  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 });
    trust = parseTrust((await get('/v1/trust')).json());
    const agency = await t.pki.agency('fork.example');
    const [kept, gone] = [await t.pki.device(agency), await t.pki.device(agency)];
    await register(t.gw, agency, [kept, gone]);
    expect((await revoke(t.gw, agency, gone.cert, nowS(), 'decommissioned')).status).toBe(201);
    listed = (await get('/v1/revocations')).json() as Listed;
    entry = (await t.gw.ledger.ledger.indexesByType(ENTRY_DEVICE_REGISTRATION)).find((i) => i < listed.treeSize)!;
    await register(t.gw, await t.pki.agency('later.example'), []); // the log grows past the list
    size = t.gw.ledger.ledger.size;
    expect(size).toBeGreaterThan(listed.treeSize);
  });
  afterAll(() => t.stop());

  test('linked by the bundle\'s consistency proof from the list\'s size: complete, nothing more to say', async () => {
    const v = verifyBundle(await bundleAt(`treeSize=${size}&since=${listed.treeSize}`), trust, { revocationLog: { checkpoint: listed.checkpoint, revocations: statements(listed) } });
    expect(v.valid).toBe(true);
    expect(revocationCheck(v).message).toMatch(/complete up to tree size/);
    expect(revocationCheck(v).message).not.toMatch(/not linked/);
  });

  test('not linked: passes, and says how to link them', async () => {
    const v = verifyBundle(await bundleAt(`treeSize=${size}`), trust, { revocationLog: { checkpoint: listed.checkpoint, revocations: statements(listed) } });
    expect(v.valid).toBe(true);
    expect(revocationCheck(v).message).toContain(`not linked to the bundle's (tree size ${size}): fetch the bundle with --since ${listed.treeSize} --tree-size ${size} or --tree-size ${listed.treeSize}`);
  });

  test('the bundle\'s own proof from another size than the list\'s is not tried: not linked, not a fork', async () => {
    // guards verify-revocation-log.ts listProblem: the bundle's proof counts only when it starts at the list's size
    const bundle = await bundleAt(`treeSize=${size}&since=${listed.treeSize - 1}`);
    expect(bundle.consistency?.fromSize).toBe(listed.treeSize - 1);
    const v = verifyBundle(bundle, trust, { revocationLog: { checkpoint: listed.checkpoint, revocations: statements(listed) } });
    expect([v.valid, revocationCheck(v).status]).toEqual([true, 'pass']);
    expect(revocationCheck(v).message).toMatch(/not linked/);
  });

  test('a forked list fails CHECKPOINT_INVALID against the bundle\'s proof, and against a proof given with it', async () => {
    const forged = await forgedList();
    const withSince = verifyBundle(await bundleAt(`treeSize=${size}&since=${listed.treeSize}`), trust, { revocationLog: forged });
    expect([withSince.valid, revocationCheck(withSince).code]).toEqual([false, 'CHECKPOINT_INVALID']);
    expect(revocationCheck(withSince).message).toMatch(/forked log/);
    const given = verifyBundle(await bundleAt(`treeSize=${size}`), trust, { revocationLog: { ...forged, consistency: await proof(listed.treeSize, size) } });
    expect([given.valid, revocationCheck(given).code]).toEqual([false, 'CHECKPOINT_INVALID']);
    // unlinked it cannot be told from the real list: the verdict says it is not linked
    const unlinked = verifyBundle(await bundleAt(`treeSize=${size}`), trust, { revocationLog: forged });
    expect(revocationCheck(unlinked).message).toMatch(/not linked/);
  });

  test('a list newer than the bundle, with the proof from the bundle\'s size: linked; a wrong proof fails', async () => {
    const latest = (await get('/v1/revocations')).json() as Listed;
    const bundle = await bundleAt(''); // its own block's checkpoint, below the latest
    expect(bundle.treeSize).toBeLessThan(latest.treeSize);
    const log = { checkpoint: latest.checkpoint, revocations: statements(latest) };
    const linked = verifyBundle(bundle, trust, { revocationLog: { ...log, consistency: await proof(bundle.treeSize, latest.treeSize) } });
    expect(linked.valid).toBe(true);
    expect(revocationCheck(linked).message).not.toMatch(/not linked/);
    const wrong = verifyBundle(bundle, trust, { revocationLog: { ...log, consistency: [] } });
    expect([wrong.valid, revocationCheck(wrong).code]).toEqual([false, 'CHECKPOINT_INVALID']);
    const unlinked = verifyBundle(bundle, trust, { revocationLog: log });
    expect(revocationCheck(unlinked).message).toContain(`fetch the bundle with --tree-size ${latest.treeSize}`);
  });

  test('a wrong proof given with the list does not fail a bundle whose own proof links them (either proof is enough)', async () => {
    const log = { checkpoint: listed.checkpoint, revocations: statements(listed) };
    const bundle = await bundleAt(`treeSize=${size}&since=${listed.treeSize}`);
    const v = verifyBundle(bundle, trust, { revocationLog: { ...log, consistency: [new Uint8Array(32).fill(7)] } });
    expect([v.valid, revocationCheck(v).status]).toEqual([true, 'pass']); // was fail CHECKPOINT_INVALID
    expect(revocationCheck(v).message).not.toMatch(/not linked/);
    // a forked list is still a fork with any proof given beside the bundle's own
    const forged = await forgedList();
    const f = verifyBundle(bundle, trust, { revocationLog: { ...forged, consistency: await proof(listed.treeSize, size) } });
    expect([f.valid, revocationCheck(f).code]).toEqual([false, 'CHECKPOINT_INVALID']);
  });

  test('POST /v1/verify links its own list to the bundle it is given (it holds the log)', async () => {
    const raw = (await get(`/v1/entries/${entry}/bundle`)).rawPayload;
    const posted = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: Buffer.from(raw).toString('base64') } })).json();
    expect(posted.valid).toBe(true);
    const message = posted.checks.find((c: { name: string }) => c.name === 'revocation').message as string;
    expect(message).toMatch(/complete up to/);
    expect(message).not.toMatch(/not linked/);
  });

  // From the review of this change (review-mine): the 'not linked' advice must be a request fetch-bundle (GET
  // /v1/entries/N/bundle) accepts for that entry, and a bundle followed from it must then be linked.
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
