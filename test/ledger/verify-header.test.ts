// `ledger verify` checks that each block's checkpoint binds its header (the extension line
// `block <height> <base64 SHA-256(header)>`), not only its size and root: a header rewritten with the unsigned
// state record patched to match (so the hash chain and the state agree) is still found.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { verifyLedger } from '../../ledger/verify.js';
import { headerKey, STATE_KEY } from '../../ledger/keys.js';
import { decodeState, encodeState } from '../../ledger/state.js';
import { decodeBlockHeader, encodeBlockHeader, type BlockHeader } from '../../protocol/bundle.js';
import { sha256 } from '../../protocol/hash.js';
import { ORIGIN, reading, signer } from './contract.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function build(blocks: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'op-ledger-vhdr-'));
  dirs.push(dir);
  const ledger = await Ledger.open({ dir, origin: ORIGIN, signer });
  for (let b = 0; b < blocks; b++) await ledger.appendBlock(Array.from({ length: 5 }, (_, i) => reading(b * 5 + i)));
  await ledger.close();
  return dir;
}

/** Rewrites the last block's header and patches the state record's block hash to the rewritten header. */
async function rewriteLastHeader(dir: string, height: number, change: (h: BlockHeader) => BlockHeader): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const forged = encodeBlockHeader(change(decodeBlockHeader((await db.get(headerKey(height)))!)));
    await db.put(headerKey(height), forged);
    const st = decodeState((await db.get(STATE_KEY))!);
    await db.put(STATE_KEY, encodeState({ ...st, blockHash: sha256(forged) }));
  } finally {
    await db.close();
  }
}

async function check(dir: string) {
  const backend = await LevelBackend.open(dir);
  try {
    return await verifyLedger(backend, { workers: 0 });
  } finally {
    await backend.close();
  }
}

describe('ledger verify: the checkpoint binds the block header', () => {
  it('passes the untouched ledger', async () => {
    expect(await check(await build(2))).toMatchObject({ ok: true, blocks: 2, entries: 10 });
  });

  it('fails a rewritten header timeMs (state record patched) as a checkpoint problem of that block', async () => {
    const dir = await build(2);
    await rewriteLastHeader(dir, 1, (h) => ({ ...h, timeMs: h.timeMs - 365 * 86_400_000 }));
    const r = await check(dir);
    expect(r.ok).toBe(false);
    // ledger verify names problems by block and a stable message prefix (it has no error codes of its own):
    // "checkpoint of block N: ..." is what it reports for every checkpoint problem.
    expect(r.problem).toMatchObject({ block: 1, message: expect.stringMatching(/^checkpoint of block 1: .*does not bind the block header/) });
  });

  it('fails a rewritten header of the only block too (no later header links to it)', async () => {
    const dir = await build(1);
    await rewriteLastHeader(dir, 0, (h) => ({ ...h, timeMs: h.timeMs + 1 }));
    expect((await check(dir)).problem).toMatchObject({ block: 0, message: expect.stringMatching(/^checkpoint of block 0: /) });
  });
});
