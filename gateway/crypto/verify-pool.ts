/**
 * Signature verification off the event loop: a small pool of worker threads running node:crypto (P-256) and
 * libsodium (Ed25519, when given: sodium.ts). Requests are batched per turn of the event loop (up to `batchSize`)
 * and sent to the least-busy worker; a batch of 256 pays the postMessage cost once (KNOWN-GROUND: 15.5k–18.3k
 * Ed25519/s through 2 workers on node:crypto). With 0 workers it verifies inline on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import * as nodeCrypto from 'node:crypto';
import { makeNodeVerify, type RawVerify } from './node-verify-factory.js';
import type { LoadedSodium } from './sodium.js';

export interface VerifyRequest {
  alg: number;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** A signature check's answer: an error (the pool failed), or whether the signature verifies. */
export type VerifyCallback = (err: Error | undefined, ok: boolean) => void;

interface WorkerSlot {
  worker: Worker;
  inflight: number;
  batches: Map<number, VerifyCallback[]>;
}

/**
 * A batch crosses to a worker as ONE transferred ArrayBuffer: per item alg (1 byte: 0 = EdDSA -8, 1 = ES256 -7),
 * key length (1), message length (2, big-endian), signature length (1), key slot (4, big-endian), then key, message,
 * signature. Posting the request objects instead costs a structured clone per item, and a Uint8Array view clones its
 * whole backing buffer (a signature is a view into the MQTT packet), which profiling showed on the main thread.
 * The key slot numbers each distinct key object (a device's key is one object in the registry), so a worker finds
 * its KeyObject by number instead of by the key's base64 text (3% of a worker's time).
 */
const HEADER = 9;
const BATCHES_PER_WORKER = 2;

function packBatch(items: VerifyRequest[], slotOf: (key: Uint8Array) => number): ArrayBuffer {
  let size = 0;
  for (const it of items) size += HEADER + it.publicKey.length + it.message.length + it.signature.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const it of items) {
    // Lengths beyond a field's range cannot verify; send them empty so the worker answers false.
    const ok = it.publicKey.length < 256 && it.message.length < 65536 && it.signature.length < 256 && (it.alg === -8 || it.alg === -7);
    const pk = ok ? it.publicKey : EMPTY;
    const msg = ok ? it.message : EMPTY;
    const sig = ok ? it.signature : EMPTY;
    out[o] = it.alg === -7 ? 1 : 0;
    out[o + 1] = pk.length;
    out[o + 2] = msg.length >>> 8;
    out[o + 3] = msg.length & 0xff;
    out[o + 4] = sig.length;
    const slot = slotOf(it.publicKey);
    out[o + 5] = slot >>> 24;
    out[o + 6] = (slot >>> 16) & 0xff;
    out[o + 7] = (slot >>> 8) & 0xff;
    out[o + 8] = slot & 0xff;
    o += HEADER;
    out.set(pk, o);
    o += pk.length;
    out.set(msg, o);
    o += msg.length;
    out.set(sig, o);
    o += sig.length;
  }
  return out.buffer;
}
const EMPTY = new Uint8Array(0);

/**
 * Verify workers run at a lower OS priority than the event loop (Linux: a thread's nice value is its own, set
 * through /proc/thread-self's tid; elsewhere this is skipped). The event loop (MQTT I/O, sequencing, blocks,
 * receipts) then gets a core whenever it has work, and verification takes what is left: with as many workers as
 * cores, verification uses both cores when the loop idles, without starving it when it does not (equal shares made
 * receipt p99 at 80% load 3-4x worse with two workers on two cores).
 */
export const VERIFY_WORKER_NICE = 10;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (workerData.nice && Number.isInteger(tid) && tid > 0) require('node:os').setPriority(tid, workerData.nice);
} catch {}
const makeNodeVerify = ${makeNodeVerify.toString()};
const verify = makeNodeVerify(crypto, 100000, workerData.sodiumPath ? require(workerData.sodiumPath) : null);
parentPort.on('message', (batch) => {
  const buf = new Uint8Array(batch.packed);
  const results = new Uint8Array(batch.count);
  let o = 0;
  for (let i = 0; i < batch.count; i++) {
    const alg = buf[o] === 1 ? -7 : -8;
    const pkLen = buf[o + 1], msgLen = (buf[o + 2] << 8) | buf[o + 3], sigLen = buf[o + 4];
    const slot = ((buf[o + 5] << 24) | (buf[o + 6] << 16) | (buf[o + 7] << 8) | buf[o + 8]) >>> 0;
    o += ${HEADER};
    const pk = buf.subarray(o, o + pkLen); o += pkLen;
    const msg = buf.subarray(o, o + msgLen); o += msgLen;
    const sig = buf.subarray(o, o + sigLen); o += sigLen;
    results[i] = verify(alg, pk, msg, sig, slot) ? 1 : 0;
  }
  parentPort.postMessage({ id: batch.id, results }, [results.buffer]);
});
`;

export class VerifyPool {
  private readonly slots: WorkerSlot[] = [];
  private readonly inline: RawVerify | null;
  private queue: { req: VerifyRequest; done: VerifyCallback }[] = [];
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

  /** `sodium`: verify Ed25519 with libsodium (sodium.ts), in the workers and inline; null: node:crypto only. */
  constructor(workers: number, private readonly batchSize = 256, nice = VERIFY_WORKER_NICE, sodium: LoadedSodium | null = null) {
    this.inline = workers === 0 ? makeNodeVerify(nodeCrypto, undefined, sodium?.binding ?? null) : null;
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { nice, sodiumPath: sodium?.path ?? null } });
      const slot: WorkerSlot = { worker, inflight: 0, batches: new Map() };
      worker.on('message', (msg: { id: number; results: Uint8Array }) => {
        const batch = slot.batches.get(msg.id);
        if (!batch) return;
        slot.batches.delete(msg.id);
        slot.inflight -= batch.length;
        for (let k = 0; k < batch.length; k++) answer(batch[k]!, undefined, msg.results[k] === 1);
        if (this.queue.length > 0) this.flush();
      });
      worker.on('error', (err) => this.failSlot(slot, err));
      worker.unref();
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
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
      queueMicrotask(() => done(new Error('verify pool is closed'), false));
      return;
    }
    if (this.inline) {
      const ok = this.inline(req.alg, req.publicKey, req.message, req.signature);
      queueMicrotask(() => done(undefined, ok));
      return;
    }
    this.queue.push({ req, done });
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
      if (!slot) return;
      const take = this.queue.splice(0, this.batchSize);
      const id = this.nextId++;
      slot.batches.set(id, take.map((t) => t.done));
      slot.inflight += take.length;
      const packed = packBatch(take.map((t) => t.req), this.slotOf);
      slot.worker.postMessage({ id, count: take.length, packed }, [packed]);
    }
  }

  private failSlot(slot: WorkerSlot, err: Error): void {
    for (const batch of slot.batches.values()) for (const done of batch) answer(done, err, false);
    slot.batches.clear();
    slot.inflight = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) answer(q.done, new Error('verify pool is closed'), false);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
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
