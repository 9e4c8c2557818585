/**
 * The gateway's next checkpoint key: the first step of a key rotation (docs/DESIGN.md "Checkpoint key rotation",
 * firmware-specs/SPEC.md §7 "A new checkpoint key"). `originproof ledger announce-key` makes it beside the current key,
 * in the same format and the same crash-safe way (checkpoint-key.ts createKeyFile); while its file is there, every
 * checkpoint the gateway signs names it (the `next-key` extension line) and carries its signature too, so that
 * devices learn it before a switch. `withdraw-key` removes the file. Both act on files only: the gateway reads the
 * file at its start, so an announcement (or its withdrawal) takes effect at the next start. The switch itself is
 * `originproof ledger rotate-key` (checkpoint-rotate.ts): until then the current key stays the log's key.
 */
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual } from '../protocol/bytes.js';
import { formatVerifierKey, parseVerifierKey } from '../protocol/checkpoint.js';
import { errorChain } from '../protocol/errors.js';
import type { Signer } from '../protocol/algorithms.js';
import { LevelBackend } from '../ledger/level-backend.js';
import { decodeMeta } from '../ledger/state.js';
import { ConfigError } from './config-defaults.js';
import { CHECKPOINT_KEY_FILE, createKeyFile, dataDirUnusable, readKeyFile, removeStaleTempFiles, syncDirectory } from './checkpoint-key.js';

export const NEXT_CHECKPOINT_KEY_FILE = 'gateway-checkpoint.next.key.json';

export interface NextKey {
  secretKey: Uint8Array;
  signer: Signer;
  path: string;
  /** The file's mode (gateway/key-file-exposure.ts). */
  mode: number;
}

/**
 * Make the next checkpoint key in `dataDir` (a gateway's data directory: its current key and its log there); its
 * verifier key is named `origin` (the log's origin, as the gateway names its keys). Refused, nothing written: without
 * the current key (CHECKPOINT_KEY_MISSING) or its log's directory (LEDGER_MISSING), and when a next key is announced
 * already (NextKeyExists, CONFLICT, naming it: withdraw it first). An origin that is no key name: CHECKPOINT_INVALID.
 */
export async function announceNextCheckpointKey(dataDir: string, origin: string): Promise<NextKey & { verifierKey: string; current: { path: string; mode: number } }> {
  formatVerifierKey(origin, new Uint8Array(32)); // the name checked before anything is looked at
  const currentPath = join(dataDir, CHECKPOINT_KEY_FILE);
  const current = await readKeyFile(currentPath);
  if (!current) {
    throw new ConfigError('CHECKPOINT_KEY_MISSING', `no checkpoint key in ${dataDir} (${currentPath} is missing): a next key is announced beside the current one; start the gateway once on this data directory first, or name the right one`);
  }
  const logDir = join(dataDir, 'ledger');
  if (!(await stat(logDir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(dataDirUnusable(dataDir, err.message, err)))))) {
    throw new ConfigError('LEDGER_MISSING', `checkpoint key file ${currentPath} is there, but the log it signs (${logDir}) is missing: restore the ledger directory from the key's backup before announcing a next key`);
  }
  const path = join(dataDir, NEXT_CHECKPOINT_KEY_FILE);
  const existing = await loadNextCheckpointKey(dataDir);
  if (existing) throw new NextKeyExists(path, formatVerifierKey(origin, existing.signer.publicKey));
  await removeStaleTempFiles(dataDir, NEXT_CHECKPOINT_KEY_FILE);
  const made = await createKeyFile(dataDir, path);
  if (made === 'exists') {
    // Another announce-key made it meanwhile: that one is the next key.
    const theirs = await loadNextCheckpointKey(dataDir);
    throw new NextKeyExists(path, theirs ? formatVerifierKey(origin, theirs.signer.publicKey) : null);
  }
  // as created; `current`: the current key's file as read, for the CLI's warning of its mode
  return { ...made, path, mode: 0o600, verifierKey: formatVerifierKey(origin, made.signer.publicKey), current: { path: currentPath, mode: current.mode } };
}

/**
 * A next key is announced already: CONFLICT (the HTTP API's code for "in the way of another", gateway/http/
 * error-registry.ts), shown in brackets by the CLI, the announced key named (`verifierKey`; null: made meanwhile by
 * another process and not readable yet).
 */
export class NextKeyExists extends Error {
  readonly code = 'CONFLICT';
  constructor(readonly path: string, readonly verifierKey: string | null) {
    super(`a next checkpoint key is announced already: ${verifierKey ?? '(not readable yet)'} (${path}); withdraw it first (originproof ledger withdraw-key) to announce another`);
    this.name = 'NextKeyExists';
  }
}

/**
 * Remove the next key file (the announcement is withdrawn at the gateway's next start). False when there was none.
 * A directory without a current key file is no gateway's (a mistyped path): CHECKPOINT_KEY_MISSING, nothing removed.
 * A next key the log is signed with already (a rotate-key cut short after the log recorded the switch, before the
 * key files moved): CHECKPOINT_KEY_MISMATCH, nothing removed (the file is the log's key then, its only copy).
 * A failure to remove it is DATA_DIR_UNUSABLE.
 */
export async function withdrawNextCheckpointKey(dataDir: string): Promise<boolean> {
  const currentPath = join(dataDir, CHECKPOINT_KEY_FILE);
  if (!(await stat(currentPath).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(dataDirUnusable(dataDir, err.message, err)))))) {
    throw new ConfigError('CHECKPOINT_KEY_MISSING', `no checkpoint key in ${dataDir} (${currentPath} is missing): not a gateway's data directory; name the right one`);
  }
  const path = join(dataDir, NEXT_CHECKPOINT_KEY_FILE);
  await refuseTheLogsKey(dataDir, path);
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw dataDirUnusable(dataDir, `the next checkpoint key ${path} cannot be removed: ${(err as Error).message}`, err);
  }
  await syncDirectory(dataDir);
  return true;
}

/**
 * Refuse to withdraw the next key when the log is signed with it (found by review: withdraw-key after a rotation cut
 * short deleted the log's key, and nothing could sign the log again). The log's key is read from its meta record; a
 * store held by another process (the running gateway, which its own key file opened: not the next key) or no store,
 * and a next key file that is no key (the log's key cannot be in it), are not looked at further.
 */
async function refuseTheLogsKey(dataDir: string, path: string): Promise<void> {
  const next = await readKeyFile(path).catch(() => null);
  const ledgerDir = join(dataDir, 'ledger');
  if (!next || !(await stat(join(ledgerDir, 'CURRENT')).catch(() => null))) return;
  let backend: LevelBackend;
  try {
    backend = await LevelBackend.open(ledgerDir, { sync: false });
  } catch (err) {
    if (errorChain(err).some((c) => c.code === 'LEVEL_LOCKED')) return;
    throw err;
  }
  let logKey: string;
  try {
    const meta = await backend.readMeta();
    if (!meta) return;
    logKey = decodeMeta(meta).verifierKey;
  } finally {
    await backend.close();
  }
  if (bytesEqual(parseVerifierKey(logKey).publicKey, next.signer.publicKey)) {
    throw new ConfigError('CHECKPOINT_KEY_MISMATCH', `the log in ${ledgerDir} is signed with the next checkpoint key ${logKey} already (a rotation cut short after the log recorded the switch): ${path} is the log's key now; run originproof ledger rotate-key --data-dir ${dataDir} to finish the rotation; nothing was removed`);
  }
}

/**
 * The announced next key of `dataDir`; null when none. A file that cannot be read or is not a key is
 * CHECKPOINT_KEY_UNUSABLE naming it (never replaced: devices may hold its public half already). With `current` (the
 * log's key): a next key equal to it is CONFIG_INVALID (a copy of the current key file is no next key).
 */
export async function loadNextCheckpointKey(dataDir: string, current?: { secretKey: Uint8Array }): Promise<NextKey | null> {
  const path = join(dataDir, NEXT_CHECKPOINT_KEY_FILE);
  const key = await readKeyFile(path, nextUnusable);
  if (!key) return null;
  if (current && bytesEqual(key.secretKey, current.secretKey)) {
    throw new ConfigError('CONFIG_INVALID', `the next checkpoint key ${path} is the current key (${join(dataDir, CHECKPOINT_KEY_FILE)}): a next key is another key; remove it (originproof ledger withdraw-key), then announce one (originproof ledger announce-key)`);
  }
  return { ...key, path };
}

function nextUnusable(path: string, why: string): ConfigError {
  return new ConfigError('CHECKPOINT_KEY_UNUSABLE', `next checkpoint key file ${path} is unusable: ${why}; devices may hold its public half already: restore it from a backup, or withdraw it (originproof ledger withdraw-key) and announce another`);
}
