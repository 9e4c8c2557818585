/**
 * The log's checkpoint keys over its life. A log is signed by one key at a time; a rotation retires the current key
 * at the log's tree size then (every checkpoint up to and including that size is signed by it; the one at that size
 * may carry the next key's signature too, as an announcing gateway signs) and makes the next key current for every
 * later checkpoint. Recorded in the meta record (ledger/state.ts, key 4), so that each stored checkpoint is checked
 * with the key of its own tree size: a later key can never vouch for an earlier part of the log, nor a retired one
 * for a later part. Pure.
 */
import { fail } from '../protocol/errors.js';
import { parseVerifierKey } from '../protocol/checkpoint.js';

/** A key the log no longer signs with: the checkpoints up to `lastTreeSize` are its; retired at `retiredAtMs`. */
export interface RetiredKey {
  verifierKey: string;
  lastTreeSize: number;
  retiredAtMs: number;
}

/** The key that signs the log's checkpoint of tree size `treeSize`: the first retired key still covering it, else the current one. */
export function keyForTreeSize(current: string, retired: readonly RetiredKey[], treeSize: number): string {
  for (const r of retired) if (treeSize <= r.lastTreeSize) return r.verifierKey;
  return current;
}

/**
 * `retired` as a meta record holds it, checked: each a verifier key, none repeated nor the current one, in the order
 * they were retired (tree sizes and times never going back). MALFORMED otherwise (the record is damaged).
 */
export function checkRetiredKeys(current: string, retired: readonly RetiredKey[]): void {
  const seen = new Set<string>([current]);
  let size = 0;
  let at = 0;
  for (const [i, r] of retired.entries()) {
    const path = `meta.retiredKeys[${i}]`;
    if (typeof r.verifierKey !== 'string' || !Number.isSafeInteger(r.lastTreeSize) || r.lastTreeSize < 0 || !Number.isSafeInteger(r.retiredAtMs) || r.retiredAtMs < 0) {
      fail('MALFORMED', 'a retired checkpoint key has the wrong shape', path);
    }
    try {
      parseVerifierKey(r.verifierKey);
    } catch {
      fail('MALFORMED', 'a retired checkpoint key is not a verifier key', path);
    }
    if (seen.has(r.verifierKey)) fail('MALFORMED', 'a checkpoint key is retired twice, or is the current one', path);
    if (r.lastTreeSize < size || r.retiredAtMs < at) fail('MALFORMED', 'retired checkpoint keys out of order', path);
    seen.add(r.verifierKey);
    size = r.lastTreeSize;
    at = r.retiredAtMs;
  }
}

/**
 * The log's keys as a verifier's trust file lists them (protocol/trust.ts checkpointKeys, times in seconds): each
 * retired key valid through the second of its retirement (notAfter = that second + 1), the next from that second, so
 * that a bundle's block, chosen a key by its time, finds the key that signed it: the windows share that second. Not
 * the retirement rounded up: on a whole second that is the retirement itself, and the retired key's last block, dated
 * that very millisecond (a switch is dated no earlier than the log's last block), fell outside its window. A retired
 * key cannot vouch for a block dated after its retirement's second (beyond the verifier's clock skew allowance). A log never rotated: its key alone,
 * without a window, as before.
 */
export function keyWindows(current: string, retired: readonly RetiredKey[]): { key: string; notBefore?: number; notAfter?: number }[] {
  const out: { key: string; notBefore?: number; notAfter?: number }[] = [];
  let from: number | undefined;
  for (const r of retired) {
    out.push({ key: r.verifierKey, ...(from !== undefined ? { notBefore: from } : {}), notAfter: Math.floor(r.retiredAtMs / 1000) + 1 });
    from = Math.floor(r.retiredAtMs / 1000);
  }
  out.push({ key: current, ...(from !== undefined ? { notBefore: from } : {}) });
  return out;
}
