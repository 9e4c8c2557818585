/**
 * The ingestion pipeline: every reading is checked, then sequenced per device, appended to the log, and
 * answered with a receipt (after its block is durable) or a rejection (with a stable code). Checks, in order:
 * size, CBOR and schema (incl. the biometric privacy rule), key/certificate lookup, certificate and agency
 * validity and revocation at the reading's time, reading type, firmware, signature (worker threads), clock,
 * and replay. Signature checks of different readings run in parallel; admission per device is in arrival order.
 * A certificate, claim or clock failure is answered at the reading's turn in its device's lane, where a resend of a
 * logged envelope is recognised first (and gets its original receipt); a reading refused UNAVAILABLE in its lane
 * refuses the device's readings that arrived before the refusal too (DeviceLane.order).
 */
import { OriginProofError, fail } from '../protocol/errors.js';
import { openReading, readingSeqOf } from '../protocol/reading.js';
import { bytesEqual } from '../protocol/bytes.js';
import { encodeReceiptTransient, encodeRejection } from '../protocol/receipt.js';
import type { VerifyPool, VerifyRequest } from './crypto/verify-pool.js';
import type { Registry } from './registry.js';
import type { GatewayMetrics } from './metrics.js';
import { ENTRY_READING } from '../protocol/log-entry.js';
import { Fifo } from './fifo.js';
import { AdmissionQueue } from './admission-queue.js';
import { StorageGate } from './storage-gate.js';
import { createLane, findPending, rejectWith, removePending, type DeviceLane, type Job, type Outcome, type PendingEntry } from './device-lane.js';
import { checkReadingPolicy, readingClockProblem } from './reading-policy.js';
import type { ReadingLog } from './reading-log.js';
import { ArrivalTimes } from './arrival-times.js';

export type { Outcome } from './device-lane.js';

export interface PipelineOptions {
  maxReadingBytes: number;
  clockSkewSeconds: number;
  /** How old a reading may be when it arrives (devices buffer readings while offline). */
  maxReadingAgeSeconds: number;
  queueHighWater: number;
  now?: () => number; // ms
  /** A reading left the queue and fewer than the high-water mark are parked (the broker reads waiting devices again). */
  onSpace?: () => void;
  /**
   * A reading of this device was refused UNAVAILABLE after it joined its lane: the readings it sent after that one
   * are refused too (DeviceLane.order); close its connection, so that it reconnects and resends them in seq order.
   */
  onOrderBroken?: (deviceId: string) => void;
}

const OUT_OF_ORDER = 'an earlier reading of this device was refused UNAVAILABLE: reconnect, then resend every kept reading in seq order';

const ACCEPTED: Promise<void> = Promise.resolve();

export class Pipeline {
  private readonly lanes = new Map<string, DeviceLane>();
  private readonly queue: AdmissionQueue;
  private accepting = true;
  /** Readings taken and not yet answered; drain() waits for none. */
  private inflight = 0;
  private idle = new Fifo<() => void>();
  private readonly now: () => number;
  private readonly storage = new StorageGate();
  private readonly arrivals = new ArrivalTimes();

  constructor(
    private readonly registry: Registry,
    private readonly log: ReadingLog,
    private readonly pool: VerifyPool,
    private readonly metrics: GatewayMetrics,
    private readonly opts: PipelineOptions,
    /**
     * Delivers an answer to the device (MQTT receipts / rejections topic). The payload is valid only during the call
     * (a receipt is encoded in the CBOR encoder's scratch buffer): write or copy it before returning.
     */
    private readonly deliver: (deviceId: string, kind: 'receipts' | 'rejections', payload: Uint8Array) => void | Promise<void>,
  ) {
    this.now = opts.now ?? Date.now;
    this.queue = new AdmissionQueue(opts.queueHighWater, (d) => metrics.queueDepth.set(d), opts.onSpace);
  }

  get queueDepth(): number {
    return this.queue.depth;
  }

  /** The broker stops reading devices until this clears (admission-queue.ts, mqtt/read-gate.ts). */
  get full(): boolean {
    return this.queue.full;
  }

  /** Readings taken above the high-water mark, waiting for a slot (their publishers' MQTT flow is held). */
  get parked(): number {
    return this.queue.parked;
  }

  /** The earliest arrival time (receivedAtMs) of a reading taken and not answered yet; undefined when none. */
  oldestInFlightMs(): number | undefined {
    return this.arrivals.oldest();
  }

  /** How many times ingestion resumed after a storage failure: the broker's connection epoch. */
  get epoch(): number {
    return this.storage.resumes;
  }

  /**
   * The store failed: answer every reading STORAGE_UNAVAILABLE (the device keeps it and resends it later), including
   * those already on their way to the ledger, until `resume`.
   */
  suspend(failure: OriginProofError): void {
    this.storage.suspend(failure);
  }

  /**
   * The store is open again, its state re-derived from disk: forget every device lane (the last accepted seq is
   * read again from the ledger) and take readings again. Readings that arrived before this point are still
   * answered STORAGE_UNAVAILABLE, and the broker closes connections from before it (connection epoch): a device
   * whose earlier readings were refused resends them, in sequence order, after reconnecting, before anything newer
   * can be accepted. Without that, a newer reading accepted first would make the refused ones look like replays.
   */
  resume(): void {
    this.lanes.clear();
    this.storage.resume();
  }

  /**
   * Take a reading from MQTT. Resolves once it is queued; while the queue is above its high-water mark the
   * promise waits, which holds the publisher's MQTT flow (backpressure instead of unbounded buffering).
   * A reading leaves the queue when its outcome is known (durable in a block, or rejected), not when its answer
   * has been written: answers wait on the device's socket, and a device that is itself blocked writing to us would
   * otherwise hold queue capacity that only its own progress can free (a TCP backpressure cycle).
   */
  accept(deviceId: string, bytes: Uint8Array, receivedAtMs: number = this.now()): Promise<void> {
    const generation = this.storage.generation;
    // Taken as it arrives: a reading parked above the high-water mark starts later, but belongs to this moment.
    const order = this.lane(deviceId).order;
    this.arrivals.hold(receivedAtMs);
    if (this.queue.tryEnter()) {
      this.start(deviceId, bytes, receivedAtMs, generation, order);
      return ACCEPTED;
    }
    return this.queue.park(() => this.start(deviceId, bytes, receivedAtMs, generation, order));
  }

  private start(deviceId: string, bytes: Uint8Array, receivedAtMs: number, generation: number, order: number): void {
    this.inflight++;
    this.run(deviceId, bytes, receivedAtMs, generation, order, performance.now(), null);
  }

  /** The outcome is known: free the slot, count it, answer the device. */
  private finish(deviceId: string, outcome: Outcome, t0: number, receivedAtMs: number): void {
    this.queue.release();
    this.arrivals.release(receivedAtMs);
    this.metrics.pipelineSeconds.observe((performance.now() - t0) / 1000);
    try {
      let sent: void | Promise<void>;
      if (outcome.ok) {
        if (!outcome.resent) this.metrics.accepted.inc({ kind: 'reading' });
        sent = this.deliver(deviceId, 'receipts', encodeReceiptTransient(outcome.receipt));
      } else {
        this.metrics.rejected.inc({ code: outcome.error.code });
        sent = this.deliver(deviceId, 'rejections', encodeRejection({ seq: outcome.seq, code: outcome.error.code, message: outcome.error.message, path: outcome.error.path }));
      }
      if (sent) sent.catch(() => undefined); // a device that went away resends and gets the original receipt
    } catch {
      // as above
    }
    if (--this.inflight === 0) for (const w of this.idle.drain()) w();
  }

  /**
   * The whole check-and-admit path for one reading; never rejects (errors become rejections). Called in arrival
   * order: the reading joins its device's lane here, synchronously, so admission follows arrival even though
   * signature checks of consecutive readings finish in any order.
   */
  process(deviceId: string, bytes: Uint8Array, receivedAtMs: number, generation = this.storage.generation): Promise<Outcome> {
    const order = this.lane(deviceId).order;
    this.arrivals.hold(receivedAtMs);
    return new Promise<Outcome>((resolve) =>
      this.run(deviceId, bytes, receivedAtMs, generation, order, performance.now(), (outcome) => {
        this.arrivals.release(receivedAtMs);
        resolve(outcome);
      }),
    );
  }

  /**
   * `process` without a promise: the outcome goes to `done`, or with `done` null to `finish`. Callbacks rather than
   * a promise per step (signature, append, outcome): with them the pipeline's share of the bytes the gateway
   * allocates per reading fell from ~15% to ~5% (sampling heap profile of the bench). An outcome is never delivered
   * synchronously from here (a parked publisher started by `finish` would otherwise recurse through its neighbours'
   * rejections).
   */
  private run(deviceId: string, bytes: Uint8Array, receivedAtMs: number, generation: number, order: number, t0: number, done: Job['done']): void {
    let seq: number | null = null;
    let job: Job;
    let request: VerifyRequest | undefined;
    const lane = this.lane(deviceId);
    try {
      if (!this.accepting) fail('UNAVAILABLE', 'the gateway is shutting down; resend after reconnecting');
      this.storage.check(generation);
      if (order !== lane.order) fail('UNAVAILABLE', OUT_OF_ORDER);
      const opened = openReading(bytes, { maxBytes: this.opts.maxReadingBytes, protectedCache: lane.header });
      seq = opened.claims.seq;
      const device = this.registry.deviceByKid(opened.kid);
      if (!device) fail('UNKNOWN_KEY', 'no registered device has the key this reading names (kid)', 'protected.kid');
      if (device.deviceId !== deviceId) fail('UNKNOWN_KEY', 'the reading is signed by another device than the connected one', 'protected.kid');
      let carried: OriginProofError | undefined;
      try {
        request = checkReadingPolicy(this.registry, opened, device);
      } catch (err) {
        if (!(err instanceof OriginProofError)) throw err;
        carried = err;
      }
      // Only what admission needs is kept: the decoded maps of `opened` are garbage from here on.
      job = {
        deviceId, seq, iat: opened.claims.iat, bytes, device, cert: device.cert, receivedAtMs, generation, order, carried,
        sig: carried ? false : undefined, sigError: undefined, prechecked: false, t0, done,
      };
    } catch (err) {
      // A reading that does not open, or is refused before it is opened (shutting down, the store unavailable, out of
      // order), still names its seq when it can be read: the device knows which reading the answer is about (SPEC §8).
      if (seq === null && bytes.length <= this.opts.maxReadingBytes) seq = readingSeqOf(bytes);
      const outcome = rejectWith(err, seq);
      queueMicrotask(() => (done ? done(outcome) : this.finish(deviceId, outcome, t0, receivedAtMs)));
      return;
    }
    lane.jobs.push(job);
    if (!request) {
      // Refused unless it is a resend of a logged envelope (Job.carried): its turn in the lane decides, no signature.
      queueMicrotask(() => this.pump(lane));
      return;
    }
    this.pool.check(request, (err, ok) => {
      job.sig = ok && err === undefined;
      if (err !== undefined) job.sigError = err;
      this.pump(lane);
    });
  }

  /** A job's outcome, to whoever waits for it. */
  private settle(job: Job, outcome: Outcome): void {
    if (job.done) job.done(outcome);
    else this.finish(job.deviceId, outcome, job.t0, job.receivedAtMs);
    if (!outcome.ok && outcome.error.code === 'UNAVAILABLE') this.breakOrder(job);
  }

  /**
   * A reading in its lane was refused UNAVAILABLE: the device keeps it and resends it, so nothing it sent after it
   * may be admitted first (DeviceLane.order). Readings that arrived before this point are refused; the device's
   * connection is closed, and what it sends after reconnecting (the kept readings first, SPEC §7) is taken.
   */
  private breakOrder(job: Job): void {
    const lane = this.lanes.get(job.deviceId);
    if (!lane || job.order !== lane.order) return; // refused because of an earlier break: nothing new
    // From before a storage recovery: its lane is gone (resume), and the device reconnected and resends anyway.
    if (job.generation !== this.storage.generation) return;
    lane.order++;
    this.opts.onOrderBroken?.(job.deviceId);
  }

  /**
   * Admit the lane's readings in arrival order, as far as their signature results are in: signature and clock, then
   * (with the device's sequence state loaded) replay check and hand-off to the ledger. A reading's outcome settles
   * once its entry's block is durable; the next reading of the device goes on once this one is queued for a block.
   */
  private pump(lane: DeviceLane): void {
    while (!lane.busy) {
      const job = lane.jobs.peek();
      if (!job || job.sig === undefined) return;
      if (job.order !== lane.order) {
        lane.jobs.shift();
        this.settle(job, rejectWith(new OriginProofError('UNAVAILABLE', OUT_OF_ORDER), job.seq));
        continue;
      }
      if (!job.prechecked) {
        try {
          if (!job.carried) {
            if (job.sigError !== undefined) throw job.sigError;
            if (!job.sig) fail('BAD_SIGNATURE', 'signature does not verify with the device key', 'signature');
            job.carried = readingClockProblem(job.iat, job.receivedAtMs, this.opts);
          }
        } catch (err) {
          lane.jobs.shift();
          this.settle(job, rejectWith(err, job.seq));
          continue;
        }
        job.prechecked = true;
      }
      if (!lane.loaded) {
        if (lane.pending.length > 0) return; // after a failed append: its last one to settle pumps again
        try {
          this.storage.check(job.generation); // no store read for a reading that admit() would refuse anyway
        } catch (err) {
          lane.jobs.shift();
          this.settle(job, rejectWith(err, job.seq));
          continue;
        }
        return this.loadLane(lane);
      }
      lane.jobs.shift();
      try {
        this.admit(lane, job);
      } catch (err) {
        this.settle(job, rejectWith(err, job.seq));
      }
    }
  }

  /** The device's last accepted seq, from the store, once per lane; its readings wait meanwhile. */
  private loadLane(lane: DeviceLane): void {
    lane.busy = true;
    this.log.lastSeq(lane.deviceId).then(
      (last) => {
        lane.lastSeq = last;
        lane.loaded = true;
        lane.busy = false;
        this.pump(lane);
      },
      (err: unknown) => {
        // This reading is refused (the device resends it); the next one tries the store again.
        const job = lane.jobs.shift()!;
        lane.busy = false;
        this.settle(job, rejectWith(err, job.seq));
        this.pump(lane);
      },
    );
  }

  /** Replay check, then append; or a resend's original receipt. Throws what it refuses. */
  private admit(lane: DeviceLane, job: Job): void {
    const seq = job.seq;
    if (lane.lastSeq !== undefined && seq <= lane.lastSeq) return this.resendOrReplay(lane, job);
    if (job.carried) throw job.carried;
    this.storage.check(job.generation); // here, just before the append: nothing newer than a refused reading gets in
    // Again, just before the append (appends are ordered): a revocation applied since the reading arrived, while it
    // was being verified or waited in its lane, refuses it; one applied later is logged after it.
    this.registry.assertDeviceUsableAt(job.device, job.iat);
    if (job.device.cert !== job.cert) this.recheckClaims(job);
    lane.lastSeq = seq;
    const certRef = job.cert.certRef;
    const entry: PendingEntry = { seq, bytes: job.bytes, followers: null };
    lane.pending.push(entry);
    this.log.submit({ type: ENTRY_READING, payload: job.bytes, certRef, receivedAtMs: job.receivedAtMs, deviceId: lane.deviceId, seq }, (err, e) => {
      removePending(lane.pending, entry);
      let outcome: Outcome;
      if (e) {
        outcome = { ok: true, receipt: { seq, index: e.index, receivedAtMs: e.receivedAtMs, certRef, leafHash: e.leafHash, checkpoint: e.checkpoint }, resent: false };
      } else {
        // Not stored, nor perhaps the lane's other readings of the same block: the lane's lastSeq is wrong now
        // (rolling back per reading left it at the earlier of two failed seqs, whose resend then looked like a
        // REPLAY). It is read again from the store once the lane's appends in flight have settled.
        lane.loaded = false;
        outcome = rejectWith(err, seq);
      }
      this.settle(job, outcome);
      // Resends of this very envelope that came while it was on its way get the same receipt (or the same error).
      if (entry.followers) for (const f of entry.followers) this.settle(f, outcome.ok ? { ok: true, receipt: outcome.receipt, resent: true } : outcome);
      if (!lane.loaded && lane.pending.length === 0) this.pump(lane);
    });
  }

  private resendOrReplay(lane: DeviceLane, job: Job): void {
    const seq = job.seq;
    const pending = findPending(lane.pending, seq);
    if (pending && bytesEqual(pending.bytes, job.bytes)) {
      (pending.followers ??= []).push(job);
      return;
    }
    const lastSeq = lane.lastSeq;
    // The store is asked whether this very envelope is logged; the device's later readings wait for the answer.
    lane.busy = true;
    this.log
      .findBySeq(lane.deviceId, seq)
      .then((stored): Outcome => {
        if (stored && bytesEqual(stored.payload, job.bytes)) {
          const checkpoint = this.log.latestCheckpoint();
          if (!checkpoint) fail('UNAVAILABLE', 'no checkpoint yet; resend later');
          return { ok: true, resent: true, receipt: { seq, index: stored.index, receivedAtMs: stored.receivedAtMs, certRef: stored.certRef, leafHash: stored.leafHash, checkpoint } };
        }
        if (job.carried) throw job.carried; // not a logged envelope: refused as it would have been on arrival
        return fail('REPLAY', `sequence number ${seq} is not above the last accepted one (${lastSeq})`, 'claims.seq');
      })
      .then(
        (outcome) => this.settle(job, outcome),
        (err: unknown) => this.settle(job, rejectWith(err, seq)),
      )
      .finally(() => {
        lane.busy = false;
        this.pump(lane);
      });
  }

  /**
   * The device's certificate was replaced (a renewal: same key, perhaps another profile) after the reading's claims
   * were checked: they are checked again against the certificate the entry is logged under, which its proof bundle
   * carries (a reading of the old firmware must not be logged under the new firmware's certificate).
   */
  private recheckClaims(job: Job): void {
    const cert = job.device.cert;
    checkReadingPolicy(this.registry, openReading(job.bytes, { maxBytes: this.opts.maxReadingBytes }), job.device);
    job.cert = cert;
  }

  private lane(deviceId: string): DeviceLane {
    let lane = this.lanes.get(deviceId);
    if (!lane) this.lanes.set(deviceId, (lane = createLane(deviceId)));
    return lane;
  }

  /**
   * Stop taking readings; seal what is pending (`flush`) until every admitted reading has its receipt or rejection
   * delivered. Readings still being verified reach the ledger on a later turn, hence the loop.
   */
  async drain(flush: () => Promise<void>): Promise<void> {
    this.accepting = false;
    this.queue.admitParked(); // each is answered UNAVAILABLE and releases its slot
    while (this.inflight > 0) {
      await flush();
      await Promise.race([new Promise<void>((r) => this.idle.push(r)), new Promise((r) => setTimeout(r, 10))]);
    }
  }
}

