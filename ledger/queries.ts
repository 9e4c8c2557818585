/**
 * Read side of the ledger for the gateway: entries, indexes, proofs, checkpoints, headers, bundles. What it hands out
 * is checked against the log first: entries against their leaves (ledger/entry-self-check.ts), checkpoint notes
 * with the log's key (ledger/checkpoint-self-check.ts), proof bundles (ledger/bundle-self-check.ts) and proofs served
 * alone to the signed root; damage found is a LedgerDamagedError.
 */
import { decodeBlockHeader, encodeProofBundle, type BlockHeader, type ProofBundle } from '../protocol/bundle.js';
import { fail } from '../protocol/errors.js';
import { parseCheckpoint, parseNote, type Checkpoint } from '../protocol/checkpoint.js';
import { decodeLogEntry, ENTRY_REVOCATION } from '../protocol/log-entry.js';
import { consistencyPlan, inclusionPlan, rootFromConsistencyProof, rootPlan, type MerkleHasher } from '../protocol/merkle/index.js';
import { bytesEqual } from '../protocol/bytes.js';
import type { LoggedRevocation } from '../protocol/revocation-log.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import type { DeviceHit, LedgerBackend, TimeHit } from './backend.js';
import { readPlan } from './tree.js';
import { checkBundleAgainstStore, checkInclusionToRoot } from './bundle-self-check.js';
import { openStoredCheckpoint, type LogKey } from './checkpoint-self-check.js';
import { readCheckedEntries, readStoredEntries } from './entry-self-check.js';
import { damagedInStore } from './errors.js';

export interface FoundEntry {
  index: number;
  receivedAtMs: number;
  /** The log entry bytes (protocol/log-entry.ts). */
  entry: Uint8Array;
  /** Its leaf hash, as the tree holds it (the entry's bytes were checked to hash to it). */
  leafHash: Uint8Array;
  seq?: number;
}

export interface DeviceQuery {
  fromMs?: number;
  toMs?: number;
  limit?: number;
  /** Return entries with seq greater than this (paging cursor). */
  after?: number;
  /**
   * Most index rows read by one call (default DEVICE_SCAN_ROWS, never fewer than `limit`). The device index is in
   * seq order, not time order, so rows outside [fromMs, toMs] are read and skipped: without this bound a narrow
   * range would read the device's whole index for an empty page.
   */
  maxScan?: number;
}

/** One page of a device's entries and where to continue. */
export interface DevicePage {
  entries: FoundEntry[];
  /**
   * The last seq read when the call stopped early, to pass as `after` for the rest: the page filled up, or the
   * scan budget (`maxScan`) ran out first (then `entries` may be short, even empty). Undefined: the device's index
   * was read to its end.
   */
  next?: number;
  /** Index rows read (rows past the cursor, matching the time range or not). */
  scanned: number;
}

/** Default scan budget of a device query (DeviceQuery.maxScan): about ten runs of the device index. */
export const DEVICE_SCAN_ROWS = 10_000;

export interface TimeQuery {
  fromMs: number;
  toMs: number;
  limit?: number;
  /** Paging cursor: the last (receivedAtMs, index) returned. */
  after?: TimeHit;
}

/** A page of the revocation list (LedgerQueries.revocationPage). */
export interface RevocationPage {
  /** Revocation entries below the tree size, in all (not only this page's). */
  count: number;
  revocations: LoggedRevocation[];
  /** The last index of this page when more follow (pass it as `after`). */
  next?: number;
}

/** How many entries of an index-ordered list have an index below `index` (binary search). */
function countBelow(list: readonly LoggedRevocation[], index: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.index < index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A stored block header, decoded; one that no longer decodes is damage (LedgerDamagedError naming the block), not the
 * client's MALFORMED (found by review: GET /v1/blocks/:height and a bundle of its entries answered 400).
 */
function decodeStoredHeader(height: number, bytes: Uint8Array, damaged = (what: string): Error => damagedInStore(`block ${height}`, what)): BlockHeader {
  try {
    return decodeBlockHeader(bytes);
  } catch (err) {
    throw damaged(`its header no longer decodes (${(err as Error).message})`);
  }
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
const lim = (n: number | undefined): number => Math.min(Math.max(1, n ?? DEFAULT_LIMIT), MAX_LIMIT);

export abstract class LedgerQueries implements LogKey {
  /** The log's origin and checkpoint verifier key (Ledger): what a stored checkpoint must be signed for. */
  abstract readonly origin: string;
  abstract readonly verifierKey: string;

  /** The key that signed the log's checkpoint of `treeSize` (Ledger: a retired one before a rotation). */
  verifierKeyAt(_treeSize: number): string {
    return this.verifierKey;
  }
  protected readonly backend: LedgerBackend;
  protected readonly hasher: MerkleHasher;
  protected committedSize: number;

  protected constructor(backend: LedgerBackend, hasher: MerkleHasher, size: number) {
    this.backend = backend;
    this.hasher = hasher;
    this.committedSize = size;
  }

  /** A committed entry's bytes, checked against its leaf (LedgerDamagedError when they differ or are missing). */
  async getEntry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    return (await this.#checked([index])).entries[0];
  }

  /**
   * Committed entries' bytes (indexes below the committed size), each checked against its leaf, in one batched read
   * of the entries and one of their tiles (the registry's replay at start reads its entries so, page by page).
   */
  async checkedEntries(indexes: readonly number[]): Promise<Uint8Array[]> {
    const bad = indexes.find((i) => !Number.isSafeInteger(i) || i < 0 || i >= this.committedSize);
    if (bad !== undefined) throw new RangeError(`entry ${bad} is not committed (the log holds ${this.committedSize})`);
    return (await this.#checked(indexes)).entries;
  }

  /**
   * A committed entry's bytes as stored, not checked here: for a caller that proves them to the signed checkpoint
   * (proofBundle) or has just had them checked.
   */
  async uncheckedEntry(index: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    return (await readStoredEntries(this.backend, [index]))[0];
  }

  /** Committed entries' bytes, checked against their leaves in one batched tile read (ledger/entry-self-check.ts). */
  #checked(indexes: readonly number[]): Promise<{ entries: Uint8Array[]; leafHashes: Uint8Array[] }> {
    return readCheckedEntries(this.backend, this.hasher, indexes);
  }

  /** A device's entries by seq (see devicePage: at most `maxScan` index rows are read). */
  async entriesByDevice(deviceId: string, q: DeviceQuery = {}): Promise<FoundEntry[]> {
    return (await this.devicePage(deviceId, q)).entries;
  }

  /**
   * A device's entries with seq > `after` and receivedAtMs in [fromMs, toMs], ascending by seq: up to `limit` of
   * them, reading at most `maxScan` index rows, and the cursor to continue from.
   */
  async devicePage(deviceId: string, q: DeviceQuery = {}): Promise<DevicePage> {
    const limit = lim(q.limit);
    // No time is in an empty range: nothing to read (found by review: it read its whole budget and handed back a
    // `next`, so a client following it paged through the device's whole index for nothing).
    if (q.fromMs !== undefined && q.toMs !== undefined && q.fromMs > q.toMs) return { entries: [], scanned: 0 };
    const budget = Math.max(limit, q.maxScan ?? DEVICE_SCAN_ROWS);
    const hits = [];
    let scanned = 0;
    let next: number | undefined;
    for await (const h of this.backend.deviceHits(deviceId, q.after === undefined ? {} : { afterSeq: q.after })) {
      // A device's seq order is its log order: from an entry not committed yet on, nothing is (uncommitted()).
      if (this.uncommitted(h.index)) break;
      scanned++;
      const inRange = (q.fromMs === undefined || h.receivedAtMs >= q.fromMs) && (q.toMs === undefined || h.receivedAtMs <= q.toMs);
      if (inRange) hits.push(h);
      if (hits.length >= limit || scanned >= budget) {
        next = h.seq;
        break;
      }
    }
    const { entries, leafHashes } = await this.#checked(hits.map((h) => h.index));
    return {
      entries: hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, seq: h.seq, entry: entries[i]!, leafHash: leafHashes[i]! })),
      ...(next === undefined ? {} : { next }),
      scanned,
    };
  }

  /** A device's latest `limit` readings, newest (highest seq) first: one reverse scan of its index. */
  async latestByDevice(deviceId: string, limit?: number): Promise<FoundEntry[]> {
    const hits = await this.#latestHits(deviceId, lim(limit));
    const { entries, leafHashes } = await this.#checked(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, seq: h.seq, entry: entries[i]!, leafHash: leafHashes[i]! }));
  }

  async entriesByTime(q: TimeQuery): Promise<FoundEntry[]> {
    const hits: TimeHit[] = [];
    for await (const h of this.backend.timeHits(q.fromMs, q.toMs, { limit: lim(q.limit), ...(q.after ? { after: q.after } : {}) })) {
      if (!this.uncommitted(h.index)) hits.push(h);
    }
    const { entries, leafHashes } = await this.#checked(hits.map((h) => h.index));
    return hits.map((h, i) => ({ index: h.index, receivedAtMs: h.receivedAtMs, entry: entries[i]!, leafHash: leafHashes[i]! }));
  }

  /** Entry indexes of one registry event type (2, 3, 4), ascending, after `afterIndex`. */
  async indexesByType(type: number, q: { limit?: number; afterIndex?: number } = {}): Promise<number[]> {
    const out: number[] = [];
    for await (const i of this.backend.typeHits(type, { limit: lim(q.limit), ...(q.afterIndex === undefined ? {} : { afterIndex: q.afterIndex }) })) {
      if (this.uncommitted(i)) break; // ascending: none after it is committed either
      out.push(i);
    }
    return out;
  }

  /**
   * Every revocation entry below `treeSize` (default: the committed size), in log order, with its statement: the
   * list a checkpoint of that size commits to (protocol/revocation-log.ts). Entries never change, so what was read
   * is kept and only entries logged since are read again (GET /v1/revocations and POST /v1/verify ask per request).
   */
  async revocationLog(treeSize = this.committedSize): Promise<LoggedRevocation[]> {
    const { list, count } = await this.#revocationsBelow(treeSize);
    return list.slice(0, count);
  }

  /**
   * One page of the revocation list below `treeSize`: the entries after index `after` (all when undefined), at most
   * `limit` (all when undefined), how many the whole list holds, and the index to pass as `after` for the rest
   * (undefined: the list was read to its end). Copies only the page out of the kept list.
   */
  async revocationPage(treeSize: number, q: { after?: number; limit?: number } = {}): Promise<RevocationPage> {
    const { list, count } = await this.#revocationsBelow(treeSize);
    const start = q.after === undefined ? 0 : Math.min(count, countBelow(list, q.after + 1));
    const end = q.limit === undefined ? count : Math.min(count, start + q.limit);
    const revocations = list.slice(start, end);
    return { count, revocations, ...(end < count ? { next: revocations[revocations.length - 1]!.index } : {}) };
  }

  /**
   * The kept list (not a copy: callers only read it) and how many of its first entries lie below `treeSize`. Entries
   * logged since the list was kept are read and, at a committed size, kept too: each new size is read once.
   */
  async #revocationsBelow(treeSize: number): Promise<{ list: readonly LoggedRevocation[]; count: number }> {
    const known = this.#revocations;
    if (treeSize <= known.size) return { list: known.list, count: countBelow(known.list, treeSize) };
    const list = [...known.list, ...(await this.#readRevocations(known.size, treeSize))];
    if (treeSize <= this.committedSize && treeSize > this.#revocations.size) this.#revocations = { size: treeSize, list };
    return { list, count: list.length };
  }

  #revocations: { size: number; list: LoggedRevocation[] } = { size: 0, list: [] };

  /** Revocation entries with from <= index < to, through the type index. */
  async #readRevocations(from: number, to: number): Promise<LoggedRevocation[]> {
    const indexes: number[] = [];
    let after: number | undefined = from > 0 ? from - 1 : undefined;
    for (;;) {
      const page: number[] = [];
      for await (const i of this.backend.typeHits(ENTRY_REVOCATION, { limit: MAX_LIMIT, ...(after === undefined ? {} : { afterIndex: after }) })) page.push(i);
      for (const i of page) if (i >= from && i < to) indexes.push(i);
      if (page.length < MAX_LIMIT || page[page.length - 1]! >= to) break;
      after = page[page.length - 1];
    }
    const { entries } = await this.#checked(indexes);
    return indexes.map((index, k) => {
      const bytes = entries[k];
      if (!bytes) fail('MALFORMED', `revocation entry ${index} is missing`, 'index');
      const e = decodeLogEntry(bytes);
      if (e.type !== ENTRY_REVOCATION || e.index !== index) fail('MALFORMED', `entry ${index} is not the revocation entry the type index names`, 'index');
      return { index, statement: e.payload };
    });
  }

  /** Highest seq stored for a device, or undefined. */
  async lastSeq(deviceId: string): Promise<number | undefined> {
    for await (const h of this.backend.deviceHits(deviceId, { reverse: true, limit: 1 })) return h.seq;
    return undefined;
  }

  /**
   * A device's latest committed reading as the index holds it (seq, index, receivedAtMs; the entry is not read), or
   * undefined: one reverse read of its index, whatever its number of entries. A device's seq order is its log order.
   */
  async lastDeviceHit(deviceId: string): Promise<DeviceHit | undefined> {
    return (await this.#latestHits(deviceId, 1))[0];
  }

  /** A device's `n` latest committed index hits, newest first (the entries are not read). */
  async #latestHits(deviceId: string, n: number): Promise<DeviceHit[]> {
    const hits: DeviceHit[] = [];
    for await (const h of this.backend.deviceHits(deviceId, { reverse: true })) {
      if (this.uncommitted(h.index)) continue; // newest first: at most one block's worth
      hits.push(h);
      if (hits.length >= n) break;
    }
    return hits;
  }

  async findBySeq(deviceId: string, seq: number): Promise<FoundEntry | undefined> {
    const h = await this.backend.deviceSeq(deviceId, seq);
    if (!h || this.uncommitted(h.index)) return undefined;
    const { entries, leafHashes } = await this.#checked([h.index]);
    return { index: h.index, receivedAtMs: h.receivedAtMs, seq, entry: entries[0]!, leafHash: leafHashes[0]! };
  }

  /**
   * The payload stored for a device's `seq`, whether its block is counted yet or not (findBySeq answers from the
   * committed log only, lastSeq from the store): POST /v1/verify tells the very envelope on its way into the log (its
   * block stored, not yet counted) from a replay of its seq.
   */
  async storedPayloadBySeq(deviceId: string, seq: number): Promise<Uint8Array | undefined> {
    const h = await this.backend.deviceSeq(deviceId, seq);
    if (!h) return undefined;
    const [entry] = await this.backend.getEntries([h.index]);
    return entry ? decodeLogEntry(entry).payload : undefined;
  }

  /** Inclusion proof for `index` in the tree of `treeSize` (default: committed size): O(log n) tile reads. */
  inclusionProof(index: number, treeSize = this.committedSize): Promise<Uint8Array[]> {
    if (treeSize > this.committedSize) fail('INCLUSION_INVALID', `tree size ${treeSize} is beyond the log (${this.committedSize})`, 'treeSize');
    return readPlan(this.backend, inclusionPlan(index, treeSize), this.hasher);
  }

  /**
   * An inclusion proof as served (GET /v1/proofs/inclusion), checked with the entry's leaf hash to lead to the root
   * the log signed at `treeSize` (#provenRoot: its checkpoint's, or at a size where no block ended, the stored root
   * there proven to the next checkpoint): a stored leaf or node changed on disk otherwise reached a client as the
   * proof of another entry, one that does not lead to the signed root (found by review). Damage: LedgerDamagedError
   * naming the entry. Cost: one checkpoint read beside the proof's tiles, a lookup for a note already verified,
   * ~log2(size) SHA-256; at a size no block ended at, the tiles of a root and a consistency proof too.
   */
  async servedInclusionProof(index: number, treeSize: number, leafHash: Uint8Array): Promise<Uint8Array[]> {
    const damaged = (what: string) => damagedInStore(`entry ${index}`, what);
    const [proof, proven] = await Promise.all([this.inclusionProof(index, treeSize), this.#provenRoot(treeSize, damaged)]);
    const to = proven.signed ? `the root of the signed checkpoint at tree size ${treeSize}` : `the root at tree size ${treeSize} proven to the signed checkpoint at tree size ${proven.by}`;
    checkInclusionToRoot(index, treeSize, leafHash, proof, proven.root, this.hasher, `the tree nodes of its inclusion proof do not lead to ${to}`);
    return proof;
  }

  /**
   * Consistency proof from `size1` to `size2`, checked to lead to the root the log signed at `size2` (#provenRoot:
   * the latest checkpoint's by default), from the root signed at `size1` (or, at a size with no checkpoint, the
   * stored tree's, which the proof then pins: it must also lead to the signed root): as served (GET
   * /v1/proofs/consistency, a bundle's `since`) and as POST /v1/verify uses it. A stored node changed on disk
   * otherwise reached a client as a proof that the log forked (found by review). Damage: LedgerDamagedError naming the
   * tree sizes. Cost: one or two checkpoint reads beside the proof's tiles (the root at a size1 with none: its nodes'
   * tiles), lookups for notes already verified, ~log2(size2) SHA-256.
   */
  async consistencyProof(size1: number, size2 = this.committedSize): Promise<Uint8Array[]> {
    if (size2 > this.committedSize) fail('CONSISTENCY_INVALID', `tree size ${size2} is beyond the log (${this.committedSize})`, 'size2');
    const damaged = (what: string) => damagedInStore(`the log's tree between tree sizes ${size1} and ${size2}`, what);
    const checked = size1 > 0 && size1 < size2;
    const [proof, proven2, note1] = await Promise.all([
      readPlan(this.backend, consistencyPlan(size1, size2), this.hasher),
      checked ? this.#provenRoot(size2, damaged) : undefined,
      checked ? this.#storedCheckpoint(size1) : undefined,
    ]);
    if (!proven2) return proof; // size1 = 0 or size2: nothing to prove
    const root1 = note1 !== undefined ? openStoredCheckpoint(note1, size1, this).root : (await readPlan(this.backend, [rootPlan(size1)], this.hasher))[0]!;
    let led: Uint8Array;
    try {
      led = rootFromConsistencyProof(size1, size2, proof, root1, this.hasher);
    } catch (err) {
      throw damaged(`its consistency proof does not lead from the root at tree size ${size1} (${(err as Error).message})`);
    }
    const to = proven2.signed ? `the root of the signed checkpoint at tree size ${size2}` : `the root at tree size ${size2} proven to the signed checkpoint at tree size ${proven2.by}`;
    if (!bytesEqual(led, proven2.root)) throw damaged(`its consistency proof does not lead to ${to}`);
    return proof;
  }

  /**
   * The root the log signed at `treeSize` (0 < treeSize <= committedSize), for checking a proof before it is served:
   * the root of the checkpoint stored there (every block's end, the latest among them); at a size where no block
   * ended (a client may ask for proofs at any size), the stored tree's root there, proven by a consistency proof from
   * the store to the checkpoint of the block holding entry treeSize - 1. Before, a proof at such a size was served
   * unchecked (a changed node led a client to a root the log never had). `by` is the signed size it was proven to.
   */
  async #provenRoot(treeSize: number, damaged: (what: string) => Error): Promise<{ root: Uint8Array; signed: boolean; by: number }> {
    const note = await this.#storedCheckpoint(treeSize);
    const open = (n: string, size: number) => openStoredCheckpoint(n, size, this, (problem) => damaged(`the checkpoint stored at tree size ${size} ${problem}`)).root;
    if (note !== undefined) return { root: open(note, treeSize), signed: true, by: treeSize };
    const height = await this.backend.blockHeightFor(treeSize - 1);
    const header = height === undefined ? undefined : (await this.#committedHeader(height))?.header;
    // Any signed size at or above treeSize would do; a header naming a smaller one (or none) is damage itself.
    if (!header || header.treeSize < treeSize) throw damaged(`no committed block is stored for entry ${treeSize - 1} to prove the root at tree size ${treeSize} to`);
    const by = header.treeSize;
    const signedNote = await this.#storedCheckpoint(by);
    if (signedNote === undefined) throw damaged(`no checkpoint is stored at tree size ${by}, the end of block ${height}`);
    const signedRoot = open(signedNote, by);
    const [root, proof] = await Promise.all([
      readPlan(this.backend, [rootPlan(treeSize)], this.hasher).then((r) => r[0]!),
      readPlan(this.backend, consistencyPlan(treeSize, by), this.hasher),
    ]);
    let led: Uint8Array;
    try {
      led = rootFromConsistencyProof(treeSize, by, proof, root, this.hasher);
    } catch (err) {
      throw damaged(`the stored root at tree size ${treeSize} is not proven by its consistency proof (${(err as Error).message})`);
    }
    if (!bytesEqual(led, signedRoot)) throw damaged(`the stored tree at tree size ${treeSize} does not lead to the root of the signed checkpoint at tree size ${by}`);
    return { root, signed: false, by };
  }

  /**
   * The checkpoint signed at `treeSize` (every block's checkpoint is kept), default the latest, checked with the log's
   * key (LedgerDamagedError when its signature does not verify).
   */
  async checkpoint(treeSize = this.committedSize): Promise<string | undefined> {
    const note = await this.#storedCheckpoint(treeSize);
    return note === undefined ? undefined : this.checkedNote(note, treeSize);
  }

  /** `note`, signed at `treeSize` (Ledger.latestCheckpoint, read from the store at open), once it verifies with the log's key. */
  checkedNote(note: string, treeSize: number): string {
    openStoredCheckpoint(note, treeSize, this);
    return note;
  }

  async #storedCheckpoint(treeSize: number): Promise<string | undefined> {
    return treeSize > this.committedSize ? undefined : this.backend.getCheckpoint(treeSize);
  }

  async blockHeaderBytes(height: number): Promise<Uint8Array | undefined> {
    return (await this.#committedHeader(height))?.bytes;
  }

  async blockHeader(height: number): Promise<BlockHeader | undefined> {
    return (await this.#committedHeader(height))?.header;
  }

  /**
   * A committed block's header as it is served (GET /v1/blocks...), checked to be the one its block's signed checkpoint
   * binds (its `block` line; the note's signature with the log's key, once per note): a byte changed on disk in a
   * header otherwise reached a client who checks the hash links, or the checkpoint, as a forged block. Damage:
   * LedgerDamagedError naming the block. Cost: one checkpoint read, then a lookup for a note already verified.
   */
  async servedBlock(height: number): Promise<{ bytes: Uint8Array; header: BlockHeader } | undefined> {
    const block = await this.#committedHeader(height);
    if (!block) return undefined;
    await this.#boundHeader(height, block, (what) => damagedInStore(`block ${height}`, what));
    return block;
  }

  /**
   * That `block`'s header is the one the checkpoint stored at its own tree size binds (its `block` line); else throws
   * `damaged(problem)`; returns the note. `signature`: the note's signature is checked with the log's key too (once per
   * note); false for a bundle, which checks it only where it carries the note: a bundle proven to a later checkpoint
   * does not, and a damaged signature leaves the block line, and so the header, as good (its own note is checked).
   */
  async #boundHeader(height: number, block: { bytes: Uint8Array; header: BlockHeader }, damaged: (problem: string) => Error, signature = true): Promise<string> {
    const { treeSize } = block.header;
    const note = treeSize > this.committedSize ? undefined : await this.backend.getCheckpoint(treeSize);
    if (note === undefined) throw damaged(`no checkpoint is stored at its tree size ${treeSize}`);
    const noteDamaged = (problem: string) => damaged(`the checkpoint stored at its tree size ${treeSize} ${problem}`);
    let extensions: readonly string[];
    if (signature) {
      extensions = openStoredCheckpoint(note, treeSize, this, noteDamaged).extensions;
    } else {
      let cp: Checkpoint;
      try {
        cp = parseCheckpoint(parseNote(note).text);
      } catch (err) {
        throw noteDamaged(`cannot be read (${(err as Error).message})`);
      }
      if (cp.size !== treeSize) throw noteDamaged(`says tree size ${cp.size}`);
      extensions = cp.extensions;
    }
    if (!extensions.includes(blockExtension(height, block.bytes))) throw damaged(`its header is not the one the checkpoint at tree size ${treeSize} binds`);
    return note;
  }

  async #committedHeader(height: number): Promise<{ bytes: Uint8Array; header: BlockHeader } | undefined> {
    const bytes = await this.backend.getHeader(height);
    if (!bytes) return undefined;
    const header = decodeStoredHeader(height, bytes);
    return header.treeSize > this.committedSize ? undefined : { bytes, header };
  }

  /**
   * Whether entry `index` is not committed yet: the store holds a block (and indexes it) a moment before the ledger
   * counts it (committedSize, set once its write resolved). Reads answer from the committed log only, so that
   * whatever a query lists can be fetched, proven and verified at once.
   */
  protected uncommitted(index: number): boolean {
    return index >= this.committedSize;
  }

  /** The block that holds entry `index`. */
  async blockForIndex(index: number, damaged?: (what: string) => Error): Promise<{ height: number; header: BlockHeader; bytes: Uint8Array } | undefined> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.committedSize) return undefined;
    const height = await this.backend.blockHeightFor(index);
    if (height === undefined) return undefined;
    const bytes = await this.backend.getHeader(height);
    return bytes ? { height, header: decodeStoredHeader(height, bytes, damaged && ((what) => damaged(`the header of its block ${height}: ${what}`))), bytes } : undefined;
  }

  /**
   * Proof bundle for one entry (protocol/bundle.ts), proven against the checkpoint of the entry's own block,
   * or of a later block when `treeSize` is given (it must be a checkpointed size).
   */
  async proofBundle(index: number, extra: { certificates?: Uint8Array[]; revocations?: Uint8Array[]; treeSize?: number } = {}): Promise<ProofBundle> {
    const damaged = (what: string) => damagedInStore(`entry ${index}`, what);
    const block = await this.blockForIndex(index, damaged);
    if (!block) return fail('MALFORMED', `no entry at index ${index}`, 'index');
    const own = block.header.treeSize;
    const treeSize = extra.treeSize ?? own;
    // The header is bound by its own block's checkpoint, not by a later one (found by review: a bundle proven to a
    // later one carried it unchecked); checked first, before its tree size is used (one changed on disk is damage,
    // not the client's MALFORMED 'no checkpoint'). At its own checkpoint, checkBundleAgainstStore then checks the
    // note's signature too.
    const ownNote = await this.#boundHeader(block.height, block, (what) => damaged(`the header of its block ${block.height}: ${what}`), false);
    // Read as stored: the whole bundle is checked to the signed checkpoint next, naming the entry.
    const [entry, checkpoint, inclusionProof] = await Promise.all([
      this.uncheckedEntry(index),
      treeSize === own ? ownNote : this.#storedCheckpoint(treeSize),
      this.inclusionProof(index, treeSize),
    ]);
    if (!entry || !checkpoint) return fail('MALFORMED', `no checkpoint at tree size ${treeSize}`, 'treeSize');
    checkBundleAgainstStore(index, treeSize, entry, inclusionProof, checkpoint, block, this.hasher, this);
    return { entry, index, treeSize, inclusionProof, checkpoint, blockHeader: block.bytes, certificates: extra.certificates ?? [], revocations: extra.revocations ?? [] };
  }

  async proofBundleBytes(index: number, extra: { certificates?: Uint8Array[]; revocations?: Uint8Array[]; treeSize?: number } = {}): Promise<Uint8Array> {
    return encodeProofBundle(await this.proofBundle(index, extra));
  }
}
