/**
 * A JSON file the user or the simulator wrote (a key file, a device's state or sealed key `<id>.se.json`, fleet.json,
 * the CLI's monitor state and `sim run --config`): one that does not parse is named in the error (`MALFORMED`), not
 * reported as a bare `Unexpected token ...`. Here, not in cli/, because device-sim uses protocol/ and node IO only;
 * cli/files.ts re-exports it.
 */
import { readFileSync } from 'node:fs';
import { fail } from '../protocol/index.js';

/** `what` names the kind of file in the message, e.g. "key file": "k/root.key is not a key file (not JSON): ...". */
export function parseJsonFile(text: string, path: string, what?: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return fail('MALFORMED', `${path} is not ${what ? `a ${what} (not JSON)` : 'JSON'}: ${(err as Error).message}`, path, err);
  }
}

export function readJsonFile(path: string, what?: string): unknown {
  return parseJsonFile(readFileSync(path, 'utf8'), path, what);
}
