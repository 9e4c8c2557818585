/**
 * The gateway's checkpoint key: Ed25519, created on first start in the data directory (mode 0600) and loaded
 * afterwards. It signs checkpoints (C2SP signed notes); verifiers trust its public half.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALG_EDDSA, generateSecretKey, nobleSigner, type Signer } from '../protocol/algorithms.js';
import { fromHex, toHex } from '../protocol/bytes.js';
import { ConfigError } from './config.js';

export const CHECKPOINT_KEY_FILE = 'gateway-checkpoint.key.json';

export interface CheckpointKeyFile {
  alg: 'ed25519';
  secretKey: string; // hex
  publicKey: string; // hex
  createdAt: string;
}

/**
 * A data directory that cannot be made or used, or a key file that cannot be read or is not a checkpoint key, is a
 * ConfigError naming it (the start stops with that message). A damaged key file is never replaced: the log's
 * checkpoints are signed with it and verifiers trust its public half; restore it from a backup.
 */
export async function loadOrCreateCheckpointKey(dataDir: string): Promise<{ secretKey: Uint8Array; signer: Signer; created: boolean; path: string }> {
  const path = join(dataDir, CHECKPOINT_KEY_FILE);
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`data directory ${dataDir} is unusable (dataDir): ${(err as Error).message}`);
  }
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(path, (err as Error).message);
  }
  if (text !== null) {
    let file: Partial<CheckpointKeyFile> | null;
    try {
      file = JSON.parse(text) as Partial<CheckpointKeyFile> | null;
    } catch (err) {
      throw unusable(path, `not JSON (${(err as Error).message})`);
    }
    if (file?.alg !== 'ed25519' || typeof file.secretKey !== 'string' || !/^[0-9a-f]{64}$/.test(file.secretKey)) {
      throw unusable(path, 'not a gateway checkpoint key ({"alg": "ed25519", "secretKey": 64 hex digits, ...})');
    }
    const secretKey = fromHex(file.secretKey);
    return { secretKey, signer: nobleSigner(ALG_EDDSA, secretKey), created: false, path };
  }
  const secret = generateSecretKey(ALG_EDDSA);
  const signer = nobleSigner(ALG_EDDSA, secret);
  const file: CheckpointKeyFile = { alg: 'ed25519', secretKey: toHex(secret), publicKey: toHex(signer.publicKey), createdAt: new Date().toISOString() };
  // 'wx': never overwrite a key another process created meanwhile.
  await writeFile(path, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return { secretKey: secret, signer, created: true, path };
}

function unusable(path: string, why: string): ConfigError {
  return new ConfigError(`checkpoint key file ${path} is unusable: ${why}; it signs this log's checkpoints: restore it from a backup (a new key would not match the checkpoints already signed)`);
}
