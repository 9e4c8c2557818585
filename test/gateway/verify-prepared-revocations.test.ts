/**
 * POST /v1/verify checks a bundle of its log against the log's whole revocation list. It did the list's work on every
 * verdict (decode every statement three times, hash the list against the checkpoint's line: ~100 ms with 3,000
 * revocations, bench/verify-route.ts), so with the verdicts' time budget the gateway answered one or two a second.
 * Now the list is prepared once per change (protocol/verify-revocation-log.ts prepareRevocationList: decoded, hashed
 * and indexed once; gateway/http/routes/verify.ts PreparedRevocationLists keeps it) and a verdict looks only at the
 * statements its bundle's certificates could be concerned by. Here, on a real gateway's log:
 * - the prepared path gives the very verdicts of the raw input (`verify --revocation-log`, which weighs every
 *   statement), deep-equal, for every entry's bundle, whole and stripped of its revocations, against the log's list,
 *   an earlier one, one without its certificates, one that does not open, a fork's, another log's, one holding a
 *   statement that does not decode, with the verifier's own statements and certificates, and across a key's window;
 * - a verdict against a prepared list reads none of its statements and checks no signature of its own (statement
 *   reads and verifier calls counted; no timing), whatever the list's length, and a new checkpoint costs one signature;
 * - the route's kept list follows the log: a verdict right after a revocation is posted sees it, and the kept list is
 *   prepared again when the list grows or an agency certificate is registered (its statements' work reused).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  commitRevocations, ed25519NoteSigner, decodeLogEntry, decodeProofBundle, encodeProofBundle, ENTRY_READING, parseCheckpoint, parseNote, prepareRevocationLog, revocationsExtension, signCheckpoint, toBase64, verifyBundle,
  type LoggedRevocation, type ProofBundle, type RevocationLogInput, type SignatureVerifier, type TrustMaterial, type Verdict,
} from '../../protocol/index.js';
import { parseRevocationListing } from '../../protocol/revocation-listing.js';
import { nodeVerify } from '../../gateway/crypto/node-verifier.js';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { PreparedRevocationLists } from '../../gateway/http/routes/verify.js';
import {
  certify, entryBundle, gatewayTrust, nowS, Pki, postCert, postRevocation, publishEach, reading, register, startTestGateway, type Device, type TestGateway,
} from './harness.js';

const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('a revocation list prepared once for many verdicts', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let now: number;
  let size: number; // the log's size
  let earlierSize: number; // a checkpoint with fewer revocations below it
  let good: number; // a reading of a device nothing revokes
  let revokedReading: number; // a reading of a device revoked after it was logged, from before it

  const listAt = async (treeSize?: number): Promise<RevocationLogInput> => {
    const listing = parseRevocationListing((await t.gw.app.inject({ method: 'GET', url: `/v1/revocations${treeSize ? `?treeSize=${treeSize}` : ''}` })).json());
    return { checkpoint: listing.checkpoint!, revocations: listing.revocations };
  };
  const publishAt = async (d: Device, iats: number[]): Promise<number[]> => {
    const out = await publishEach(t, d, await Promise.all(iats.map((iat, i) => reading(d, i + 1, { iat }))));
    return out.map((o) => (typeof o === 'string' ? Number.NaN : o.index));
  };

  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 1000, blockMaxMs: 5 }); // short blocks: each write waits for one
    trust = await gatewayTrust(t);
    const a = await pki.agency('psb.example');
    const fine = await pki.device(a);
    const later = await pki.device(a);
    const others = await Promise.all(Array.from({ length: 6 }, () => pki.device(a)));
    await register(t.gw, a, [fine, later, ...others]);
    good = (await publishAt(fine, [nowS()]))[0]!;
    revokedReading = (await publishAt(later, [nowS() - 60]))[0]!;
    for (const o of others.slice(0, 3)) expect((await postRevocation(t, a, o.cert, nowS() - 3600, 'decommissioned')).status).toBe(201);
    // a checkpoint with these three below it: an earlier list
    while ((await listAt()).revocations.length < 3) await new Promise((r) => setTimeout(r, 10));
    earlierSize = parseCheckpoint(parseNote((await listAt()).checkpoint).text).size;
    // a device whose key is reported compromised through the certificate it had before a renewal
    const k = await pki.device(a);
    await register(t.gw, a, [k]);
    expect((await postCert(t, 'devices', await certify(a, k, 'device', nowS() - 600))).status).toBe(201);
    await publishAt(k, [nowS()]);
    expect((await postRevocation(t, a, k.cert, nowS() - 120, 'keyCompromise')).status).toBe(201);
    // an agency revoked by the root, after one of its devices' readings
    const b = await pki.agency('gone.example');
    const bd = await pki.device(b);
    await register(t.gw, b, [bd]);
    await publishAt(bd, [nowS() - 30]);
    expect((await postRevocation(t, pki.root, b.cert, nowS() - 120, 'cessationOfOperation')).status).toBe(201);
    // a transfer: the previous agency then reports the device key compromised (the list carries its certificates)
    const before = await pki.agency('before.example');
    const after = await pki.agency('after.example');
    const x = await pki.device(before);
    await register(t.gw, before, [x]);
    await register(t.gw, after, []);
    // One time for both statements: keyCompromise from the same time is stricter; read from the clock again after a
    // second boundary, it was later, not stricter, and refused CONFLICT (seen in a full run).
    const movedFrom = nowS() - 100;
    expect((await postRevocation(t, before, x.cert, movedFrom, 'affiliationChanged')).status).toBe(201);
    expect((await postCert(t, 'devices', await certify(after, x, 'device', nowS()))).status).toBe(201);
    await publishAt(x, [nowS()]);
    expect((await postRevocation(t, before, x.cert, movedFrom, 'keyCompromise')).status).toBe(201);
    // an agency renewed with the same key, the renewal revoked (the list carries the renewed certificate)
    const s = await pki.agency('swap.example');
    const sd = await pki.device(s);
    await register(t.gw, s, [sd]);
    const s2 = await certify(pki.root, s, 'agency', nowS() - 600);
    expect((await postCert(t, 'agencies', s2)).status).toBe(201);
    await publishAt(sd, [nowS() - 300, nowS()]);
    expect((await postRevocation(t, pki.root, s2, nowS() - 120, 'cessationOfOperation')).status).toBe(201);
    // the device whose reading was logged first, revoked from before it
    expect((await postRevocation(t, a, later.cert, nowS() - 3600, 'decommissioned')).status).toBe(201);
    for (const o of others.slice(3)) expect((await postRevocation(t, a, o.cert, nowS() - 3600, 'decommissioned')).status).toBe(201);
    // every entry below the latest checkpoint
    for (;;) {
      size = ((await t.gw.app.inject({ method: 'GET', url: '/v1/log' })).json() as { size: number }).size;
      if (parseCheckpoint(parseNote((await listAt()).checkpoint).text).size === size) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await listAt()).revocations.length).toBe(12);
    now = nowS();
  });
  afterAll(() => t?.stop());

  test('the prepared path gives the raw input’s verdicts, deep-equal, for every bundle and list', async () => {
    // Every entry's bundle; the readings' also stripped to their chain (the list must then catch what the bundle left
    // out) and proved against the list's own checkpoint (linked to it: a fork's list is told apart).
    const bundles: ProofBundle[] = [];
    const stripped: ProofBundle[] = [];
    const latest: ProofBundle[] = [];
    for (let i = 0; i < size; i++) {
      const b = await entryBundle(t, i);
      bundles.push(b);
      if (decodeLogEntry(b.entry).type === ENTRY_READING) {
        stripped[i] = { ...b, certificates: b.certificates.slice(0, 2), revocations: [] };
        latest.push(decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${i}/bundle?treeSize=${size}` })).rawPayload)));
      }
    }
    bundles.push(...stripped.filter((b) => b !== undefined), ...latest);
    const list = await listAt();
    const earlier = await listAt(earlierSize);
    expect([list.revocations.length, earlier.revocations.length]).toEqual([12, 3]);
    const { secretKey } = await loadOrCreateCheckpointKey(join(t.dir, 'data'));
    const gatewayKey = ed25519NoteSigner(t.gw.checkpointVerifierKey.split('+')[0]!, secretKey);
    const listed = parseCheckpoint(parseNote(list.checkpoint).text);
    // Lists signed with the gateway's own key: of a fork (another root), of another log, holding what the log does not.
    const signed = async (revocations: readonly LoggedRevocation[], over: { origin?: string; root?: Uint8Array } = {}): Promise<RevocationLogInput> => ({
      checkpoint: await signCheckpoint(
        { origin: over.origin ?? listed.origin, size: listed.size, root: over.root ?? listed.root, extensions: [revocationsExtension(commitRevocations(revocations))] },
        gatewayKey,
      ),
      revocations,
    });
    // a statement that does not decode, first in index order (entry 0 is the agency's registration)
    const garbage = [{ index: 0, statement: new Uint8Array([0xa0]) }, ...list.revocations];
    const noOrigin: TrustMaterial = { ...trust };
    delete noOrigin.origin;
    const windowed: TrustMaterial = { ...trust, checkpointKeys: trust.checkpointKeys.map((k) => ({ ...k, notAfter: now + 10 })) };
    const own = { revocations: [list.revocations[0]!.statement], certificates: list.revocations.flatMap((r) => (r.certificate ? [r.certificate] : [])).slice(0, 1) };
    const cases: { what: string; log: RevocationLogInput; trust?: TrustMaterial; at?: number[]; opts?: object }[] = [
      { what: "the log's list", log: list },
      { what: 'an earlier list', log: earlier },
      { what: 'the list given with a consistency proof that does not link it', log: { ...earlier, consistency: [new Uint8Array(32)] } },
      { what: 'the list without the certificates beside its statements', log: { ...list, revocations: list.revocations.map(({ index, statement }) => ({ index, statement })) } },
      { what: 'a list with a revocation left out (does not open)', log: { ...list, revocations: list.revocations.slice(1) } },
      { what: 'a list whose checkpoint no trusted key signed', log: { ...list, checkpoint: list.checkpoint.replace(/\n\n— /, '\n\n— x') } },
      { what: "a fork's list (same size, another root)", log: await signed(list.revocations, { root: new Uint8Array(32).fill(7) }) },
      { what: "another log's list", log: await signed(list.revocations, { origin: 'other.example/log' }), trust: noOrigin },
      { what: 'a list holding a statement that does not decode', log: await signed(garbage) },
      { what: "the list, with the verifier's own statements and certificates", log: list, opts: own },
      { what: "the list, before and after its key's window", log: list, trust: windowed, at: [now, now + 20] },
    ];
    let verdicts = 0;
    for (const c of cases) {
      const tr = c.trust ?? trust;
      const at = c.at ?? [now];
      const prepared = prepareRevocationLog(c.log, tr, at[0]!, { verifier: nodeVerify });
      for (const when of at) {
        for (const b of bundles) {
          const opts = { verifier: nodeVerify, now: when, ...(c.opts ?? {}) };
          const raw = verifyBundle(b, tr, { ...opts, revocationLog: c.log });
          expect(verifyBundle(b, tr, { ...opts, revocationLog: prepared }), c.what).toEqual(raw);
          verdicts++;
        }
      }
    }
    // The cases reach what they are about (codes; the messages are compared above).
    const codes = (log: RevocationLogInput, tr = trust, i = revokedReading) => failed(verifyBundle(stripped[i]!, tr, { verifier: nodeVerify, now, revocationLog: log }));
    const linked = (log: RevocationLogInput, tr = trust) => failed(verifyBundle(latest[0]!, tr, { verifier: nodeVerify, now, revocationLog: log }));
    expect(codes(list)).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(codes(list, trust, good)).toEqual([]);
    expect(codes(cases[4]!.log, trust, good)).toEqual([['revocation', 'CHECKPOINT_INVALID']]);
    expect([codes(cases[6]!.log, trust, good), linked(cases[6]!.log)]).toEqual([[], [['revocation', 'CHECKPOINT_INVALID']]]);
    expect(codes(cases[7]!.log, noOrigin, good)).toEqual([['revocation', 'CHECKPOINT_INVALID']]);
    expect(codes(cases[8]!.log, trust, good)).toEqual([['revocation', 'MALFORMED']]);
    expect(failed(verifyBundle(stripped[good]!, windowed, { verifier: nodeVerify, now: now + 20, revocationLog: prepareRevocationLog(list, windowed, now) }))).toContainEqual(['revocation', 'CHECKPOINT_INVALID']);
    expect(verdicts).toBe(bundles.length * 12);
    expect(latest.length).toBe(7);
  });

  test('a verdict against a prepared list reads none of its statements and checks only its bundle’s signatures, whatever its length', async () => {
    let reads = 0;
    let calls = 0;
    const verifier: SignatureVerifier = (...args) => {
      calls++;
      return nodeVerify(...args);
    };
    // Each statement read through a getter: the list's work per verdict, counted without timing it.
    const counted = (log: RevocationLogInput): RevocationLogInput => ({
      ...log,
      revocations: log.revocations.map((r) => {
        const o = { ...r };
        Object.defineProperty(o, 'statement', { get: () => (reads++, r.statement), enumerable: true });
        return o;
      }),
    });
    const bundle = await entryBundle(t, good);
    calls = 0;
    const alone = verifyBundle(bundle, trust, { verifier, now });
    const own = calls; // the bundle's signatures: reading, certificates, checkpoint
    const seen: [number, number, number][] = [];
    for (const log of [await listAt(earlierSize), await listAt()]) {
      const input = counted(log);
      const prepared = prepareRevocationLog(input, trust, now, { verifier });
      for (let i = 0; i < 3; i++) {
        reads = 0;
        calls = 0;
        const v = verifyBundle(bundle, trust, { verifier, now, revocationLog: prepared });
        expect([v.valid, failed(v)]).toEqual([alone.valid, []]);
        seen.push([log.revocations.length, reads, calls]);
      }
    }
    expect(seen).toEqual([[3, 0, own], [3, 0, own], [3, 0, own], [12, 0, own], [12, 0, own], [12, 0, own]]);
    // The latest checkpoint moves with every block, the list with it only when a revocation is logged: the kept
    // preparation opens a new checkpoint with one signature, and still reads none of its statements.
    const input = counted(await listAt());
    const prepared = prepareRevocationLog(input, trust, now, { verifier });
    const a = t.pki.agencies.get('psb.example')!;
    await register(t.gw, a, [await t.pki.device(a)]);
    let moved: RevocationLogInput;
    while ((moved = await listAt()).checkpoint === input.checkpoint) await new Promise((r) => setTimeout(r, 10));
    expect(moved.revocations.length).toBe(input.revocations.length);
    reads = 0;
    calls = 0;
    const next = prepareRevocationLog({ ...input, checkpoint: moved.checkpoint }, trust, now, { verifier, list: prepared.list });
    expect(failed(verifyBundle(bundle, trust, { verifier, now, revocationLog: next }))).toEqual([]);
    expect([reads, calls]).toEqual([0, own + 1]);
  });

  test('POST /v1/verify: a verdict right after a revocation is posted sees it', async () => {
    const a = t.pki.agencies.get('psb.example')!;
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    const [index] = await publishAt(d, [nowS() - 10]);
    const payload = { bundle: toBase64(encodeProofBundle(await entryBundle(t, index!))) };
    const verdict = async () => (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload })).json() as Verdict;
    expect(failed(await verdict())).toEqual([]);
    expect(failed(await verdict())).toEqual([]); // the kept list
    const count = (await listAt()).revocations.length;
    expect((await postRevocation(t, a, d.cert, nowS() - 3600, 'decommissioned')).status).toBe(201);
    while ((await listAt()).revocations.length === count) await new Promise((r) => setTimeout(r, 10));
    // the bundle was made before the revocation and does not carry it: the list does
    expect(failed(await verdict())).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('the kept list is prepared again when the list grows or an agency certificate is registered, its statements’ work reused', async () => {
    const lists = new PreparedRevocationLists(t.gw.registry);
    const entries = async () => (await t.gw.ledger.ledger.revocationListing()).revocations;
    const first = lists.get(await entries());
    expect(lists.get(await entries())).toBe(first);
    const a = t.pki.agencies.get('psb.example')!;
    const d = await t.pki.device(a);
    await register(t.gw, a, [d]);
    expect(lists.get(await entries())).toBe(first); // a device's registration changes nothing beside the statements
    const n = first.held.length;
    expect((await postRevocation(t, a, d.cert, nowS(), 'decommissioned')).status).toBe(201);
    while ((await entries()).length === n) await new Promise((r) => setTimeout(r, 10));
    const grown = lists.get(await entries());
    expect(grown).not.toBe(first);
    expect(grown.held.length).toBe(n + 1);
    expect(grown.held.slice(0, n).map((h) => h.decoded)).toEqual(first.held.map((h) => h.decoded));
    expect(grown.held.slice(0, n).every((h, i) => h.decoded === first.held[i]!.decoded)).toBe(true); // decoded once
    expect(grown.digest.commitment).toEqual(commitRevocations(grown.digest.sorted));
    const renewed = await certify(t.pki.root, a, 'agency', nowS() - 60);
    expect((await postCert(t, 'agencies', renewed)).status).toBe(201);
    const after = lists.get(await entries());
    expect(after).not.toBe(grown);
    expect(lists.get(await entries())).toBe(after);
  });
});
