/**
 * Admission per device, in arrival order (the pipeline's second half, pipeline.ts the first): each device's readings
 * wait in its lane (device-lane.ts) until their signature results are in; then, in order, the signature and clock
 * verdicts, the replay check against the device's last accepted seq (read from the store once per lane), a last
 * look at the device's certificate, and the append to the log. A resend of a logged envelope gets its original
 * receipt; a reading refused UNAVAILABLE in its lane refuses those that arrived before the refusal (DeviceLane.order).
 */
import { OriginProofError, fail } from '../protocol/errors.js';
import { openReading } from '../protocol/reading.js';
import type { DecodedCertificate } from '../protocol/certificate.js';
import { bytesEqual } from '../protocol/bytes.js';
import { ENTRY_READING } from '../protocol/log-entry.js';
import type { Receipt } from '../protocol/receipt.js';
import { readingRevokedAt, type Registry } from './registry.js';
import type { StorageGate } from './storage-gate.js';
import { createLane, findPending, rejectWith, removePending, type DeviceLane, type Job, type Outcome, type PendingEntry } from './device-lane.js';
import { checkReadingPolicy, readingClockProblem } from './reading-policy.js';
import type { ReadingLog } from './reading-log.js';
import type { PipelineOptions } from './pipeline.js';

export const OUT_OF_ORDER = 'an earlier reading of this device was refused UNAVAILABLE: reconnect, then resend every kept reading in seq order';

export class LaneAdmission {
  private readonly lanes = new Map<string, DeviceLane>();

  constructor(
    private readonly registry: Registry,
    private readonly log: ReadingLog,
    private readonly storage: StorageGate,
    private readonly opts: Pick<PipelineOptions, 'maxReadingBytes' | 'clockSkewSeconds' | 'maxReadingAgeSeconds' | 'onOrderBroken'>,
    /** The outcome of a job without its own `done`: the pipeline frees its slot and answers the device. */
    private readonly finish: (job: Job, outcome: Outcome) => void,
  ) {}

  /** Forget every lane (after a storage recovery: the last accepted seqs are read again from the store). */
  clear(): void {
    this.lanes.clear();
  }

  /**
   * A device's admitted readings as its replay check sees them (POST /v1/verify judges an envelope as this check
   * would): the highest seq admitted and the envelopes on their way into a block. Undefined while the lane's seq
   * state is not loaded (none yet, or being read again after a failed append): the store then has it. Creates no lane.
   */
  admitted(deviceId: string): { lastSeq: number; pending: readonly { seq: number; bytes: Uint8Array }[] } | undefined {
    const lane = this.lanes.get(deviceId);
    return lane?.loaded && lane.lastSeq !== undefined ? { lastSeq: lane.lastSeq, pending: lane.pending } : undefined;
  }

  lane(deviceId: string): DeviceLane {
    let lane = this.lanes.get(deviceId);
    if (!lane) this.lanes.set(deviceId, (lane = createLane(deviceId)));
    return lane;
  }

  /** Lanes kept now: one per device connected or with readings held (the devices that left have none). */
  get size(): number {
    return this.lanes.size;
  }

  /** A reading of the device is taken: its lane, kept until `release` (the reading's outcome is out). */
  take(deviceId: string): DeviceLane {
    const lane = this.lane(deviceId);
    lane.held++;
    return lane;
  }

  /** The outcome of a reading `take` counted is out: the lane goes if it was the last and the device has left. */
  release(lane: DeviceLane): void {
    if (--lane.held === 0 && lane.left && this.lanes.get(lane.deviceId) === lane) this.lanes.delete(lane.deviceId);
  }

  /**
   * The device's connection closed: its lane goes now, or once the outcome of its last reading held is out. A lane
   * per device that ever sent a reading was kept for good (found by review: a registry of 100,000 devices connecting
   * in turns held 100,000 lanes, each with its last protected header); a device that comes back has its last seq
   * read from the store again, once.
   */
  left(deviceId: string): void {
    const lane = this.lanes.get(deviceId);
    if (!lane) return;
    if (lane.held === 0) this.lanes.delete(deviceId);
    else lane.left = true;
  }

  /**
   * The device connected: a lane it left with readings held is its own again, kept while it is connected. Found by
   * review: the lane kept its `left` mark, so it was dropped when the last reading held from before was answered,
   * although its device was connected again, and the device's next reading read its last seq from the store again.
   */
  connected(deviceId: string): void {
    const lane = this.lanes.get(deviceId);
    if (lane) lane.left = false;
  }

  /** A job's outcome, to whoever waits for it. */
  private settle(job: Job, outcome: Outcome): void {
    if (job.done) job.done(outcome);
    else this.finish(job, outcome);
    if (!outcome.ok && outcome.error.code === 'UNAVAILABLE') this.breakOrder(job);
  }

  /**
   * A reading in its lane was refused UNAVAILABLE: the device keeps it and resends it, so nothing it sent after it
   * may be admitted first (DeviceLane.order). Readings that arrived before this point are refused; the device's
   * connection is closed, and what it sends after reconnecting (the kept readings first, SPEC §7) is taken.
   */
  private breakOrder(job: Job): void {
    // The job's own lane (Job.held), not the map's: the job's outcome is out (settle), so the lane may have gone
    // already (its last reading held, and the device had left and come back: found by review, the connection was
    // then not closed and a newer reading logged first made this one's resend a REPLAY).
    const lane = job.held;
    if (job.order !== lane.order) return; // refused because of an earlier break: nothing new
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
  pump(lane: DeviceLane): void {
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
      const replacing = job.device.replacing ?? job.device.agency.replacing;
      if (replacing) {
        // The device's certificate, or its agency's, is being replaced: its readings wait until the view has the new
        // one (or the append failed), so that each is checked against the certificates in force where it lands in the
        // log.
        lane.busy = true;
        void replacing.then(() => {
          lane.busy = false;
          this.pump(lane);
        });
        return;
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
    if (job.recheck) this.recheckCarried(job);
    if (job.carried) throw job.carried;
    this.storage.check(job.generation); // here, just before the append: nothing newer than a refused reading gets in
    // Again, just before the append (appends are ordered): a revocation applied since the reading arrived, while it
    // was being verified or waited in its lane, refuses it; one applied later is logged after it.
    this.registry.assertDeviceUsableAt(job.device, job.iat, 'certificate', readingRevokedAt(job.iat, job.receivedAtMs));
    const cert = this.registry.deviceCertAt(job.device, job.iat);
    if (cert !== job.cert) this.recheckClaims(job, cert);
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

  /**
   * The original receipt of this very envelope when the device's entry with this seq holds it (in a block: what is on
   * its way there has its own followers), else undefined. Its signature is not checked again: it was when logged.
   */
  async loggedResend(deviceId: string, seq: number, bytes: Uint8Array): Promise<Receipt | undefined> {
    const stored = await this.log.findBySeq(deviceId, seq);
    if (!stored || !bytesEqual(stored.payload, bytes)) return undefined;
    const checkpoint = this.log.latestCheckpoint();
    if (!checkpoint) fail('UNAVAILABLE', 'no checkpoint yet; resend later');
    return { seq, index: stored.index, receivedAtMs: stored.receivedAtMs, certRef: stored.certRef, leafHash: stored.leafHash, checkpoint };
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
    this.loggedResend(lane.deviceId, seq, job.bytes)
      .then((receipt): Outcome => {
        if (receipt) return { ok: true, resent: true, receipt };
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
   * A reading refused by the certificates being replaced when it arrived (Job.recheck): against the certificate it
   * would be logged under now and its agency's, its claims, then its signature and clock as pump() checks them. Also
   * when the device certificate is the same: an agency's renewal leaves it, and changes the chain's window and
   * revocation (found by review: such a reading, refused as the replaced agency certificate's, was not checked again).
   */
  private recheckCarried(job: Job): void {
    job.recheck = false;
    const cert = this.registry.deviceCertAt(job.device, job.iat);
    try {
      this.recheckClaims(job, cert);
    } catch (err) {
      if (!(err instanceof OriginProofError)) throw err;
      // As on arrival (pipeline.ts): dated past the skew, expired or revoked only because the device's clock runs ahead.
      const ahead = (err.code === 'CERT_EXPIRED' || err.code === 'CERT_REVOKED') && job.iat > Math.floor(job.receivedAtMs / 1000) + this.opts.clockSkewSeconds;
      job.carried = (ahead && readingClockProblem(job.iat, job.receivedAtMs, this.opts)) || err;
      return;
    }
    if (job.sigError !== undefined) throw job.sigError;
    if (!job.sig) fail('BAD_SIGNATURE', 'signature does not verify with the device key', 'signature');
    job.carried = readingClockProblem(job.iat, job.receivedAtMs, this.opts);
  }

  /**
   * The device's certificate was replaced (a renewal: same key, perhaps another profile) after the reading's claims
   * were checked: they are checked again against the certificate the entry is logged under, which its proof bundle
   * carries (a reading of the old firmware must not be logged under the new firmware's certificate).
   */
  private recheckClaims(job: Job, cert: DecodedCertificate): void {
    checkReadingPolicy(this.registry, openReading(job.bytes, { maxBytes: this.opts.maxReadingBytes }), job.device, cert, job.receivedAtMs);
    job.cert = cert;
  }
}
