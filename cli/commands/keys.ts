/**
 * `originproof keys prove --key DIR/name.key --agency ID [--nonce HEX] --out FILE`: the proof of possession a device
 * gives its agency at onboarding (firmware-specs/SPEC.md §2), made with its key, for `cert device --pop`.
 * `originproof keys generate --alg ed25519|es256 --out DIR/name`: writes
 *   name.key       {"alg": "ed25519"|"es256", "secretKey": hex, "publicKey": hex (as in name.pub.json)} with mode
 *                  0600 (the secret: keep it offline); a loader checks that the secret's public key is publicKey
 *   name.pub.json  {"alg", "publicKey": hex (raw: Ed25519 32 bytes, P-256 65 bytes 04||x||y), "kid": hex (RFC 9679),
 *                   "deviceId": hex (what a device with this key is called)}
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Command } from 'commander';
import {
  ALG_EDDSA, ALG_ES256, createProofOfPossession, deviceIdFromKey, deviceIdToHex, fail, generateSecretKey, keyThumbprint, nobleSigner,
  publicKey, toHex, type Alg, type PublicKey, type Signer,
} from '../../protocol/index.js';
import { checkStatedPublicKey, KEY_FILE_MAX_BYTES, keyFileAlg, makeDirectories, publicKeyHex, readJsonFile, secretKeyHex, statOrUndefined, writeOutput } from '../files.js';
import { hexOption, timeOption } from '../options.js';

export type AlgName = 'ed25519' | 'es256';
const ALGS: Record<AlgName, Alg> = { ed25519: ALG_EDDSA, es256: ALG_ES256 };

export function algFromName(name: string): Alg {
  const alg = ALGS[name.toLowerCase() as AlgName];
  if (alg === undefined) fail('ALG_NOT_ALLOWED', `unknown algorithm ${name} (ed25519 or es256)`, 'alg');
  return alg;
}
export const algToName = (alg: Alg): AlgName => (alg === ALG_EDDSA ? 'ed25519' : 'es256');

export interface PublicKeyFile {
  alg: AlgName;
  publicKey: string;
  kid: string;
  deviceId: string;
}

export function publicKeyFile(key: PublicKey): PublicKeyFile {
  return { alg: algToName(key.alg), publicKey: toHex(key.raw), kid: toHex(keyThumbprint(key)), deviceId: deviceIdToHex(deviceIdFromKey(key)) };
}

export function generateKeys(opts: { alg: string; out: string }): { keyPath: string; pubPath: string; pub: PublicKeyFile } {
  const alg = algFromName(opts.alg);
  // A directory is no name for the pair: `--out keys/` wrote keys/.key and keys/.pub.json.
  if (/[/\\]$/.test(opts.out) || ['', '.', '..'].includes(basename(opts.out))) {
    fail('MALFORMED', `--out is a path without extension, e.g. keys/root (writes keys/root.key and keys/root.pub.json); got ${opts.out}, a directory`, 'out');
  }
  const secret = generateSecretKey(alg);
  const signer = nobleSigner(alg, secret);
  const pub = publicKeyFile(publicKey(alg, signer.publicKey));
  makeDirectories(dirname(opts.out));
  const keyPath = `${opts.out}.key`, pubPath = `${opts.out}.pub.json`;
  // Never replaced, not even the public half: the pair on disk may be the only copy of a key in use. A symbolic link
  // counts as there, also one to nothing (existsSync follows it: the secret half was written, the public half then
  // refused).
  const exists = (f: string) => new Error(`${f} exists; keys generate never overwrites a key (choose another --out)`);
  for (const f of [keyPath, pubPath]) if (statOrUndefined(f, { link: true })) throw exists(f);
  const create = (f: string, text: string, mode: number) => {
    try {
      writeFileSync(f, text, { mode, flag: 'wx' });
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'EEXIST' ? exists(f) : err;
    }
  };
  create(keyPath, JSON.stringify({ alg: pub.alg, secretKey: toHex(secret), publicKey: pub.publicKey }) + '\n', 0o600);
  try {
    create(pubPath, JSON.stringify(pub, null, 2) + '\n', 0o666); // node's default: the umask decides
  } catch (err) {
    rmSync(keyPath, { force: true }); // both files or neither: a secret without its public half is of no use
    throw err;
  }
  return { keyPath, pubPath, pub };
}

export function loadSigner(path: string): Signer {
  const j = readJsonFile(path, 'key file', { secret: true, maxBytes: KEY_FILE_MAX_BYTES }) as { alg?: unknown; secretKey?: unknown; publicKey?: unknown } | null;
  if (!j?.alg || !j.secretKey) fail('MALFORMED', `${path} is not a key file`, path);
  // Both algorithms' secret keys are 32 bytes (Ed25519 seed, P-256 scalar).
  const signer = nobleSigner(keyFileAlg(j.alg, path), secretKeyHex(j.secretKey, path, 32));
  checkStatedPublicKey(j.publicKey, signer.publicKey, path);
  return signer;
}

export function loadPublicKey(path: string): PublicKey {
  const j = readJsonFile(path, 'public key file', { maxBytes: KEY_FILE_MAX_BYTES }) as { alg?: unknown; publicKey?: unknown } | null;
  if (!j?.alg || !j.publicKey) fail('MALFORMED', `${path} is not a public key file`, path);
  return publicKey(keyFileAlg(j.alg, path), publicKeyHex(j.publicKey, path));
}

/**
 * What a device does at onboarding (SPEC §2 step 2), for a key kept in a file: a proof of possession for agency
 * `agency` over the agency's challenge `nonce` (hex, 8..64 bytes; 16 random bytes when the agency gave none).
 */
export async function proveKey(o: { key: string; agency: string; nonce?: string; out: string; now?: string | number; force?: boolean }): Promise<Record<string, unknown>> {
  const signer = loadSigner(o.key);
  const nonce = o.nonce === undefined ? new Uint8Array(randomBytes(16)) : hexOption(o.nonce, 'nonce');
  const iat = timeOption(o.now, 'now');
  const bytes = await createProofOfPossession(signer, { agencyId: o.agency, nonce, iat });
  writeOutput(o, bytes, [o.key]);
  return { deviceId: deviceIdToHex(deviceIdFromKey(publicKey(signer.alg, signer.publicKey))), agency: o.agency, nonce: toHex(nonce), iat, out: o.out };
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description("generate signing keys, and sign a device's proof of possession with one");
  keys
    .command('generate')
    .description('generate a key pair: OUT.key (secret, mode 0600) and OUT.pub.json')
    .requiredOption('--alg <alg>', 'ed25519 or es256')
    .requiredOption('--out <path>', 'output path without extension, e.g. keys/root')
    .action((opts: { alg: string; out: string }) => {
      const r = generateKeys(opts);
      process.stdout.write(JSON.stringify({ ...r.pub, keyFile: r.keyPath, publicKeyFile: r.pubPath }, null, 2) + '\n');
    });
  keys
    .command('prove')
    .description("a device's proof of possession of its key for an agency (onboarding, SPEC §2): for cert device --pop")
    .requiredOption('--key <file>', 'the device key (.key)')
    .requiredOption('--agency <id>', 'the agency the proof is for, e.g. psb.example')
    .option('--nonce <hex>', "the agency's challenge, 8..64 bytes (default: 16 random bytes)")
    .requiredOption('--out <file>', 'output file (the proof, COSE_Sign1)')
    .option('--now <seconds>', 'time of the proof (default: now)')
    .action(async (o: { key: string; agency: string; nonce?: string; out: string; now?: string; force?: boolean }) => {
      process.stdout.write(JSON.stringify(await proveKey(o), null, 2) + '\n');
    });
}
