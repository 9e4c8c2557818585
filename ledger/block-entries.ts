/**
 * A block's entries as the ledger (ledger/ledger.ts) computes them: encoded back to back into one buffer, each
 * hashed as a leaf and appended to the tree, in entry order.
 */
import { encodeLogEntryScratch } from '../protocol/log-entry.js';
import { HASH_SIZE, type MerkleHasher } from '../protocol/merkle/index.js';
import type { EntryInput } from './submission.js';
import type { LedgerTree } from './tree.js';

/** Upper bound of a log entry's bytes beyond its payload (CBOR map head, keys, uints, bstr heads, certRef). */
const ENTRY_OVERHEAD = 72;

export interface EncodedEntries {
  /** The entries back to back: entry i is data[i ? ends[i - 1] : 0 .. ends[i]). */
  data: Uint8Array;
  ends: Uint32Array;
  /** Leaf hashes, 32 bytes each, in entry order. */
  leaves: Uint8Array;
  /** The block's time: the latest receivedAtMs of the entries, or `now` if later. */
  latest: number;
}

/**
 * Encode entries `first`.. (receivedAtMs defaults to the block's time, `latest`), appending each one's leaf hash to
 * `tree`.
 */
export function encodeBlockEntries(inputs: readonly EntryInput[], first: number, now: number, hasher: MerkleHasher, tree: LedgerTree): EncodedEntries {
  const n = inputs.length;
  // An entry without receivedAtMs is dated as its block, as the indexes and the submitter's result date it
  // (BlockWrite.timeMs): `now` would differ when another entry is dated after the clock.
  const latest = blockTime(inputs, now);
  const leaves = new Uint8Array(n * HASH_SIZE);
  const ends = new Uint32Array(n);
  // The block's entries are encoded back to back into one buffer: no allocation per entry.
  let room = 0;
  for (let i = 0; i < n; i++) room += inputs[i]!.payload.length + ENTRY_OVERHEAD;
  let data = new Uint8Array(room);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const inp = inputs[i]!;
    const index = first + i;
    const receivedAtMs = inp.receivedAtMs ?? latest;
    const bytes = encodeLogEntryScratch(inp.certRef ? { type: inp.type, index, receivedAtMs, payload: inp.payload, certRef: inp.certRef } : { type: inp.type, index, receivedAtMs, payload: inp.payload });
    if (at + bytes.length > data.length) { // only if ENTRY_OVERHEAD were too small
      const bigger = new Uint8Array(2 * data.length + bytes.length);
      bigger.set(data.subarray(0, at));
      data = bigger;
    }
    data.set(bytes, at);
    const leaf = hasher.hashLeaf(data.subarray(at, at + bytes.length));
    at += bytes.length;
    ends[i] = at;
    leaves.set(leaf, i * HASH_SIZE);
    tree.append(leaf);
  }
  return { data, ends, leaves, latest };
}

/** The latest receivedAtMs of the entries, or `now` if later. */
function blockTime(inputs: readonly EntryInput[], now: number): number {
  let latest = now;
  for (const inp of inputs) if (inp.receivedAtMs !== undefined && inp.receivedAtMs > latest) latest = inp.receivedAtMs;
  return latest;
}
