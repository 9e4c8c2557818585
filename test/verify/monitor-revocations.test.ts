/**
 * `monitor` and the checkpoints' revocations line: a gateway holding the checkpoint key signs whatever it likes, but
 * revocations are only appended, so each checkpoint's commitment must extend the last one the monitor saw. A real
 * ledger (LevelDB in a temp dir) behind a stand-in gateway whose checkpoint and list can be forged: a revocation
 * dropped, altered or committed to no more is CHECKPOINT_INVALID ("REVOCATIONS: ..."), naming both tree sizes.
 */
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger } from '../../ledger/ledger.js';
import { ed25519NoteSigner, openCheckpoint, parseVerifierKey, signCheckpoint } from '../../protocol/checkpoint.js';
import { commitRevocations, revocationsExtension, type LoggedRevocation } from '../../protocol/revocation-log.js';
import { loadState, monitorOnce } from '../../cli/commands/monitor.js';
import { ORIGIN, reading, revocation } from '../ledger/contract.js';
import { serve, type View } from './stand-in-gateway.js';

const seed = new Uint8Array(32).fill(5);
const signer = ed25519NoteSigner(ORIGIN, seed);

describe('monitor: the revocations line only grows', () => {
  let dir: string;
  let L: Ledger;
  let current: View;
  let srv: { server: Server; url: string };
  let round: (acknowledge?: boolean) => ReturnType<typeof monitorOnce>;
  let statePath: string;

  /** The honest checkpoint at `size`, re-signed with another revocations line (the tree and block line untouched). */
  const forged = async (size: number, line: string | undefined) => {
    const cp = openCheckpoint((await L.checkpoint(size))!, [parseVerifierKey(L.verifierKey)]);
    const extensions = [...cp.extensions.filter((e) => !e.startsWith('revocations ')), ...(line ? [line] : [])];
    return signCheckpoint({ origin: cp.origin, size: cp.size, root: cp.root, extensions }, signer);
  };
  const stmt = (i: number, text = `revocation ${i}`): LoggedRevocation => ({ index: i, statement: new TextEncoder().encode(text) });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-monrev-'));
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer, sync: false });
    await L.appendBlock([reading(0), revocation(1), reading(2)]); // size 3
    current = { ledger: L, size: 3 };
    srv = await serve(() => current);
    statePath = join(dir, 'monitor.json');
    round = (acknowledge = false) => monitorOnce({ gateway: srv.url, statePath, acknowledge });
  });
  afterAll(async () => {
    await new Promise((r) => srv.server.close(r));
    await L.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('honest growth: first, grew, unchanged; the state keeps the commitment', async () => {
    expect(await round()).toMatchObject({ status: 'first' });
    expect(loadState(statePath, srv.url).latest?.revocations).toMatchObject({ size: 3, count: 1 });
    await L.appendBlock([revocation(3), reading(4)]); // size 5
    current = { ledger: L, size: 5 };
    expect(await round()).toMatchObject({ status: 'grew', from: 3, to: 5 });
    expect(await round()).toMatchObject({ status: 'unchanged' });
    expect(loadState(statePath, srv.url).latest?.revocations).toMatchObject({ size: 5, count: 2 });
    await L.appendBlock([reading(5)]); // size 6, for the forgeries below
  });

  test.each([
    ['fewer revocations committed (the first one dropped from line and list)', () => [stmt(3)], /commits to 1 revocation\(s\), fewer than the 2 committed at tree size 5/],
    ['the first one altered, one added: line and list agree with each other but not with what was seen', () => [stmt(1, 'revocation 1, reworded'), stmt(3), stmt(5)], /lists 1 revocation\(s\) logged from tree size 5 below tree size 6, which do not extend the 2 committed at tree size 5 to the 3 committed at tree size 6/],
    ['as many, but other ones', () => [stmt(1), stmt(4)], /commits to other revocations than the one at tree size 5/],
  ])('%s: alarm CHECKPOINT_INVALID, naming both sizes', async (_, list, message) => {
    const revs = list();
    current = { ledger: L, size: 6, checkpoint: await forged(6, revocationsExtension(commitRevocations(revs))), revocations: revs };
    const r = await round();
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID', from: 5, to: 6 });
    expect(r.message).toMatch(/^REVOCATIONS: /);
    expect(r.message).toMatch(message);
    const s = loadState(statePath, srv.url);
    expect(s.latest?.size).toBe(5); // the last good checkpoint stays
    expect(s.alarms.at(-1)!.note).toBe(current.checkpoint); // the forged checkpoint, kept as evidence
  });

  test('the honest list, but a line that commits to one it does not show: alarm', async () => {
    current = { ledger: L, size: 6, checkpoint: await forged(6, revocationsExtension(commitRevocations([stmt(1), stmt(3), stmt(5)]))) };
    const r = await round();
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
    expect(r.message).toMatch(/lists 0 revocation\(s\) logged from tree size 5 below tree size 6, which do not extend the 2 committed at tree size 5 to the 3/);
  });

  test('the list served with another checkpoint of the same size and root but another line (two lists): alarm', async () => {
    const line = revocationsExtension(commitRevocations([stmt(1), stmt(3), stmt(5)]));
    current = { ledger: L, size: 6, checkpoint: await forged(6, line), revocations: [stmt(1), stmt(3), stmt(5)], listCheckpoint: await forged(6, revocationsExtension(commitRevocations([stmt(1), stmt(3), stmt(4)]))) };
    const r = await round();
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID', from: 5, to: 6 });
    expect(r.message).toMatch(/the revocation list's checkpoint \(tree size 6\) commits to other revocations than the checkpoint seen at that size/);
  });

  test('a gateway whose pages do not follow its cursor (entries before `after`): alarm, the list malformed', async () => {
    const line = revocationsExtension(commitRevocations([stmt(1), stmt(3), stmt(5)]));
    const served = [stmt(1), stmt(3), stmt(5)];
    current = { ledger: L, size: 6, checkpoint: await forged(6, line), revocations: served, ignoreAfter: true };
    const r = await round();
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
    expect(r.message).toMatch(/malformed revocation list: revocation entry 1 is not after 4/);
  });

  test('a checkpoint that drops the line, or carries a malformed one: alarm', async () => {
    current = { ledger: L, size: 6, checkpoint: await forged(6, undefined) };
    expect((await round()).message).toMatch(/^REVOCATIONS: the checkpoint has no revocations line, though the one at tree size 5 had \(2 revocations\)/);
    current = { ledger: L, size: 6, checkpoint: await forged(6, 'revocations 2 x') };
    expect(await round()).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID', message: expect.stringMatching(/malformed revocations line/) });
  });

  test('the honest checkpoint after the alarms, once acknowledged: grew from the last good one', async () => {
    current = { ledger: L, size: 6 };
    // Alarms are sticky (monitor.ts): someone looks, then --acknowledge resumes monitoring.
    expect(await round(true)).toMatchObject({ status: 'grew', from: 5, to: 6, acknowledged: 8 });
    const alarms = loadState(statePath, srv.url).alarms;
    expect(alarms).toHaveLength(8);
    expect(alarms.every((a) => a.acknowledgedAt !== undefined)).toBe(true);
  });

  test("a list whose checkpoint has the size of the one seen but another root (a fork shown only to the list's readers): alarm", async () => {
    await L.appendBlock([revocation(6)]); // size 7, a third revocation: the line changes, so the list is fetched
    const honest = openCheckpoint((await L.checkpoint(7))!, [parseVerifierKey(L.verifierKey)]);
    const fork = await signCheckpoint({ ...honest, root: new Uint8Array(32).fill(4) }, signer);
    current = { ledger: L, size: 7, listCheckpoint: fork };
    const r = await round();
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID', from: 6, to: 7 });
    expect(r.message).toMatch(/has another root than the checkpoint seen at that size: a forked log/);
    current = { ledger: L, size: 7 };
    expect(await round(true)).toMatchObject({ status: 'grew', from: 6, to: 7, acknowledged: 1 });
  });

  test('a list in pages of one entry: a new monitor reads every page at the checkpoint it verified', async () => {
    current = { ledger: L, size: 7, pageSize: 1 };
    const fresh = () => monitorOnce({ gateway: srv.url, statePath: join(dir, 'paged.json') });
    expect(await fresh()).toMatchObject({ status: 'first' });
    expect(loadState(join(dir, 'paged.json'), srv.url).latest?.revocations).toMatchObject({ size: 7, count: 3 });
    await L.appendBlock([revocation(7), revocation(8), reading(9)]); // size 10: two more, read from after index 6 on
    current = { ledger: L, size: 10, pageSize: 1 };
    expect(await fresh()).toMatchObject({ status: 'grew', from: 7, to: 10 });
    expect(loadState(join(dir, 'paged.json'), srv.url).latest?.revocations).toMatchObject({ size: 10, count: 5 });
  });

  test('a list holding more entries than the verified lines say were logged since: alarm as soon as it does', async () => {
    // Its pages of one entry under a count it chose kept a round going as long as the gateway liked (suspected by
    // the verifier-CLI review); the lines the monitor verified say how many to expect (here 5 from the start).
    const requests: string[] = [];
    const made = [1, 3, 5, 6, 7, 8, 9].map((i) => stmt(i));
    current = { ledger: L, size: 10, pageSize: 1, count: 1_000_000, revocations: made, requests };
    const r = await monitorOnce({ gateway: srv.url, statePath: join(dir, 'counted.json') });
    expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID', to: 10 });
    expect(r.message).toMatch(/^REVOCATIONS: the gateway answered a malformed revocation list: the pages hold more than the 5/);
    expect(requests.filter((q) => q.startsWith('/v1/revocations'))).toHaveLength(6);
  });
});
