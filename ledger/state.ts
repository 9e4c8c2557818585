/**
 * The state record (key `s`), rewritten in every block's batch, so `open` recovers without a replay:
 * CBOR {1: treeSize, 2: frontier (array of bstr 32, highest level first), 3: last block height, 4: last block hash,
 * 5: revocation entries so far, 6: their digest R (protocol/revocation-log.ts)}; 5 and 6 are absent in a state
 * written before checkpoints committed to revocations (the ledger then recomputes them when it opens).
 * The meta record (key `m`), written at the first open and at a key rotation: {1: origin, 2: the current checkpoint
 * verifier key (C2SP vkey text), 3: the store's format (absent in a meta written before it was recorded, which is
 * format 1), 4: the retired checkpoint keys, [[vkey, last tree size, retired at ms], ...] in the order they were
 * retired (ledger/key-history.ts; present only after a rotation, which makes the store format 2)}.
 */
import { decodeStrict, encode } from '../protocol/cbor.js';
import { fail } from '../protocol/errors.js';
import { LedgerFormatError } from './errors.js';
import { checkRetiredKeys, type RetiredKey } from './key-history.js';
import type { RevocationCommitment } from '../protocol/revocation-log.js';

export interface LedgerState {
  treeSize: number;
  frontier: Uint8Array[];
  height: number;
  blockHash: Uint8Array;
  revocations?: RevocationCommitment;
}

export interface LedgerMeta {
  origin: string;
  verifierKey: string;
  /** The store's layout (records, segment files, indexes) as it was written: up to LEDGER_FORMAT or, from a later version, more. */
  format: number;
  /** Keys the log was signed with before the current one (a rotation), oldest first; empty: none. */
  retired: RetiredKey[];
}

/**
 * The store's layouts this version reads: 1, and 2 (a log whose checkpoint key was rotated: its meta names retired
 * keys, which an earlier version would not know to check old checkpoints with). A store is written in the lowest
 * format that describes it (metaFormat), so that a log never rotated stays readable by earlier versions. A later
 * version that changes what the store holds, or how, raises it, so that an earlier version refuses that store
 * (LedgerFormatError) instead of misreading it or writing beside it what the later version would misread: nothing
 * accepted may be lost to a downgrade.
 */
export const LEDGER_FORMAT = 2;

/** The format a meta record with these retired keys is written in: 2 once a key was retired, else 1. */
export const metaFormat = (retired: readonly RetiredKey[]): number => (retired.length > 0 ? 2 : 1);

export function encodeState(s: LedgerState): Uint8Array {
  const m = new Map<number, unknown>([[1, s.treeSize], [2, s.frontier], [3, s.height], [4, s.blockHash]]);
  if (s.revocations) m.set(5, s.revocations.count).set(6, s.revocations.digest);
  return encode(m);
}

export function decodeState(bytes: Uint8Array): LedgerState {
  const m = decodeStrict(bytes, 'ledger state');
  if (!(m instanceof Map)) return fail('MALFORMED', 'ledger state must be a map', 'state');
  const s = { treeSize: m.get(1), frontier: m.get(2), height: m.get(3), blockHash: m.get(4) } as LedgerState;
  if (!Number.isSafeInteger(s.treeSize) || !Array.isArray(s.frontier) || !Number.isSafeInteger(s.height) || !(s.blockHash instanceof Uint8Array)) {
    fail('MALFORMED', 'ledger state has the wrong shape', 'state');
  }
  if (m.has(5) || m.has(6)) {
    const count = m.get(5), digest = m.get(6);
    if (!Number.isSafeInteger(count) || (count as number) < 0 || !(digest instanceof Uint8Array) || digest.length !== 32) fail('MALFORMED', 'ledger state has the wrong shape', 'state');
    s.revocations = { count: count as number, digest };
  }
  return s;
}

export function encodeMeta(m: LedgerMeta): Uint8Array {
  const map = new Map<number, unknown>([[1, m.origin], [2, m.verifierKey], [3, m.format]]);
  if (m.retired.length > 0) map.set(4, m.retired.map((r) => [r.verifierKey, r.lastTreeSize, r.retiredAtMs]));
  return encode(map);
}

/**
 * The meta record; LedgerFormatError for a later version's (format above LEDGER_FORMAT), read before its other
 * fields, whose shape that version may have changed (found by review: checked first, a later meta without a text
 * origin was damage, LEDGER_DAMAGED, whose remedy, a backup's restore, rolls the log back).
 */
export function decodeMeta(bytes: Uint8Array): LedgerMeta {
  const m = decodeStrict(bytes, 'ledger meta');
  if (!(m instanceof Map)) return fail('MALFORMED', 'ledger meta has the wrong shape', 'meta');
  const format = m.get(3) ?? 1;
  if (!Number.isSafeInteger(format) || (format as number) < 1) return fail('MALFORMED', 'ledger meta has the wrong shape', 'meta');
  if ((format as number) > LEDGER_FORMAT) throw new LedgerFormatError(format as number, LEDGER_FORMAT);
  if (typeof m.get(1) !== 'string' || typeof m.get(2) !== 'string') return fail('MALFORMED', 'ledger meta has the wrong shape', 'meta');
  const list = m.get(4) ?? [];
  if (!Array.isArray(list) || list.some((r) => !Array.isArray(r) || r.length !== 3)) return fail('MALFORMED', 'ledger meta has the wrong shape', 'meta.retiredKeys');
  const retired = (list as unknown[][]).map(([verifierKey, lastTreeSize, retiredAtMs]) => ({ verifierKey, lastTreeSize, retiredAtMs }) as RetiredKey);
  checkRetiredKeys(m.get(2) as string, retired);
  // A rotated log's meta is format 2: one that says 1 was not written by us (an earlier version would misread it).
  if ((format as number) < metaFormat(retired)) return fail('MALFORMED', 'ledger meta names retired keys in store format 1', 'meta');
  return { origin: m.get(1) as string, verifierKey: m.get(2) as string, format: format as number, retired };
}
