/**
 * The gateway's trust material with its own log's checkpoint keys, as POST /v1/verify checks bundles with it and
 * GET /v1/trust serves it (one rule for both, so that an offline verifier given GET /v1/trust reaches the route's
 * verdict).
 *
 * The log's keys and their windows come from its key history (ledger/key-history.ts keyWindows: a retired key valid
 * until its switch, the key after it from then; a log never rotated, its key without a window). The log's history
 * bounds its own keys: a key of the log that the trust file names keeps the window the file gives it, narrowed to the
 * log's; the file may narrow it (end the trust in it early), never widen it. Found by review: a trust file written
 * before a rotation, naming the gateway's key without a window, made the retired key vouch in POST /v1/verify for
 * checkpoints of blocks dated after the switch, which the log says it no longer signs (what a leaked retired key
 * could sign). The log's keys the file does not name are added with the log's windows; every other key is the file's,
 * as given.
 */
import { formatVerifierKey, parseVerifierKey } from '../protocol/checkpoint.js';
import type { CheckpointKey, TrustMaterial } from '../protocol/trust.js';

/** A key of the log and its window (seconds), as keyWindows gives them. */
export interface LogKeyWindow {
  key: string;
  notBefore?: number;
  notAfter?: number;
}

export function trustWithLogKeys(trust: TrustMaterial, logKeys: readonly LogKeyWindow[]): TrustMaterial {
  const logWindow = new Map(logKeys.map((k) => [k.key, k]));
  const named = new Set<string>();
  const checkpointKeys = trust.checkpointKeys.map((k): CheckpointKey => {
    const key = formatVerifierKey(k.verifier.name, k.verifier.publicKey);
    named.add(key);
    const log = logWindow.get(key);
    return log ? { verifier: k.verifier, ...narrowed(k, log) } : k;
  });
  for (const { key, ...window } of logKeys) if (!named.has(key)) checkpointKeys.push({ verifier: parseVerifierKey(key), ...window });
  return { ...trust, checkpointKeys };
}

/** The part of window `a` within window `b`: the later start, the earlier end. */
function narrowed(a: { notBefore?: number; notAfter?: number }, b: { notBefore?: number; notAfter?: number }): { notBefore?: number; notAfter?: number } {
  const notBefore = a.notBefore === undefined ? b.notBefore : b.notBefore === undefined ? a.notBefore : Math.max(a.notBefore, b.notBefore);
  const notAfter = a.notAfter === undefined ? b.notAfter : b.notAfter === undefined ? a.notAfter : Math.min(a.notAfter, b.notAfter);
  return { ...(notBefore !== undefined ? { notBefore } : {}), ...(notAfter !== undefined ? { notAfter } : {}) };
}
