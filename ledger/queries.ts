/** Read side of the ledger for the gateway: entries, indexes, proofs, checkpoints, headers, bundles. */
import { decodeBlockHeader, encodeProofBundle, type BlockHeader, type ProofBundle } from '../protocol/bundle.js';
import { fail } from '../protocol/errors.js';
import { consistencyPlan, inclusionPlan, type MerkleHasher } from '../protocol/merkle/index.js';
import type { LedgerBackend, TimeHit } from './backend.js';
import { readPlan } from './tree.js';

export interface FoundEntry {
  index: number;
  receivedAtMs: number;
  /** The log entry bytes (protocol/log-entry.ts). */
  entry: Uint8Array;
  seq?: number;
}

export interface DeviceQuery {
  fromMs?: number;
  toMs?: number;
  limit?: number;
  /** Return entries with seq greater than this (paging cursor). */
  after?: number;
}

export interface TimeQuery {
  fromMs: number;
  toMs: number;
  limit?: number;
  /** Paging cursor: the last (receivedAtMs, index) returned. */
  after?: TimeHit;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
const lim = (n: number | undefined): number => Math.min(Math.max(1, n ?? DEFAULT_LIMIT), MAX_LIMIT);

export class LedgerQueries {
  protected readonly backend: LedgerBackend;
  protected readonly hasher: MerkleHasher;
  protected committedSize: number;

  protected constructor(backend: LedgerBackend, hasher: MerkleHasher, size: number) {
    this.backend = backend;
    this.hasher = hasher;
    this.committedSize = size;
  }

  async getEntry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    return (await this.backend.getEntries([index]))[0];
  }

  async entriesByDevice(deviceId: string, q: DeviceQuery = {}): Promise<FoundEntry[]> {
    const limit = lim(q.limit);
    const hits = [];
    for await (const h of this.backend.deviceHits(deviceId, q.after === undefined ? {} : { afterSeq: q.after })) {
      if (q.fromMs !== undefined && h.receivedAtMs < q.fromMs) continue;
      if (q.toMs !== undefined && h.receivedAtMs > q.toMs) continue;
      hits.push(h);
      if (hits.length >= limit) break;
    }
    const entries = await this.backend.getEntries(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, seq: h.seq, entry: entries[i]! }));
  }

  /** A device's latest `limit` readings, newest (highest seq) first: one reverse scan of its index. */
  async latestByDevice(deviceId: string, limit?: number): Promise<FoundEntry[]> {
    const hits = [];
    for await (const h of this.backend.deviceHits(deviceId, { reverse: true, limit: lim(limit) })) hits.push(h);
    const entries = await this.backend.getEntries(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, seq: h.seq, entry: entries[i]! }));
  }

  async entriesByTime(q: TimeQuery): Promise<FoundEntry[]> {
    const hits: TimeHit[] = [];
    for await (const h of this.backend.timeHits(q.fromMs, q.toMs, { limit: lim(q.limit), ...(q.after ? { after: q.after } : {}) })) hits.push(h);
    const entries = await this.backend.getEntries(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, entry: entries[i]! }));
  }

  /** Entry indexes of one registry event type (2, 3, 4), ascending, after `afterIndex`. */
  async indexesByType(type: number, q: { limit?: number; afterIndex?: number } = {}): Promise<number[]> {
    const out: number[] = [];
    for await (const i of this.backend.typeHits(type, { limit: lim(q.limit), ...(q.afterIndex === undefined ? {} : { afterIndex: q.afterIndex }) })) out.push(i);
    return out;
  }

  /** Highest seq stored for a device, or undefined. */
  async lastSeq(deviceId: string): Promise<number | undefined> {
    for await (const h of this.backend.deviceHits(deviceId, { reverse: true, limit: 1 })) return h.seq;
    return undefined;
  }

  async findBySeq(deviceId: string, seq: number): Promise<FoundEntry | undefined> {
    const h = await this.backend.deviceSeq(deviceId, seq);
    if (!h) return undefined;
    const [entry] = await this.backend.getEntries([h.index]);
    return entry ? { index: h.index, receivedAtMs: h.receivedAtMs, seq, entry } : undefined;
  }

  /** Inclusion proof for `index` in the tree of `treeSize` (default: committed size): O(log n) tile reads. */
  inclusionProof(index: number, treeSize = this.committedSize): Promise<Uint8Array[]> {
    if (treeSize > this.committedSize) fail('INCLUSION_INVALID', `tree size ${treeSize} is beyond the log (${this.committedSize})`, 'treeSize');
    return readPlan(this.backend, inclusionPlan(index, treeSize), this.hasher);
  }

  consistencyProof(size1: number, size2 = this.committedSize): Promise<Uint8Array[]> {
    if (size2 > this.committedSize) fail('CONSISTENCY_INVALID', `tree size ${size2} is beyond the log (${this.committedSize})`, 'size2');
    return readPlan(this.backend, consistencyPlan(size1, size2), this.hasher);
  }

  /** The checkpoint signed at `treeSize` (every block's checkpoint is kept), default the latest. */
  checkpoint(treeSize = this.committedSize): Promise<string | undefined> {
    return this.backend.getCheckpoint(treeSize);
  }

  blockHeaderBytes(height: number): Promise<Uint8Array | undefined> {
    return this.backend.getHeader(height);
  }

  async blockHeader(height: number): Promise<BlockHeader | undefined> {
    const b = await this.backend.getHeader(height);
    return b ? decodeBlockHeader(b) : undefined;
  }

  /** The block that holds entry `index`. */
  async blockForIndex(index: number): Promise<{ height: number; header: BlockHeader; bytes: Uint8Array } | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    const height = await this.backend.blockHeightFor(index);
    if (height === undefined) return undefined;
    const bytes = await this.backend.getHeader(height);
    return bytes ? { height, header: decodeBlockHeader(bytes), bytes } : undefined;
  }

  /**
   * Proof bundle for one entry (protocol/bundle.ts), proven against the checkpoint of the entry's own block,
   * or of a later block when `treeSize` is given (it must be a checkpointed size).
   */
  async proofBundle(index: number, extra: { certificates?: Uint8Array[]; revocations?: Uint8Array[]; treeSize?: number } = {}): Promise<ProofBundle> {
    const block = await this.blockForIndex(index);
    if (!block) return fail('MALFORMED', `no entry at index ${index}`, 'index');
    const treeSize = extra.treeSize ?? block.header.treeSize;
    const [entry, checkpoint, inclusionProof] = await Promise.all([this.getEntry(index), this.checkpoint(treeSize), this.inclusionProof(index, treeSize)]);
    if (!entry || !checkpoint) return fail('MALFORMED', `no checkpoint at tree size ${treeSize}`, 'treeSize');
    return { entry, index, treeSize, inclusionProof, checkpoint, blockHeader: block.bytes, certificates: extra.certificates ?? [], revocations: extra.revocations ?? [] };
  }

  async proofBundleBytes(index: number, extra: { certificates?: Uint8Array[]; revocations?: Uint8Array[]; treeSize?: number } = {}): Promise<Uint8Array> {
    return encodeProofBundle(await this.proofBundle(index, extra));
  }
}
