/**
 * A JSON file the user or the simulator wrote (a key file, a device's state or sealed key `<id>.se.json`, fleet.json,
 * the CLI's monitor state and `sim run --config`): one that does not parse is named in the error (`MALFORMED`), not
 * reported as a bare `Unexpected token ...`. Here, not in cli/, because device-sim uses protocol/ and node IO only;
 * cli/files.ts re-exports it.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { ALG_EDDSA, ALG_ES256, fail, fromHex, type Alg } from '../protocol/index.js';
import { jsonErrorUnquoted } from '../protocol/json-error.js';
import { exposedKeyFileMode, statesOtherPublicKey } from '../protocol/key-file.js';

/**
 * `what` names the kind of file in the message, e.g. "key file": "k/root.key is not a key file (not JSON): ...".
 * `secret`: the file holds a secret key, so the parser's message goes without the text it quotes (V8 quotes up to
 * ten characters either side of the fault: a part of the secret).
 */
export function parseJsonFile(text: string, path: string, what?: string, secret = false): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const why = secret ? jsonErrorUnquoted(err) : (err as Error).message;
    // Not chained as the cause either: a cause's message may be printed.
    return fail('MALFORMED', `${path} is not ${what ? `a ${what} (not JSON)` : 'JSON'}: ${why}`, path, secret ? undefined : err);
  }
}

/**
 * Why a file is not one to read whole, at most `maxBytes` of it: "is a directory", "is not a regular file" (a device
 * or pipe: /dev/zero never ends), "is N bytes, more than M"; undefined when it may be read. Shared by every reader of
 * a file the user named (here and cli/files.ts readBoundedFile).
 */
export function notReadableWhole(st: Stats, maxBytes: number): string | undefined {
  if (!st.isFile()) return st.isDirectory() ? 'is a directory' : 'is not a regular file';
  if (st.size > maxBytes) return `is ${st.size} bytes, more than ${maxBytes}`;
  return undefined;
}

export { KEY_FILE_MAX_BYTES } from '../protocol/key-file.js';

/**
 * readFileSync(path, 'utf8'), its error naming the file, its code kept: node's own says `EISDIR: illegal operation on a
 * directory, read` without a path (found by the simulator's review: a device's outbox log or state file that was a
 * directory stopped `sim run` with that line alone).
 */
export function readTextFileNamed(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.message.includes(path)) throw err;
    throw Object.assign(new Error(`${path}: ${e.message}`, { cause: err }), { code: e.code });
  }
}

/**
 * `secret`: a file holding a secret key (see parseJsonFile), warned of on stderr when group or others may read it
 * (warnIfExposed). `maxBytes`: read only a regular file of at most that many bytes (a key file: KEY_FILE_MAX_BYTES),
 * else MALFORMED naming it, unread.
 */
export function readJsonFile(path: string, what?: string, opts: { secret?: boolean; maxBytes?: number } = {}): unknown {
  if (opts.maxBytes === undefined && !opts.secret) return parseJsonFile(readTextFileNamed(path), path, what, false);
  // One open file for the checks and the read (found by review: stat'ed by path, then read by path, a file renamed
  // over it in between was read unchecked, its size and its mode). Non-blocking, so that opening a FIFO does not wait
  // for a writer: it is refused as not a regular file.
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    const why = opts.maxBytes === undefined ? undefined : notReadableWhole(st, opts.maxBytes);
    if (why) fail('MALFORMED', `${path} is not ${what ? `a ${what}` : 'JSON'}: it ${why}`, path);
    if (opts.secret) warnIfExposed(path, what ?? 'key file', st.mode);
    return parseJsonFile(readFileSync(fd, 'utf8'), path, what, opts.secret ?? false);
  } finally {
    closeSync(fd);
  }
}

const warnedExposed = new Set<string>();

/**
 * One line on stderr per key file group or others may read (exposedKeyFileMode), naming it and its mode, never its
 * content; the file is used all the same (keys mounted from a container's secrets are often 0644: warned of, not
 * refused, as the gateway does). Also for the gateway's checkpoint key files the CLI's `ledger` commands read.
 */
export function warnIfExposed(path: string, what: string, mode: number): void {
  const shown = exposedKeyFileMode(mode, process.platform);
  if (shown === undefined || warnedExposed.has(path)) return;
  warnedExposed.add(path);
  process.stderr.write(`originproof: warning: ${what} ${path} may be read by group or others (mode ${shown}); keep it 0600 (chmod 600 ${path})\n`);
}

/**
 * A secret key's hex as a key file holds it: `bytes` bytes, else MALFORMED naming the file and what is wrong, never
 * quoting the digits (the hex library's error quotes the pair at the fault).
 */
export function secretKeyHex(hex: unknown, path: string, bytes: number): Uint8Array {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]*$/.test(hex)) fail('MALFORMED', `${path}: its secretKey is not hex digits`, path);
  if (hex.length !== bytes * 2) fail('MALFORMED', `${path}: its secretKey is ${hex.length} hex digits, not ${bytes * 2} (${bytes} bytes)`, path);
  return fromHex(hex);
}

/**
 * A key file's `alg`: "ed25519" or "es256" (any case), else ALG_NOT_ALLOWED; one that is not text (a number, an
 * object) MALFORMED naming the file (found by review: `"alg": 1` threw a TypeError from toLowerCase).
 */
export function keyFileAlg(alg: unknown, path: string): Alg {
  if (typeof alg !== 'string') return fail('MALFORMED', `${path}: its alg is not text ("ed25519" or "es256")`, path);
  const name = alg.toLowerCase();
  if (name === 'ed25519') return ALG_EDDSA;
  if (name === 'es256') return ALG_ES256;
  return fail('ALG_NOT_ALLOWED', `${path}: unknown algorithm ${alg.slice(0, 40)} (ed25519 or es256)`, path);
}

/**
 * A public key file's `publicKey`: hex digits, else MALFORMED naming the file (found by review: a number or "0x..."
 * escaped as the hex library's error, without a code or the file's name).
 */
export function publicKeyHex(hex: unknown, path: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) fail('MALFORMED', `${path}: its publicKey is not hex digits`, path);
  return fromHex(hex);
}

/**
 * A key file's `publicKey`, when there, must be the public key of the secret it holds under its alg (`actual`): else
 * MALFORMED naming the file, neither key quoted (protocol/key-file.ts statesOtherPublicKey).
 */
export function checkStatedPublicKey(stated: unknown, actual: Uint8Array, path: string): void {
  if (stated !== undefined) publicKeyHex(stated, path); // not hex at all: said so, not "another key's"
  if (statesOtherPublicKey(stated, actual)) {
    fail('MALFORMED', `${path}: its publicKey is not the public key of its secretKey under its alg (another key's, a damaged secretKey, or the wrong alg)`, path);
  }
}
