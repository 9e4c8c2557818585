/**
 * Review of the page's revocation list (web/verification.ts): a list of another tree size than the record's is
 * linked to it by a consistency proof the page fetches. When that proof cannot be fetched (offline, the request
 * blocked), the list is not linked: the page must not say "not revoked" on it, as a list served from a fork (signed
 * with a stolen checkpoint key, a revocation left out) would then be taken as the log's.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeProofBundle, fromBase64, parseTrust } from '../../protocol/index.js';
import { verifyBundleFile, type ProofFetcher, type RevocationLogFetcher } from '../../web/verification.js';
import { ed25519NoteSigner, signCheckpoint } from '../../protocol/checkpoint.js';
import { checkSentence } from '../../web/format.js';
import { commitRevocations, revocationsExtension } from '../../protocol/revocation-log.js';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { connectDevice, nowS, Pki, reading, register, revoke, startTestGateway, type TestGateway } from '../gateway/harness.js';

let t: TestGateway;
let record: Uint8Array; // the first reading's bundle, at its own block
const get = (url: string) => t.gw.app.inject({ method: 'GET', url });
const trust = async () => parseTrust((await get('/v1/trust')).json());
const realProof: ProofFetcher = async (from, to) => (await get(`/v1/proofs/consistency?from=${from}&to=${to}`)).json().proof.map(fromBase64);
const offline: ProofFetcher = async () => 'offline';

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { blockMaxMs: 5 });
  const psb = await pki.agency('unlinked.example');
  const [d, gone] = [await pki.device(psb), await pki.device(psb)];
  await register(t.gw, psb, [d, gone]);
  const c = await connectDevice(t.gw, d);
  await c.publish(await reading(d, 1));
  const first = await c.next();
  await c.end();
  if (first.kind !== 'receipt') throw new Error('no receipt');
  record = new Uint8Array((await get(`/v1/entries/${first.receipt.index}/bundle`)).rawPayload);
  expect((await revoke(t.gw, psb, gone.cert, nowS(), 'decommissioned')).status).toBe(201);
});
afterAll(() => t.stop());

/** The gateway's list as served by a fork: at the log's size now, the revocation left out, another root. */
async function forgedList(): Promise<RevocationLogFetcher> {
  const { secretKey } = await loadOrCreateCheckpointKey(join(t.dir, 'data'));
  const key = ed25519NoteSigner(t.gw.checkpointVerifierKey.split('+')[0]!, secretKey);
  const size = t.gw.ledger.ledger.size;
  expect(size).toBeGreaterThan(decodeProofBundle(record).treeSize);
  const checkpoint = await signCheckpoint({ origin: t.gw.ledger.ledger.origin, size, root: new Uint8Array(32).fill(5), extensions: [revocationsExtension(commitRevocations([]))] }, key);
  return async () => ({ checkpoint, revocations: [] });
}

const revocationSentence = (o: Awaited<ReturnType<typeof verifyBundleFile>>) => {
  if (o.kind !== 'verdict') throw new Error(o.kind);
  return checkSentence('en', o.verdict.checks.find((c) => c.name === 'revocation')!, o.verdict, o.ctx);
};

describe('review: a list the page cannot link to the record', () => {
  test('a forked list of another size, the proof not to be had (offline): the page does not say "not revoked" on it', async () => {
    const o = await verifyBundleFile(record, await trust(), null, offline, { fetchRevocationLog: await forgedList() });
    if (o.kind !== 'verdict') throw new Error(o.kind);
    expect(o.ctx.revocationLog).toBeUndefined();
    expect(o.ctx.revocationsUnchecked).toBe('offline');
    expect(revocationSentence(o)).not.toMatch(/^Not revoked/);
  });

  test('already handled: the same forked list with the proof fetched fails CHECKPOINT_INVALID; the real list linked says "not revoked"', async () => {
    const forged = await verifyBundleFile(record, await trust(), null, realProof, { fetchRevocationLog: await forgedList() });
    expect(forged.kind === 'verdict' && [forged.verdict.valid, forged.verdict.checks.find((c) => c.name === 'revocation')!.code]).toEqual([false, 'CHECKPOINT_INVALID']);
    const realLog: RevocationLogFetcher = async () => {
      const l = (await get('/v1/revocations')).json() as { checkpoint: string; revocations: { index: number; revocation: string }[] };
      return { checkpoint: l.checkpoint, revocations: l.revocations.map((r) => ({ index: r.index, statement: fromBase64(r.revocation) })) };
    };
    const real = await verifyBundleFile(record, await trust(), null, realProof, { fetchRevocationLog: realLog });
    expect(real.kind === 'verdict' && real.verdict.valid).toBe(true);
    expect(revocationSentence(real)).toMatch(/^Not revoked/);
  });

  test('a record that carries its own proof from the list\'s size (fetch-bundle --since): linked without asking the gateway, so a gateway that will not answer does not make it a fork', async () => {
    const l = (await get('/v1/revocations')).json() as { treeSize: number; checkpoint: string; revocations: { index: number; revocation: string }[] };
    const list: RevocationLogFetcher = async () => ({ checkpoint: l.checkpoint, revocations: l.revocations.map((r) => ({ index: r.index, statement: fromBase64(r.revocation) })) });
    await register(t.gw, await t.pki.agency('unlinked-later.example'), []); // the log grows past the list
    const size = t.gw.ledger.ledger.size;
    expect(size).toBeGreaterThan(l.treeSize);
    const index = decodeProofBundle(record).index;
    const withSince = new Uint8Array((await get(`/v1/entries/${index}/bundle?treeSize=${size}&since=${l.treeSize}`)).rawPayload);
    for (const proof of [realProof, offline, (async () => 'refused') as ProofFetcher]) {
      const o = await verifyBundleFile(withSince, await trust(), null, proof, { fetchRevocationLog: list });
      if (o.kind !== 'verdict') throw new Error(o.kind);
      expect([o.verdict.valid, o.ctx.revocationLog]).toEqual([true, { size: l.treeSize, count: l.revocations.length }]);
      expect(revocationSentence(o)).toMatch(/^Not revoked/);
    }
  });
});
