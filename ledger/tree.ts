/**
 * The ledger's Merkle tree: a compact range (frontier) for the root plus the tiles being filled, one partial
 * tile per stored level (O(log n) memory). Tiles as C2SP tlog-tiles: tile level k holds the perfect subtrees
 * of tree level k * TILE_HEIGHT, 256 per tile; a node between two stored levels is recomputed from at most
 * 2^(TILE_HEIGHT-1) stored hashes of one tile, so a proof still reads O(log n) tiles (protocol/merkle/prove.ts).
 */
import type { MerkleHasher, PlanElement } from '../protocol/merkle/index.js';
import { CompactRange, foldRange, HASH_SIZE } from '../protocol/merkle/index.js';
import { fail } from '../protocol/errors.js';
import type { LedgerBackend, TileWrite } from './backend.js';
import { damagedInStore } from './errors.js';
import { TILE_HEIGHT, TILE_WIDTH } from './keys.js';

interface PartialTile {
  tile: number;
  buf: Uint8Array;
  count: number;
}

/** Number of perfect subtrees at tree `level` in a tree of `size` leaves. */
const nodesAt = (size: number, level: number): number => Math.floor(size / 2 ** level);

export class LedgerTree {
  #range: CompactRange;
  /** partial[k]: the unfinished tile of tile level k (undefined when the level's nodes fill whole tiles). */
  #partial: (PartialTile | undefined)[] = [];
  /** Tiles finished since the last flush: their buffers are final and are written as they are. */
  #finished: TileWrite[] = [];
  /** Tile levels whose partial tile changed since the last flush. */
  #dirty: boolean[] = [];

  private constructor(range: CompactRange) {
    this.#range = range;
  }

  static async load(backend: LedgerBackend, hasher: MerkleHasher, size: number, frontier: Uint8Array[]): Promise<LedgerTree> {
    const t = new LedgerTree(new CompactRange(hasher, size, frontier));
    const want: { level: number; tile: number; count: number }[] = [];
    for (let k = 0; nodesAt(size, k * TILE_HEIGHT) > 0; k++) {
      const n = nodesAt(size, k * TILE_HEIGHT);
      if (n % TILE_WIDTH !== 0) want.push({ level: k, tile: Math.floor(n / TILE_WIDTH), count: n % TILE_WIDTH });
    }
    const tiles = await backend.getTiles(want);
    want.forEach((w, i) => {
      const data = tiles[i];
      if (!data || data.length < w.count * HASH_SIZE) fail('MALFORMED', `tile ${w.level}/${w.tile} is missing or short`, 'tiles');
      const buf = new Uint8Array(TILE_WIDTH * HASH_SIZE);
      buf.set(data.subarray(0, w.count * HASH_SIZE));
      t.#partial[w.level] = { tile: w.tile, buf, count: w.count };
    });
    return t;
  }

  get size(): number {
    return this.#range.size;
  }

  root(): Uint8Array {
    return this.#range.root();
  }

  frontier(): Uint8Array[] {
    return this.#range.frontier();
  }

  append(leafHash: Uint8Array): void {
    this.#range.append(leafHash, this.#visit);
  }

  readonly #visit = (level: number, index: number, hash: Uint8Array): void => {
    if (level % TILE_HEIGHT === 0) this.#put(level / TILE_HEIGHT, index, hash);
  };

  #put(k: number, index: number, hash: Uint8Array): void {
    const tile = Math.floor(index / TILE_WIDTH);
    const at = index - tile * TILE_WIDTH;
    let p = this.#partial[k];
    if (p === undefined || p.tile !== tile) {
      p = { tile, buf: new Uint8Array(TILE_WIDTH * HASH_SIZE), count: 0 };
      this.#partial[k] = p;
    }
    p.buf.set(hash, at * HASH_SIZE);
    p.count = at + 1;
    if (p.count === TILE_WIDTH) {
      this.#finished.push({ level: k, tile, hashes: p.buf });
      this.#partial[k] = undefined;
      this.#dirty[k] = false;
    } else {
      this.#dirty[k] = true;
    }
  }

  /** Tiles changed since the last flush, for this block's batch (partial tiles are copied: they keep growing). */
  flush(): TileWrite[] {
    const out = this.#finished;
    this.#finished = [];
    for (let k = 0; k < this.#dirty.length; k++) {
      const p = this.#partial[k];
      if (this.#dirty[k] && p) out.push({ level: k, tile: p.tile, hashes: p.buf.slice(0, p.count * HASH_SIZE) });
      this.#dirty[k] = false;
    }
    return out;
  }

  /**
   * A restore point: appends after it only write past each partial tile's count or into new buffers, so
   * remembering (tile, buffer, count) per level is enough to undo them.
   */
  snapshot(): () => void {
    const range = this.#range.clone();
    const partial = this.#partial.map((p) => (p ? { ...p } : undefined));
    return () => {
      this.#range = range;
      this.#partial = partial;
      this.#finished = [];
      this.#dirty = [];
    };
  }
}

/** The stored hashes of tile level k that make up tree node (level, index): [first, first + count) of `tile`. */
export function storedSpan(level: number, index: number): { k: number; tile: number; first: number; count: number } {
  const k = Math.floor(level / TILE_HEIGHT);
  const count = 2 ** (level - k * TILE_HEIGHT);
  const first = index * count;
  return { k, tile: Math.floor(first / TILE_WIDTH), first, count };
}

/** Hash of the perfect subtree over `count` (a power of two) consecutive 32-byte hashes in `data` from `offset`. */
export function subtreeHash(data: Uint8Array, offset: number, count: number, hasher: MerkleHasher): Uint8Array {
  if (count === 1) return data.slice(offset, offset + HASH_SIZE);
  let row: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) row[i] = data.subarray(offset + i * HASH_SIZE, offset + (i + 1) * HASH_SIZE);
  while (row.length > 1) {
    const up: Uint8Array[] = new Array(row.length / 2);
    for (let i = 0; i < up.length; i++) up[i] = hasher.hashChildren(row[2 * i]!, row[2 * i + 1]!);
    row = up;
  }
  return row[0]!;
}

/** Fetch the tiles of a proof plan in one round trip and fold each element. */
export async function readPlan(backend: LedgerBackend, plan: PlanElement[], hasher: MerkleHasher): Promise<Uint8Array[]> {
  const ids = new Map<string, { level: number; tile: number }>();
  for (const el of plan) for (const n of el) {
    const s = storedSpan(n.level, n.index);
    ids.set(`${s.k}/${s.tile}`, { level: s.k, tile: s.tile });
  }
  const list = [...ids.values()];
  // A tile the read cannot make sense of (leaves past the end of a leaves file cut short) or one missing is damage,
  // not the client's error nor an unnamed 500 (found by review: MALFORMED, and a RangeError).
  const damaged = (what: string) => damagedInStore("the log's tree", what);
  const tiles = await backend.getTiles(list).catch((err: unknown) => {
    throw err instanceof RangeError ? damaged('its stored hashes cannot be read as stored (cut short, or malformed)') : err;
  });
  const byKey = new Map(list.map((t, i) => [`${t.level}/${t.tile}`, tiles[i]]));
  return plan.map((el) => foldRange(el.map((n) => {
    const s = storedSpan(n.level, n.index);
    const data = byKey.get(`${s.k}/${s.tile}`);
    const off = (s.first - s.tile * TILE_WIDTH) * HASH_SIZE;
    if (!data || data.length < off + s.count * HASH_SIZE) throw damaged(`its node ${n.level}/${n.index} is missing from the store`);
    return subtreeHash(data, off, s.count, hasher);
  }), hasher));
}
