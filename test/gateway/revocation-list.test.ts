/**
 * GET /v1/revocations: every revocation entry in the log (not only the strictest per certificate) with the checkpoint
 * that commits to exactly that list, so a verifier can hold the revocation check complete up to its tree size; in
 * pages of one checkpoint (`after` = `next`, `treeSize` pinned).
 * Real gateway (aedes on port 0, LevelDB in a temp dir); the list is opened with protocol/revocation-log.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  decodeProofBundle, ENTRY_DEVICE_REGISTRATION, openRevocationLog, parseTrust, parseVerifierKey, verifyBundle, type TrustMaterial,
} from '../../protocol/index.js';
import { withRevocationLog } from '../../protocol/verify-revocation-log.js';
import { verifyLedger } from '../../ledger/verify.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { join } from 'node:path';
import { Level } from 'level';
import { checkpointKey, STATE_KEY } from '../../ledger/keys.js';
import { decodeState, encodeState } from '../../ledger/state.js';
import { ed25519NoteSigner, parseCheckpoint, parseNote, signCheckpoint } from '../../protocol/checkpoint.js';
import { loadOrCreateCheckpointKey } from '../../gateway/checkpoint-key.js';
import { nowS, Pki, register, revoke, startTestGateway, type TestGateway } from './harness.js';

interface Listed {
  origin: string;
  treeSize: number;
  checkpoint: string | null;
  revocations: { index: number; sub: string; reason: string; revocation: string }[];
  count: number;
  next: number | null;
}
const statements = (l: Listed) => l.revocations.map((r) => ({ index: r.index, statement: new Uint8Array(Buffer.from(r.revocation, 'base64')) }));

describe('GET /v1/revocations', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  const list = async () => (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as Listed;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create());
    trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
  });
  afterAll(() => t.stop());

  test('an empty log: no checkpoint yet, nothing listed', async () => {
    expect(await list()).toMatchObject({ treeSize: 0, checkpoint: null, revocations: [] });
  });

  test('every revocation entry, across blocks and a restart, opens against its checkpoint; ledger verify agrees', async () => {
    const agency = await t.pki.agency('epb.example');
    const devices = await Promise.all([0, 1, 2].map(() => t.pki.device(agency)));
    await register(t.gw, agency, devices);
    const key = [parseVerifierKey(t.gw.checkpointVerifierKey)];
    expect(openRevocationLog([], (await list()).checkpoint!, key).revocations).toEqual([]);
    // one device revoked twice (a later statement for an earlier time replaces the first in the registry; both are logged)
    expect((await revoke(t.gw, agency, devices[0]!.cert, nowS() - 60, 'decommissioned')).status).toBe(201);
    expect((await revoke(t.gw, agency, devices[0]!.cert, nowS() - 600, 'decommissioned')).status).toBe(201);
    expect((await revoke(t.gw, agency, devices[1]!.cert, nowS(), 'keyCompromise')).status).toBe(201);
    const listed = await list();
    expect(listed.revocations.map((r) => r.sub)).toEqual([devices[0]!.id, devices[0]!.id, devices[1]!.id]);
    const opened = openRevocationLog(statements(listed), listed.checkpoint!, key, { origin: listed.origin });
    expect(opened.size).toBe(listed.treeSize);
    await t.restart(async () => {
      const backend = await LevelBackend.open(join(t.dir, 'data', 'ledger'), { sync: false });
      try {
        expect(await verifyLedger(backend, { workers: 0 })).toMatchObject({ ok: true });
      } finally {
        await backend.close();
      }
    });
    expect((await revoke(t.gw, agency, devices[2]!.cert, nowS(), 'decommissioned')).status).toBe(201);
    const after = await list();
    expect(after.revocations).toHaveLength(4);
    expect(openRevocationLog(statements(after), after.checkpoint!, key).size).toBe(after.treeSize);
    // the earlier list is complete only up to its own checkpoint: against the later one it fails
    expect(() => openRevocationLog(statements(listed), after.checkpoint!, key)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID', path: 'revocations', message: expect.stringMatching(/commits to 4/) }));
  });

  test('pages: at most `limit`, the rest after `next`, at a pinned tree size; `count` on every page; an earlier checkpoint\'s list; errors', async () => {
    const get = async (q: string) => t.gw.app.inject({ method: 'GET', url: `/v1/revocations?${q}` });
    const whole = await list();
    expect(whole).toMatchObject({ count: 4, next: null });
    const p1 = (await get('limit=3')).json() as Listed;
    expect(p1).toMatchObject({ treeSize: whole.treeSize, checkpoint: whole.checkpoint, count: 4, next: whole.revocations[2]!.index });
    expect(p1.revocations).toEqual(whole.revocations.slice(0, 3));
    const p2 = (await get(`limit=3&after=${p1.next}&treeSize=${p1.treeSize}`)).json() as Listed;
    expect(p2).toMatchObject({ treeSize: whole.treeSize, count: 4, next: null });
    expect(p2.revocations).toEqual(whole.revocations.slice(3));
    // the checkpoint signed just after the third revocation: its own list, which opens against it
    let early = whole.revocations[2]!.index + 1;
    while (!(await t.gw.ledger.ledger.checkpoint(early))) early++;
    const e = (await get(`treeSize=${early}`)).json() as Listed;
    expect(e.count).toBe(whole.revocations.filter((r) => r.index < early).length);
    expect(openRevocationLog(statements(e), e.checkpoint!, [parseVerifierKey(t.gw.checkpointVerifierKey)]).size).toBe(early);
    // no checkpoint at a size past the log; bounds
    const past = await get(`treeSize=${whole.treeSize + 1000}`);
    expect([past.statusCode, past.json().code]).toEqual([404, 'NOT_FOUND']);
    for (const q of ['limit=0', 'limit=1001', 'after=-1', 'treeSize=0', 'after=x']) {
      const r = await get(q);
      expect([r.statusCode, r.json().code], q).toEqual([400, 'BAD_REQUEST']);
    }
  });

  test("a registration entry's bundle verified with the list: the revocation check is complete up to its tree size", async () => {
    const agency = await t.pki.agency('wrb.example');
    await register(t.gw, agency, [await t.pki.device(agency)]); // a device nobody revoked
    const listed = await list();
    const index = (await t.gw.ledger.ledger.indexesByType(ENTRY_DEVICE_REGISTRATION)).at(-1)!;
    const raw = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` });
    const bundle = decodeProofBundle(new Uint8Array(raw.rawPayload));
    const v = verifyBundle(bundle, trust, { revocationLog: { checkpoint: listed.checkpoint!, revocations: statements(listed) } });
    expect(v.valid).toBe(true);
    expect(v.checks.find((c) => c.name === 'revocation')!.message).toMatch(new RegExp(`complete up to tree size ${listed.treeSize}: the log's 4 revocation\\(s\\) below it`));
    const dropped = verifyBundle(bundle, trust, { revocationLog: { checkpoint: listed.checkpoint!, revocations: statements(listed).slice(1) } });
    expect([dropped.valid, dropped.checks.find((c) => c.name === 'revocation')!.code]).toEqual([false, 'CHECKPOINT_INVALID']);
  });

  test('a list of another log, or of a fork (same size, another root), fails CHECKPOINT_INVALID; a check that failed already keeps its code', () => {
    const pass = { name: 'revocation' as const, status: 'pass' as const, message: 'no revocation covers the device or its agency' };
    const revoked = { name: 'revocation' as const, status: 'fail' as const, code: 'CERT_REVOKED' as const, message: 'device revoked' };
    const cp = { origin: 'gw.example/log', size: 12, root: new Uint8Array(32), extensions: [] };
    const opened = { origin: cp.origin, size: 12, root: new Uint8Array(32), signedBy: [cp.origin], revocations: [] };
    expect(withRevocationLog(pass, { opened: { ...opened, origin: 'other.example/log' } }, 3, cp)).toMatchObject({ status: 'fail', code: 'CHECKPOINT_INVALID' });
    expect(withRevocationLog(pass, { opened: { ...opened, root: new Uint8Array(32).fill(1) } }, 3, cp)).toMatchObject({ status: 'fail', code: 'CHECKPOINT_INVALID' });
    expect(withRevocationLog(revoked, { opened: { ...opened, root: new Uint8Array(32).fill(1) } }, 3, cp)).toMatchObject({ status: 'fail', code: 'CERT_REVOKED' });
    expect(withRevocationLog(pass, { opened }, 3, cp)).toMatchObject({ status: 'pass' });
    expect(withRevocationLog(pass, { opened: { ...opened, size: 10 } }, 11, cp).message).toMatch(/this entry, at index 11, is past it/);
  });

  test("a retired checkpoint key (notAfter passed), kept to verify what it signed, cannot vouch for a list: CHECKPOINT_INVALID", async () => {
    const listed = await list();
    const index = (await t.gw.ledger.ledger.indexesByType(ENTRY_DEVICE_REGISTRATION)).at(-1)!;
    const bundle = decodeProofBundle(new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload));
    const log = { checkpoint: listed.checkpoint!, revocations: statements(listed) };
    const later = nowS() + 3600; // the verifier's clock, after the key's retirement
    const retired: TrustMaterial = { ...trust, checkpointKeys: trust.checkpointKeys.map((k) => ({ ...k, notAfter: later - 60 })) };
    const v = verifyBundle(bundle, retired, { now: later, revocationLog: log });
    expect(v.checks.find((c) => c.name === 'checkpoint')!.status).toBe('pass'); // the bundle's checkpoint was signed in the key's time
    expect([v.valid, v.checks.find((c) => c.name === 'revocation')!.code]).toEqual([false, 'CHECKPOINT_INVALID']);
    expect(verifyBundle(bundle, trust, { now: later, revocationLog: log }).valid).toBe(true);
  });

  test('a ledger written before the line: until its next block no checkpoint is offered as committing, and POST /v1/verify goes without', async () => {
    // As an older gateway left it: the latest checkpoint without the revocations line, the state without fields 5/6.
    const name = t.gw.checkpointVerifierKey.split('+')[0]!;
    const { secretKey } = await loadOrCreateCheckpointKey(join(t.dir, 'data'));
    await t.restart(async () => {
      const db = new Level<Uint8Array, Uint8Array>(join(t.dir, 'data', 'ledger'), { keyEncoding: 'view', valueEncoding: 'view' });
      await db.open();
      try {
        const st = decodeState((await db.get(STATE_KEY))!);
        const note = new TextDecoder().decode((await db.get(checkpointKey(st.treeSize)))!);
        const cp = parseCheckpoint(parseNote(note).text);
        const legacy = await signCheckpoint({ ...cp, extensions: cp.extensions.filter((e) => !e.startsWith('revocations ')) }, ed25519NoteSigner(name, secretKey));
        await db.put(checkpointKey(st.treeSize), new TextEncoder().encode(legacy));
        delete st.revocations;
        await db.put(STATE_KEY, encodeState(st));
      } finally {
        await db.close();
      }
    });
    const before = await list();
    expect([before.checkpoint, before.revocations.length]).toEqual([null, 4]);
    const index = (await t.gw.ledger.ledger.indexesByType(ENTRY_DEVICE_REGISTRATION)).at(-1)!;
    const raw = new Uint8Array((await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${index}/bundle` })).rawPayload);
    const posted = (await t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle: Buffer.from(raw).toString('base64') } })).json();
    expect(posted.valid).toBe(true);
    expect(posted.checks.find((c: { name: string }) => c.name === 'revocation').message).not.toMatch(/complete up to/);
    // the next block commits again, to every revocation so far (the ledger folded them when it opened)
    const agency = await t.pki.agency('next.example');
    await register(t.gw, agency, []);
    const after = await list();
    expect(openRevocationLog(statements(after), after.checkpoint!, [parseVerifierKey(t.gw.checkpointVerifierKey)]).revocations).toHaveLength(4);
  });
});
