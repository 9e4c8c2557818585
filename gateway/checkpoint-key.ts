/**
 * The gateway's checkpoint key: Ed25519, created on first start in the data directory (mode 0600) and loaded
 * afterwards. It signs checkpoints (C2SP signed notes); verifiers trust its public half.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { syncDir } from '../ledger/entry-segments.js';
import { ALG_EDDSA, generateSecretKey, nobleSigner, type Signer } from '../protocol/algorithms.js';
import { fromHex, toHex } from '../protocol/bytes.js';
import { makeDirectoriesAsync } from '../node-fs/make-directories.js';
import { readKeyFileWithMode } from './key-file-exposure.js';
import { statesOtherPublicKey } from '../protocol/key-file.js';
import { ConfigError } from './config-defaults.js'; // not config.js: the CLI's key commands load no TypeBox
import { isOpenFilesLimit, OPEN_FILES_LIMIT_REMEDY } from './start-refusal.js';

export const CHECKPOINT_KEY_FILE = 'gateway-checkpoint.key.json';
/** A key file being made is written as `<name>.tmp-<random>` first (createKeyFile). */
const TEMP_SUFFIX = '.tmp-';

export interface CheckpointKeyFile {
  alg: 'ed25519';
  secretKey: string; // hex
  publicKey: string; // hex
  createdAt: string;
}

/**
 * A data directory that cannot be made or used, or a key file that cannot be read or is not a checkpoint key, is a
 * ConfigError naming it (the start stops with that message). A damaged key file is never replaced: the log's
 * checkpoints are signed with it and verifiers trust its public half; restore it from a backup. Nor is a missing one
 * when `logDir` (the ledger's directory) holds files: the key is made before the log, so that log's key is lost
 * (found by review: a new key went on signing the log's checkpoints, trusted by none of its verifiers, and `ledger
 * verify`, checking the key the ledger recorded, failed every later block). `logDir` is made (empty) before the key,
 * so an existing key without it is refused as well: its log is lost, and a new one would fork it under the same key.
 */
export async function loadOrCreateCheckpointKey(
  dataDir: string,
  hooks: { beforeLink?: () => void; logDir?: string } = {},
): Promise<{ secretKey: Uint8Array; signer: Signer; created: boolean; path: string; mode: number }> {
  const path = join(dataDir, CHECKPOINT_KEY_FILE);
  let madeDir: string | undefined;
  try {
    madeDir = await makeDirectoriesAsync(dataDir); // not node's recursive mkdir, which never ends under /proc
  } catch (err) {
    throw dataDirUnusable(dataDir, (err as Error).message, err);
  }
  if (madeDir !== undefined) await syncMadeDirectories(resolve(madeDir), resolve(dataDir));
  const existing = await readKeyFile(path);
  if (existing) {
    // The log's directory is made before the key (below): a key without it lost its log (not restored with the key,
    // or removed). A new log under this key would be a second log signed by it, its checkpoints forking the ones
    // verifiers hold (found by review).
    if (hooks.logDir !== undefined && !(await stat(hooks.logDir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(unlistable(hooks.logDir!, err)))))) {
      throw new ConfigError('LEDGER_MISSING', `checkpoint key file ${path} is there, but the log it signs (${hooks.logDir}) is missing: restore the ledger directory from the same backup as the key (a new log under this key would fork the one its verifiers have seen), or, if this data directory never logged anything, remove the key file`);
    }
    return { ...existing, created: false, path };
  }
  // A ledger directory that cannot be listed is not an empty one (found by review: a new key was made beside a log
  // signed with another, unreadable for the moment).
  if (hooks.logDir !== undefined && (await readdir(hooks.logDir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(unlistable(hooks.logDir!, err))))).length > 0) {
    throw new ConfigError('CHECKPOINT_KEY_MISSING', `checkpoint key file ${path} is missing, but ${hooks.logDir} holds a log signed with it: restore the key file from a backup (a new key would not match the checkpoints already signed), or move the log away to start a new one`);
  }
  await removeStaleTempFiles(dataDir, CHECKPOINT_KEY_FILE);
  if (hooks.logDir !== undefined) {
    // Made (empty) and durable before the key is in place: a key file then always has its log's directory beside it.
    try {
      await makeDirectoriesAsync(hooks.logDir);
    } catch (err) {
      throw new ConfigError('DATA_DIR_UNUSABLE', `ledger directory ${hooks.logDir} is unusable: ${(err as Error).message}`);
    }
    await syncDirectory(dataDir);
  }
  const made = await createKeyFile(dataDir, path, hooks);
  if (made === 'exists') {
    const theirs = await readKeyFile(path); // another process made it first: that one is the key
    if (!theirs) throw unusable(path, 'created by another process and not readable');
    return { ...theirs, created: false, path };
  }
  return { ...made, created: true, path, mode: 0o600 }; // as created (the umask only takes bits away)
}

/**
 * A new Ed25519 checkpoint key in a new file `path` (in `dataDir`, mode 0600), or 'exists' when `path` is there
 * already (never overwritten). Whole and on disk before it is in place, and in place before anything is signed with
 * it: written to a temp file and fsync'ed, then linked to its name (link fails if another process created the file
 * meanwhile), then the directory fsync'ed. A crash before the link leaves a temp file, removed by the next creation
 * (removeStaleTempFiles), never an empty or cut-short key file that would stop every later start. A write that fails
 * here (a full or read-only disk, permissions) is the directory's fault, not a key's: DATA_DIR_UNUSABLE (found by
 * review: node's ENOSPC escaped the start without a start code). The current key (above) and the announced next key
 * (checkpoint-next-key.ts) are both made here.
 */
export async function createKeyFile(
  dataDir: string,
  path: string,
  hooks: { beforeLink?: () => void } = {},
): Promise<{ secretKey: Uint8Array; signer: Signer } | 'exists'> {
  const secret = generateSecretKey(ALG_EDDSA);
  const signer = nobleSigner(ALG_EDDSA, secret);
  const file: CheckpointKeyFile = { alg: 'ed25519', secretKey: toHex(secret), publicKey: toHex(signer.publicKey), createdAt: new Date().toISOString() };
  const tmp = `${path}${TEMP_SUFFIX}${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(file, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw dataDirUnusable(dataDir, `the checkpoint key cannot be written to ${tmp}: ${(err as Error).message}`, err);
  }
  hooks.beforeLink?.();
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw dataDirUnusable(dataDir, `the checkpoint key cannot be linked to ${path}: ${(err as Error).message}`, err);
    }
    return 'exists';
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(dataDir);
  return { secretKey: secret, signer };
}

/**
 * The key in `path` and the file's mode (gateway/key-file-exposure.ts); null when there is no such file; a ConfigError
 * naming it when it is not a key, or not the one its publicKey names (CHECKPOINT_KEY_UNUSABLE, `unusableAs` its
 * message; by default the current key's), or cannot be read for its permissions or the open-files limit
 * (DATA_DIR_UNUSABLE).
 */
export async function readKeyFile(path: string, unusableAs: (path: string, why: string) => ConfigError = unusable): Promise<{ secretKey: Uint8Array; signer: Signer; mode: number } | null> {
  let text: string;
  let mode: number;
  try {
    ({ text, mode } = await readKeyFileWithMode(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    // Not the key's fault, and a backup's restore (CHECKPOINT_KEY_UNUSABLE's remedy) mends neither (found by review):
    // a file the gateway's user may not read, or a process out of file descriptors.
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ConfigError('DATA_DIR_UNUSABLE', `checkpoint key file ${path} cannot be read: ${(err as Error).message}; fix its permissions (the gateway's user reads it), then start again; nothing was written`, { cause: err });
    }
    if (isOpenFilesLimit(err)) throw new ConfigError('DATA_DIR_UNUSABLE', `checkpoint key file ${path} cannot be read: ${(err as Error).message}: ${OPEN_FILES_LIMIT_REMEDY}`, { cause: err });
    throw unusableAs(path, (err as Error).message);
  }
  let file: Partial<CheckpointKeyFile> | null;
  try {
    file = JSON.parse(text) as Partial<CheckpointKeyFile> | null;
  } catch (err) {
    throw unusableAs(path, `not JSON (${(err as Error).message})`);
  }
  // Hex in either case, as every other key file reader takes it (found by review: upper case was refused here only).
  if (file?.alg !== 'ed25519' || typeof file.secretKey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(file.secretKey)) {
    throw unusableAs(path, 'not a gateway checkpoint key ({"alg": "ed25519", "secretKey": 64 hex digits, ...})');
  }
  const secretKey = fromHex(file.secretKey);
  const signer = nobleSigner(ALG_EDDSA, secretKey);
  // The file says which key it is (createKeyFile writes publicKey): a secretKey with a digit changed is another key,
  // which would sign checkpoints none of the log's verifiers trust. Neither key is quoted.
  if (statesOtherPublicKey(file.publicKey, signer.publicKey)) {
    throw unusableAs(path, 'its publicKey is not the public key of its secretKey (a damaged secretKey, or another key\'s publicKey)');
  }
  return { secretKey, signer, mode };
}

/** Temp files of a creation of `name` that crashed before its link (no such file exists, so none of them is in use). */
export async function removeStaleTempFiles(dataDir: string, name: string): Promise<void> {
  const names = await readdir(dataDir).catch((err: Error) => {
    throw dataDirUnusable(dataDir, err.message, err);
  });
  for (const entry of names) {
    if (entry.startsWith(name + TEMP_SUFFIX)) await unlink(join(dataDir, entry)).catch(() => undefined);
  }
}

/**
 * fsync a directory, so that a name linked into it survives a power loss (POSIX; Windows cannot open a directory, and
 * needs not). A failure is the directory's: DATA_DIR_UNUSABLE (found by review: every error was swallowed, EIO
 * included, and the start went on as if the key file's name were durable). The ledger's directory syncs fail alike.
 */
export async function syncDirectory(dir: string): Promise<void> {
  try {
    await syncDir(dir);
  } catch (err) {
    throw dataDirUnusable(dir, `its entries cannot be made durable (fsync of the directory: ${(err as Error).message})`, err);
  }
}

/**
 * `mkdir -p` made `made` and the directories below it down to `dataDir`: each name is durable once the directory
 * holding it is fsynced (found by review: a new data directory's own name was never synced, so a power cut soon
 * after a first start could lose the whole directory, the blocks it had receipted with it).
 */
async function syncMadeDirectories(made: string, dataDir: string): Promise<void> {
  for (let dir = dataDir; ; dir = dirname(dir)) {
    await syncDirectory(dirname(dir));
    if (dir === made || dirname(dir) === dir) return;
  }
}

export function dataDirUnusable(dataDir: string, why: string, cause: unknown): ConfigError {
  return new ConfigError('DATA_DIR_UNUSABLE', `data directory ${dataDir} is unusable (dataDir): ${why}`, { cause });
}

function unlistable(logDir: string, err: Error): ConfigError {
  return new ConfigError('DATA_DIR_UNUSABLE', `ledger directory ${logDir} cannot be listed: ${err.message}; nothing was written (fix its permissions or the disk, then start again)`, { cause: err });
}

function unusable(path: string, why: string): ConfigError {
  return new ConfigError('CHECKPOINT_KEY_UNUSABLE', `checkpoint key file ${path} is unusable: ${why}; it signs this log's checkpoints: restore it from a backup (a new key would not match the checkpoints already signed)`);
}
