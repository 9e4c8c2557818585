/**
 * The log's checkpoint key retired for a next one (Ledger.rotateKey, ledger/key-history.ts): the checkpoints signed
 * before stay checked with the retired key, the later ones with the new key, each by its own tree size, in every
 * read that hands out a stored checkpoint (checkpoints, proofs, bundles) and in `ledger verify`. A later key never
 * vouches for an earlier part of the log: a note of the new key stored at an old size is damage. The store is format
 * 2 from the rotation on (an earlier version refuses it); a log never rotated stays format 1. Real LevelDB in temp
 * directories.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger } from '../../ledger/ledger.js';
import { LevelBackend } from '../../ledger/level-backend.js';
import { nodeNoteSigner } from '../../ledger/signer.js';
import { verifyLedger } from '../../ledger/verify.js';
import { decodeMeta, encodeMeta } from '../../ledger/state.js';
import { encode } from '../../protocol/cbor.js';
import { LedgerKeyMismatchError } from '../../ledger/errors.js';
import { formatVerifierKey, openCheckpoint, parseNote, parseVerifierKey, signNote } from '../../protocol/checkpoint.js';
import { ORIGIN, reading, signer as k1 } from './contract.js';
import { editStoredCheckpoint } from './entry-location.js';

const k2 = nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(4));
const k3 = nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(5));
const vkey = (s: { name: string; publicKey: Uint8Array }) => formatVerifierKey(s.name, s.publicKey);

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'op-key-rotation-'));
  dirs.push(d);
  return d;
};
const open = async (dir: string, signer = k1) => {
  const backend = await LevelBackend.open(dir, { sync: false });
  return Ledger.open({ backend, origin: ORIGIN, signer }).catch(async (err: unknown) => {
    await backend.close();
    throw err;
  });
};
const codeOf = async (p: Promise<unknown>) => p.then(() => 'no error', (err: unknown) => (err as { code?: string }).code ?? String(err));
const meta = async (dir: string) => {
  const b = await LevelBackend.open(dir, { sync: false });
  try {
    return decodeMeta((await b.readMeta())!);
  } finally {
    await b.close();
  }
};
const append = async (l: Ledger, n: number) => {
  const first = l.size;
  await l.appendBlock(Array.from({ length: n }, (_, i) => reading(first + i)));
};

/**
 * A log of blocks ending at sizes 1, 3 under k1, rotated to k2 at 3, blocks to 4 and 7, rotated to k3 at 7, a block to 8.
 * `announcing`: as rotate-key makes it: each key's checkpoints announce the next key (cosigned by it) before the
 * switch, so each switch's checkpoint (sizes 3 and 7) carries the signature of the key after it.
 */
async function rotatedLog(dir: string, announcing = false): Promise<Ledger> {
  const openFor = async (signer: typeof k1, nextSigner: typeof k1) =>
    announcing ? Ledger.open({ backend: await LevelBackend.open(dir, { sync: false }), origin: ORIGIN, signer, nextSigner }) : open(dir, signer);
  let l = await openFor(k1, k2);
  await append(l, 1);
  await append(l, 2);
  await l.close();
  expect((await meta(dir)).format).toBe(1);
  expect(await Ledger.rotateKey({ dir, origin: ORIGIN, signer: k1, next: k2, nowMs: 1_000 })).toEqual({ retired: { verifierKey: vkey(k1), lastTreeSize: 3, retiredAtMs: 1_000 }, verifierKey: vkey(k2) });
  l = await openFor(k2, k3);
  await append(l, 1);
  await append(l, 3);
  await l.close();
  await Ledger.rotateKey({ dir, origin: ORIGIN, signer: k2, next: k3, nowMs: 2_000 });
  l = await open(dir, k3);
  await append(l, 1);
  return l;
}

/** `ledger verify` of the store in `dir` (with `key`: --key), its verdict and problem. */
const verdict = async (dir: string, key?: string) => {
  const backend = await LevelBackend.open(dir, { sync: false });
  try {
    const report = await verifyLedger(backend, { workers: 1, ...(key !== undefined ? { key } : {}) });
    return { ok: report.ok, problem: report.problem?.message };
  } finally {
    await backend.close();
  }
};

describe('checkpoint key rotation in the ledger', () => {
  it('each checkpoint is signed by the key of its tree size, and every read and ledger verify check it so', async () => {
    const dir = await tempDir();
    const l = await rotatedLog(dir);
    expect(l.retiredKeys).toEqual([
      { verifierKey: vkey(k1), lastTreeSize: 3, retiredAtMs: 1_000 },
      { verifierKey: vkey(k2), lastTreeSize: 7, retiredAtMs: 2_000 },
    ]);
    const signers = new Map([[1, k1], [3, k1], [4, k2], [7, k2], [8, k3]]);
    for (const [size, s] of signers) {
      expect(l.verifierKeyAt(size), String(size)).toBe(vkey(s));
      const note = (await l.checkpoint(size))!;
      // signed by that key alone: the other keys do not open it
      expect(openCheckpoint(note, [parseVerifierKey(vkey(s))]).size).toBe(size);
      for (const other of [k1, k2, k3].filter((o) => o !== s)) expect(() => openCheckpoint(note, [parseVerifierKey(vkey(other))])).toThrow(expect.objectContaining({ name: 'OriginProofError', code: 'CHECKPOINT_INVALID', path: 'signature' }));
    }
    // bundles of entries of each key's part, at their own checkpoint and at the latest (the latest key's)
    for (let index = 0; index < l.size; index++) {
      expect((await l.proofBundle(index)).index).toBe(index);
      expect((await l.proofBundle(index, { treeSize: 8 })).treeSize).toBe(8);
    }
    expect((await l.consistencyProof(1, 8)).length).toBeGreaterThan(0);
    await l.close();
    const backend = await LevelBackend.open(dir, { sync: false });
    const report = await verifyLedger(backend, { workers: 1 });
    await backend.close();
    expect([report.ok, report.blocks, report.entries, report.problem]).toEqual([true, 5, 8, undefined]);
    expect((await meta(dir)).format).toBe(2);
  });

  it('a later key never vouches for an earlier part: a note of the new key stored at an old size is damage, in reads and in ledger verify', async () => {
    const dir = await tempDir();
    let l = await rotatedLog(dir);
    // k2 re-signs the checkpoint at size 3 (k1's part): a valid signature, by the wrong key for that size
    const resigned = await signNote(parseNote((await l.checkpoint(3))!).text, [k2]);
    expect(await l.checkpoint(4)).toBeDefined();
    await l.close();
    await editStoredCheckpoint(dir, 3, () => resigned);
    l = await open(dir, k3);
    expect(await codeOf(l.checkpoint(3))).toBe('LEDGER_DAMAGED');
    expect(await codeOf(l.proofBundle(1))).toBe('LEDGER_DAMAGED');
    expect(await l.checkpoint(4)).toBeDefined(); // the rest of the log reads as before
    await l.close();
    const backend = await LevelBackend.open(dir, { sync: false });
    const report = await verifyLedger(backend, { workers: 1 });
    await backend.close();
    expect([report.ok, report.problem?.block]).toEqual([false, 1]);
  });

  it('ledger verify --key: the retired keys the store records count only as far as the trusted key vouches for them, switch by switch', async () => {
    // rotated as rotate-key does it: every switch cosigned by the key after it, back from the trusted one
    const dir = await tempDir();
    await (await rotatedLog(dir, true)).close();
    expect(await verdict(dir, vkey(k3))).toEqual({ ok: true, problem: undefined });
    // a store rewritten under a key nobody trusts, its meta record saying that key was retired for the trusted one at
    // the log's size: the trusted key signed nothing of it (it passed: every checkpoint checked with the forger's key)
    const forger = nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(9));
    const forged = await tempDir();
    let l = await open(forged, forger);
    await append(l, 2);
    await append(l, 1);
    await l.close();
    await Ledger.rotateKey({ dir: forged, origin: ORIGIN, signer: forger, next: k3 });
    expect(await verdict(forged, vkey(k3))).toEqual({ ok: false, problem: expect.stringMatching(/checkpoint of block 1: .*switch/) });
    // with a part of the trusted key's after it: the switch (tree size 3) is not cosigned by it
    l = await open(forged, k3);
    await append(l, 2);
    await l.close();
    expect(await verdict(forged, vkey(k3))).toEqual({ ok: false, problem: expect.stringMatching(/checkpoint of block 1: .*switch/) });
    // without --key the store's own record is what is taken (its meta names the keys): as before
    expect(await verdict(forged)).toEqual({ ok: true, problem: undefined });
    // a key recorded as retired after the log's end (so the trusted key signed none of it): no switch to vouch for it
    const past = await tempDir();
    l = await open(past, forger);
    await append(l, 2);
    await l.close();
    const b = await LevelBackend.open(past, { sync: false });
    await b.writeMeta(encodeMeta({ origin: ORIGIN, verifierKey: vkey(k3), format: 2, retired: [{ verifierKey: vkey(forger), lastTreeSize: 5, retiredAtMs: 1 }] }));
    await b.close();
    expect(await verdict(past, vkey(k3))).toEqual({ ok: false, problem: expect.stringMatching(/tree size 5/) });
  });

  it('the retired key file no longer opens the log (CHECKPOINT_KEY_MISMATCH, saying it was retired); the current one does', async () => {
    const dir = await tempDir();
    await (await rotatedLog(dir)).close();
    const err = await open(dir, k1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerKeyMismatchError);
    expect((err as LedgerKeyMismatchError).code).toBe('CHECKPOINT_KEY_MISMATCH');
    expect((err as LedgerKeyMismatchError).retired?.lastTreeSize).toBe(3);
    expect((err as Error).message).toMatch(/retired at tree size 3/);
    await (await open(dir, k3)).close();
  });

  it('refused with nothing written: another signer, the current key or a retired one as next, no log', async () => {
    const dir = await tempDir();
    await (await rotatedLog(dir)).close();
    const before = await meta(dir);
    expect(await codeOf(Ledger.rotateKey({ dir, origin: ORIGIN, signer: k2, next: nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(9)) }))).toBe('CHECKPOINT_KEY_MISMATCH');
    expect(await codeOf(Ledger.rotateKey({ dir, origin: ORIGIN, signer: k3, next: k3 }))).toBe('MALFORMED');
    expect(await codeOf(Ledger.rotateKey({ dir, origin: ORIGIN, signer: k3, next: k1 }))).toBe('MALFORMED');
    expect(await codeOf(Ledger.rotateKey({ dir, origin: ORIGIN, signer: k3, next: nodeNoteSigner(ORIGIN, new Uint8Array(32).fill(9)), nowMs: 1_500 }))).toBe('MALFORMED'); // clock before the last rotation
    expect(await codeOf(Ledger.rotateKey({ dir, origin: 'other.example/log', signer: k3, next: nodeNoteSigner('other.example/log', new Uint8Array(32).fill(9)) }))).toBe('MALFORMED');
    expect(await meta(dir)).toEqual(before);
    expect(await codeOf(Ledger.rotateKey({ dir: await tempDir(), origin: ORIGIN, signer: k1, next: k2 }))).toBe('MALFORMED');
  });

  it('a checkpoint at the rotation size cosigned by both keys (an announcing gateway) is read as the retired key\'s', async () => {
    const dir = await tempDir();
    let l = await open(dir);
    await append(l, 2);
    const note = (await l.checkpoint(2))!;
    await l.close();
    // the announcement: the stored note gets the next key's signature line too
    const { text, signatures } = parseNote(note);
    const cosigned = await signNote(text, [k2], signatures);
    await editStoredCheckpoint(dir, 2, () => cosigned);
    await Ledger.rotateKey({ dir, origin: ORIGIN, signer: k1, next: k2 });
    l = await open(dir, k2);
    expect(await l.checkpoint(2)).toBe(cosigned);
    await append(l, 1);
    expect(openCheckpoint((await l.checkpoint(3))!, [parseVerifierKey(vkey(k2))]).size).toBe(3);
    await l.close();
  });

  it('a meta record whose retired keys do not hold together is MALFORMED (damaged), not read', () => {
    const [a, b, c] = [k1, k2, k3].map(vkey) as [string, string, string];
    const metaOf = (format: number, retired: unknown) => encode(new Map<number, unknown>([[1, ORIGIN], [2, c], [3, format], [4, retired]]));
    const codeOfSync = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    expect(decodeMeta(metaOf(2, [[a, 3, 1], [b, 7, 2]])).retired).toHaveLength(2);
    const bad: [string, number, unknown][] = [
      ['format 1 naming retired keys', 1, [[a, 3, 1]]],
      ['not a list', 2, 'x'],
      ['an entry of the wrong length', 2, [[a, 3]]],
      ['not a verifier key', 2, [['key', 3, 1]]],
      ['a negative size', 2, [[a, -1, 1]]],
      ['sizes going back', 2, [[a, 7, 1], [b, 3, 2]]],
      ['times going back', 2, [[a, 3, 2], [b, 7, 1]]],
      ['a key retired twice', 2, [[a, 3, 1], [a, 7, 2]]],
      ['the current key retired', 2, [[c, 3, 1]]],
    ];
    for (const [what, format, retired] of bad) expect([what, codeOfSync(() => decodeMeta(metaOf(format, retired)))]).toEqual([what, 'MALFORMED']);
  });
});
