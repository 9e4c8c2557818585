/**
 * The ledger's Merkle tree: a compact range (frontier) for the root plus the tiles being filled, one partial
 * tile per level (O(log n) memory). Every perfect subtree (level, index) the range completes is stored in
 * tile (level, floor(index / 256)), so a proof reads O(log n) tiles (see protocol/merkle/prove.ts).
 */
import type { MerkleHasher, PlanElement } from '../protocol/merkle/index.js';
import { CompactRange, foldRange, HASH_SIZE } from '../protocol/merkle/index.js';
import { fail } from '../protocol/errors.js';
import type { LedgerBackend, TileWrite } from './backend.js';
import { TILE_WIDTH } from './keys.js';

interface PartialTile {
  tile: number;
  buf: Uint8Array;
  count: number;
}

/** Number of perfect subtrees at `level` in a tree of `size` leaves. */
const nodesAt = (size: number, level: number): number => Math.floor(size / 2 ** level);

export class LedgerTree {
  #range: CompactRange;
  #partial = new Map<number, PartialTile>();
  #dirty = new Map<string, TileWrite>();
  readonly #hasher: MerkleHasher;

  private constructor(hasher: MerkleHasher, range: CompactRange) {
    this.#hasher = hasher;
    this.#range = range;
  }

  static async load(backend: LedgerBackend, hasher: MerkleHasher, size: number, frontier: Uint8Array[]): Promise<LedgerTree> {
    const t = new LedgerTree(hasher, new CompactRange(hasher, size, frontier));
    const want: { level: number; tile: number; count: number }[] = [];
    for (let level = 0; nodesAt(size, level) > 0; level++) {
      const n = nodesAt(size, level);
      if (n % TILE_WIDTH !== 0) want.push({ level, tile: Math.floor(n / TILE_WIDTH), count: n % TILE_WIDTH });
    }
    const tiles = await backend.getTiles(want);
    want.forEach((w, i) => {
      const data = tiles[i];
      if (!data || data.length < w.count * HASH_SIZE) fail('MALFORMED', `tile ${w.level}/${w.tile} is missing or short`, 'tiles');
      const buf = new Uint8Array(TILE_WIDTH * HASH_SIZE);
      buf.set(data.subarray(0, w.count * HASH_SIZE));
      t.#partial.set(w.level, { tile: w.tile, buf, count: w.count });
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
    this.#range.append(leafHash, (level, index, hash) => this.#put(level, index, hash));
  }

  #put(level: number, index: number, hash: Uint8Array): void {
    const tile = Math.floor(index / TILE_WIDTH);
    let p = this.#partial.get(level);
    if (!p || p.tile !== tile) {
      p = { tile, buf: new Uint8Array(TILE_WIDTH * HASH_SIZE), count: 0 };
      this.#partial.set(level, p);
    }
    p.buf.set(hash, (index % TILE_WIDTH) * HASH_SIZE);
    p.count = (index % TILE_WIDTH) + 1;
    this.#dirty.set(`${level}/${tile}`, { level, tile, hashes: p.buf }); // sliced in flush
  }

  /** Tiles changed since the last flush, for this block's batch. */
  flush(): TileWrite[] {
    const out = [...this.#dirty.values()].map((t) => {
      const p = this.#partial.get(t.level);
      const count = p && p.tile === t.tile ? p.count : TILE_WIDTH;
      return { level: t.level, tile: t.tile, hashes: t.hashes.slice(0, count * HASH_SIZE) };
    });
    this.#dirty.clear();
    return out;
  }

  snapshot(): () => void {
    const range = this.#range.clone();
    const partial = new Map([...this.#partial].map(([l, p]) => [l, { tile: p.tile, buf: p.buf.slice(), count: p.count }]));
    return () => {
      this.#range = range;
      this.#partial = partial;
      this.#dirty.clear();
    };
  }
}

/** Fetch the nodes of a proof plan in one round trip and fold each element. */
export async function readPlan(backend: LedgerBackend, plan: PlanElement[], hasher: MerkleHasher): Promise<Uint8Array[]> {
  const ids = new Map<string, { level: number; tile: number }>();
  for (const el of plan) for (const n of el) {
    const tile = Math.floor(n.index / TILE_WIDTH);
    ids.set(`${n.level}/${tile}`, { level: n.level, tile });
  }
  const list = [...ids.values()];
  const tiles = await backend.getTiles(list);
  const byKey = new Map(list.map((t, i) => [`${t.level}/${t.tile}`, tiles[i]]));
  return plan.map((el) => foldRange(el.map((n) => {
    const data = byKey.get(`${n.level}/${Math.floor(n.index / TILE_WIDTH)}`);
    const off = (n.index % TILE_WIDTH) * HASH_SIZE;
    if (!data || data.length < off + HASH_SIZE) fail('MALFORMED', `tree node ${n.level}/${n.index} is missing`, 'tiles');
    return data.slice(off, off + HASH_SIZE);
  }), hasher));
}
