/**
 * The ledger: entries sealed into hash-linked blocks (by count or time, whichever first), an RFC 9162 tree,
 * a C2SP checkpoint signed after every block, everything of one block in one atomic backend write.
 * `submit` resolves only once its block is durable, so the gateway sends receipts after durability.
 */
import { formatVerifierKey, signCheckpoint, type NoteSigner } from '../protocol/checkpoint.js';
import { fail } from '../protocol/errors.js';
import { encodeBlockHeader } from '../protocol/bundle.js';
import { blockExtension } from '../protocol/verify-bundle.js';
import { encodeLogEntry, ENTRY_TYPES, type EntryType } from '../protocol/log-entry.js';
import type { MerkleHasher } from '../protocol/merkle/index.js';
import type { EntryWrite, LedgerBackend } from './backend.js';
import { nodeMerkleHasher, nodeSha256 } from './hasher.js';
import { LevelBackend } from './level-backend.js';
import { decodeMeta, decodeState, encodeMeta, encodeState } from './state.js';
import { LedgerTree } from './tree.js';
import { LedgerQueries } from './queries.js';

export interface EntryInput {
  type: EntryType;
  payload: Uint8Array;
  certRef?: Uint8Array;
  receivedAtMs?: number;
  deviceId?: string;
  seq?: number;
}

export interface SubmitResult {
  index: number;
  leafHash: Uint8Array;
  receivedAtMs: number;
  checkpoint: string;
  blockHeight: number;
}

export interface LedgerOptions {
  /** LevelDB directory (or pass `backend`). */
  dir?: string;
  backend?: LedgerBackend;
  /** Checkpoint origin line, e.g. `originproof.example/log`; also the key name. */
  origin: string;
  signer: NoteSigner & { publicKey: Uint8Array };
  blockMaxEntries?: number;
  blockMaxDelayMs?: number;
  clock?: () => number;
  hasher?: MerkleHasher;
  /** fsync each block (LevelDB; default true). */
  sync?: boolean;
}

interface Pending {
  input: EntryInput;
  resolve: (r: SubmitResult) => void;
  reject: (e: unknown) => void;
}

const ZERO_HASH = new Uint8Array(32);

export class Ledger extends LedgerQueries {
  readonly origin: string;
  readonly verifierKey: string;
  readonly #signer: NoteSigner;
  readonly #tree: LedgerTree;
  readonly #maxEntries: number;
  readonly #maxDelayMs: number;
  readonly #clock: () => number;
  #height: number;
  #blockHash: Uint8Array;
  #latestCheckpoint: string | undefined;
  #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(backend: LedgerBackend, opts: LedgerOptions, tree: LedgerTree, height: number, blockHash: Uint8Array, cp: string | undefined, hasher: MerkleHasher) {
    super(backend, hasher, tree.size);
    this.origin = opts.origin;
    this.verifierKey = formatVerifierKey(opts.signer.name, opts.signer.publicKey);
    this.#signer = opts.signer;
    this.#tree = tree;
    this.#maxEntries = opts.blockMaxEntries ?? 1000;
    this.#maxDelayMs = opts.blockMaxDelayMs ?? 50;
    this.#clock = opts.clock ?? Date.now;
    this.#height = height;
    this.#blockHash = blockHash;
    this.#latestCheckpoint = cp;
  }

  /** Open (or create) a ledger; state comes from the small state record, not a replay. */
  static async open(opts: LedgerOptions): Promise<Ledger> {
    const backend = opts.backend ?? (opts.dir ? await LevelBackend.open(opts.dir, { sync: opts.sync ?? true }) : fail('MALFORMED', 'ledger needs dir or backend', 'dir'));
    const hasher = opts.hasher ?? nodeMerkleHasher;
    const vkey = formatVerifierKey(opts.signer.name, opts.signer.publicKey);
    const metaBytes = await backend.readMeta();
    if (metaBytes) {
      const meta = decodeMeta(metaBytes);
      if (meta.origin !== opts.origin) fail('MALFORMED', `ledger origin is ${meta.origin}, not ${opts.origin}`, 'origin');
    } else {
      await backend.writeMeta(encodeMeta({ origin: opts.origin, verifierKey: vkey }));
    }
    const stateBytes = await backend.readState();
    const state = stateBytes ? decodeState(stateBytes) : { treeSize: 0, frontier: [], height: -1, blockHash: ZERO_HASH };
    const tree = await LedgerTree.load(backend, hasher, state.treeSize, state.frontier);
    const cp = state.treeSize > 0 ? await backend.getCheckpoint(state.treeSize) : undefined;
    return new Ledger(backend, opts, tree, state.height, state.blockHash, cp, hasher);
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

  /** Queue one entry; resolves when its block is durable. */
  submit(input: EntryInput): Promise<SubmitResult> {
    if (this.#closed) return Promise.reject(fail('UNAVAILABLE', 'ledger is closed'));
    checkInput(input);
    return new Promise<SubmitResult>((resolve, reject) => {
      this.#pending.push({ input, resolve, reject });
      if (this.#pending.length >= this.#maxEntries) this.#seal();
      else if (!this.#timer) this.#timer = setTimeout(() => this.#seal(), this.#maxDelayMs);
    });
  }

  /** Append a whole block at once (bulk load, bench): resolves with each entry's result. */
  appendBlock(inputs: readonly EntryInput[]): Promise<SubmitResult[]> {
    if (this.#closed) return Promise.reject(fail('UNAVAILABLE', 'ledger is closed'));
    inputs.forEach(checkInput);
    const batch: Pending[] = [];
    const all = inputs.map((input) => new Promise<SubmitResult>((resolve, reject) => batch.push({ input, resolve, reject })));
    if (batch.length > 0) this.#enqueueBlock(batch);
    return Promise.all(all);
  }

  #seal(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#pending.length > 0) this.#enqueueBlock(this.#pending.splice(0, this.#maxEntries));
  }

  #enqueueBlock(batch: Pending[]): void {
    this.#writing = this.#writing.then(() => this.#writeBlock(batch));
  }

  async #writeBlock(batch: Pending[]): Promise<void> {
    const restore = this.#tree.snapshot();
    try {
      const now = this.#clock();
      const first = this.#tree.size;
      const entries: EntryWrite[] = [];
      const results: SubmitResult[] = [];
      for (let i = 0; i < batch.length; i++) {
        const inp = batch[i]!.input;
        const index = first + i;
        const receivedAtMs = inp.receivedAtMs ?? now;
        const bytes = encodeLogEntry({ type: inp.type, index, receivedAtMs, payload: inp.payload, ...(inp.certRef ? { certRef: inp.certRef } : {}) });
        const leaf = this.hasher.hashLeaf(bytes);
        this.#tree.append(leaf);
        entries.push({ index, bytes, type: inp.type, receivedAtMs, deviceId: inp.deviceId, seq: inp.seq });
        results.push({ index, leafHash: leaf, receivedAtMs, checkpoint: '', blockHeight: 0 });
      }
      const treeSize = this.#tree.size;
      const root = this.#tree.root();
      const height = this.#height + 1;
      const header = encodeBlockHeader({ height, prevHash: this.#blockHash, firstIndex: first, lastIndex: treeSize - 1, treeSize, root, timeMs: now });
      const blockHash = nodeSha256(header);
      // The extension line binds this block's header to the signed checkpoint (protocol/verify-bundle.ts).
      const checkpoint = await signCheckpoint({ origin: this.origin, size: treeSize, root, extensions: [blockExtension(height, header)] }, this.#signer);
      const state = encodeState({ treeSize, frontier: this.#tree.frontier(), height, blockHash });
      await this.backend.writeBlock({ height, header, firstIndex: first, lastIndex: treeSize - 1, treeSize, checkpoint, entries, tiles: this.#tree.flush(), state });
      this.#height = height;
      this.#blockHash = blockHash;
      this.#latestCheckpoint = checkpoint;
      this.committedSize = treeSize;
      batch.forEach((p, i) => p.resolve({ ...results[i]!, checkpoint, blockHeight: height }));
    } catch (err) {
      restore();
      batch.forEach((p) => p.reject(err));
    }
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

function checkInput(inp: EntryInput): void {
  if (!(ENTRY_TYPES as readonly number[]).includes(inp.type)) fail('MALFORMED', `unknown entry type ${String(inp.type)}`, 'type');
  if (!(inp.payload instanceof Uint8Array)) fail('MALFORMED', 'payload must be bytes', 'payload');
  if ((inp.deviceId === undefined) !== (inp.seq === undefined)) fail('MALFORMED', 'deviceId and seq go together', 'seq');
  if (inp.seq !== undefined && (!Number.isSafeInteger(inp.seq) || inp.seq < 0)) fail('MALFORMED', 'seq must be a uint', 'seq');
}
