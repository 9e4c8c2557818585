/**
 * The per-entry part of `ledger verify`, pure so that it runs inline or in worker threads
 * (ledger/verify-worker.ts): each entry of a run decodes as a deterministically encoded log entry carrying its
 * own index, and its leaf hash is SHA-256(0x00 || entry) (RFC 9162 §2.1.1). A revocation entry's statement is
 * hashed too, for the checkpoints' revocations line (protocol/revocation-log.ts).
 */
import { decodeLogEntry, ENTRY_REVOCATION } from '../protocol/log-entry.js';
import { HASH_SIZE } from '../protocol/merkle/index.js';
import { nodeMerkleHasher, nodeSha256 } from './hasher.js';

export interface RunResult {
  /** Leaf hashes, 32 bytes each, of the entries before the first bad one (all of them when none is bad). */
  leaves: Uint8Array;
  /** Each entry's type and receivedAtMs (what the indexes hold of it), as far as `leaves`. */
  types: Uint8Array;
  receivedAtMs: Float64Array;
  /** SHA-256 of each revocation entry's payload, in entry order, as far as `leaves`. */
  revocations: { index: number; statementHash: Uint8Array }[];
  bad?: { entry: number; message: string };
}

export function checkRun(first: number, entries: readonly Uint8Array[]): RunResult {
  const leaves = new Uint8Array(entries.length * HASH_SIZE);
  const types = new Uint8Array(entries.length);
  const receivedAtMs = new Float64Array(entries.length);
  const revocations: RunResult['revocations'] = [];
  for (let k = 0; k < entries.length; k++) {
    const index = first + k;
    const bytes = entries[k]!;
    const upTo = (bad: { entry: number; message: string }): RunResult => ({ leaves: leaves.subarray(0, k * HASH_SIZE), types, receivedAtMs, revocations, bad });
    let e: { index: number; type: number; receivedAtMs: number; payload: Uint8Array };
    try {
      e = decodeLogEntry(bytes);
    } catch (err) {
      return upTo({ entry: index, message: `entry ${index} does not decode: ${(err as Error).message}` });
    }
    if (e.index !== index) return upTo({ entry: index, message: `entry ${index} carries index ${e.index}` });
    types[k] = e.type;
    receivedAtMs[k] = e.receivedAtMs;
    if (e.type === ENTRY_REVOCATION) revocations.push({ index, statementHash: nodeSha256(e.payload) });
    leaves.set(nodeMerkleHasher.hashLeaf(bytes), k * HASH_SIZE);
  }
  return { leaves, types, receivedAtMs, revocations };
}
