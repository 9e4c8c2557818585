/**
 * The page's verification step without the browser (web/verification.ts over protocol/verify-bundle.ts), on
 * bundles from a real gateway: against a kept checkpoint the log must be proven to extend it (proof in the
 * bundle, or fetched); offline it is left unchecked; a gateway that refuses the proof, or sends a wrong one,
 * fails with CONSISTENCY_INVALID; bytes that are no bundle are unusable (MALFORMED).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeProofBundle, fromBase64, parseTrust } from '../../protocol/index.js';
import { forRequestedEntry, noAnswerOf, publishedSkew, readKeptCheckpoint, verifyBundleFile, type KeptCheckpoint, type ProofFetcher, type RevocationLogFetcher } from '../../web/verification.js';
import { ed25519NoteSigner, signCheckpoint } from '../../protocol/checkpoint.js';
import { checkSentence } from '../../web/format.js';
import { translate } from '../../web/i18n.js';
import { commitRevocations, revocationsExtension } from '../../protocol/revocation-log.js';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { join } from 'node:path';
import { connectDevice, nowS, Pki, reading, register, revoke, startTestGateway, type TestGateway } from '../gateway/harness.js';

let t: TestGateway;
let kept: KeptCheckpoint;
let later: Uint8Array;
let laterSize: number;
const get = (url: string) => t.gw.app.inject({ method: 'GET', url });
const trust = async () => parseTrust((await get('/v1/trust')).json());

const realProof: ProofFetcher = async (from, to) => (await get(`/v1/proofs/consistency?from=${from}&to=${to}`)).json().proof.map(fromBase64);

beforeAll(async () => {
  const pki = await Pki.create();
  t = await startTestGateway(pki, { blockMaxMs: 5 });
  const psb = await pki.agency('psb.example');
  const d = await pki.device(psb);
  await register(t.gw, psb, [d]);
  const c = await connectDevice(t.gw, d);
  await c.publish(await reading(d, 1));
  const first = await c.next();
  if (first.kind !== 'receipt') throw new Error('no receipt');
  kept = readKeptCheckpoint(first.receipt.checkpoint, Date.now());
  await c.publish(await reading(d, 2));
  const second = await c.next();
  if (second.kind !== 'receipt') throw new Error('no receipt');
  await c.end();
  const res = await get(`/v1/entries/${second.receipt.index}/bundle`);
  later = new Uint8Array(res.rawPayload);
  laterSize = readKeptCheckpoint(second.receipt.checkpoint, 0).size;
  expect(laterSize).toBeGreaterThan(kept.size);
});
afterAll(() => t.stop());

const consistency = (o: Awaited<ReturnType<typeof verifyBundleFile>>) => (o.kind === 'verdict' ? o.verdict.checks.find((c) => c.name === 'consistency') : undefined);

describe('verification in the page', () => {
  test('against the kept checkpoint, with the proof fetched from the gateway: the log only grew', async () => {
    const o = await verifyBundleFile(later, await trust(), kept, realProof);
    expect(o.kind === 'verdict' && o.verdict.valid).toBe(true);
    expect(consistency(o)?.status).toBe('pass');
    expect(o.kind === 'verdict' && o.ctx).toMatchObject({ keptSize: kept.size, gatewayLabel: expect.stringMatching(/^originproof\.local\/log \([0-9a-f]{8}\)$/) });
  });

  test('offline, no proof can be had: consistency is left unchecked, the rest still verifies', async () => {
    const o = await verifyBundleFile(later, await trust(), kept, async () => 'offline');
    expect(consistency(o)?.status).toBe('skip');
    expect(o.kind === 'verdict' && [o.verdict.valid, o.ctx.consistencyOffline]).toEqual([true, true]);
  });

  test('CONSISTENCY_INVALID: the gateway refuses the proof, or sends one for other sizes', async () => {
    for (const fetcher of [async () => 'refused' as const, ((_f, to) => realProof(1, to)) as ProofFetcher]) {
      const o = await verifyBundleFile(later, await trust(), kept, fetcher);
      expect(consistency(o)).toMatchObject({ status: 'fail', code: 'CONSISTENCY_INVALID' });
      expect(o.kind === 'verdict' && o.verdict.valid).toBe(false);
    }
  });

  // A 503 while the gateway's store recovers (or a 429, a 500...) is no refusal: the record failed CONSISTENCY_INVALID
  // on it, though a gateway that wanted to hide a fork could as well drop the connection (the offline case).
  test('the gateway cannot answer now (503): consistency is left unchecked and says so, the rest still verifies', async () => {
    const o = await verifyBundleFile(later, await trust(), kept, async () => 'unavailable');
    expect(consistency(o)?.status).toBe('skip');
    if (o.kind !== 'verdict') throw new Error(o.kind);
    expect([o.verdict.valid, o.ctx.consistencyUnavailable, o.ctx.consistencyOffline]).toEqual([true, true, undefined]);
    expect(checkSentence('en', consistency(o)!, o.verdict, o.ctx)).toBe(translate('en', 'skip.consistency.unavailable'));
    expect(checkSentence('zh', consistency(o)!, o.verdict, o.ctx)).toBe(translate('zh', 'skip.consistency.unavailable'));
  });

  test('which answers are refusals: 4xx but 408 and 429; 5xx but 501 are "cannot answer now"', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) expect([s, noAnswerOf(s)]).toEqual([s, 'unavailable']);
    for (const s of [300, 400, 401, 403, 404, 410, 413, 422, 501]) expect([s, noAnswerOf(s)]).toEqual([s, 'refused']);
  });

  test('a checkpoint kept from another log is not applied: nothing fetched, consistency not checked and says why; valid', async () => {
    const other = ed25519NoteSigner('other.example/log', new Uint8Array(32).fill(5));
    const note = await signCheckpoint({ origin: 'other.example/log', size: 2, root: new Uint8Array(32), extensions: [] }, other);
    const o = await verifyBundleFile(later, await trust(), readKeptCheckpoint(note, Date.now()), async () => {
      throw new Error('must not fetch');
    });
    expect(consistency(o)?.status).toBe('skip'); // was fail CONSISTENCY_INVALID (checkpoints of different logs)
    if (o.kind !== 'verdict') throw new Error(o.kind);
    expect([o.verdict.valid, o.ctx.keptOtherLog, o.ctx.keptSize]).toEqual([true, 'other.example/log', undefined]);
    expect(checkSentence('en', consistency(o)!, o.verdict, o.ctx)).toBe(translate('en', 'skip.consistency.otherLog', { origin: 'other.example/log' }));
  });

  test('without a kept checkpoint nothing is fetched and consistency is not checked', async () => {
    const o = await verifyBundleFile(later, await trust(), null, async () => {
      throw new Error('must not fetch');
    });
    expect(consistency(o)?.status).toBe('skip');
    expect(o.kind === 'verdict' && o.verdict.valid).toBe(true);
  });

  test('MALFORMED: bytes that are no proof bundle are unusable input', async () => {
    const o = await verifyBundleFile(new TextEncoder().encode('{"entry": 5}'), await trust(), null, realProof);
    expect(o).toMatchObject({ kind: 'unusable', code: 'MALFORMED' });
    expect((await verifyBundleFile(new Uint8Array([0xa1, 0x01]), await trust(), null, realProof)).kind).toBe('unusable');
  });
});

describe('an entry asked for by number', () => {
  test('a bundle of another entry is no proof of it (wrongEntry); the right one passes through unchanged', async () => {
    const index = decodeProofBundle(later).index;
    const o = await verifyBundleFile(later, await trust(), null, realProof);
    expect(o.kind === 'verdict' && o.verdict.valid).toBe(true);
    expect(forRequestedEntry(o, index)).toBe(o);
    for (const requested of [index + 1, 0, 424242]) expect(forRequestedEntry(o, requested)).toEqual({ kind: 'wrongEntry', requested, got: index });
    const unusable = await verifyBundleFile(new Uint8Array([0xa1, 0x01]), await trust(), null, realProof);
    expect(forRequestedEntry(unusable, 5)).toBe(unusable);
  });
});

describe("the gateway's clock skew allowance", () => {
  test('publishedSkew: a whole number of seconds from 1 to 86,400 in the trust text, else none', () => {
    expect(publishedSkew('{"roots":[],"clockSkewSeconds":900}')).toBe(900);
    for (const text of ['{"roots":[]}', '{"clockSkewSeconds":0}', '{"clockSkewSeconds":86401}', '{"clockSkewSeconds":1.5}', '{"clockSkewSeconds":"900"}', 'null', 'not json', undefined]) {
      expect([text, publishedSkew(text)]).toEqual([text, undefined]);
    }
  });

  test("a gateway with clockSkewSeconds 900: its bundle of a reading dated now+600 verifies with the published value, not with the default", async () => {
    const pki = await Pki.create();
    const g = await startTestGateway(pki, { blockMaxMs: 5, clockSkewSeconds: 900 });
    try {
      const psb = await pki.agency('psb.example');
      const d = await pki.device(psb);
      await register(g.gw, psb, [d]);
      const c = await connectDevice(g.gw, d);
      await c.publish(await reading(d, 1, { iat: nowS() + 600 }));
      const a = await c.next();
      await c.end();
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a.rejection)}`);
      const bytes = new Uint8Array((await g.gw.app.inject({ method: 'GET', url: `/v1/entries/${a.receipt.index}/bundle` })).rawPayload);
      const text = (await g.gw.app.inject({ method: 'GET', url: '/v1/trust' })).body;
      const skew = publishedSkew(text);
      expect(skew).toBe(900);
      const withSkew = await verifyBundleFile(bytes, parseTrust(JSON.parse(text)), null, realProof, { maxClockSkewSeconds: skew! });
      expect(withSkew.kind === 'verdict' && withSkew.verdict.valid).toBe(true);
      const strict = await verifyBundleFile(bytes, parseTrust(JSON.parse(text)), null, realProof, { maxClockSkewSeconds: 300 }); // the default
      expect(strict.kind === 'verdict' && [strict.verdict.valid, strict.verdict.checks.find((x) => x.name === 'checkpoint')?.code]).toEqual([false, 'CLOCK_SKEW']);
    } finally {
      await g.stop();
    }
  });
});

describe("the log's revocation list", () => {
  const realLog: RevocationLogFetcher = async () => {
    const body = (await get('/v1/revocations')).json() as { checkpoint: string; revocations: { index: number; revocation: string }[] };
    return { checkpoint: body.checkpoint, revocations: body.revocations.map((r) => ({ index: r.index, statement: fromBase64(r.revocation) })) };
  };
  const revocation = (o: Awaited<ReturnType<typeof verifyBundleFile>>) => (o.kind === 'verdict' ? o.verdict.checks.find((c) => c.name === 'revocation') : undefined);

  test('fetched and proven by its checkpoint: "not revoked", complete up to that checkpoint', async () => {
    // another device of the agency revoked, so the list is not empty
    const psb = await t.pki.agency('revs.example');
    const other = await t.pki.device(psb);
    await register(t.gw, psb, [other]);
    expect((await revoke(t.gw, psb, other.cert, nowS(), 'decommissioned')).status).toBe(201);
    const o = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: realLog });
    if (o.kind !== 'verdict') throw new Error(o.kind);
    expect([o.verdict.valid, revocation(o)?.status]).toEqual([true, 'pass']);
    expect(o.ctx.revocationLog).toMatchObject({ count: 1 });
    expect(checkSentence('en', revocation(o)!, o.verdict, o.ctx)).toMatch(new RegExp(`none of the log's 1 revocation\\(s\\) up to checkpoint ${o.ctx.revocationLog!.size} covers it`));
  });

  test('a list with one left out fails the revocation check CHECKPOINT_INVALID', async () => {
    const dropped: RevocationLogFetcher = async () => {
      const l = await realLog();
      return typeof l === 'string' ? l : { ...l, revocations: l.revocations.slice(1) };
    };
    const o = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: dropped });
    expect(o.kind === 'verdict' && [o.verdict.valid, revocation(o)?.code]).toEqual([false, 'CHECKPOINT_INVALID']);
  });

  test('offline or refused: the bundle still verifies, and the page says the check saw only its own revocations', async () => {
    for (const answer of ['offline', 'refused'] as const) {
      const o = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: async () => answer });
      if (o.kind !== 'verdict') throw new Error(o.kind);
      expect([o.verdict.valid, o.ctx.revocationsUnchecked, o.ctx.revocationLog]).toEqual([true, answer, undefined]);
    }
  });

  test('a list whose checkpoint no trusted key signed is not used either: the bundle verifies, the page says what it saw', async () => {
    const l = await realLog();
    if (typeof l === 'string') throw new Error(l);
    const origin = readKeptCheckpoint(l.checkpoint, 0).origin;
    const stranger = ed25519NoteSigner(origin, new Uint8Array(32).fill(8));
    const checkpoint = await signCheckpoint({ origin, size: 3, root: new Uint8Array(32), extensions: [] }, stranger);
    const o = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: async () => ({ checkpoint, revocations: [] }) });
    expect(o.kind === 'verdict' && [o.verdict.valid, o.ctx.revocationsUnchecked, revocation(o)?.status]).toEqual([true, 'untrusted', 'pass']);
  });

  test('a list older than the record is used for what it holds, but the page does not say "not revoked" on it', async () => {
    const l = await realLog();
    if (typeof l === 'string') throw new Error(l);
    const { index } = decodeProofBundle(later);
    // the checkpoint the device got with its first receipt: a tree size at or below the later record's index
    const o = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: async () => ({ checkpoint: kept.note, revocations: [] }) });
    expect(kept.size).toBeLessThanOrEqual(index);
    if (o.kind !== 'verdict') throw new Error(o.kind);
    expect([o.ctx.revocationsUnchecked, o.ctx.revocationLog]).toEqual(['stale', undefined]);
  });

  // A list served from a fork (found by review: it was compared with the record's checkpoint only at the same tree
  // size): signed with the gateway's own key, the revocation left out, committed to at its size with another root.
  test('a forked list of another size: the page has the gateway prove it one log with the record, and it fails CHECKPOINT_INVALID', async () => {
    const l = await realLog();
    if (typeof l === 'string') throw new Error(l);
    const cp = readKeptCheckpoint(l.checkpoint, 0);
    expect(cp.size).not.toBe(decodeProofBundle(later).treeSize);
    const { secretKey } = await loadOrCreateCheckpointKey(join(t.dir, 'data'));
    const key = ed25519NoteSigner(t.gw.checkpointVerifierKey.split('+')[0]!, secretKey);
    const checkpoint = await signCheckpoint({ origin: cp.origin, size: cp.size, root: new Uint8Array(32).fill(3), extensions: [revocationsExtension(commitRevocations([]))] }, key);
    const forged: RevocationLogFetcher = async () => ({ checkpoint, revocations: [] });
    for (const proof of [realProof, (async () => 'refused') as ProofFetcher]) {
      const o = await verifyBundleFile(later, await trust(), null, proof, { fetchRevocationLog: forged });
      expect(o.kind === 'verdict' && [o.verdict.valid, revocation(o)?.code]).toEqual([false, 'CHECKPOINT_INVALID']);
    }
    // the real list, linked the same way, passes
    const real = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: realLog });
    expect(real.kind === 'verdict' && [real.verdict.valid, /not linked/.test(revocation(real)!.message)]).toEqual([true, false]);
  });

  test('the proof linking the list cannot be had now (503): its revocations count, not linked, no "not revoked"; valid', async () => {
    const l = await realLog();
    if (typeof l === 'string') throw new Error(l);
    expect(readKeptCheckpoint(l.checkpoint, 0).size).not.toBe(decodeProofBundle(later).treeSize);
    const o = await verifyBundleFile(later, await trust(), null, async () => 'unavailable', { fetchRevocationLog: realLog });
    if (o.kind !== 'verdict') throw new Error(o.kind);
    expect([o.verdict.valid, revocation(o)?.status, o.ctx.revocationsUnchecked, o.ctx.revocationLog]).toEqual([true, 'pass', 'unavailable', undefined]);
    expect(checkSentence('en', revocation(o)!, o.verdict, o.ctx)).toMatch(/could not be had/);
  });

  test("another log's list (a bundle dropped on another gateway's page) is not used against the bundle", async () => {
    const l = await realLog();
    if (typeof l === 'string') throw new Error(l);
    const other = ed25519NoteSigner('other.example/log', new Uint8Array(32).fill(6));
    const checkpoint = await signCheckpoint({ origin: 'other.example/log', size: 3, root: new Uint8Array(32), extensions: [] }, other);
    const o = await verifyBundleFile(later, await trust(), null, realProof, { fetchRevocationLog: async () => ({ checkpoint, revocations: [] }) });
    expect(o.kind === 'verdict' && [o.verdict.valid, o.ctx.revocationsUnchecked]).toEqual([true, 'otherLog']);
  });
});
