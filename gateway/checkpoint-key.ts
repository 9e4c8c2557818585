/**
 * The gateway's checkpoint key: Ed25519, created on first start in the data directory (mode 0600) and loaded
 * afterwards. It signs checkpoints (C2SP signed notes); verifiers trust its public half.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ALG_EDDSA, generateSecretKey, nobleSigner, type Signer } from '../protocol/algorithms.js';
import { fromHex, toHex } from '../protocol/bytes.js';

export const CHECKPOINT_KEY_FILE = 'gateway-checkpoint.key.json';

export interface CheckpointKeyFile {
  alg: 'ed25519';
  secretKey: string; // hex
  publicKey: string; // hex
  createdAt: string;
}

export async function loadOrCreateCheckpointKey(dataDir: string): Promise<{ secretKey: Uint8Array; signer: Signer; created: boolean; path: string }> {
  const path = join(dataDir, CHECKPOINT_KEY_FILE);
  await mkdir(dataDir, { recursive: true });
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== null) {
    const file = JSON.parse(text) as CheckpointKeyFile;
    if (file.alg !== 'ed25519' || !/^[0-9a-f]{64}$/.test(file.secretKey)) throw new Error(`${path} is not a gateway checkpoint key`);
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
