/**
 * A secret key file of the gateway (its checkpoint key, an announced next key, its TLS key) that group or others may
 * read is logged as a warning, `code: KEY_FILE_EXPOSED`, naming the file and its mode, and the gateway runs on: ssh
 * refuses such a private key, but keys mounted from a container's secrets are often 0644, and a gateway that would not
 * start on them helps no one. The files the gateway makes itself are 0600 (checkpoint-key.ts createKeyFile).
 */
import { open } from 'node:fs/promises';
import { exposedKeyFileMode } from '../protocol/key-file.js';

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

/** A key file's text and its mode, read through one handle (the mode is the file's that was read). */
export async function readKeyFileWithMode(path: string): Promise<{ text: string; mode: number }> {
  const fh = await open(path, 'r');
  try {
    return { mode: (await fh.stat()).mode, text: await fh.readFile('utf8') };
  } finally {
    await fh.close();
  }
}
