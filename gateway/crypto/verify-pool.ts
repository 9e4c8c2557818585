/**
 * Signature verification off the event loop: a small pool of worker threads running node:crypto (P-256) and
 * libsodium (Ed25519, when given: sodium.ts). Requests are batched per turn of the event loop (up to `batchSize`)
 * and sent to the least-busy worker; a batch of 256 pays the postMessage cost once (KNOWN-GROUND: 15.5k–18.3k
 * Ed25519/s through 2 workers on node:crypto). With 0 workers it verifies inline on the calling thread.
 *
 * A worker that dies (an uncaught error in it, or its thread ending for any other reason: 'error' and/or 'exit')
 * leaves the pool at once: every request it held is checked once more on another worker (answered UNAVAILABLE if
 * that one dies too, or none runs: the device keeps the reading and resends it), and a replacement is started, at once the first time, with a growing delay (RESTART_MIN_MS doubling up to
 * RESTART_MAX_MS) while workers keep dying. While no worker is running, requests are answered UNAVAILABLE rather
 * than held.
 */
import { Worker } from 'node:worker_threads';
import * as nodeCrypto from 'node:crypto';
import { makeNodeVerify, type RawVerify } from './node-verify-factory.js';
import { packBatch, VERIFY_WORKER_NICE, VERIFY_WORKER_SOURCE } from './verify-batch.js';

export { VERIFY_WORKER_NICE };
import type { LoadedSodium } from './sodium.js';
import { OriginProofError } from '../../protocol/errors.js';

export interface VerifyRequest {
  alg: number;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** A signature check's answer: an error (the pool failed), or whether the signature verifies. */
export type VerifyCallback = (err: Error | undefined, ok: boolean) => void;

/** A request waiting for, or in, a worker's batch; `retried`: it was in a batch whose worker died. */
interface Queued {
  req: VerifyRequest;
  done: VerifyCallback;
  retried: boolean;
}

interface WorkerSlot {
  worker: Worker;
  inflight: number;
  batches: Map<number, Queued[]>;
  /** KeyObjects the worker holds, as of its last answer. */
  keys: number;
  /** The worker is gone ('error' or 'exit'): out of the pool, its batches answered. */
  dead: boolean;
  /** One of the pool's first workers that has not said `ready` yet (VerifyPool.started). */
  starting: boolean;
}

/** Delay before replacing a worker that died soon (DEATH_STREAK_RESET_MS) after another: doubles from MIN to MAX. */
export const RESTART_MIN_MS = 100;
export const RESTART_MAX_MS = 10_000;
/** A worker death this long after the previous one is replaced at once again. */
const DEATH_STREAK_RESET_MS = 60_000;

const BATCHES_PER_WORKER = 2;

export class VerifyPool {
  private readonly slots: WorkerSlot[] = [];
  private readonly inline: RawVerify | null;
  private queue: Queued[] = [];
  private scheduled = false;
  private nextId = 1;
  private readonly keySlots = new WeakMap<Uint8Array, number>();
  private nextSlot = 0;
  private readonly slotOf = (key: Uint8Array): number => {
    let slot = this.keySlots.get(key);
    if (slot === undefined) {
      slot = this.nextSlot;
      this.nextSlot = (this.nextSlot + 1) >>> 0;
      this.keySlots.set(key, slot);
    }
    return slot;
  };
  private closed = false;
  private readonly workerData: { nice: number; sodiumPath: string | null; keyCacheSize: number };
  /** Workers that died and are not replaced yet. */
  private missing = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Deaths in a row, each within DEATH_STREAK_RESET_MS of the one before: sets the restart delay. */
  private deathStreak = 0;
  private lastDeathAt = -Infinity;
  /** The answer while no worker runs (set when a worker dies). */
  private outage: OriginProofError | null = null;
  private replaced = 0;
  private firstStarting: number;
  private firstStarted!: (failure: Error | null) => void;
  private readonly firstStart = new Promise<Error | null>((resolve) => (this.firstStarted = resolve));

  /**
   * `sodium`: verify Ed25519 with libsodium (sodium.ts), in the workers and inline; null: node:crypto only.
   * `keyCacheSize`: most KeyObjects each worker (and the inline verifier) keeps (the gateway: mqttMaxConnections).
   */
  constructor(workers: number, private readonly batchSize = 256, nice = VERIFY_WORKER_NICE, sodium: LoadedSodium | null = null, keyCacheSize = 100_000) {
    this.inline = workers === 0 ? makeNodeVerify(nodeCrypto, keyCacheSize, sodium?.binding ?? null) : null;
    this.workerData = { nice, sodiumPath: sodium?.path ?? null, keyCacheSize };
    this.firstStarting = workers;
    if (workers === 0) this.firstStarted(null);
    try {
      for (let i = 0; i < workers; i++) this.spawn(true);
    } catch (err) {
      // A worker that cannot even be created (node throws at once: ERR_WORKER_INIT_FAILED when the thread cannot be
      // made, e.g. EAGAIN at the process's thread limit): the ones made before it end, so that no thread is left
      // holding the process with no pool to close it (found by review: the 2nd of 2 failing left the 1st running).
      this.closed = true;
      for (const slot of this.slots.splice(0)) {
        slot.dead = true;
        slot.worker.unref();
        void slot.worker.terminate().catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * Once the first workers have started (each loaded its verifier: null), or one of them died first: why (its cause;
   * it is replaced as any worker that dies). The gateway's start waits for it, so that a worker that could not start
   * for want of a file descriptor refuses the start, instead of a gateway answering every reading UNAVAILABLE.
   */
  started(): Promise<Error | null> {
    return this.firstStart;
  }

  /** Workers running now (fewer than configured while a dead one waits for its replacement). */
  get size(): number {
    return this.slots.length;
  }

  /** Told of each worker that died while the pool was open (the gateway counts and logs them). */
  onWorkerLost: (cause: Error) => void = () => {};

  /** KeyObjects the workers hold (as of their last answers), or the inline verifier with 0 workers. */
  get keysCached(): number {
    if (this.inline) return this.inline.keys();
    let n = 0;
    for (const s of this.slots) n += s.keys;
    return n;
  }

  /** Workers started to replace ones that died. */
  get restarts(): number {
    return this.replaced;
  }

  private spawn(first = false): void {
    const worker = new Worker(VERIFY_WORKER_SOURCE, { eval: true, workerData: this.workerData });
    const slot: WorkerSlot = { worker, inflight: 0, batches: new Map(), keys: 0, dead: false, starting: first };
    worker.on('message', (msg: { id: number; results: Uint8Array; keys: number } | { ready: true }) => {
      if ('ready' in msg) {
        if (slot.starting) {
          slot.starting = false;
          worker.unref();
          if (--this.firstStarting === 0) this.firstStarted(null);
        }
        return;
      }
      const batch = slot.batches.get(msg.id);
      if (!batch) return;
      slot.keys = msg.keys;
      slot.batches.delete(msg.id);
      slot.inflight -= batch.length;
      for (let k = 0; k < batch.length; k++) answer(batch[k]!.done, undefined, msg.results[k] === 1);
      if (this.queue.length > 0) this.flush();
    });
    // An uncaught error in the worker emits 'error' and then 'exit'; a thread ended otherwise only 'exit'.
    worker.on('error', (err) => this.lost(slot, err));
    worker.on('exit', (code) => this.lost(slot, new Error(`verify worker exited with code ${code}`)));
    // Held (the process kept alive) while one of the first workers starts, so that started() settles: unreferenced,
    // a process waiting on it with nothing else to do exited 13 ("unsettled top-level await") before a worker that
    // could not start said so (seen in a CI run of start-file-limit-later-stages). Then unreferenced, as the others.
    if (!first) worker.unref();
    this.slots.push(slot);
  }

  verify(req: VerifyRequest): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => this.check(req, (err, ok) => (err ? reject(err) : resolve(ok))));
  }

  /**
   * As `verify`, answered through a callback (the gateway's hot path: no promise per reading). The callback is
   * called exactly once, never synchronously.
   */
  check(req: VerifyRequest, done: VerifyCallback): void {
    if (this.closed) {
      queueMicrotask(() => done(closedError(), false));
      return;
    }
    if (this.inline) {
      const ok = this.inline(req.alg, req.publicKey, req.message, req.signature);
      queueMicrotask(() => done(undefined, ok));
      return;
    }
    if (this.slots.length === 0) {
      // Every worker died and the replacement waits for its restart delay: the device resends later.
      const err = this.outage ?? unavailable(undefined);
      queueMicrotask(() => done(err, false));
      return;
    }
    this.queue.push({ req, done, retried: false });
    if (this.queue.length >= this.batchSize) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Send queued requests to workers, at most BATCHES_PER_WORKER batches in flight each (one being verified, one
   * waiting so the worker never idles). While every worker is busy, requests gather into bigger batches and go when
   * a worker answers: under load a postMessage carries up to `batchSize` requests instead of the few that arrive in
   * one turn of the event loop, and when idle a lone request still goes at once.
   */
  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      let slot: WorkerSlot | undefined;
      for (const s of this.slots) if (s.batches.size < BATCHES_PER_WORKER && (!slot || s.inflight < slot.inflight)) slot = s;
      if (!slot) {
        // No worker at all (they died): answer now instead of holding requests until a replacement runs.
        if (this.slots.length === 0) this.failQueue(this.outage ?? unavailable(undefined));
        return;
      }
      const take = this.queue.splice(0, this.batchSize);
      const id = this.nextId++;
      slot.batches.set(id, take);
      slot.inflight += take.length;
      const packed = packBatch(take.map((t) => t.req), this.slotOf);
      slot.worker.postMessage({ id, count: take.length, packed }, [packed]);
    }
  }

  /**
   * A worker died: out of the pool, everything it held answered (UNAVAILABLE: the device resends), a replacement
   * started (unless closing). Called for 'error' and for 'exit'; the second call is a no-op.
   */
  private lost(slot: WorkerSlot, cause: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    if (slot.starting) this.firstStarted(cause);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate().catch(() => undefined); // after 'error' it is ending anyway; make sure
    const err = this.closed ? closedError() : unavailable(cause);
    const batches = [...slot.batches.values()];
    slot.batches.clear();
    slot.inflight = 0;
    if (!this.closed) {
      try {
        this.onWorkerLost(cause);
      } catch {
        /* an observer's failure must not stop the recovery below */
      }
      this.outage = err;
      this.missing++;
      this.scheduleRestart();
    }
    // Checked once more on another (or the replacement) worker: answered UNAVAILABLE, a device whose next reading
    // got through first would have its resend refused as REPLAY. A request whose retry died too is answered.
    const retry: Queued[] = [];
    for (const batch of batches) {
      for (const q of batch) {
        if (this.closed || q.retried) answer(q.done, err, false);
        else retry.push({ req: q.req, done: q.done, retried: true });
      }
    }
    if (retry.length > 0) this.queue.unshift(...retry);
    if (this.queue.length > 0) this.flush();
  }

  /** Replace dead workers: at once after a lone death, later while they keep dying (no spinning). */
  private scheduleRestart(): void {
    const now = performance.now();
    if (now - this.lastDeathAt > DEATH_STREAK_RESET_MS) this.deathStreak = 0;
    this.lastDeathAt = now;
    this.deathStreak++;
    if (this.restartTimer) return; // the pending restart starts every missing worker
    if (this.deathStreak === 1) return this.restart();
    const delay = Math.min(RESTART_MIN_MS * 2 ** (this.deathStreak - 2), RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restart();
    }, delay);
    this.restartTimer.unref();
  }

  private restart(): void {
    while (this.missing > 0 && !this.closed) {
      this.missing--;
      this.replaced++;
      try {
        this.spawn();
      } catch (err) {
        // Could not even start one: count it as another death (the streak makes the next try wait).
        this.missing++;
        this.outage = unavailable(err);
        this.scheduleRestart();
        return;
      }
    }
    if (this.queue.length > 0) this.flush();
  }

  private failQueue(err: Error): void {
    for (const q of this.queue.splice(0)) answer(q.done, err, false);
  }

  /** Stop: queued requests and those the workers hold are answered (an error), the threads end. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.failQueue(closedError());
    const slots = [...this.slots];
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const s of slots) this.lost(s, new Error('verify pool closed')); // answered already by 'exit' if it came
  }
}

function closedError(): OriginProofError {
  return new OriginProofError('UNAVAILABLE', 'verify pool is closed: the gateway is shutting down; resend after reconnecting');
}

function unavailable(cause: unknown): OriginProofError {
  return new OriginProofError('UNAVAILABLE', 'the signature check could not be done (a verification worker stopped); resend the reading', cause === undefined ? {} : { cause });
}

/** One caller's callback that throws must not keep the rest of a batch from their answers. */
function answer(done: VerifyCallback, err: Error | undefined, ok: boolean): void {
  try {
    done(err, ok);
  } catch (thrown) {
    queueMicrotask(() => {
      throw thrown;
    });
  }
}
