/**
 * The user's files, as the CLI reads and writes them.
 *
 * readJsonFile / parseJsonFile (device-sim/json-file.ts, shared with the simulator): a JSON file the user named (a
 * key file, the monitor's state, a `sim run --config`, a device's sealed key `<id>.se.json`) that does not parse is
 * named in the error (`MALFORMED`, exit 2), not reported as a bare `Unexpected token ...`.
 *
 * writeOutput: an output file (`--out`) is created, never replaced, unless the command was given `--force`; and
 * even with `--force` never when it is one of the command's own inputs (`cert root --key k/root.key --out
 * k/root.key`) or holds a secret key (a JSON file with `secretKey` or `pkcs8`, as `keys generate`, the simulator's
 * sealed keys and the gateway's checkpoint key are; a PEM private key): that may be the only copy. State the CLI
 * keeps updating (monitor --state, fetch-revocations --out DIR, sim onboard --out DIR) is not an output file.
 */
import { lstatSync, readFileSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { isErrorCode, OriginProofError } from '../protocol/errors.js';
import { notReadableWhole } from '../device-sim/json-file.js';

export { makeDirectories } from '../node-fs/make-directories.js';
export { checkStatedPublicKey, KEY_FILE_MAX_BYTES, keyFileAlg, parseJsonFile, publicKeyHex, readJsonFile, secretKeyHex, warnIfExposed } from '../device-sim/json-file.js';

/** The most bytes read of a certificate, revocation or proof of possession file: each is well under 2 KB. */
const SIGNED_OBJECT_MAX = 1 << 20;

/**
 * A file the user named, read whole when it is a regular file of at most `maxBytes` (notReadableWhole): errors name
 * it (node's EISDIR did not), exit 2; a device or pipe is not read (/dev/zero never ends). The error carries node's
 * errno code when the file could not be read.
 */
export function readBoundedFile(path: string, maxBytes: number): Uint8Array {
  const named = (why: string, code?: string): never => {
    throw Object.assign(new Error(`${path}: ${why}`), code ? { code } : {});
  };
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    return named(`cannot be read`, (err as NodeJS.ErrnoException).code);
  }
  const why = notReadableWhole(st, maxBytes);
  if (why) return named(why);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    return named('cannot be read', (err as NodeJS.ErrnoException).code);
  }
}

/** A certificate, revocation or proof of possession file the user named (readBoundedFile, SIGNED_OBJECT_MAX). */
export function readInputFile(path: string): Uint8Array {
  return readBoundedFile(path, SIGNED_OBJECT_MAX);
}

/** Decode an input file's bytes: a failure names the file and what it should have been, keeping its code. */
export function decodeInputFile<T>(path: string, what: string, decode: (bytes: Uint8Array) => T): T {
  const bytes = readInputFile(path);
  try {
    return decode(bytes);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (!isErrorCode(code)) throw err;
    throw new OriginProofError(code, `${path} is not a usable ${what}: ${(err as Error).message}`, { path, cause: err });
  }
}

/** Small enough to be a key file: anything larger is not read to look for a secret. */
const KEY_FILE_MAX = 1 << 20;

/** The file's stat, or undefined when there is none; `link: true` stats a symbolic link itself (a dangling one exists). */
export function statOrUndefined(path: string, opts: { link?: boolean } = {}): Stats | undefined {
  try {
    return opts.link ? lstatSync(path) : statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether the file holds a secret key; a file that cannot be read counts as one (it cannot be shown not to). */
export function holdsSecretKey(path: string, st: Stats): boolean {
  if (!st.isFile() || st.size > KEY_FILE_MAX) return false;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return true;
  }
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) return true;
  try {
    const j = JSON.parse(text) as unknown;
    return j !== null && typeof j === 'object' && ('secretKey' in j || 'pkcs8' in j);
  } catch {
    return false;
  }
}

const exists = (path: string): Error => new Error(`${path} exists; not overwriting it (give --force to replace it, or choose another --out)`);

/**
 * Write an output file: `o.out` (required here; a command without --out writes to stdout instead), replaced only with
 * `o.force`, and never when it is one of `inputs` or holds a secret key. Exit 2 (no verdict) when refused.
 */
export function writeOutput(o: { out?: string; force?: boolean }, data: string | Uint8Array, inputs: readonly string[] = []): void {
  const path = o.out;
  if (!path) throw new Error('no output file given (--out)');
  // A file created between the check and the write is not replaced unchecked, even with --force: a path found absent
  // is created exclusively ('wx'), and one that appeared meanwhile is checked again.
  for (let attempt = 0; ; attempt++) {
    const st = statOrUndefined(path);
    if (st) {
      for (const input of inputs) {
        const i = statOrUndefined(input);
        if (i && i.dev === st.dev && i.ino === st.ino) {
          throw new Error(`${path} is an input of this command${input === path ? '' : ` (${input})`}; not overwriting it, even with --force (choose another --out)`);
        }
      }
      if (holdsSecretKey(path, st)) throw new Error(`${path} holds a secret key; not overwriting it, even with --force (choose another --out)`);
      if (!o.force) throw exists(path);
    }
    try {
      writeFileSync(path, data, { flag: st ? 'w' : 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!o.force) throw exists(path); // created meanwhile
      if (attempt > 0) throw new Error(`${path} keeps appearing between check and write, or is a symbolic link to nothing; not writing through it (choose another --out)`);
    }
  }
}
