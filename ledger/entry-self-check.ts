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
  const readBoth = (list: readonly number[], tileList: readonly number[]) =>
    Promise.all([backend.getEntries(list), backend.getTiles(tileList.map((tile) => ({ level: 0, tile })))]);
  const [entries, leaves] = await readBoth(indexes, [...tiles.keys()]).catch(async (err: unknown) => {
    throw await unreadable(err, indexes, (i) => readBoth([i], [storedSpan(0, i).tile]));
  });
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

/** Committed entries' bytes as stored, not checked against their leaves (LedgerQueries.uncheckedEntry); damage is named. */
export async function readStoredEntries(backend: LedgerBackend, indexes: readonly number[]): Promise<(Uint8Array | undefined)[]> {
  try {
    return await backend.getEntries(indexes);
  } catch (err) {
    throw await unreadable(err, indexes, (i) => backend.getEntries([i]));
  }
}

/**
 * What a failed read of committed entries is: a RangeError is a record or file the read cannot make sense of (an
 * index record that no longer decodes, bytes or leaves past the end of a segment file), damage, named after the first
 * entry whose own read (`readOne`) fails so (found by review: a RangeError, answered 500 'internal error', not named
 * nor counted); anything else (the store closed, an I/O error) is itself.
 */
async function unreadable(err: unknown, indexes: readonly number[], readOne: (index: number) => Promise<unknown>): Promise<unknown> {
  if (!(err instanceof RangeError)) return err;
  for (const index of indexes) {
    try {
      await readOne(index);
    } catch (e) {
      if (e instanceof RangeError) return damagedInStore(`entry ${index}`, 'its index record, its bytes or its leaf hash cannot be read as stored (malformed, or cut short)');
      return e;
    }
  }
  return err;
}
