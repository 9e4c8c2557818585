/**
 * `originproof ledger verify`: re-check a whole ledger in one streaming pass (memory bounded by one block):
 * every entry decodes and carries its own index, its leaf hash and every stored tree node match the ones
 * recomputed (RFC 9162 §2.1.1), each block's root and size match its header, headers link by hash, each
 * checkpoint verifies with the trusted key and names the block's size and root, and the state record agrees.
 * Stops at the first problem and names the block or entry.
 */
import { bytesEqual, toHex } from '../protocol/bytes.js';
import { decodeBlockHeader, type BlockHeader } from '../protocol/bundle.js';
import { openCheckpoint, parseVerifierKey } from '../protocol/checkpoint.js';
import { decodeLogEntry } from '../protocol/log-entry.js';
import { CompactRange, HASH_SIZE } from '../protocol/merkle/index.js';
import type { LedgerBackend } from './backend.js';
import { nodeMerkleHasher, nodeSha256 } from './hasher.js';
import { TILE_WIDTH } from './keys.js';
import { nodeEd25519Verify } from './signer.js';
import { decodeMeta, decodeState } from './state.js';

export interface VerifyProblem {
  block?: number;
  entry?: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  blocks: number;
  entries: number;
  elapsedMs: number;
  problem?: VerifyProblem;
}

class Bad extends Error {
  constructor(readonly problem: VerifyProblem) {
    super(problem.message);
  }
}

export async function verifyLedger(backend: LedgerBackend, opts: { key?: string; onBlock?: (height: number, entries: number) => void } = {}): Promise<VerifyReport> {
  const started = performance.now();
  let blocks = 0;
  let entries = 0;
  const report = (problem?: VerifyProblem): VerifyReport => ({ ok: !problem, blocks, entries, elapsedMs: performance.now() - started, ...(problem ? { problem } : {}) });
  try {
    const metaBytes = await backend.readMeta();
    if (!metaBytes) return report({ message: 'no ledger meta record (not a ledger?)' });
    const meta = decodeMeta(metaBytes);
    const trusted = [parseVerifierKey(opts.key ?? meta.verifierKey)];
    const h = nodeMerkleHasher;
    const range = new CompactRange(h);
    const reader = new EntryReader(backend.entriesFrom(0)[Symbol.asyncIterator]());
    let prevHash: Uint8Array = new Uint8Array(32);
    let last: BlockHeader | undefined;
    for await (const [height, bytes] of backend.headersFrom(0)) {
      if (height !== blocks) throw new Bad({ block: blocks, message: `block ${blocks} is missing (next header is ${height})` });
      let hd: BlockHeader;
      try {
        hd = decodeBlockHeader(bytes);
      } catch (err) {
        throw new Bad({ block: height, message: `header does not decode: ${(err as Error).message}` });
      }
      if (hd.height !== height) throw new Bad({ block: height, message: `header says height ${hd.height}` });
      if (!bytesEqual(hd.prevHash, prevHash)) throw new Bad({ block: height - 1, message: `hash of block ${height - 1} does not match prevHash of block ${height}` });
      if (hd.firstIndex !== range.size) throw new Bad({ block: height, message: `firstIndex ${hd.firstIndex}, expected ${range.size}` });
      const nodes = new BlockNodes();
      for (let index = hd.firstIndex; index <= hd.lastIndex; index++) {
        if (!(reader.ready() || (await reader.fill())) || reader.index !== index) throw new Bad({ block: height, entry: index, message: `entry ${index} is missing` });
        const bytes = reader.take();
        let e;
        try {
          e = decodeLogEntry(bytes);
        } catch (err) {
          throw new Bad({ block: height, entry: index, message: `entry ${index} does not decode: ${(err as Error).message}` });
        }
        if (e.index !== index) throw new Bad({ block: height, entry: index, message: `entry ${index} carries index ${e.index}` });
        range.append(h.hashLeaf(bytes), nodes.visit);
        entries++;
      }
      const noteRead = backend.getCheckpoint(hd.treeSize);
      noteRead.catch(() => undefined);
      await checkNodes(backend, nodes, height);
      if (!bytesEqual(range.root(), hd.root) || hd.treeSize !== range.size) throw new Bad({ block: height, message: `root or size in header of block ${height} does not match its entries` });
      const note = await noteRead;
      if (!note) throw new Bad({ block: height, message: `checkpoint at tree size ${hd.treeSize} is missing` });
      try {
        const cp = openCheckpoint(note, trusted, { origin: meta.origin, verify: nodeEd25519Verify });
        if (cp.size !== hd.treeSize || !bytesEqual(cp.root, hd.root)) throw new Error('size or root differs from the block header');
      } catch (err) {
        throw new Bad({ block: height, message: `checkpoint of block ${height}: ${(err as Error).message}` });
      }
      prevHash = nodeSha256(bytes);
      last = hd;
      blocks++;
      opts.onBlock?.(height, entries);
    }
    if (reader.ready() || (await reader.fill())) throw new Bad({ entry: reader.index, message: `entry ${reader.index} is outside every block` });
    await reader.close();
    const stateBytes = await backend.readState();
    if (!stateBytes) {
      if (last) throw new Bad({ message: 'state record is missing' });
      return report();
    }
    const st = decodeState(stateBytes);
    if (!last || st.treeSize !== range.size || st.height !== last.height || !bytesEqual(st.blockHash, prevHash)) {
      throw new Bad({ block: last?.height, message: `state record does not match the last block (hash ${toHex(prevHash)})` });
    }
    const fr = range.frontier();
    if (fr.length !== st.frontier.length || fr.some((x, i) => !bytesEqual(x, st.frontier[i]!))) throw new Bad({ block: last.height, message: 'state frontier does not match the tree' });
    return report();
  } catch (err) {
    if (err instanceof Bad) return report(err.problem);
    return report({ message: (err as Error).message });
  }
}

/** Entries in order from runs, without an await per entry. */
class EntryReader {
  #first = 0;
  #list: Uint8Array[] = [];
  #pos = 0;
  #done = false;
  constructor(private readonly it: AsyncIterator<[number, Uint8Array[]]>) {}

  ready(): boolean {
    return this.#pos < this.#list.length;
  }

  /** Load the next run; false at the end. */
  async fill(): Promise<boolean> {
    while (!this.ready() && !this.#done) {
      const r = await this.it.next();
      if (r.done) this.#done = true;
      else [this.#first, this.#list, this.#pos] = [r.value[0], r.value[1], 0];
    }
    return this.ready();
  }

  get index(): number {
    return this.#first + this.#pos;
  }

  take(): Uint8Array {
    return this.#list[this.#pos++]!;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * The tree nodes one block completes, recomputed: per level a consecutive run of indexes (a block appends
 * consecutive leaves), kept as one buffer per level and compared with the stored tiles range by range.
 */
class BlockNodes {
  readonly runs: { level: number; first: number; count: number; buf: Uint8Array }[] = [];

  readonly visit = (level: number, index: number, hash: Uint8Array): void => {
    let r = this.runs[level];
    if (!r) r = this.runs[level] = { level, first: index, count: 0, buf: new Uint8Array(64 * HASH_SIZE) };
    if (index !== r.first + r.count) throw new Error(`tree node (level ${level}, index ${index}) out of order`);
    if ((r.count + 1) * HASH_SIZE > r.buf.length) {
      const b = new Uint8Array(r.buf.length * 2);
      b.set(r.buf);
      r.buf = b;
    }
    r.buf.set(hash, r.count * HASH_SIZE);
    r.count++;
  };
}

async function checkNodes(backend: LedgerBackend, nodes: BlockNodes, height: number): Promise<void> {
  const parts: { level: number; tile: number; from: number; to: number; run: { first: number; buf: Uint8Array } }[] = [];
  for (const r of nodes.runs) {
    if (!r) continue;
    for (let i = r.first; i < r.first + r.count; ) {
      const tile = Math.floor(i / TILE_WIDTH);
      const to = Math.min(r.first + r.count, (tile + 1) * TILE_WIDTH);
      parts.push({ level: r.level, tile, from: i, to, run: r });
      i = to;
    }
  }
  const tiles = await backend.getTiles(parts);
  parts.forEach((p, k) => {
    const data = tiles[k];
    const want = p.run.buf.subarray((p.from - p.run.first) * HASH_SIZE, (p.to - p.run.first) * HASH_SIZE);
    const lo = (p.from % TILE_WIDTH) * HASH_SIZE;
    const got = data?.subarray(lo, lo + want.length);
    if (got && got.length === want.length && Buffer.compare(got, want) === 0) return;
    // Name the first node that differs.
    let i = p.from;
    while (got && (i - p.from + 1) * HASH_SIZE <= got.length && bytesEqual(got.subarray((i - p.from) * HASH_SIZE, (i - p.from + 1) * HASH_SIZE), want.subarray((i - p.from) * HASH_SIZE, (i - p.from + 1) * HASH_SIZE))) i++;
    const entry = p.level === 0 ? i : undefined;
    throw new Bad({ block: height, ...(entry === undefined ? {} : { entry }), message: `stored tree node (level ${p.level}, index ${i}) does not match the entries` });
  });
}
