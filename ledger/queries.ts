/**
 * Read side of the ledger for the gateway: entries and indexes (ledger/entry-queries.ts), the revocation list
 * (ledger/revocation-queries.ts), and here what the signed checkpoints vouch for: proofs, checkpoints, headers,
 * bundles. What it hands out is checked against the log first: checkpoint notes with the log's key
 * (ledger/checkpoint-self-check.ts), proof bundles (ledger/bundle-self-check.ts) and proofs served alone to the signed
 * root; damage found is a LedgerDamagedError.
 */
import { decodeBlockHeader, encodeProofBundle, type BlockHeader, type ProofBundle } from '../protocol/bundle.js';
import { fail } from '../protocol/errors.js';
import { parseCheckpoint, parseNote, type Checkpoint } from '../protocol/checkpoint.js';
import { consistencyPlan, inclusionPlan, rootFromConsistencyProof, rootPlan } from '../protocol/merkle/index.js';
import { bytesEqual } from '../protocol/bytes.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import { readPlan } from './tree.js';
import { checkBundleAgainstStore, checkInclusionToRoot } from './bundle-self-check.js';
import { openStoredCheckpoint, type LogKey } from './checkpoint-self-check.js';
import { damagedInStore } from './errors.js';
import { RevocationQueries } from './revocation-queries.js';

export { DEVICE_SCAN_ROWS, type DeviceQuery, type DevicePage, type FoundEntry, type TimeQuery } from './entry-queries.js';
export type { RevocationPage } from './revocation-queries.js';

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

export abstract class LedgerQueries extends RevocationQueries implements LogKey {
  /** The log's origin and checkpoint verifier key (Ledger): what a stored checkpoint must be signed for. */
  abstract readonly origin: string;
  abstract readonly verifierKey: string;

  /** The key that signed the log's checkpoint of `treeSize` (Ledger: a retired one before a rotation). */
  verifierKeyAt(_treeSize: number): string {
    return this.verifierKey;
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
