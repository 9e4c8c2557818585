/**
 * GET /v1/revocations: every revocation entry in the log (not only the strictest per certificate) with the checkpoint
 * that commits to exactly that list, so a verifier can hold the revocation check complete up to its tree size.
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
import { nowS, Pki, register, revoke, startTestGateway, type TestGateway } from './harness.js';

interface Listed {
  origin: string;
  treeSize: number;
  checkpoint: string | null;
  revocations: { index: number; sub: string; reason: string; revocation: string }[];
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
    expect(() => openRevocationLog(statements(listed), after.checkpoint!, key)).toThrow(/commits to 4/);
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

  test('a list of another log fails the revocation check CHECKPOINT_INVALID, whatever it says', () => {
    const pass = { name: 'revocation' as const, status: 'pass' as const, message: 'no revocation covers the device or its agency' };
    const held = { opened: { origin: 'other.example/log', size: 10, signedBy: ['other.example/log'], revocations: [] } };
    const cp = { origin: 'gw.example/log', size: 12, root: new Uint8Array(32), extensions: [] };
    expect(withRevocationLog(pass, held, 3, cp)).toMatchObject({ status: 'fail', code: 'CHECKPOINT_INVALID' });
    expect(withRevocationLog(pass, { opened: { ...held.opened, origin: cp.origin } }, 11, cp).message).toMatch(/this entry, at index 11, is past it/);
  });
});
