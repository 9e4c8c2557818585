/**
 * Every proof the record routes serve, checked the way a client checks it: with protocol/'s own verify functions
 * against roots the test computes itself from the entries' bytes (RFC 9162 reference, protocol/merkle/reference.ts),
 * not against what the gateway says. The gateway checks each proof to its signed root before serving it
 * (ledger/queries.ts; test/gateway/read-self-check.test.ts sees them served); this sees that what reaches the client
 * is the proof it asked for: inclusion at every tree size, consistency between every pair of sizes, at sizes where a
 * block ended and where none did, and each entry's bundle against its own and every later checkpoint, with a
 * consistency proof (`since`) from every size up to it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeMerkleHasher } from '../../ledger/hasher.js';
import { toHex } from '../../protocol/bytes.js';
import { referenceRoot } from '../../protocol/merkle/reference.js';
import { decodeProofBundle, fromBase64, openCheckpoint, parseVerifierKey, verifyBundle, verifyConsistency, verifyInclusion } from '../../protocol/index.js';
import { connectDevice, gatewayTrust, gatewayWithDevices, reading, type TestGateway } from './harness.js';

describe('proofs as a client verifies them', () => {
  let t: TestGateway;
  beforeAll(async () => {
    // Blocks of up to 3 entries (the readings published unpaced), so that most tree sizes are no block's end.
    const fx = await gatewayWithDevices(2, { blockMaxEntries: 3, blockMaxMs: 200 });
    t = fx.t;
    for (const [k, n] of [[0, 7], [1, 5]] as const) {
      const d = fx.devices[k]!;
      const c = await connectDevice(t.gw, d);
      const rs = await Promise.all(Array.from({ length: n }, (_, i) => reading(d, i + 1)));
      await Promise.all(rs.map((r) => c.publish(r)));
      for (let i = 0; i < n; i++) expect((await c.next()).kind).toBe('receipt');
      await c.end();
    }
  }, 60_000);
  afterAll(() => t.stop());

  const get = (url: string) => t.gw.app.inject({ method: 'GET', url });

  test('inclusion, consistency and bundles at every size lead to the roots of the entries served', async () => {
    const trust = await gatewayTrust(t);
    const log = (await get('/v1/log')).json() as { size: number; verifierKey: string };
    const size = log.size;
    // The entries' bytes (a bundle carries them whole), their leaf hashes as /v1/entries/:index gives them.
    const entries: Uint8Array[] = [];
    for (let i = 0; i < size; i++) {
      const bundle = decodeProofBundle(new Uint8Array((await get(`/v1/entries/${i}/bundle`)).rawPayload));
      expect(bundle.index).toBe(i);
      entries.push(bundle.entry);
      expect((await get(`/v1/entries/${i}`)).json().leafHash).toBe(toHex(nodeMerkleHasher.hashLeaf(bundle.entry)));
    }
    const root = (n: number) => referenceRoot(entries.slice(0, n));
    const leaf = (i: number) => nodeMerkleHasher.hashLeaf(entries[i]!);

    const signedSizes: number[] = [];
    for (let n = 1; n <= size; n++) {
      const cp = await get(`/v1/checkpoints/${n}`);
      if (cp.statusCode === 404) continue;
      expect(cp.statusCode).toBe(200);
      const opened = openCheckpoint(cp.body, [parseVerifierKey(log.verifierKey)]);
      expect([opened.size, toHex(opened.root)]).toEqual([n, toHex(root(n))]);
      signedSizes.push(n);
    }
    expect(signedSizes.length).toBeLessThan(size); // sizes with no block's end among them
    expect(signedSizes.at(-1)).toBe(size);

    for (let n = 1; n <= size; n++) {
      for (let i = 0; i < n; i++) {
        const r = (await get(`/v1/proofs/inclusion?index=${i}&treeSize=${n}`)).json() as { index: number; treeSize: number; leafHash: string; proof: string[] };
        expect([r.index, r.treeSize, r.leafHash]).toEqual([i, n, toHex(leaf(i))]);
        verifyInclusion(i, n, leaf(i), r.proof.map(fromBase64), root(n));
      }
      for (let m = n; m <= size; m++) {
        const r = (await get(`/v1/proofs/consistency?from=${n}&to=${m}`)).json() as { from: number; to: number; proof: string[] };
        expect([r.from, r.to]).toEqual([n, m]);
        verifyConsistency(n, m, r.proof.map(fromBase64), root(n), root(m));
      }
    }

    for (let i = 0; i < size; i++) {
      for (const treeSize of [undefined, ...signedSizes.filter((s) => s > i)]) {
        const own = decodeProofBundle(new Uint8Array((await get(`/v1/entries/${i}/bundle${treeSize ? `?treeSize=${treeSize}` : ''}`)).rawPayload));
        const n = treeSize ?? own.treeSize;
        expect(own.treeSize).toBe(n);
        expect(verifyBundle(own, trust).valid).toBe(true);
        verifyInclusion(i, n, leaf(i), own.inclusionProof, root(n));
        for (let since = 1; since <= n; since++) {
          const res = await get(`/v1/entries/${i}/bundle?${treeSize ? `treeSize=${treeSize}&` : ''}since=${since}`);
          const b = decodeProofBundle(new Uint8Array(res.rawPayload));
          expect([b.treeSize, b.consistency?.fromSize]).toEqual([n, since]);
          verifyConsistency(since, n, b.consistency!.proof, root(since), root(n));
        }
      }
    }
  }, 120_000);
});
