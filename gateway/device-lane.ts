/**
 * A device's lane in the pipeline: its readings in arrival order, its sequence state, and the readings admitted and
 * on their way into a block (lane-admission.ts admits from it). Plus the outcome every reading ends with.
 */
import { LastProtectedHeader } from '../protocol/cose-sign1.js';
import { OriginProofError } from '../protocol/errors.js';
import type { DecodedCertificate } from '../protocol/certificate.js';
import type { Receipt } from '../protocol/receipt.js';
import { Fifo } from './fifo.js';
import type { DeviceRecord } from './registry.js';

export type Outcome = { ok: true; receipt: Receipt; resent: boolean } | { ok: false; error: OriginProofError; seq: number | null };

/** One reading between its arrival and its outcome, in its device's lane. */
export interface Job {
  deviceId: string;
  /** The lane that counts this reading as held (LaneAdmission.take): the device's lane when it arrived. */
  held: DeviceLane;
  seq: number;
  iat: number;
  bytes: Uint8Array;
  device: DeviceRecord;
  /** The device certificate its claims were checked against (a renewal may replace the record's meanwhile). */
  cert: DecodedCertificate;
  receivedAtMs: number;
  generation: number;
  /** The lane's `order` when the reading arrived: once it moved on, the reading is refused (see DeviceLane.order). */
  order: number;
  /**
   * A certificate, claim or clock check that failed: the answer, unless the reading turns out to be the resend of an
   * envelope already logged, which gets its original receipt (SPEC §5: a resend is always safe). Its signature is
   * then not checked: the logged bytes were, when they were logged.
   */
  carried: OriginProofError | undefined;
  /**
   * `carried` is what the certificate checks said while the device's certificate was being replaced (a renewal being
   * logged: DeviceRecord.replacing): the reading waits for it, and its claims are checked again at its turn against
   * the certificate it would be logged under. Its signature is checked meanwhile, as if nothing were carried.
   */
  recheck?: boolean;
  /** The signature check's result: undefined while the worker has it. */
  sig: boolean | undefined;
  sigError: unknown;
  /** Signature and clock passed (checked once, before the lane's sequence state is loaded). */
  prechecked: boolean;
  /** When the reading was taken (pipeline latency metric). */
  t0: number;
  /** Who gets the outcome: a `process()` caller, or (null) the pipeline's own `finish`, which answers the device. */
  done: ((outcome: Outcome) => void) | null;
}

/** A reading admitted and on its way into a block; resends of the same envelope meanwhile wait for its receipt. */
export interface PendingEntry {
  seq: number;
  bytes: Uint8Array;
  followers: Job[] | null;
}

export interface DeviceLane {
  deviceId: string;
  /** Highest sequence number admitted (in a block or on its way there). */
  lastSeq: number | undefined;
  /**
   * lastSeq is known. Cleared when an append fails: lastSeq counted readings that are not stored, so it is read
   * again from the store once none of the lane's appends is in flight (admission waits until then).
   */
  loaded: boolean;
  /** Waiting for the store (first load of lastSeq, or a resend's lookup): later readings wait behind it. */
  busy: boolean;
  /** Readings in arrival order; the head is admitted once its signature result is in. */
  jobs: Fifo<Job>;
  /**
   * Readings admitted but not yet in a block, in admission order (so they leave from the front): a resend waits for
   * the same receipt. An array, not a Map by seq: a device has a few at most, and a Map's table was reallocated at
   * almost every insert or delete, each table then living long enough to be promoted to the old generation.
   */
  pending: PendingEntry[];
  /** The device's last protected header (alg, content type, kid), decoded: the same on all its readings. */
  header: LastProtectedHeader;
  /**
   * Moves on when one of the lane's readings is refused UNAVAILABLE (the device keeps it and resends it): every
   * reading that arrived before is refused UNAVAILABLE too, and the device's connection is closed, so that it resends
   * them in seq order after reconnecting. A later reading accepted first would make the refused one a REPLAY.
   */
  order: number;
  /**
   * Readings of the device taken (Pipeline.accept, process) whose outcome is not out yet, parked ones included: the
   * lane is kept while any is (they carry its `order`), and dropped once none is and the device has left.
   */
  held: number;
  /**
   * The device's connection closed while readings were held: the lane goes when the last one's outcome is out, unless
   * the device connected again meanwhile (cleared then: LaneAdmission.connected).
   */
  left: boolean;
}

export function createLane(deviceId: string): DeviceLane {
  return { deviceId, lastSeq: undefined, loaded: false, busy: false, jobs: new Fifo(), pending: [], header: new LastProtectedHeader(), order: 0, held: 0, left: false };
}

export function findPending(pending: readonly PendingEntry[], seq: number): PendingEntry | undefined {
  for (let i = 0; i < pending.length; i++) if (pending[i]!.seq === seq) return pending[i];
  return undefined;
}

/** Entries leave in admission order, so almost always from the front. */
export function removePending(pending: PendingEntry[], entry: PendingEntry): void {
  const i = pending.indexOf(entry);
  if (i === 0) pending.shift();
  else if (i > 0) pending.splice(i, 1);
}

export function rejectWith(err: unknown, seq: number | null): Outcome {
  if (err instanceof OriginProofError) return { ok: false, error: err, seq };
  return { ok: false, error: new OriginProofError('UNAVAILABLE', 'internal error while admitting the reading; resend it', { cause: err }), seq };
}
