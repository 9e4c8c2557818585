/**
 * The entries side of `ledger verify` (ledger/verify.ts): runs of entries are read from the backend and checked
 * (decoded, leaf-hashed, revocation statements hashed; ledger/verify-run.ts) in worker threads ahead of the main
 * thread, which consumes their results in log order without an await per entry.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HASH_SIZE } from '../protocol/merkle/index.js';
import { checkRun, type RunResult } from './verify-run.js';

export interface Checker {
  workers: number;
  check(first: number, entries: Uint8Array[]): Promise<RunResult>;
  close(): Promise<void>;
}

/** Worker threads running ledger/verify-worker.js when it sits next to this file (compiled), else inline. */
export function startChecker(workers: number): Checker {
  const script = new URL('./verify-worker.js', import.meta.url);
  if (workers < 1 || !import.meta.url.endsWith('.js') || !existsSync(fileURLToPath(script))) {
    return { workers: 0, check: async (first, entries) => checkRun(first, entries), close: async () => undefined };
  }
  const pool = Array.from({ length: workers }, () => new Worker(script));
  const waiting = new Map<number, { resolve: (r: RunResult) => void; reject: (e: unknown) => void }>();
  let next = 0;
  const failAll = (err: unknown): void => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  for (const w of pool) {
    w.on('message', (m: RunResult & { id: number }) => {
      const p = waiting.get(m.id);
      waiting.delete(m.id);
      p?.resolve(m);
    });
    w.on('error', failAll);
  }
  return {
    workers,
    check: (first, entries) => new Promise<RunResult>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      pool[id % pool.length]!.postMessage({ id, first, entries });
    }),
    close: async () => {
      failAll(new Error('verify finished'));
      await Promise.all(pool.map((w) => w.terminate()));
    },
  };
}

/** Leaf hashes in entry order: runs are checked ahead (up to DEPTH runs in flight), consumed without an await per entry. */
export class LeafReader {
  static readonly DEPTH = 8;
  readonly #queue: { first: number; count: number; result: Promise<RunResult> }[] = [];
  #first = 0;
  #count = 0;
  #pos = 0;
  #run: RunResult = { leaves: new Uint8Array(0), types: new Uint8Array(0), receivedAtMs: new Float64Array(0), revocations: [] };
  /** Next of the run's revocation hashes. */
  #rev = 0;
  #done = false;

  constructor(private readonly it: AsyncIterator<[number, Uint8Array[]]>, private readonly checker: Checker) {}

  ready(): boolean {
    return this.#pos < this.#count;
  }

  /** Load the next run; false at the end. */
  async fill(): Promise<boolean> {
    while (!this.ready()) {
      while (!this.#done && this.#queue.length < LeafReader.DEPTH) {
        const r = await this.it.next();
        if (r.done) this.#done = true;
        else {
          const result = this.checker.check(r.value[0], r.value[1]);
          result.catch(() => undefined);
          this.#queue.push({ first: r.value[0], count: r.value[1].length, result });
        }
      }
      const head = this.#queue.shift();
      if (!head) return false;
      this.#run = await head.result;
      [this.#first, this.#count, this.#pos, this.#rev] = [head.first, head.count, 0, 0];
    }
    return true;
  }

  get index(): number {
    return this.#first + this.#pos;
  }

  get workers(): number {
    return this.checker.workers;
  }

  /** The problem with the entry at the cursor, if it is the run's bad entry. */
  bad(): string | undefined {
    const b = this.#run.bad;
    return b && b.entry === this.index ? b.message : undefined;
  }

  /** Type of the entry at the cursor. */
  type(): number {
    return this.#run.types[this.#pos]!;
  }

  /** receivedAtMs of the entry at the cursor. */
  receivedAtMs(): number {
    return this.#run.receivedAtMs[this.#pos]!;
  }

  /** SHA-256 of the payload of the revocation entry at the cursor. */
  statementHash(): Uint8Array {
    const r = this.#run.revocations[this.#rev];
    if (!r || r.index !== this.index) throw new Error(`entry ${this.index}: its statement was not hashed`);
    this.#rev++;
    return r.statementHash;
  }

  /** Leaf hash of the entry at the cursor (a view, valid while this run is current); moves the cursor on. */
  take(): Uint8Array {
    const off = this.#pos++ * HASH_SIZE;
    return this.#run.leaves.subarray(off, off + HASH_SIZE);
  }

  async close(): Promise<void> {
    await this.it.return?.();
    await this.checker.close();
  }
}
