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
    const entryIt = backend.entriesFrom(0)[Symbol.asyncIterator]();
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
      const nodes: { level: number; index: number; hash: Uint8Array }[] = [];
      for (let index = hd.firstIndex; index <= hd.lastIndex; index++) {
        const next = await entryIt.next();
        if (next.done || next.value[0] !== index) throw new Bad({ block: height, entry: index, message: `entry ${index} is missing` });
        let e;
        try {
          e = decodeLogEntry(next.value[1]);
        } catch (err) {
          throw new Bad({ block: height, entry: index, message: `entry ${index} does not decode: ${(err as Error).message}` });
        }
        if (e.index !== index) throw new Bad({ block: height, entry: index, message: `entry ${index} carries index ${e.index}` });
        range.append(h.hashLeaf(next.value[1]), (level, i, hash) => nodes.push({ level, index: i, hash }));
        entries++;
      }
      await checkNodes(backend, nodes, height);
      if (!bytesEqual(range.root(), hd.root) || hd.treeSize !== range.size) throw new Bad({ block: height, message: `root or size in header of block ${height} does not match its entries` });
      const note = await backend.getCheckpoint(hd.treeSize);
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
    const extra = await entryIt.next();
    if (!extra.done) throw new Bad({ entry: extra.value[0], message: `entry ${extra.value[0]} is outside every block` });
    await entryIt.return?.();
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

async function checkNodes(backend: LedgerBackend, nodes: { level: number; index: number; hash: Uint8Array }[], height: number): Promise<void> {
  const ids = new Map<string, { level: number; tile: number }>();
  for (const n of nodes) ids.set(`${n.level}/${Math.floor(n.index / TILE_WIDTH)}`, { level: n.level, tile: Math.floor(n.index / TILE_WIDTH) });
  const list = [...ids.values()];
  const tiles = await backend.getTiles(list);
  const byKey = new Map(list.map((t, i) => [`${t.level}/${t.tile}`, tiles[i]]));
  for (const n of nodes) {
    const data = byKey.get(`${n.level}/${Math.floor(n.index / TILE_WIDTH)}`);
    const off = (n.index % TILE_WIDTH) * HASH_SIZE;
    if (!data || data.length < off + HASH_SIZE || !bytesEqual(data.subarray(off, off + HASH_SIZE), n.hash)) {
      const entry = n.level === 0 ? n.index : undefined;
      throw new Bad({ block: height, ...(entry === undefined ? {} : { entry }), message: `stored tree node (level ${n.level}, index ${n.index}) does not match the entries` });
    }
  }
}
