/**
 * `originproof monitor --trust FILE` across a checkpoint key rotation, with the trust file a verifier takes after it
 * (`originproof trust --gateway`: the retired key until the switch, `notAfter`, the new key from then, `notBefore`).
 * Each checkpoint is checked with the key of its block's time (the `block` line binds the header that dates it), as
 * bundles are, not the key of the monitor's clock: the log's latest checkpoint right after the restart is the retired
 * key's (no block since), and a monitor whose clock is a little behind the gateway's sees the new key's first
 * checkpoint before its window begins by that clock. Neither is an alarm; a checkpoint signed by the retired key for
 * a block dated after its switch is one.
 */
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Ledger } from '../../ledger/ledger.js';
import { ed25519NoteSigner, formatCheckpoint, formatVerifierKey, openCheckpoint, parseVerifierKey, signNote } from '../../protocol/checkpoint.js';
import { parseTrust } from '../../protocol/trust.js';
import { toHex } from '../../protocol/bytes.js';
import { encodeBlockHeader } from '../../protocol/bundle.js';
import { monitorOnce } from '../../cli/commands/monitor.js';
import { ORIGIN, reading } from '../ledger/contract.js';
import { serve, type View } from './stand-in-gateway.js';

const k1 = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(21));
const k2 = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(22));
const vkey = (s: { name: string; publicKey: Uint8Array }) => formatVerifierKey(s.name, s.publicKey);
const T0 = 1_800_000_000_000; // the log's first block (ms)
const SWITCH_S = T0 / 1000 + 100; // the rotation (s)

describe('monitor with a trust file across a key rotation', () => {
  let dir: string;
  let L: Ledger;
  let current: View;
  let srv: { server: Server; url: string };
  let clockMs = T0;
  const trust = parseTrust({
    roots: [{ name: 'root.example', alg: 'EdDSA', publicKey: toHex(new Uint8Array(32).fill(1)) }],
    checkpointKeys: [{ key: vkey(k1), notAfter: SWITCH_S }, { key: vkey(k2), notBefore: SWITCH_S }],
    clockSkewSeconds: 300,
  });
  const round = (statePath: string, nowS: number) => monitorOnce({ gateway: srv.url, statePath: join(dir, statePath), trust, now: () => nowS * 1000 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-montrust-'));
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer: k1, sync: false, clock: () => clockMs });
    await L.appendBlock([reading(0), reading(1)]);
    clockMs = T0 + 50_000;
    await L.appendBlock([reading(2)]);
    current = { ledger: L, size: 3 };
    srv = await serve(() => current);
  });
  afterAll(async () => {
    await new Promise((r) => srv.server.close(r));
    await L.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("the retired key's last checkpoint after the switch, the new key's first seen by a clock behind: no alarm; the retired key past its switch: alarm", async () => {
    // Rotated, restarted, no block yet: the latest checkpoint is the retired key's, read after its window ended.
    expect(await round('a.json', SWITCH_S + 60)).toMatchObject({ status: 'first' });
    await L.close();
    await Ledger.rotateKey({ dir: join(dir, 'ledger'), origin: ORIGIN, signer: k1, next: k2, nowMs: SWITCH_S * 1000 });
    L = await Ledger.open({ dir: join(dir, 'ledger'), origin: ORIGIN, signer: k2, sync: false, clock: () => clockMs });
    current = { ledger: L, size: 3 };
    expect(await round('a.json', SWITCH_S + 61)).toMatchObject({ status: 'unchanged' });
    // The new key's first block, 1 s after the switch, read by a monitor whose clock is 3 s behind the gateway's.
    clockMs = SWITCH_S * 1000 + 1_000;
    await L.appendBlock([reading(3)]);
    current = { ledger: L, size: 4 };
    expect(await round('b.json', SWITCH_S - 2)).toMatchObject({ status: 'first' });
    expect(await round('a.json', SWITCH_S + 62)).toMatchObject({ status: 'grew', from: 3, to: 4 });
    // The retired key signing the new block (dated after its switch): not the key of that time.
    const cp = openCheckpoint((await L.checkpoint(4))!, [parseVerifierKey(vkey(k2))]);
    current = { ledger: L, size: 4, checkpoint: await signNote(formatCheckpoint(cp), [k1]) };
    expect(await round('c.json', SWITCH_S + 63)).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
  });

  test('a gateway that does not show the block its checkpoint binds, or dates it past the clock skew: CHECKPOINT_INVALID', async () => {
    current = { ledger: L, size: 4 };
    expect(await round('d.json', SWITCH_S + 70)).toMatchObject({ status: 'first' });
    // its block redated (before the switch: the retired key's time), another block's header, bytes that are no header
    const own = (await L.servedBlock(2))!.header;
    const redated = encodeBlockHeader({ ...own, timeMs: T0 + 60_000 });
    const block0 = (await L.servedBlock(0))!.bytes;
    for (const [state, header, says] of [
      ['e.json', redated, /not the block the checkpoint binds/], ['e2.json', block0, /not the block the checkpoint binds/], ['f.json', new Uint8Array([0xa0]), /not a block header/],
    ] as const) {
      current = { ledger: L, size: 4, blockHeader: header };
      const r = await round(state, SWITCH_S + 70);
      expect(r).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
      expect(r.message).toMatch(says);
    }
    // a block dated more than the trust file's 300 s after the monitor's clock
    current = { ledger: L, size: 4 };
    const ahead = await round('g.json', SWITCH_S + 1 - 301);
    expect(ahead).toMatchObject({ status: 'alarm', code: 'CHECKPOINT_INVALID' });
    expect(ahead.message).toMatch(/after the monitor's clock/);
    expect(await round('h.json', SWITCH_S + 1 - 300)).toMatchObject({ status: 'first' });
  });
});
