/**
 * The ledger: entries sealed into hash-linked blocks (by count or time, whichever first), an RFC 9162 tree,
 * a C2SP checkpoint signed after every block, everything of one block in one atomic backend write.
 * `submit` resolves only once its block is durable, so the gateway sends receipts after durability.
 * Blocks are pipelined: block N+1 is computed (hashes, tree, header, signature) while block N's batch is
 * being written and fsynced on LevelDB's thread; writes stay strictly in order, and when one fails every
 * block computed on top of it is rejected too and the tree is rolled back to the last durable block.
 * An entry's input, its checks and answering submitters: ledger/submission.ts; a block's entries encoded and
 * hashed into the tree: ledger/block-entries.ts.
 */
import { formatCheckpoint, formatVerifierKey, parseCheckpoint, parseNote, signNote, type NoteSigner } from '../protocol/checkpoint.js';
import { nextKeyExtension } from '../protocol/checkpoint-handover.js';
import { fail } from '../protocol/errors.js';
import { encodeBlockHeader } from '../protocol/bundle.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import { ENTRY_REVOCATION } from '../protocol/log-entry.js';
import { HASH_SIZE, type MerkleHasher } from '../protocol/merkle/index.js';
import {
  appendRevocation, commitRevocations, EMPTY_REVOCATIONS, revocationsExtension, revocationsOfCheckpoint, type RevocationCommitment,
} from '../protocol/revocation-log.js';
import type { BlockWrite, LedgerBackend } from './backend.js';
import { encodeBlockEntries } from './block-entries.js';
import { nodeMerkleHasher, nodeSha256 } from './hasher.js';
import { LevelBackend } from './level-backend.js';
import { LedgerDamagedError, LedgerFormatError, LedgerKeyMismatchError } from './errors.js';
import { decodeMeta, decodeState, encodeMeta, encodeState, LEDGER_FORMAT, metaFormat } from './state.js';
import { keyForTreeSize, type RetiredKey } from './key-history.js';
import { answerAll, checkInput, rethrowLater, type EntryInput, type SubmitCallback, type SubmitResult } from './submission.js';
import { LedgerTree } from './tree.js';
import { LedgerQueries, type RevocationPage } from './queries.js';

export type { EntryInput, SubmitCallback, SubmitResult } from './submission.js';

export interface LedgerOptions {
  /** LevelDB directory (or pass `backend`). */
  dir?: string;
  backend?: LedgerBackend;
  /** Checkpoint origin line, e.g. `originproof.example/log`; also the key name. */
  origin: string;
  signer: NoteSigner & { publicKey: Uint8Array };
  /**
   * The announced next checkpoint key (gateway/checkpoint-next-key.ts): every checkpoint then names it in a last
   * extension line (`next-key <verifier key>`, SPEC §7) and carries its signature line after the log key's. The log's
   * key stays `signer` (the meta record's, every check of a stored checkpoint's); a reader skips the other line.
   */
  nextSigner?: NoteSigner & { publicKey: Uint8Array };
  blockMaxEntries?: number;
  blockMaxDelayMs?: number;
  clock?: () => number;
  hasher?: MerkleHasher;
  /** fsync each block (LevelDB; default true). */
  sync?: boolean;
  /** Called once per block, after it is durable and before its submitters are answered. */
  onBlock?: (block: { height: number; treeSize: number; entries: number }) => void;
}

/** One block's worth of inputs and how to settle its submitters (one callback per block, not per entry). */
interface BlockJob {
  inputs: readonly EntryInput[];
  settle(results: SubmitResult[] | undefined, err?: unknown): void;
}

/** A block computed (tree, header, state, checkpoint) and waiting for its atomic write. */
interface Prepared {
  job: BlockJob;
  epoch: number;
  restore: () => void;
  height: number;
  blockHash: Uint8Array;
  treeSize: number;
  /** Leaf hashes, 32 bytes each, in entry order. */
  leaves: Uint8Array;
  write: Promise<BlockWrite>;
  /** The earliest receivedAtMs of its entries (oldestUncommittedMs). */
  minMs: number;
}

const ZERO_HASH = new Uint8Array(32);

export interface RevocationListingQuery {
  /** The tree size of a signed checkpoint (default: the latest). */
  treeSize?: number;
  /** Entries after this log index (paging cursor: `next` of the previous page). */
  after?: number;
  limit?: number;
}

/** Ledger.revocationListing: a page of the revocation list and the checkpoint it is below. */
export interface RevocationListingPage extends RevocationPage {
  treeSize: number;
  /** The signed checkpoint at treeSize; null while the log is empty or when it has no revocations line. */
  checkpoint: string | null;
}

export class Ledger extends LedgerQueries {
  readonly origin: string;
  /** The key that signs the log's checkpoints now (its signer's). */
  readonly verifierKey: string;
  /** Keys that signed its earlier checkpoints, oldest first (ledger/key-history.ts); empty for a log never rotated. */
  readonly retiredKeys: readonly RetiredKey[];
  /** The announced next key's verifier key (LedgerOptions.nextSigner); null when none. */
  readonly nextVerifierKey: string | null;
  /** The log's key, then the next key when one is announced. */
  readonly #signers: readonly NoteSigner[];
  /** When the log's key last switched (the last retired key's retiredAtMs; 0: never): no block is dated before it. */
  readonly #switchedAtMs: number;
  /** The extension lines every checkpoint ends with: the next-key line, when one is announced. */
  readonly #lastExtensions: readonly string[];
  readonly #tree: LedgerTree;
  readonly #maxEntries: number;
  readonly #maxDelayMs: number;
  readonly #clock: () => number;
  readonly #onBlock: LedgerOptions['onBlock'];
  /** Last durable block. */
  #height: number;
  /** Last computed block (runs ahead of #height while writes are in flight). */
  #tipHeight: number;
  #tipHash: Uint8Array;
  /** The revocation entries up to the tip, as every checkpoint commits to them (protocol/revocation-log.ts). */
  #tipRevocations: RevocationCommitment;
  /** Bumped when a write fails: blocks computed before that are rejected, not written. */
  #epoch = 0;
  #failure: unknown;
  #latestCheckpoint: string | undefined;
  #pending: EntryInput[] = [];
  /** Blocks computed and not yet written or failed (oldestUncommittedMs). */
  readonly #inFlight = new Set<Prepared>();
  /**
   * The earliest receivedAtMs of the blocks whose write failed since the last one committed (Infinity: none). Such a
   * block may be in the store all the same (its batch landed and a later step failed, or LevelDB replays a record
   * whose sync failed), and a reopen of the store then counts it: its entries stay unsettled (oldestUncommittedMs)
   * until a block after it commits here (the store has then dropped it) or the store is reopened.
   */
  #failedMinMs = Infinity;
  #waiters: SubmitCallback[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    backend: LedgerBackend, opts: LedgerOptions, tree: LedgerTree, height: number, blockHash: Uint8Array, revocations: RevocationCommitment,
    cp: string | undefined, hasher: MerkleHasher, retired: readonly RetiredKey[],
  ) {
    super(backend, hasher, tree.size);
    this.retiredKeys = retired;
    this.#switchedAtMs = retired.at(-1)?.retiredAtMs ?? 0;
    this.origin = opts.origin;
    this.verifierKey = formatVerifierKey(opts.signer.name, opts.signer.publicKey);
    const next = opts.nextSigner;
    this.nextVerifierKey = next ? formatVerifierKey(next.name, next.publicKey) : null;
    this.#signers = next ? [opts.signer, next] : [opts.signer];
    this.#lastExtensions = this.nextVerifierKey === null ? [] : [nextKeyExtension(this.nextVerifierKey)];
    this.#tree = tree;
    this.#maxEntries = opts.blockMaxEntries ?? 1000;
    this.#maxDelayMs = opts.blockMaxDelayMs ?? 50;
    this.#clock = opts.clock ?? Date.now;
    this.#onBlock = opts.onBlock;
    this.#height = height;
    this.#tipHeight = height;
    this.#tipHash = blockHash;
    this.#tipRevocations = revocations;
    this.#latestCheckpoint = cp;
  }

  /** The key that signed the log's checkpoint of `treeSize` (a retired one for the sizes before its rotation). */
  override verifierKeyAt(treeSize: number): string {
    return keyForTreeSize(this.verifierKey, this.retiredKeys, treeSize);
  }

  /**
   * Retire the log's checkpoint key for `next` (a rotation, ledger/key-history.ts): the checkpoints so far stay checked
   * with the retired key, every later one is signed with `next`. The ledger must not be open (this takes its store's
   * lock); `signer` is its current key (else LedgerKeyMismatchError). One synced write, the meta record (store format 2
   * from then on): the log then opens with `next` as its signer, and with no other. Refused (MALFORMED, nothing written):
   * no log there, or `next` the current key or one retired before.
   */
  static async rotateKey(opts: {
    dir: string; origin: string; signer: { name: string; publicKey: Uint8Array }; next: { name: string; publicKey: Uint8Array }; nowMs?: number;
  }): Promise<{ retired: RetiredKey; verifierKey: string }> {
    const backend = await LevelBackend.open(opts.dir, { sync: true });
    try {
      const metaBytes = await backend.readMeta();
      if (!metaBytes) fail('MALFORMED', `no log in ${opts.dir} (no meta record): nothing to rotate`, 'dir');
      const meta = decodeMeta(metaBytes);
      if (meta.format > LEDGER_FORMAT) throw new LedgerFormatError(meta.format, LEDGER_FORMAT);
      if (meta.origin !== opts.origin) fail('MALFORMED', `ledger origin is ${meta.origin}, not ${opts.origin}`, 'origin');
      const current = formatVerifierKey(opts.signer.name, opts.signer.publicKey);
      if (meta.verifierKey !== current) throw new LedgerKeyMismatchError(meta.verifierKey, current, meta.retired.find((r) => r.verifierKey === current));
      const next = formatVerifierKey(opts.next.name, opts.next.publicKey);
      if (next === current || meta.retired.some((r) => r.verifierKey === next)) fail('MALFORMED', `the next checkpoint key ${next} is the log's current key or one it retired: a new key is needed`, 'next');
      const stateBytes = await backend.readState();
      const treeSize = stateBytes ? decodeState(stateBytes).treeSize : 0;
      const retired: RetiredKey = { verifierKey: current, lastTreeSize: treeSize, retiredAtMs: opts.nowMs ?? Date.now() };
      const last = meta.retired.at(-1);
      if (last && retired.retiredAtMs < last.retiredAtMs) fail('MALFORMED', `the clock (${retired.retiredAtMs}) is before the last rotation's (${last.retiredAtMs})`, 'nowMs');
      const all = [...meta.retired, retired];
      await backend.writeMeta(encodeMeta({ origin: meta.origin, verifierKey: next, format: metaFormat(all), retired: all }));
      return { retired, verifierKey: next };
    } finally {
      await backend.close();
    }
  }

  /** Open (or create) a ledger; state comes from the small state record, not a replay. */
  static async open(opts: LedgerOptions): Promise<Ledger> {
    if (opts.backend) return Ledger.#openOn(opts.backend, opts);
    if (!opts.dir) fail('MALFORMED', 'ledger needs dir or backend', 'dir');
    // A store opened here is closed here when opening the ledger fails (wrong origin, bad state, a missing tile):
    // the caller gets that error, and the store's lock is free for the next open.
    const backend = await LevelBackend.open(opts.dir, { sync: opts.sync ?? true });
    try {
      return await Ledger.#openOn(backend, opts);
    } catch (err) {
      await backend.close().catch(() => undefined);
      throw err;
    }
  }

  static async #openOn(backend: LedgerBackend, opts: LedgerOptions): Promise<Ledger> {
    const hasher = opts.hasher ?? nodeMerkleHasher;
    const vkey = formatVerifierKey(opts.signer.name, opts.signer.publicKey);
    const metaBytes = await backend.readMeta();
    let retired: RetiredKey[] = [];
    if (metaBytes) {
      const meta = decodeMeta(metaBytes);
      // First: a later version's layout may give the other fields (or the records read next) another meaning.
      if (meta.format > LEDGER_FORMAT) throw new LedgerFormatError(meta.format, LEDGER_FORMAT);
      if (meta.origin !== opts.origin) fail('MALFORMED', `ledger origin is ${meta.origin}, not ${opts.origin}`, 'origin');
      // Another key would sign the next checkpoints, trusted by none of this log's verifiers (found by review: a key
      // file from another gateway or machine started without complaint). Every meta record has held the key since
      // the first one (decodeMeta requires it), so there is no older meta to let through.
      if (meta.verifierKey !== vkey) throw new LedgerKeyMismatchError(meta.verifierKey, vkey, meta.retired.find((r) => r.verifierKey === vkey));
      retired = meta.retired;
    }
    const stateBytes = await backend.readState();
    if (!metaBytes) {
      // The meta record is written at the first open, before any block: blocks without it lost it (a damaged or
      // partly restored store). Written again here, it would record whatever key this open was given, and the key
      // check above would have let another key sign the log's next checkpoints (found by review).
      if (stateBytes) throw new LedgerDamagedError("the ledger store holds blocks (its state record) but no meta record (the origin and checkpoint key of its first open): the store is damaged or partly restored; restore the whole ledger directory from a backup; nothing was written");
      await backend.writeMeta(encodeMeta({ origin: opts.origin, verifierKey: vkey, format: metaFormat([]), retired: [] }));
    }
    const state = stateBytes ? decodeState(stateBytes) : { treeSize: 0, frontier: [], height: -1, blockHash: ZERO_HASH };
    const tree = await LedgerTree.load(backend, hasher, state.treeSize, state.frontier);
    const cp = state.treeSize > 0 ? await backend.getCheckpoint(state.treeSize) : undefined;
    // Every block's batch holds its checkpoint: without the latest, the log would read as having none (the latest
    // checkpoint, the revocation list's, a resend's receipt: "the log is empty"), and the next block would sign over
    // the gap (found by review). Damage: nothing written.
    if (state.treeSize > 0 && cp === undefined) {
      throw new LedgerDamagedError(`the ledger store holds ${state.treeSize} entries but not the checkpoint of its latest block (at tree size ${state.treeSize}): the store is damaged; restore the whole ledger directory from a backup; nothing was written`);
    }
    const ledger = new Ledger(backend, opts, tree, state.height, state.blockHash, state.revocations ?? EMPTY_REVOCATIONS, cp, hasher, retired);
    // A ledger written before checkpoints committed to revocations: fold its revocation entries once (the type
    // index names them); the next block's state record keeps the result.
    if (!state.revocations && state.treeSize > 0) ledger.#tipRevocations = commitRevocations(await ledger.revocationLog(state.treeSize), nodeSha256);
    return ledger;
  }

  /** Committed tree size (entries in durable blocks). */
  get size(): number {
    return this.committedSize;
  }

  get height(): number {
    return this.#height;
  }

  get latestCheckpoint(): string | undefined {
    return this.#latestCheckpoint;
  }

  /** The latest checkpoint, checked with the log's key (LedgerDamagedError when it does not verify). */
  #latest(): string | undefined {
    const note = this.#latestCheckpoint;
    return note === undefined ? undefined : this.checkedNote(note, this.committedSize);
  }

  /**
   * The revocation list as a verifier takes it (GET /v1/revocations, POST /v1/verify): the revocation entries below a
   * checkpoint's size (the latest, or the one signed at `treeSize`), and that checkpoint when it commits to them (null
   * while the log is empty, or when that checkpoint has no revocations line: a ledger written before the line, until
   * its next block). `after`/`limit` page the entries. Undefined when no checkpoint was signed at `treeSize`.
   */
  revocationListing(q?: RevocationListingQuery & { treeSize?: undefined }): Promise<RevocationListingPage>;
  revocationListing(q: RevocationListingQuery): Promise<RevocationListingPage | undefined>;
  async revocationListing(q: RevocationListingQuery = {}): Promise<RevocationListingPage | undefined> {
    // The latest, read from the store at open, is checked with the log's key here, before it is parsed (found by
    // review: POST /v1/verify judged bundles with it unchecked, a note damaged on disk making a bundle of this very log
    // not valid, or one that no longer parses the client's error); one checked by tree size was by checkpoint().
    const note = q.treeSize === undefined ? this.#latest() : await this.checkpoint(q.treeSize);
    if (q.treeSize !== undefined && note === undefined) return undefined;
    const cp = note === undefined ? undefined : parseCheckpoint(parseNote(note).text);
    const treeSize = cp?.size ?? 0;
    const { after, limit } = q;
    const page = await this.revocationPage(treeSize, { ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) });
    return { treeSize, checkpoint: cp && revocationsOfCheckpoint(cp.extensions) ? note! : null, ...page };
  }

  /**
   * The earliest receivedAtMs an entry submitted and not yet committed (or failed) has, or will have once sealed,
   * bar those that will be dated at their sealing (no receivedAtMs: not before the clock's now), and a failed block's
   * (#failedMinMs: the store may hold it yet). Undefined when none. Below min(this, now), the log's entries are final:
   * a time query up to there cannot miss a later one.
   */
  oldestUncommittedMs(): number | undefined {
    let min = this.#failedMinMs;
    for (const p of this.#inFlight) if (p.minMs < min) min = p.minMs;
    for (const e of this.#pending) if (e.receivedAtMs !== undefined && e.receivedAtMs < min) min = e.receivedAtMs;
    return min === Infinity ? undefined : min;
  }

  /** Queue one entry; resolves when its block is durable. */
  submit(input: EntryInput): Promise<SubmitResult> {
    return new Promise<SubmitResult>((resolve, reject) => this.submitWith(input, (err, result) => (result ? resolve(result) : reject(err))));
  }

  /**
   * As `submit`, answered through a callback: the gateway's hot path, where a promise per entry (and the reactions
   * on it) was measurable garbage. The callback is called exactly once, never synchronously.
   */
  submitWith(input: EntryInput, done: SubmitCallback): void {
    try {
      if (this.#closed) fail('UNAVAILABLE', 'ledger is closed');
      checkInput(input);
    } catch (err) {
      queueMicrotask(() => done(err));
      return;
    }
    this.#pending.push(input);
    this.#waiters.push(done);
    if (this.#pending.length >= this.#maxEntries) this.#seal();
    else if (!this.#timer) this.#timer = setTimeout(() => this.#seal(), this.#maxDelayMs);
  }

  /** Append a whole block at once (bulk load, bench): resolves with each entry's result. */
  async appendBlock(inputs: readonly EntryInput[]): Promise<SubmitResult[]> {
    // async: a closed ledger or a bad input rejects the promise, as `submit` does, instead of throwing at the call.
    if (this.#closed) fail('UNAVAILABLE', 'ledger is closed');
    inputs.forEach(checkInput);
    if (inputs.length === 0) return [];
    return new Promise<SubmitResult[]>((resolve, reject) => {
      this.#enqueueBlock({ inputs, settle: (results, err) => (results ? resolve(results) : reject(err)) });
    });
  }

  #seal(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#pending.length > 0) {
      const waiters = this.#waiters.splice(0, this.#maxEntries);
      this.#enqueueBlock({
        inputs: this.#pending.splice(0, this.#maxEntries),
        settle: (results, err) => answerAll(waiters, results, err),
      });
    }
  }

  #enqueueBlock(job: BlockJob): void {
    let p: Prepared;
    try {
      p = this.#prepare(job);
    } catch (err) {
      job.settle(undefined, err);
      this.#failUnsealed(err);
      return;
    }
    this.#inFlight.add(p);
    this.#writing = this.#writing.then(() => this.#commit(p));
  }

  /** Compute one block on top of the tip, synchronously (so blocks are computed in order). */
  #prepare(job: BlockJob): Prepared {
    const restore = this.#snapshot();
    try {
      // Never dated before the log's last key switch either: a block signed by the new key dated before its window
      // (rotate-key run where the clock was ahead of the gateway's) would fail every verifier's key choice by time.
      const now = Math.max(this.#clock(), this.#switchedAtMs);
      const first = this.#tree.size;
      const inputs = job.inputs;
      const { data, ends, leaves, latest } = encodeBlockEntries(inputs, first, now, this.hasher, this.#tree);
      let revocations = this.#tipRevocations;
      for (let i = 0; i < inputs.length; i++) if (inputs[i]!.type === ENTRY_REVOCATION) revocations = appendRevocation(revocations, first + i, inputs[i]!.payload, nodeSha256);
      const treeSize = this.#tree.size;
      const root = this.#tree.root();
      const height = this.#tipHeight + 1;
      // Never dated before an entry it holds (a verifier checks receivedAt <= block time): a clock stepped back between
      // an entry's arrival and its block would otherwise leave that entry's bundles failing for good.
      const timeMs = latest;
      const header = encodeBlockHeader({ height, prevHash: this.#tipHash, firstIndex: first, lastIndex: treeSize - 1, treeSize, root, timeMs });
      const blockHash = nodeSha256(header);
      const state = encodeState({ treeSize, frontier: this.#tree.frontier(), height, blockHash, revocations });
      const tiles = this.#tree.flush();
      this.#tipHeight = height;
      this.#tipHash = blockHash;
      this.#tipRevocations = revocations;
      // The extension lines bind this block's header to the signed checkpoint (protocol/verify-bundle.ts) and commit
      // to every revocation entry so far (protocol/revocation-log.ts); an announced next key is named last (SPEC §7).
      const extensions = [blockExtension(height, header), revocationsExtension(revocations), ...this.#lastExtensions];
      const write = signNote(formatCheckpoint({ origin: this.origin, size: treeSize, root, extensions }), this.#signers)
        .then((checkpoint): BlockWrite => ({ height, header, firstIndex: first, lastIndex: treeSize - 1, treeSize, checkpoint, timeMs, meta: inputs, data, ends, leaves, tiles, state }));
      write.catch(() => undefined); // handled in #commit
      let minMs = timeMs;
      for (const e of inputs) minMs = Math.min(minMs, e.receivedAtMs ?? timeMs); // as encodeBlockEntries dates them
      return { job, epoch: this.#epoch, restore, height, blockHash, treeSize, leaves, write, minMs };
    } catch (err) {
      restore();
      throw err;
    }
  }

  /** Write one computed block (in order); resolve its submitters once it is durable. */
  async #commit(p: Prepared): Promise<void> {
    if (p.epoch !== this.#epoch) {
      this.#inFlight.delete(p);
      p.job.settle(undefined, this.#failure);
      return;
    }
    let block: BlockWrite;
    try {
      block = await p.write;
      await this.backend.writeBlock(block);
    } catch (err) {
      // Nothing of this block is stored, or (the new write-ahead log's directory fsync failed after its batch landed,
      // level-backend.ts) stored without a receipt out, as after a crash: roll back to before it, and drop every block
      // computed on top of it. The store's recovery reopens it from disk, and a resent reading gets its receipt then.
      this.#epoch++;
      this.#failure = err;
      this.#failedMinMs = Math.min(this.#failedMinMs, p.minMs);
      this.#inFlight.delete(p);
      p.restore();
      p.job.settle(undefined, err);
      this.#failUnsealed(err);
      return;
    }
    this.#height = p.height;
    this.#latestCheckpoint = block.checkpoint;
    this.committedSize = p.treeSize;
    this.#failedMinMs = Infinity;
    this.#inFlight.delete(p);
    const { checkpoint, meta, firstIndex, timeMs } = block;
    const results: SubmitResult[] = new Array(meta.length);
    for (let i = 0; i < meta.length; i++) {
      const leafHash = p.leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
      results[i] = { index: firstIndex + i, leafHash, receivedAtMs: meta[i]!.receivedAtMs ?? timeMs, checkpoint, blockHeight: p.height };
    }
    try {
      this.#onBlock?.({ height: p.height, treeSize: p.treeSize, entries: meta.length });
    } catch (err) {
      rethrowLater(err);
    }
    p.job.settle(results);
  }

  /**
   * A block failed: the entries submitted before that was known and not sealed yet fail with it, as the blocks
   * computed on top of it do. Stored later, they would land in the log after an earlier entry that was refused: a
   * device's reading 6 logged while its reading 5 failed turns 5's resend into a replay (gateway/lane-admission.ts).
   */
  #failUnsealed(err: unknown): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.length = 0;
    answerAll(this.#waiters.splice(0), undefined, err);
  }

  /** Undo everything computed after this point (tree and tip). */
  #snapshot(): () => void {
    const tree = this.#tree.snapshot();
    const height = this.#tipHeight;
    const hash = this.#tipHash;
    const revocations = this.#tipRevocations;
    return () => {
      tree();
      this.#tipHeight = height;
      this.#tipHash = hash;
      this.#tipRevocations = revocations;
    };
  }

  /** Seal what is pending now (without waiting for the block timer) and wait until every block is durable. */
  async flush(): Promise<void> {
    this.#seal();
    await this.#writing;
  }

  /** Seal what is pending, wait for writes, close the backend. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#seal();
    this.#closed = true;
    await this.#writing;
    await this.backend.close();
  }

}
