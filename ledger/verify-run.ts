/**
 * The per-entry part of `ledger verify`, pure so that it runs inline or in worker threads
 * (ledger/verify-worker.ts): each entry of a run decodes as a deterministically encoded log entry carrying its
 * own index, and its leaf hash is SHA-256(0x00 || entry) (RFC 9162 §2.1.1).
 */
import { decodeLogEntry } from '../protocol/log-entry.js';
import { HASH_SIZE } from '../protocol/merkle/index.js';
import { nodeMerkleHasher } from './hasher.js';

export interface RunResult {
  /** Leaf hashes, 32 bytes each, of the entries before the first bad one (all of them when none is bad). */
  leaves: Uint8Array;
  bad?: { entry: number; message: string };
}

export function checkRun(first: number, entries: readonly Uint8Array[]): RunResult {
  const leaves = new Uint8Array(entries.length * HASH_SIZE);
  for (let k = 0; k < entries.length; k++) {
    const index = first + k;
    const bytes = entries[k]!;
    let carried: number;
    try {
      carried = decodeLogEntry(bytes).index;
    } catch (err) {
      return { leaves: leaves.subarray(0, k * HASH_SIZE), bad: { entry: index, message: `entry ${index} does not decode: ${(err as Error).message}` } };
    }
    if (carried !== index) return { leaves: leaves.subarray(0, k * HASH_SIZE), bad: { entry: index, message: `entry ${index} carries index ${carried}` } };
    leaves.set(nodeMerkleHasher.hashLeaf(bytes), k * HASH_SIZE);
  }
  return { leaves };
}
