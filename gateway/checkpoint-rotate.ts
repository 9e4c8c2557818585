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
 * (CHECKPOINT_KEY_MISMATCH, saying to run this again), and running it again finishes step 3 only.
 */
import { link, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { toHex } from '../protocol/bytes.js';
import { fail } from '../protocol/errors.js';
import { formatVerifierKey, noteKeyId } from '../protocol/checkpoint.js';
import { Ledger } from '../ledger/ledger.js';
import { LedgerKeyMismatchError } from '../ledger/errors.js';
import { LevelBackend } from '../ledger/level-backend.js';
import { decodeState } from '../ledger/state.js';
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
}

export async function rotateCheckpointKey(dataDir: string, origin: string, nowMs = Date.now(), opts: { allowUnheard?: boolean } = {}): Promise<Rotation> {
  const keyPath = join(dataDir, CHECKPOINT_KEY_FILE);
  const current = await readKeyFile(keyPath);
  if (!current) throw new ConfigError('CHECKPOINT_KEY_MISSING', `no checkpoint key in ${dataDir} (${keyPath} is missing): not a gateway's data directory; name the right one`);
  const next = await loadNextCheckpointKey(dataDir, current);
  if (!next) throw new ConfigError('CHECKPOINT_KEY_MISSING', `no next checkpoint key is announced in ${dataDir} (${join(dataDir, NEXT_CHECKPOINT_KEY_FILE)}): announce one first (originproof ledger announce-key), run the gateway until its devices have had receipts naming it, then rotate`);
  const ledgerDir = join(dataDir, 'ledger');
  const currentKey = formatVerifierKey(origin, current.signer.publicKey);
  const nextKey = formatVerifierKey(origin, next.signer.publicKey);
  const retiredFile = retiredKeyFile(origin, current.signer.publicKey);
  let retired: RetiredKey | undefined;
  let coverage: NextKeyCoverage | undefined;
  try {
    const size = await announcedInLog(ledgerDir, nextKey);
    // Opens the log with the current key: one that recorded the switch already is the mismatch caught below. An
    // empty log registered nobody (and is not opened: that would write its meta record).
    coverage = size === 0 ? { nextKey, active: 0, heard: 0, unheard: [] } : await readNextKeyCoverage(dataDir, origin, current.secretKey, nextKey, nowMs);
    if (coverage.unheard.length > 0 && !opts.allowUnheard) throw new NextKeyNotHeard(coverage);
    retired = (await Ledger.rotateKey({ dir: ledgerDir, origin, signer: { name: origin, publicKey: current.signer.publicKey }, next: { name: origin, publicKey: next.signer.publicKey }, nowMs })).retired;
  } catch (err) {
    // Recorded by an earlier run cut short: the log's key is the next key's already, the key file the one it retired.
    if (!(err instanceof LedgerKeyMismatchError && err.retired && err.logKey === nextKey && err.signerKey === currentKey)) throw err;
  }
  try {
    await link(keyPath, join(dataDir, retiredFile)).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    await rename(next.path, keyPath);
    await syncDirectory(dataDir);
  } catch (err) {
    throw dataDirUnusable(dataDir, `the log now has the next checkpoint key, but the key files could not be moved (${(err as Error).message}); fix that, then run originproof ledger rotate-key again to finish`, err);
  }
  return { ...(retired ? { retired, coverage } : {}), verifierKey: nextKey, retiredFile: join(dataDir, retiredFile), finished: retired === undefined };
}

/**
 * The log's latest checkpoint names `nextKey` and carries its verifying signature (its devices had receipts saying so);
 * a log of size 0 has nothing to hand over. Returns the log's size. Else CHECKPOINT_INVALID, nothing written. A store the gateway holds is
 * refused by LevelDB's lock (UNAVAILABLE: stop the gateway first).
 */
async function announcedInLog(ledgerDir: string, nextKey: string): Promise<number> {
  const backend = await LevelBackend.open(ledgerDir, { sync: true });
  try {
    const state = await backend.readState();
    const size = state ? decodeState(state).treeSize : 0;
    if (size === 0) return 0;
    const note = await backend.getCheckpoint(size);
    if (note === undefined || !namesNextKey(note, nextKey)) {
      fail('CHECKPOINT_INVALID', `the log's latest checkpoint (tree size ${size}) does not announce the next key ${nextKey}: start the gateway with it announced and let it log a block (its devices learn the next key from those receipts, SPEC §7), then rotate; nothing was written`, 'next');
    }
    return size;
  } finally {
    await backend.close();
  }
}
