/**
 * The command `npm start` runs, read from package.json, so that the bench and the start test run the gateway
 * exactly as `npm start` does (same node flags: the gateway's heap budget lives in the start script).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Node's arguments for `npm start` (flags, then the script path made absolute, then its arguments). */
export function npmStartArgs(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').split(/\s+/).filter(Boolean);
  if (words[0] !== 'node') throw new Error(`package.json scripts.start must start with "node": ${pkg.scripts?.start}`);
  const script = words.findIndex((w, i) => i > 0 && !w.startsWith('-'));
  if (script < 0) throw new Error(`no script in package.json scripts.start: ${pkg.scripts?.start}`);
  return [...words.slice(1, script), join(root, words[script]!), ...words.slice(script + 1)];
}
