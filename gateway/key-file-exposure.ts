/**
 * A secret key file of the gateway (its checkpoint key, an announced next key, its TLS key) that group or others may
 * read is logged as a warning, `code: KEY_FILE_EXPOSED`, naming the file and its mode, and the gateway runs on: ssh
 * refuses such a private key, but keys mounted from a container's secrets are often 0644, and a gateway that would not
 * start on them helps no one. The files the gateway makes itself are 0600 (checkpoint-key.ts createKeyFile).
 */
import { open } from 'node:fs/promises';
import { exposedKeyFileMode, KEY_FILE_MAX_BYTES } from '../protocol/key-file.js';

export interface KeyFileWarning {
  fields: { code: 'KEY_FILE_EXPOSED'; file: string; mode: string };
  message: string;
}

/** The warning for key file `file` (`what` it is, e.g. "checkpoint key file") of mode `mode`; null when none is due. */
export function exposedKeyFileWarning(what: string, file: string, mode: number): KeyFileWarning | null {
  const shown = exposedKeyFileMode(mode, process.platform);
  if (shown === undefined) return null;
  return {
    fields: { code: 'KEY_FILE_EXPOSED', file, mode: shown },
    message: `${what} ${file} may be read by group or others (mode ${shown}); keep it readable by the gateway's user only (chmod 600 ${file})`,
  };
}

/**
 * A key file's text and its mode, read through one handle (the mode is the file's that was read). At most
 * KEY_FILE_MAX_BYTES: a larger file is an error unread, and a pipe (`--tls-key <(...)`, taken) or a device that goes on
 * past it is an error once it has (/dev/zero was read until the string length limit, ~600 MB, in 1.5 s).
 */
export async function readKeyFileWithMode(path: string): Promise<{ text: string; mode: number }> {
  const tooLarge = () => new Error(`${path} is larger than a key file (${KEY_FILE_MAX_BYTES} bytes at most)`);
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size > KEY_FILE_MAX_BYTES) throw tooLarge();
    const buf = new Uint8Array(KEY_FILE_MAX_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, length, buf.length - length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > KEY_FILE_MAX_BYTES) throw tooLarge();
    }
    return { mode: st.mode, text: new TextDecoder().decode(buf.subarray(0, length)) };
  } finally {
    await fh.close();
  }
}
