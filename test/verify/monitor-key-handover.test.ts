/**
 * `originproof monitor` without a trust file pins the gateway's checkpoint key on first use, and follows its announced
 * handover to a next key as a device does (SPEC §7 "A new checkpoint key"): a checkpoint signed by the pinned key
 * that names a next key, signed by it too, makes the monitor keep it; the first checkpoint signed by the next key
 * alone then grows the log as before, with the next key pinned from then on. A key nobody announced is still an alarm
 * (CHECKPOINT_INVALID). A real ledger rotated with Ledger.rotateKey, served by the stand-in gateway.
 */
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger } from '../../ledger/ledger.js';
import { ed25519NoteSigner, formatVerifierKey, openCheckpoint, parseVerifierKey, signNote, formatCheckpoint } from '../../protocol/checkpoint.js';
import { nextKeyExtension } from '../../protocol/checkpoint-handover.js';
import { loadState, monitorOnce } from '../../cli/commands/monitor.js';
import { ORIGIN, reading } from '../ledger/contract.js';
import { serve, type View } from './stand-in-gateway.js';

const k1 = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(11));
const k2 = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(12));
const stranger = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(13));
const vkey = (s: { name: string; publicKey: Uint8Array }) => formatVerifierKey(s.name, s.publicKey);

describe('monitor: the pinned key follows an announced handover', () => {
  let dir: string;
  let L: Ledger;
  let current: View;
  let srv: { server: Server; url: string };
  let statePath: string;
  const round = () => monitorOnce({ gateway: srv.url, statePath });
  /** The log's checkpoint at `size`, signed again by `by` with `extensions` added (the tree untouched). */
  const resigned = async (size: number, by: (typeof k1)[], extensions: string[]) => {
    const cp = openCheckpoint((await L.checkpoint(size))!, [parseVerifierKey(vkey(k1))]);
    return signNote(formatCheckpoint({ ...cp, extensions: [...cp.extensions, ...extensions] }), by);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-monkey-'));
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer: k1, sync: false });
    await L.appendBlock([reading(0), reading(1)]);
    current = { ledger: L, size: 2 };
    srv = await serve(() => current);
    statePath = join(dir, 'monitor.json');
  });
  afterAll(async () => {
    await new Promise((r) => srv.server.close(r));
    await L.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('announced, then switched: the log grows under the next key without an alarm; a key never announced is one', async () => {
    expect(await round()).toMatchObject({ status: 'first' });
    expect(loadState(statePath, srv.url).verifierKey).toBe(vkey(k1));
    await L.appendBlock([reading(2)]); // size 3, its checkpoint served announcing k2 and cosigned by it
    current = { ledger: L, size: 3, checkpoint: await resigned(3, [k1, k2], [nextKeyExtension(vkey(k2))]) };
    expect(await round()).toMatchObject({ status: 'grew', from: 2, to: 3 });
    expect(loadState(statePath, srv.url)).toMatchObject({ verifierKey: vkey(k1), nextVerifierKey: vkey(k2) });

    // the rotation: the log's key retired for k2, which signs the next block alone
    await L.close();
    await Ledger.rotateKey({ dir: join(dir, 'ledger'), origin: ORIGIN, signer: k1, next: k2 });
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer: k2, sync: false });
    await L.appendBlock([reading(3)]);
    current = { ledger: L, size: 4 };
    expect(await round()).toMatchObject({ status: 'grew', from: 3, to: 4 });
    const s = loadState(statePath, srv.url);
    expect([s.verifierKey, s.nextVerifierKey, s.alarms]).toEqual([vkey(k2), undefined, []]);

    // a checkpoint of a key never announced: CHECKPOINT_INVALID, as before
    await L.appendBlock([reading(4)]);
    const cp = openCheckpoint((await L.checkpoint(5))!, [parseVerifierKey(vkey(k2))]);
    current = { ledger: L, size: 5, checkpoint: await signNote(formatCheckpoint(cp), [stranger]) };
    expect(await round()).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
  });
});
