/**
 * The switch of a key rotation (docs/DESIGN.md "Checkpoint key rotation"): `originproof ledger rotate-key` makes the
 * announced next key (checkpoint-next-key.ts) the log's key. Gateway stopped (the store's lock is taken here):
 *  1. the announcement must have reached the log: its latest checkpoint names the next key and carries its signature
 *     (devices learn the next key from such a receipt, SPEC §7; a log never signed, size 0, has nobody to tell);
 *     and every active device must have heard of it (next-key-coverage.ts: a reading of it logged while the
 *     checkpoints named it), else NextKeyNotHeard unless `allowUnheard` (those devices need the new key provisioned);
 *  2. the log records the switch (Ledger.rotateKey: the current key retired at the log's size, one synced write);
 *  3. the files follow: the current key is kept as gateway-checkpoint.key.retired-<key id>.json (a link), the next
 *     key's file becomes the key file (rename, atomic), the directory is synced.
 * A crash between 2 and 3 leaves a log whose key is the next key's file: the gateway's start refuses the old key file
 * (CHECKPOINT_KEY_MISMATCH, saying to run this again), and running it again finishes step 3 only. Run again once
 * finished, it says so (`finished`), nothing done.
 */
import { existsSync } from 'node:fs';
import { link, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { toHex } from '../protocol/bytes.js';
import { decodeBlockHeader } from '../protocol/bundle.js';
import { fail } from '../protocol/errors.js';
import { formatVerifierKey, noteKeyId, parseVerifierKey } from '../protocol/checkpoint.js';
import { Ledger } from '../ledger/ledger.js';
import { LedgerKeyMismatchError } from '../ledger/errors.js';
import { LevelBackend } from '../ledger/level-backend.js';
import { decodeMeta, decodeState } from '../ledger/state.js';
import type { RetiredKey } from '../ledger/key-history.js';
import { ConfigError } from './config-defaults.js';
import { CHECKPOINT_KEY_FILE, dataDirUnusable, readKeyFile, syncDirectory } from './checkpoint-key.js';
import { loadNextCheckpointKey, NEXT_CHECKPOINT_KEY_FILE } from './checkpoint-next-key.js';
import { namesNextKey, NextKeyNotHeard, readNextKeyCoverage, type NextKeyCoverage } from './next-key-coverage.js';

/** Where a retired key's file is kept (never read by the gateway again; keep it as secret as the key). */
export const retiredKeyFile = (origin: string, publicKey: Uint8Array): string => `gateway-checkpoint.key.retired-${toHex(noteKeyId(origin, publicKey))}.json`;

export interface Rotation {
  /** The key retired, the log's size then and when (absent when an earlier run had recorded it: `finished`). */
  retired?: RetiredKey;
  verifierKey: string;
  retiredFile: string;
  /** Only the files were left to move (a rotation cut short before). */
  finished: boolean;
  /** Which active devices had heard of the next key (absent when `finished`: judged when it was recorded). */
  coverage?: NextKeyCoverage;
  /** The secret key files read, where they are now (the key file, the retired key's), with their modes: for the CLI's warning. */
  keyFiles: { what: string; path: string; mode: number }[];
}

export async function rotateCheckpointKey(dataDir: string, origin: string, nowMs = Date.now(), opts: { allowUnheard?: boolean } = {}): Promise<Rotation> {
  const keyPath = join(dataDir, CHECKPOINT_KEY_FILE);
  const current = await readKeyFile(keyPath);
  if (!current) throw new ConfigError('CHECKPOINT_KEY_MISSING', `no checkpoint key in ${dataDir} (${keyPath} is missing): not a gateway's data directory; name the right one`);
  const next = await loadNextCheckpointKey(dataDir, current);
  if (!next) {
    // Run again once finished (a crash past the rename, before its output was seen): said so, nothing done.
    const done = await finishedBefore(dataDir, origin, formatVerifierKey(origin, current.signer.publicKey));
    if (done) return { ...done, keyFiles: [{ what: 'checkpoint key file', path: keyPath, mode: current.mode }] };
    throw new ConfigError('CHECKPOINT_KEY_MISSING', `no next checkpoint key is announced in ${dataDir} (${join(dataDir, NEXT_CHECKPOINT_KEY_FILE)}): announce one first (originproof ledger announce-key), run the gateway until its devices have had receipts naming it, then rotate`);
  }
  const ledgerDir = join(dataDir, 'ledger');
  const currentKey = formatVerifierKey(origin, current.signer.publicKey);
  const nextKey = formatVerifierKey(origin, next.signer.publicKey);
  const retiredFile = retiredKeyFile(origin, current.signer.publicKey);
  let retired: RetiredKey | undefined;
  let coverage: NextKeyCoverage | undefined;
  try {
    const { size, lastBlockMs } = await announcedInLog(ledgerDir, nextKey);
    // Opens the log with the current key: one that recorded the switch already is the mismatch caught below. An
    // empty log registered nobody (and is not opened: that would write its meta record).
    coverage = size === 0 ? { nextKey, active: 0, heard: 0, unheard: [] } : await readNextKeyCoverage(dataDir, origin, current.secretKey, nextKey, nowMs);
    if (coverage.unheard.length > 0 && !opts.allowUnheard) throw new NextKeyNotHeard(coverage);
    // Retired no earlier than its last block: verifiers choose a key by the block's time, and the retired key's window
    // ends at the switch (found by review: run where the clock was behind the gateway's, its last blocks, those signed
    // by it alone, were dated after its window and failed every verifier).
    const at = Math.max(nowMs, lastBlockMs);
    retired = (await Ledger.rotateKey({ dir: ledgerDir, origin, signer: { name: origin, publicKey: current.signer.publicKey }, next: { name: origin, publicKey: next.signer.publicKey }, nowMs: at })).retired;
  } catch (err) {
    // Recorded by an earlier run cut short: the log's key is the next key's already, the key file the one it retired.
    if (!(err instanceof LedgerKeyMismatchError && err.retired && err.logKey === nextKey && err.signerKey === currentKey)) throw err;
  }
  try {
    await link(keyPath, join(dataDir, retiredFile)).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    // The link made durable before the rename: a power cut must not keep the rename and lose the retired key's file.
    await syncDirectory(dataDir);
    await rename(next.path, keyPath);
    await syncDirectory(dataDir);
  } catch (err) {
    throw dataDirUnusable(dataDir, `the log now has the next checkpoint key, but the key files could not be moved (${(err as Error).message}); fix that, then run originproof ledger rotate-key again to finish`, err);
  }
  // The next key's file is the key file now, the current key's the retired key's (a link: the same mode).
  const keyFiles = [{ what: 'checkpoint key file', path: keyPath, mode: next.mode }, { what: 'retired checkpoint key file', path: join(dataDir, retiredFile), mode: current.mode }];
  return { ...(retired ? { retired, coverage } : {}), verifierKey: nextKey, retiredFile: join(dataDir, retiredFile), finished: retired === undefined, keyFiles };
}

/**
 * A rotation finished before (found by review: run again after a crash past the rename, before its output was seen,
 * as the start's refusal and the README say to, it said no next key was announced and to announce one): the key
 * file is the log's key, the log records a key it retired, and that key's file is kept. Null otherwise, or when the
 * log cannot be read (held by a running gateway, say): then the refusal stands.
 */
async function finishedBefore(dataDir: string, origin: string, currentKey: string): Promise<Omit<Rotation, 'keyFiles'> | null> {
  const ledgerDir = join(dataDir, 'ledger');
  if (!existsSync(join(ledgerDir, 'CURRENT'))) return null;
  let meta: ReturnType<typeof decodeMeta> | undefined;
  try {
    const backend = await LevelBackend.open(ledgerDir, { sync: false });
    try {
      const bytes = await backend.readMeta();
      meta = bytes ? decodeMeta(bytes) : undefined;
    } finally {
      await backend.close();
    }
  } catch {
    return null;
  }
  const last = meta?.retired.at(-1);
  if (!meta || !last || meta.verifierKey !== currentKey) return null;
  const retiredFile = join(dataDir, retiredKeyFile(origin, parseVerifierKey(last.verifierKey).publicKey));
  return existsSync(retiredFile) ? { verifierKey: currentKey, retiredFile, finished: true } : null;
}

/**
 * The log's latest checkpoint names `nextKey` and carries its verifying signature (its devices had receipts saying so);
  * a log of size 0 has nothing to hand over. Else CHECKPOINT_INVALID, nothing written. A store the gateway holds is
  * refused by LevelDB's lock (UNAVAILABLE: stop the gateway first). Returns the log's size and its last block's time
  * (0: none).
 */
async function announcedInLog(ledgerDir: string, nextKey: string): Promise<{ size: number; lastBlockMs: number }> {
  const backend = await LevelBackend.open(ledgerDir, { sync: true });
  try {
    const stateBytes = await backend.readState();
    const state = stateBytes ? decodeState(stateBytes) : undefined;
    const size = state?.treeSize ?? 0;
    if (size === 0) return { size: 0, lastBlockMs: 0 };
    const note = await backend.getCheckpoint(size);
    if (note === undefined || !namesNextKey(note, nextKey)) {
      fail('CHECKPOINT_INVALID', `the log's latest checkpoint (tree size ${size}) does not announce the next key ${nextKey}: start the gateway with it announced and let it log a block (its devices learn the next key from those receipts, SPEC §7), then rotate; nothing was written`, 'next');
    }
    const header = await backend.getHeader(state!.height);
    return { size, lastBlockMs: header ? decodeBlockHeader(header).timeMs : 0 };
  } finally {
    await backend.close();
  }
}
