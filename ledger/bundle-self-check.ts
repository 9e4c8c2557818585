/**
 * A proof bundle is checked against the log's own signed checkpoint before it leaves the store: its entry, through
 * its inclusion proof, must lead to the checkpoint's root, and its block header must be the one the checkpoint
 * binds, and the checkpoint note's signature must verify with the log's own key (ledger/checkpoint-self-check.ts).
 * A byte changed on disk in an entry, a stored tree node or a checkpoint note (a failing disk, a bad restore) whose
 * size and encoding are still fine is otherwise found only by `originproof ledger verify`; the gateway handed such a
 * bundle to a verifier, where it fails as INCLUSION_INVALID or CHECKPOINT_INVALID: what a forged record looks like,
 * sent to an auditor or a court. Now the request fails instead (LedgerDamagedError, naming the entry), and the
 * operator is told. Cost: ~log2(size) SHA-256 of 65 bytes per bundle, and one Ed25519 verification per distinct
 * checkpoint note (then a lookup: checkpoint-self-check.ts); no extra read.
 */
import { bytesEqual } from '../protocol/bytes.js';
import type { BlockHeader } from '../protocol/bundle.js';
import type { Checkpoint } from '../protocol/checkpoint.js';
import { rootFromInclusionProof, type MerkleHasher } from '../protocol/merkle/index.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import { openStoredCheckpoint, type LogKey } from './checkpoint-self-check.js';
import { damagedInStore } from './errors.js';

export function checkBundleAgainstStore(
  index: number,
  treeSize: number,
  entry: Uint8Array,
  inclusionProof: readonly Uint8Array[],
  checkpoint: string,
  block: { height: number; header: BlockHeader; bytes: Uint8Array },
  hasher: MerkleHasher,
  log: LogKey,
): void {
  const damaged = (what: string) => damagedInStore(`entry ${index}`, what);
  const { extensions } = checkInclusionToCheckpoint(index, treeSize, hasher.hashLeaf(entry), inclusionProof, checkpoint, hasher, log, 'its bytes or the tree nodes above them');
  if (block.header.treeSize === treeSize && !extensions.includes(blockExtension(block.height, block.bytes))) {
    throw damaged(`the header of its block ${block.height} is not the one the checkpoint binds`);
  }
}

/**
 * That `inclusionProof` leads from entry `index`'s `leafHash` to the root of `checkpoint` (stored at `treeSize`, its
 * signature checked with the log's key): the check of a bundle and of an inclusion proof served alone
 * (LedgerQueries.servedInclusionProof). Else LedgerDamagedError naming the entry; `what` names what does not lead
 * there. Returns the checkpoint.
 */
export function checkInclusionToCheckpoint(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  inclusionProof: readonly Uint8Array[],
  checkpoint: string,
  hasher: MerkleHasher,
  log: LogKey,
  what: string,
): Checkpoint {
  const damaged = (problem: string) => damagedInStore(`entry ${index}`, problem);
  const cp = openStoredCheckpoint(checkpoint, treeSize, log, (problem) => damaged(`the checkpoint stored at tree size ${treeSize} ${problem}`));
  checkInclusionToRoot(index, treeSize, leafHash, inclusionProof, cp.root, hasher, `${what} do not lead to the root of the signed checkpoint at tree size ${treeSize}`);
  return cp;
}

/** That `inclusionProof` leads from entry `index`'s `leafHash` to `root`; else LedgerDamagedError naming the entry, saying `problem`. */
export function checkInclusionToRoot(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  inclusionProof: readonly Uint8Array[],
  root: Uint8Array,
  hasher: MerkleHasher,
  problem: string,
): void {
  const damaged = (what: string) => damagedInStore(`entry ${index}`, what);
  let led: Uint8Array;
  try {
    led = rootFromInclusionProof(index, treeSize, leafHash, inclusionProof, hasher);
  } catch (err) {
    throw damaged(`its inclusion proof has the wrong shape (${(err as Error).message})`);
  }
  if (!bytesEqual(led, root)) throw damaged(problem);
}
