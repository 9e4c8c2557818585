/**
 * `originproof ledger verify`: re-check a whole ledger in one streaming pass (memory bounded by one block):
 * every entry decodes and carries its own index, its leaf hash and every stored tree node match the ones
 * recomputed (RFC 9162 §2.1.1), each block's root and size match its header, headers link by hash, each
 * checkpoint verifies with the trusted key, names the block's size and root and binds its header (the extension
 * line `block <height> <base64 SHA-256(header)>`), the state record agrees, and the backend's indexes agree with the
 * entries (LedgerBackend.auditIndexes; LevelDB: ledger/level-audit.ts): block ends, type, time and device indexes.
 * Each checkpoint's `revocations` line commits to exactly the revocation entries up to its size (recomputed here;
 * protocol/revocation-log.ts); once a checkpoint has the line, every later one must (older ledgers start without).
 * Stops at the first problem and names the block or entry. Decoding and leaf-hashing entries runs in worker
 * threads ahead of the main thread (ledger/verify-run.ts); problems are still reported in log order.
 */
import { availableParallelism } from 'node:os';
import { bytesEqual, toHex } from '../protocol/bytes.js';
import { decodeBlockHeader, type BlockHeader } from '../protocol/bundle.js';
import { openCheckpoint, openNote, parseVerifierKey, type NoteVerifier } from '../protocol/checkpoint.js';
import { CompactRange, HASH_SIZE } from '../protocol/merkle/index.js';
import { ENTRY_REVOCATION } from '../protocol/log-entry.js';
import { EMPTY_REVOCATIONS, nextRevocationDigest, revocationsOfCheckpoint, type RevocationCommitment } from '../protocol/revocation-log.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import type { IndexAudit, LedgerBackend } from './backend.js';
import { isAccessFailure } from './errno.js';
import { nodeMerkleHasher, nodeSha256 } from './hasher.js';
import { TILE_HEIGHT, TILE_WIDTH } from './keys.js';
import { nodeEd25519Verify } from './signer.js';
import { decodeMeta, decodeState, LEDGER_FORMAT } from './state.js';
import { LedgerFormatError } from './errors.js';
import { keyForTreeSize, type RetiredKey } from './key-history.js';
import { LeafReader, startChecker } from './verify-reader.js';

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
  /** Worker threads that checked entries (0: inline). */
  workers: number;
  /** Revocation entries among them (what the last checkpoint's revocations line commits to). */
  revocations: number;
  problem?: VerifyProblem;
}

class Bad extends Error {
  constructor(readonly problem: VerifyProblem) {
    super(problem.message);
  }
}

export interface VerifyOptions {
  /** Trusted checkpoint verifier key in place of the current one recorded in the ledger (retired keys: as recorded). */
  key?: string;
  onBlock?: (height: number, entries: number) => void;
  /**
   * Worker threads that decode and leaf-hash entries while the main thread folds the tree and checks blocks
   * (default: one fewer than the CPUs, at least 1, at most 4: on 2 cores one worker measured faster than two).
   * 0 checks inline; inline is also used when the worker script is not there (running from TypeScript sources).
   */
  workers?: number;
  /**
   * The device index holds every reading exactly once (default true): every reading carries a device id and a seq,
   * and no (device id, seq) is logged twice, as the gateway logs them. false (a ledger written otherwise through the
   * Ledger API): only the rows the device index holds are checked.
   */
  readingsIndexed?: boolean;
}

export async function verifyLedger(backend: LedgerBackend, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  let blocks = 0;
  let entries = 0;
  let reader: LeafReader | undefined;
  let audit: IndexAudit | undefined;
  let revocations: RevocationCommitment = EMPTY_REVOCATIONS;
  const report = (problem?: VerifyProblem): VerifyReport => ({
    ok: !problem, blocks, entries, elapsedMs: performance.now() - started, workers: reader?.workers ?? 0, revocations: revocations.count, ...(problem ? { problem } : {}),
  });
  try {
    const metaBytes = await backend.readMeta();
    if (!metaBytes) return report({ message: 'no ledger meta record (not a ledger?)' });
    const meta = decodeMeta(metaBytes);
    if (meta.format > LEDGER_FORMAT) throw new LedgerFormatError(meta.format, LEDGER_FORMAT); // no verdict: not read
    // Each checkpoint with the key of its tree size: the retired keys' before their rotations (ledger/key-history.ts).
    const current = opts.key ?? meta.verifierKey;
    const verifiers = new Map<string, NoteVerifier[]>();
    const trustedAt = (treeSize: number): NoteVerifier[] => {
      const vkey = keyForTreeSize(current, meta.retired, treeSize);
      let v = verifiers.get(vkey);
      if (!v) verifiers.set(vkey, (v = [parseVerifierKey(vkey)]));
      return v;
    };
    trustedAt(Number.MAX_SAFE_INTEGER); // the current key parses, before anything is read
    const switches = opts.key === undefined ? new Map<number, string[]>() : handovers(current, meta.retired);
    const h = nodeMerkleHasher;
    const range = new CompactRange(h);
    reader = new LeafReader(backend.entriesFrom(0)[Symbol.asyncIterator](), startChecker(opts.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1))));
    audit = backend.auditIndexes?.({ readingsIndexed: opts.readingsIndexed ?? true });
    const facts = new BlockFacts();
    let prevHash: Uint8Array = new Uint8Array(32);
    let last: BlockHeader | undefined;
    let committing = false; // a checkpoint so far had a revocations line
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
      const seen = audit ? facts.reset() : undefined;
      for (let index = hd.firstIndex; index <= hd.lastIndex; index++) {
        if (!(reader.ready() || (await reader.fill())) || reader.index !== index) throw new Bad({ block: height, entry: index, message: `entry ${index} is missing` });
        const bad = reader.bad();
        if (bad) throw new Bad({ block: height, entry: index, message: bad });
        if (seen) facts.push(reader.type(), reader.receivedAtMs());
        if (reader.type() === ENTRY_REVOCATION) {
          revocations = { count: revocations.count + 1, digest: nextRevocationDigest(revocations.digest, index, reader.statementHash(), nodeSha256) };
        }
        range.append(reader.take(), nodes.visit);
        entries++;
      }
      const noteRead = backend.getCheckpoint(hd.treeSize);
      noteRead.catch(() => undefined);
      await checkNodes(backend, nodes, height);
      if (!bytesEqual(range.root(), hd.root) || hd.treeSize !== range.size) throw new Bad({ block: height, message: `root or size in header of block ${height} does not match its entries` });
      const note = await noteRead;
      if (!note) throw new Bad({ block: height, message: `checkpoint at tree size ${hd.treeSize} is missing` });
      try {
        const cp = openCheckpoint(note, trustedAt(hd.treeSize), { origin: meta.origin, verify: nodeEd25519Verify });
        for (const after of switches.get(hd.treeSize) ?? []) {
          try {
            openNote(note, [parseVerifierKey(after)], nodeEd25519Verify);
          } catch (err) {
            throw new Error(`is a switch of checkpoint keys the store records, not signed by the key after it (${after}: ${(err as Error).message}): the trusted key does not vouch for the retired one`);
          }
        }
        switches.delete(hd.treeSize);
        if (cp.size !== hd.treeSize || !bytesEqual(cp.root, hd.root)) throw new Error('size or root differs from the block header');
        // The extension line binds the header itself (its timeMs, prevHash, ...), as a bundle verifier checks it.
        if (!cp.extensions.includes(blockExtension(height, bytes))) throw new Error(`does not bind the block header (no line "${blockExtension(height, bytes)}")`);
        const line = revocationsOfCheckpoint(cp.extensions);
        if (line) {
          committing = true;
          if (line.count !== revocations.count || !bytesEqual(line.digest, revocations.digest)) {
            throw new Error(`commits to ${line.count} revocation(s) that are not the log's ${revocations.count} up to tree size ${hd.treeSize}`);
          }
        } else if (committing) throw new Error('has no revocations line, though an earlier checkpoint had one');
      } catch (err) {
        throw new Bad({ block: height, message: `checkpoint of block ${height}: ${(err as Error).message}` });
      }
      if (audit) {
        const problem = await audit.block({ height, firstIndex: hd.firstIndex, lastIndex: hd.lastIndex, ...facts.view() });
        if (problem) throw new Bad(problem);
      }
      prevHash = nodeSha256(bytes);
      last = hd;
      blocks++;
      opts.onBlock?.(height, entries);
    }
    if (reader.ready() || (await reader.fill())) throw new Bad({ entry: reader.index, message: `entry ${reader.index} is outside every block` });
    const [unvouched] = switches; // a switch at a tree size no block ends at (past the log's end, say)
    if (unvouched) {
      throw new Bad({ message: `the store records a switch of checkpoint keys to ${unvouched[1].join(', ')} at tree size ${unvouched[0]}, where the log has no checkpoint: the trusted key does not vouch for the retired one` });
    }
    if (audit) {
      const problem = await audit.finish(range.size);
      if (problem) throw new Bad(problem);
    }
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
    if (!st.revocations && committing) throw new Bad({ block: last.height, message: "state record has no revocations, though the checkpoints commit to them" });
    if (st.revocations && (st.revocations.count !== revocations.count || !bytesEqual(st.revocations.digest, revocations.digest))) {
      throw new Bad({ block: last.height, message: `state record's revocations (${st.revocations.count}) are not the log's (${revocations.count})` });
    }
    return report();
  } catch (err) {
    if (err instanceof Bad) return report(err.problem);
    // A file this process may not read (permissions, its open-files limit) says nothing about the log: no verdict,
    // thrown (the CLI's exit 2), not a problem (found by review: `BAD ledger: EACCES ...`, exit 1, a damaged log to
    // a script). Anything else the store or its files fail with (a LevelDB corruption, EIO, a short read) is.
    if (isAccessFailure(err) || err instanceof LedgerFormatError) throw err;
    return report({ message: (err as Error).message });
  } finally {
    await reader?.close();
    await audit?.close();
  }
}

/**
 * With a trusted key (--key), the retired keys the store records are trusted only as far as that key vouches for them
 * (found by review: a store rewritten under another key, its meta record naming that key retired for the trusted one,
 * passed with the trusted key checking nothing). Each switch is vouched for by the key after it: rotate-key switches
 * only once the log's latest checkpoint is cosigned by the next key (the announcement), so the checkpoint at a retired
 * key's last tree size carries the signature of the key after it, back from the trusted one. The switches to check:
 * by tree size, the keys that must have signed the checkpoint there (a retired key that signed nothing, tree size 0,
 * has none).
 */
function handovers(current: string, retired: readonly RetiredKey[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  retired.forEach((r, i) => {
    if (r.lastTreeSize === 0) return;
    const after = retired[i + 1]?.verifierKey ?? current;
    out.set(r.lastTreeSize, [...(out.get(r.lastTreeSize) ?? []), after]);
  });
  return out;
}

/** The types and receivedAtMs of one block's entries (buffers reused from block to block). */
class BlockFacts {
  #types = new Uint8Array(1024);
  #ms = new Float64Array(1024);
  #n = 0;

  reset(): this {
    this.#n = 0;
    return this;
  }

  push(type: number, receivedAtMs: number): void {
    if (this.#n === this.#types.length) {
      const types = new Uint8Array(2 * this.#n);
      types.set(this.#types);
      const ms = new Float64Array(2 * this.#n);
      ms.set(this.#ms);
      [this.#types, this.#ms] = [types, ms];
    }
    this.#types[this.#n] = type;
    this.#ms[this.#n++] = receivedAtMs;
  }

  view(): { types: Uint8Array; receivedAtMs: Float64Array } {
    return { types: this.#types.subarray(0, this.#n), receivedAtMs: this.#ms.subarray(0, this.#n) };
  }
}

/**
 * The tree nodes one block completes, recomputed: per level a consecutive run of indexes (a block appends
 * consecutive leaves), kept as one buffer per level and compared with the stored tiles range by range.
 */
class BlockNodes {
  readonly runs: { level: number; first: number; count: number; buf: Uint8Array }[] = [];

  readonly visit = (treeLevel: number, index: number, hash: Uint8Array): void => {
    if (treeLevel % TILE_HEIGHT !== 0) return; // only stored levels are compared
    const level = treeLevel / TILE_HEIGHT;
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
    throw new Bad({ block: height, ...(entry === undefined ? {} : { entry }), message: `stored tree node (level ${p.level * TILE_HEIGHT}, index ${i}) does not match the entries` });
  });
}
