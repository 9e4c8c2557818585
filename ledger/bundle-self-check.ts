/**
 * A proof bundle is checked against the log's own signed checkpoint before it leaves the store: its entry, through
 * its inclusion proof, must lead to the checkpoint's root, and its block header must be the one the checkpoint
 * binds. A byte changed on disk in an entry or a stored tree node (a failing disk, a bad restore) whose size and
 * encoding are still fine is otherwise found only by `originproof ledger verify`; the gateway handed such a bundle
 * to a verifier, where it fails as INCLUSION_INVALID: what a forged record looks like, sent to an auditor or a
 * court. Now the request fails instead (LedgerDamagedError, naming the entry), and the operator is told.
 * Cost: one parse of the checkpoint text and ~log2(size) SHA-256 of 65 bytes per bundle; no extra read.
 */
import { bytesEqual } from '../protocol/bytes.js';
import type { BlockHeader } from '../protocol/bundle.js';
import { parseCheckpoint, parseNote } from '../protocol/checkpoint.js';
import { rootFromInclusionProof, type MerkleHasher } from '../protocol/merkle/index.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import { LedgerDamagedError } from './errors.js';

export function checkBundleAgainstStore(
  index: number,
  treeSize: number,
  entry: Uint8Array,
  inclusionProof: readonly Uint8Array[],
  checkpoint: string,
  block: { height: number; header: BlockHeader; bytes: Uint8Array },
  hasher: MerkleHasher,
): void {
  const damaged = (what: string) =>
    new LedgerDamagedError(`entry ${index} is damaged in the gateway's store: ${what}; the gateway's operator must run \`originproof ledger verify\` and restore the data directory from a backup`);
  let root: Uint8Array;
  let extensions: string[];
  try {
    const cp = parseCheckpoint(parseNote(checkpoint).text);
    if (cp.size !== treeSize) throw damaged(`the checkpoint stored at tree size ${treeSize} says ${cp.size}`);
    ({ root, extensions } = cp);
  } catch (err) {
    if (err instanceof LedgerDamagedError) throw err;
    throw damaged(`the checkpoint stored at tree size ${treeSize} does not parse (${(err as Error).message})`);
  }
  let led: Uint8Array;
  try {
    led = rootFromInclusionProof(index, treeSize, hasher.hashLeaf(entry), inclusionProof, hasher);
  } catch (err) {
    throw damaged(`its inclusion proof has the wrong shape (${(err as Error).message})`);
  }
  if (!bytesEqual(led, root)) throw damaged(`its bytes or the tree nodes above them do not lead to the root of the signed checkpoint at tree size ${treeSize}`);
  if (block.header.treeSize === treeSize && !extensions.includes(blockExtension(block.height, block.bytes))) {
    throw damaged(`the header of its block ${block.height} is not the one the checkpoint binds`);
  }
}
