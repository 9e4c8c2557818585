/**
 * `fetch-revocations` into a directory holding an earlier list, against a gateway that rolls its log back or drops a
 * revocation it once committed to (found by review). Whenever the held list and the newly logged entries did not hash
 * to the gateway's new checkpoint, the whole list was fetched again and replaced the held one, its files removed: a
 * list at an older tree size (a rolled-back log), or a checkpoint whose `revocations` line left out a revocation the
 * held one committed to, silently took the place of the verifier's evidence, and `verify --revocation-log` then passed
 * a reading that revocation covers. Now, when the held list is intact (it hashes to its own checkpoint's line), a list
 * that does not extend it is refused (exit 1: CONSISTENCY_INVALID for an older tree size, CHECKPOINT_INVALID for a line
 * that does not extend the held one) and the directory is left as it was; `--full` still replaces it, after a look.
 * A held list changed locally is fetched whole again, as before. Likewise (a second commit) a checkpoint of another
 * log no longer replaces an intact held list: the gateway's word for "another log" is no reason to drop the evidence.
 */
import type { Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger } from '../../ledger/ledger.js';
import type { EntryInput } from '../../ledger/submission.js';
import { ed25519NoteSigner, openCheckpoint, parseNote, parseCheckpoint, parseVerifierKey, signCheckpoint } from '../../protocol/checkpoint.js';
import { createRevocation } from '../../protocol/revocation.js';
import { commitRevocations, revocationsExtension, type LoggedRevocation } from '../../protocol/revocation-log.js';
import { fetchRevocations } from '../../cli/commands/fetch-revocations.js';
import { makeChain, NOW } from '../protocol/fixtures.js';
import { reading } from '../ledger/contract.js';
import { serve, type View } from '../verify/stand-in-gateway.js';

const ORIGIN = 'rollback.example/log';
const signer = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(7));
const c = await makeChain();
const statements = await Promise.all([1, 2, 3].map((k) => createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: NOW + k, iat: NOW + k })));
const revocationEntry = (k: number, i: number): EntryInput => ({ type: 4, payload: statements[k]!, certRef: new Uint8Array(32).fill(2), receivedAtMs: 1_000 + i });

describe('fetch-revocations: a held list is only ever extended', () => {
  let dir: string;
  let out: string;
  let L: Ledger;
  let current: View;
  let srv: { server: Server; url: string };
  const fetchInto = (full = false) => fetchRevocations({ gateway: srv.url, out, ...(full ? { full } : {}) });
  const heldSize = () => parseCheckpoint(parseNote(readFileSync(join(out, 'checkpoint'), 'utf8')).text).size;
  const heldOrigin = () => parseCheckpoint(parseNote(readFileSync(join(out, 'checkpoint'), 'utf8')).text).origin;
  const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (err: { code?: string }) => err.code);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-revroll-'));
    out = join(dir, 'revs');
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer, sync: false });
    await L.appendBlock([reading(0), revocationEntry(0, 1), reading(2)]); // size 3: a revocation at 1
    await L.appendBlock([revocationEntry(1, 3), reading(4), reading(5)]); // size 6: another at 3
    srv = await serve(() => current);
  });
  afterAll(async () => {
    await new Promise((r) => srv.server.close(r));
    await L.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the log at tree size 6, then rolled back to 3: refused (CONSISTENCY_INVALID), the held list kept', async () => {
    current = { ledger: L, size: 6 };
    expect((await fetchInto()).revocations.map((r) => r.index)).toEqual([1, 3]);
    current = { ledger: L, size: 3 };
    expect(await codeOf(fetchInto())).toBe('CONSISTENCY_INVALID');
    expect(heldSize()).toBe(6);
    expect(existsSync(join(out, '3.rev'))).toBe(true);
  });

  test("a checkpoint whose line leaves out a held revocation: refused (CHECKPOINT_INVALID), the held list kept", async () => {
    await L.appendBlock([revocationEntry(2, 6), reading(7)]); // size 8: a third at 6
    const honest = openCheckpoint((await L.checkpoint(8))!, [parseVerifierKey(L.verifierKey)]);
    const shown: LoggedRevocation[] = [{ index: 3, statement: statements[1]! }, { index: 6, statement: statements[2]! }]; // index 1 dropped
    const line = revocationsExtension(commitRevocations(shown));
    const forged = await signCheckpoint({ ...honest, extensions: [...honest.extensions.filter((e) => !e.startsWith('revocations ')), line] }, signer);
    current = { ledger: L, size: 8, checkpoint: forged, revocations: shown };
    expect(await codeOf(fetchInto())).toBe('CHECKPOINT_INVALID');
    expect(heldSize()).toBe(6);
    expect(existsSync(join(out, '1.rev'))).toBe(true);
  });

  test('the honest log grown: extended (the held ones kept); a held file changed locally: fetched whole again; --full replaces', async () => {
    current = { ledger: L, size: 8 };
    const grown = await fetchInto();
    expect([grown.kept, grown.revocations.map((r) => r.index)]).toEqual([2, [1, 3, 6]]);
    writeFileSync(join(out, '1.rev'), statements[2]!); // not what was logged at 1
    const refetched = await fetchInto();
    expect([refetched.kept, refetched.revocations.map((r) => r.index)]).toEqual([0, [1, 3, 6]]);
    current = { ledger: L, size: 3 };
    expect((await fetchInto(true)).revocations.map((r) => r.index)).toEqual([1]);
    expect(heldSize()).toBe(3);
  });

  test("a checkpoint of another log in the held list's place: refused (CHECKPOINT_INVALID), the held list kept; --full replaces it", async () => {
    const honest = openCheckpoint((await L.checkpoint(3))!, [parseVerifierKey(L.verifierKey)]);
    const other = await signCheckpoint({ ...honest, origin: 'other.example/log' }, ed25519NoteSigner('other.example/log', new Uint8Array(32).fill(9)));
    current = { ledger: L, size: 3, checkpoint: other };
    expect(await codeOf(fetchInto())).toBe('CHECKPOINT_INVALID');
    expect(heldOrigin()).toBe(ORIGIN);
    await fetchInto(true);
    expect(heldOrigin()).toBe('other.example/log');
  });
});
