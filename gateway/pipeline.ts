/**
 * The ingestion pipeline: every reading is checked, then sequenced per device, appended to the log, and
 * answered with a receipt (after its block is durable) or a rejection (with a stable code). Checks, in order:
 * size, CBOR and schema (incl. the biometric privacy rule), key/certificate lookup, certificate and agency
 * validity and revocation at the reading's time, reading type, firmware, signature (worker threads), clock,
 * and replay (a reading dated past the skew whose certificate is expired or revoked at its iat gets CLOCK_SKEW). Signature checks of different readings run in parallel; admission per device is in arrival order.
 * A certificate, claim or clock failure is answered at the reading's turn in its device's lane, where a resend of a
 * logged envelope is recognised first (and gets its original receipt); a reading refused UNAVAILABLE in its lane
 * refuses the device's readings that arrived before the refusal too (DeviceLane.order).
 */
import { OriginProofError, fail, type ErrorCode } from '../protocol/errors.js';
import { openReading, readingSeqOf } from '../protocol/reading.js';
import { encodeReceiptTransient, encodeRejection } from '../protocol/receipt.js';
import type { VerifyPool, VerifyRequest } from './crypto/verify-pool.js';
import type { Registry } from './registry.js';
import type { GatewayMetrics } from './metrics.js';
import { Fifo } from './fifo.js';
import { AdmissionQueue } from './admission-queue.js';
import { StorageGate } from './storage-gate.js';
import { rejectWith, type DeviceLane, type Job, type Outcome } from './device-lane.js';
import { checkReadingPolicy, readingClockProblem, signatureJobOf } from './reading-policy.js';
import { LaneAdmission, OUT_OF_ORDER } from './lane-admission.js';
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
  /** A reading taken from MQTT was answered with a rejection (`seq` when it could be read): the event log. */
  onRejected?: (deviceId: string, code: ErrorCode, seq: number | null) => void;
}

const ACCEPTED: Promise<void> = Promise.resolve();

export class Pipeline {
  private readonly queue: AdmissionQueue;
  private accepting = true;
  /** Readings taken (accept, process) and not yet answered; drain() waits for none. */
  private inflight = 0;
  private idle = new Fifo<() => void>();
  private readonly now: () => number;
  private readonly storage = new StorageGate();
  private readonly arrivals = new ArrivalTimes();
  /** The devices' lanes: admission in arrival order, replay check, append (lane-admission.ts). */
  private readonly admission: LaneAdmission;

  constructor(
    private readonly registry: Registry,
    log: ReadingLog,
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
    this.admission = new LaneAdmission(registry, log, this.storage, opts, (job, outcome) => this.finish(job.held, outcome, job.t0, job.receivedAtMs));
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

  /** A device's admitted readings as its replay check sees them (LaneAdmission.admitted); creates no lane. */
  admitted(deviceId: string): ReturnType<LaneAdmission['admitted']> {
    return this.admission.admitted(deviceId);
  }

  /** Device lanes kept now (LaneAdmission.size): one per device connected or with readings held. */
  get lanes(): number {
    return this.admission.size;
  }

  /** The device connected: a lane it left with readings held stays while it is connected (LaneAdmission.connected). */
  deviceConnected(deviceId: string): void {
    this.admission.connected(deviceId);
  }

  /** The device's connection closed: its lane goes once none of its readings is held (LaneAdmission.left). */
  deviceLeft(deviceId: string): void {
    this.admission.left(deviceId);
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
    this.admission.clear();
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
    // Taken as it arrives: a reading parked above the high-water mark starts later, but belongs to this moment. Its
    // lane is kept until its outcome is out (LaneAdmission.take).
    const held = this.admission.take(deviceId);
    const order = held.order;
    this.arrivals.hold(receivedAtMs);
    // The latency metric counts from here: a reading's wait for a slot is part of its latency.
    const t0 = performance.now();
    if (this.queue.tryEnter()) {
      this.start(held, bytes, receivedAtMs, generation, order, t0);
      return ACCEPTED;
    }
    return this.queue.park(() => this.start(held, bytes, receivedAtMs, generation, order, t0));
  }

  private start(held: DeviceLane, bytes: Uint8Array, receivedAtMs: number, generation: number, order: number, t0: number): void {
    this.inflight++;
    this.run(held, bytes, receivedAtMs, generation, order, t0, null);
  }

  /** The outcome is known: free the slot, count it, answer the device. */
  private finish(held: DeviceLane, outcome: Outcome, t0: number, receivedAtMs: number): void {
    const deviceId = held.deviceId;
    this.queue.release();
    this.arrivals.release(receivedAtMs);
    this.metrics.pipelineSeconds.observe({ outcome: outcome.ok ? 'receipt' : 'rejection' }, (performance.now() - t0) / 1000);
    this.countDamage(outcome);
    try {
      let sent: void | Promise<void>;
      if (outcome.ok) {
        if (!outcome.resent) this.metrics.accepted.inc({ kind: 'reading' });
        sent = this.deliver(deviceId, 'receipts', encodeReceiptTransient(outcome.receipt));
      } else {
        this.metrics.rejected.inc({ code: outcome.error.code });
        this.opts.onRejected?.(deviceId, outcome.error.code, outcome.seq);
        sent = this.deliver(deviceId, 'rejections', encodeRejection({ seq: outcome.seq, code: outcome.error.code, message: outcome.error.message, path: outcome.error.path }));
      }
      if (sent) sent.catch(() => undefined); // a device that went away resends and gets the original receipt
    } catch {
      // as above
    }
    this.admission.release(held);
    this.settled();
  }

  /**
   * A resend whose logged entry was found damaged (ledger/entry-self-check.ts, its receipt not handed out) is counted
   * in originproof_ledger_damage_found_total, as the HTTP reads are (found by review: the operator was not told).
   */
  private countDamage(outcome: Outcome): void {
    if (!outcome.ok && (outcome.error.cause as { code?: unknown } | undefined)?.code === 'LEDGER_DAMAGED') this.metrics.ledgerDamageFound.inc();
  }

  /** One reading fewer in flight: drain() goes on when none is left. */
  private settled(): void {
    if (--this.inflight === 0) for (const w of this.idle.drain()) w();
  }

  /**
   * The whole check-and-admit path for one reading; never rejects (errors become rejections). Called in arrival
   * order: the reading joins its device's lane here, synchronously, so admission follows arrival even though
   * signature checks of consecutive readings finish in any order. Counted in flight like `accept`'s readings:
   * drain() waits for its outcome (it returned while one was still on its way to a block, and the store closed under it).
   */
  process(deviceId: string, bytes: Uint8Array, receivedAtMs: number, generation = this.storage.generation): Promise<Outcome> {
    const held = this.admission.take(deviceId);
    const order = held.order;
    this.arrivals.hold(receivedAtMs);
    this.inflight++;
    return new Promise<Outcome>((resolve) =>
      this.run(held, bytes, receivedAtMs, generation, order, performance.now(), (outcome) => {
        this.countDamage(outcome);
        this.admission.release(held);
        this.arrivals.release(receivedAtMs);
        this.settled();
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
  private run(held: DeviceLane, bytes: Uint8Array, receivedAtMs: number, generation: number, order: number, t0: number, done: Job['done']): void {
    const deviceId = held.deviceId;
    let seq: number | null = null;
    let opening = false;
    let job: Job;
    let request: VerifyRequest | undefined;
    let lane: DeviceLane;
    try {
      if (!this.accepting) fail('UNAVAILABLE', 'the gateway is shutting down; resend after reconnecting');
      this.storage.check(generation);
      // `held` unless a storage recovery forgot the lanes since (then the generation check above refused it)
      lane = this.admission.lane(deviceId);
      if (order !== lane.order) fail('UNAVAILABLE', OUT_OF_ORDER);
      opening = true;
      const opened = openReading(bytes, { maxBytes: this.opts.maxReadingBytes, protectedCache: lane.header });
      opening = false;
      seq = opened.claims.seq;
      const device = this.registry.deviceByKid(opened.kid);
      if (!device) fail('UNKNOWN_KEY', 'no registered device has the key this reading names (kid)', 'protected.kid');
      if (device.deviceId !== deviceId) fail('UNKNOWN_KEY', 'the reading is signed by another device than the connected one', 'protected.kid');
      let carried: OriginProofError | undefined;
      let recheck = false;
      let cert = device.cert;
      try {
        cert = this.registry.deviceCertAt(device, opened.claims.iat);
        request = checkReadingPolicy(this.registry, opened, device, cert, receivedAtMs);
      } catch (err) {
        if (!(err instanceof OriginProofError)) throw err;
        carried = err;
        // Its certificate, or its agency's, is being replaced: it waits for the renewal and is checked again against
        // the certificates it would be logged under, which may allow it (found by review: refused by the replaced
        // one's profile or window, e.g. TYPE_NOT_ALLOWED, or its agency's, CERT_EXPIRED, though logged after the
        // renewal's entry). Its signature is needed then.
        if (device.replacing || device.agency.replacing) {
          recheck = true;
          request = signatureJobOf(opened, cert);
        }
        // Dated past the skew into the future, a reading can fall after its certificate's expiry or a revocation's
        // start only because the device's clock runs ahead: CLOCK_SKEW says so (resync, drop the reading), where
        // CERT_EXPIRED or CERT_REVOKED told a device with a good certificate to stop sending (SPEC §8).
        if ((err.code === 'CERT_EXPIRED' || err.code === 'CERT_REVOKED') && opened.claims.iat > Math.floor(receivedAtMs / 1000) + this.opts.clockSkewSeconds) {
          carried = readingClockProblem(opened.claims.iat, receivedAtMs, this.opts) ?? err;
        }
      }
      // Only what admission needs is kept: the decoded maps of `opened` are garbage from here on.
      job = {
        deviceId, held, seq, iat: opened.claims.iat, bytes, device, cert, receivedAtMs, generation, order, carried,
        sig: carried && !recheck ? false : undefined, sigError: undefined, prechecked: false, t0, done,
      };
      if (recheck) job.recheck = true;
    } catch (err) {
      // A reading that does not open, or is refused before it is opened (shutting down, the store unavailable, out of
      // order), still names its seq when it can be read: the device knows which reading the answer is about (SPEC §8).
      // One over maxReadingBytes too (TOO_LARGE): else the device, unable to tell which reading to drop, kept it and
      // resent it for good. What is decoded is bounded by the MQTT frame cap (4 x maxReadingBytes + 1 KiB).
      if (seq === null) seq = readingSeqOf(bytes);
      const answer = done ?? ((outcome: Outcome) => this.finish(held, outcome, t0, receivedAtMs));
      // Refused by the envelope's own checks, it may still be a logged envelope sent again: logged under rules since
      // tightened (the biometric privacy rule's, a lower maxReadingBytes), it gets its original receipt (SPEC §5), as
      // a resend refused by the certificate checks does (Job.carried). Only a readable seq is looked up.
      if (opening && seq !== null && err instanceof OriginProofError) {
        this.admission.loggedResend(deviceId, seq, bytes).then(
          (receipt) => answer(receipt ? { ok: true, receipt, resent: true } : rejectWith(err, seq)),
          (lookupErr: unknown) => answer(rejectWith(lookupErr, seq)),
        );
        return;
      }
      const outcome = rejectWith(err, seq);
      queueMicrotask(() => answer(outcome));
      return;
    }
    lane.jobs.push(job);
    if (!request) {
      // Refused unless it is a resend of a logged envelope (Job.carried): its turn in the lane decides, no signature.
      queueMicrotask(() => this.admission.pump(lane));
      return;
    }
    this.pool.check(request, (err, ok) => {
      job.sig = ok && err === undefined;
      if (err !== undefined) job.sigError = err;
      this.admission.pump(lane);
    });
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

