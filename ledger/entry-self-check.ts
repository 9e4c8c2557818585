/**
 * Entries are checked against the log's tree before they are served (GET /v1/entries/:index, the time and device
 * listings, a device's latest readings, the revocation list, a resend's receipt): the SHA-256 leaf hash (RFC 9162)
 * of each entry's bytes must be the leaf the tree stores at its index. A byte changed on disk in an entry was
 * otherwise served as it was, and a client who checks it against the log (its leafHash in a proof) finds what looks
 * like a forged record. Now the read fails (LedgerDamagedError naming the entry).
 *
 * Why the leaf and not a proof to the signed checkpoint: the leaf is read by position from the tree (the segments'
 * leaves files), the entry through its bundle's index record from the entry files, so a changed byte in either, or
 * an index record pointing at the wrong bytes, makes them differ. Damage to the stored leaf refuses its entry too,
 * intact as it may be: the check cannot tell which of the two changed, and the store must be restored either way.
 * What the leaf check does not see is damage above the leaves (tree nodes, checkpoints): entry reads serve none of
 * it; every proof a client can be handed is checked to the signed checkpoint (ledger/bundle-self-check.ts), and
 * `originproof ledger verify` checks the whole tree. The single-entry route takes the same check: a full proof
 * would read ~log(n) tiles and a checkpoint for bytes it does not serve, and the bundle of the same entry does it.
 * Decoding the entry and comparing its index field adds nothing once the leaf matches (the bytes are those the
 * ledger encoded, with that index, and hashed into that leaf), so it is not done here.
 *
 * Cost: the entries' level-0 tiles in one batched read beside the entries' own, in parallel (nearby tiles in one
 * file read: ledger/level-entry-reads.ts readLeafTiles), and one SHA-256 per entry, which a listing's view then
 * takes as the entry's leafHash instead of hashing it again.
 */
import { bytesEqual } from '../protocol/bytes.js';
import { HASH_SIZE, type MerkleHasher } from '../protocol/merkle/index.js';
import type { LedgerBackend } from './backend.js';
import { damagedInStore } from './errors.js';
import { TILE_WIDTH } from './keys.js';
import { storedSpan } from './tree.js';

/**
 * The bytes of committed entries `indexes`, each checked against its stored leaf, and their leaf hashes (what a view
 * of them shows: not hashed again); throws LedgerDamagedError.
 */
export async function readCheckedEntries(
  backend: LedgerBackend, hasher: MerkleHasher, indexes: readonly number[],
): Promise<{ entries: Uint8Array[]; leafHashes: Uint8Array[] }> {
  if (indexes.length === 0) return { entries: [], leafHashes: [] };
  const tiles = new Map<number, number>(); // level-0 tile -> position in the batch
  for (const i of indexes) {
    const { tile } = storedSpan(0, i);
    if (!tiles.has(tile)) tiles.set(tile, tiles.size);
  }
  const [entries, leaves] = await Promise.all([backend.getEntries(indexes), backend.getTiles([...tiles.keys()].map((tile) => ({ level: 0, tile })))]);
  const leafHashes: Uint8Array[] = new Array(indexes.length);
  const checked = indexes.map((index, k) => {
    const damaged = (what: string) => damagedInStore(`entry ${index}`, what);
    const entry = entries[k];
    if (!entry) throw damaged('its bytes are missing');
    const { tile } = storedSpan(0, index);
    const data = leaves[tiles.get(tile)!];
    const at = (index - tile * TILE_WIDTH) * HASH_SIZE;
    if (!data || data.length < at + HASH_SIZE) throw damaged("its leaf hash is missing from the log's tree");
    const leaf = data.slice(at, at + HASH_SIZE); // a copy: the tiles' buffer (up to 1 MiB) is not kept by the views
    if (!bytesEqual(hasher.hashLeaf(entry), leaf)) throw damaged("its bytes do not hash to the leaf the log's tree holds at its index");
    leafHashes[k] = leaf;
    return entry;
  });
  return { entries: checked, leafHashes };
}
