/**
 * A device noticing that the log went back (SPEC §7). Every receipt carries a checkpoint the gateway signed; the
 * device keeps the largest one it was given (`logCheckpoint` in its state file). A later receipt whose checkpoint,
 * signed by the same key for the same origin, is smaller, or of the same size with another root hash, is proof
 * that the log lost entries it had already signed for (a restored older backup, a misbehaving gateway): the two
 * notes are kept as `evidence` in the state file, and the new checkpoint becomes the reference, so a rollback is
 * reported once, not on every later receipt. The receipt itself still holds for the log as it now is.
 *
 * No false alarm: a valid gateway never signs a smaller tree, nor two roots for one size, so any such pair is a
 * real rollback or fork. Only notes that verified with the provisioned checkpoint key are compared (without the
 * key a device can tell nothing, and watches nothing), and a kept note that no longer verifies (the device was
 * provisioned with another key) is dropped at boot.
 *
 * When it is written. Not on every receipt (one write each): with the writes the device makes anyway (a sequence
 * number block reserved every `seqBlock` readings, a connect token dated), on the first checkpoint and on one of
 * another origin, when evidence is found, and at close(). A crash loses at most the references taken since the last
 * write; the one on disk is then an older checkpoint the same key signed, which a valid log's later checkpoints are
 * still at least as large as (and equal only with the same root). So a stale reference can only miss a rollback to
 * a size between it and the lost one; it never raises a false alarm.
 */
import { compareCheckpoints, isLogEvidence, openCheckpoint, parseCheckpoint, parseNote, type Checkpoint, type Ed25519Verify, type NoteVerifier } from '../protocol/index.js';
import type { DeviceStateFile, LogEvidence } from './state.js';

/** Most evidence entries a state file keeps (the latest; each is two notes of a few hundred bytes). */
export const MAX_EVIDENCE = 16;

export interface LogObservation {
  /** Set when the checkpoint and the kept one are a rollback or a fork. */
  evidence: LogEvidence | null;
  /** Write the state file now (first reference, another origin, new evidence). */
  persist: boolean;
}

const NOTHING: LogObservation = { evidence: null, persist: false };

export interface LogWatchOptions {
  /** Ed25519 verification for the kept note at boot (openCheckpoint's default otherwise). */
  verify?: Ed25519Verify;
  /** Write the state file (check() and flush() call it); throws if the write fails. */
  persist?: () => void;
  /** The alert line on evidence, and a failed write (default: none). */
  log?: (line: string) => void;
  deviceId?: string;
  /** Where the evidence is kept, for the alert line. */
  where?: string;
}

export class LogWatch {
  private kept: { note: string; cp: Checkpoint } | null = null;
  /** The reference in the state file as last written (undefined: none). */
  private written: string | undefined;

  /** The checkpoint keys the kept note may be signed by (none: nothing is watched). */
  private readonly keys: readonly NoteVerifier[];

  /**
   * `key`: the provisioned checkpoint key, or the keys the device holds (its current one and an announced next one,
   * SPEC §7); null or none: nothing is watched. A note kept under a key handed over since no longer verifies at boot
   * and is dropped, as one of another key is.
   */
  constructor(private readonly state: DeviceStateFile, key: NoteVerifier | readonly NoteVerifier[] | null, private readonly o: LogWatchOptions = {}) {
    this.keys = key === null ? [] : 'publicKey' in key ? [key] : key;
    const note = state.logCheckpoint;
    this.written = note;
    if (this.keys.length === 0 || note === undefined) return;
    try {
      if (typeof note !== 'string') throw new Error('not a note');
      this.kept = { note, cp: openCheckpoint(note, this.keys, o.verify ? { verify: o.verify } : {}) };
    } catch {
      delete state.logCheckpoint; // not signed by this key (or damaged): no evidence against this gateway
    }
  }

  /** The kept reference's size (undefined: none). */
  get size(): number | undefined {
    return this.kept?.cp.size;
  }

  /**
   * Whether `note` is older than the kept reference: of its origin and a smaller tree, as a receipt replayed to a
   * resent reading carries (the broker kept the one it dropped). Such a checkpoint decides nothing about the gateway's
   * keys (SPEC §7): its announcement is stale.
   */
  isOlder(note: string): boolean {
    if (!this.kept) return false;
    return compareCheckpoints(this.kept.cp, parseCheckpoint(parseNote(note).text)) === 'rollback';
  }

  /** The reference changed since the state file was last written. */
  get dirty(): boolean {
    return this.state.logCheckpoint !== this.written;
  }

  /** After a write of the state file holding `s` (any write: they all carry the reference). */
  wrote(s: DeviceStateFile): void {
    this.written = s.logCheckpoint;
  }

  /**
   * A receipt's checkpoint `note`, whose signature the caller verified with the provisioned key (the receipt check
   * did: SPEC §7). Adopts it when it is larger (or of another origin, or evidence); returns what it found.
   */
  observe(note: string, nowMs: number): LogObservation {
    if (this.keys.length === 0) return NOTHING;
    const cp = parseCheckpoint(parseNote(note).text);
    const kept = this.kept;
    const change = kept ? compareCheckpoints(kept.cp, cp) : 'grew';
    if (change === 'same') return NOTHING;
    this.kept = { note, cp };
    this.state.logCheckpoint = note;
    if (!kept || change === 'other-origin') return { evidence: null, persist: true };
    if (!isLogEvidence(change)) return NOTHING; // grew: written with the next state write
    const evidence: LogEvidence = { kind: change, detectedAtMs: nowMs, origin: cp.origin, keptSize: kept.cp.size, receivedSize: cp.size, kept: kept.note, received: note };
    const list = Array.isArray(this.state.evidence) ? this.state.evidence : [];
    this.state.evidence = [...list, evidence].slice(-MAX_EVIDENCE);
    return { evidence, persist: true };
  }

  /** observe(), then the write it asks for and the alert line; returns the evidence found, if any. */
  check(note: string, nowMs: number): LogEvidence | null {
    const seen = this.observe(note, nowMs);
    if (seen.persist) this.write('kept in memory, written with the next state write');
    if (seen.evidence) this.o.log?.(describeEvidence(this.o.deviceId ?? '?', seen.evidence, this.o.where ?? 'memory'));
    return seen.evidence;
  }

  /** At close: the latest reference, rather than the one of the last state write. */
  flush(): void {
    if (this.dirty) this.write('an older reference stays on disk, which only weakens detection');
  }

  private write(otherwise: string): void {
    try {
      this.o.persist?.();
    } catch (err) {
      this.o.log?.(`device ${this.o.deviceId ?? '?'}: could not write ${this.o.where ?? 'the state file'} (${(err as Error).message}): ${otherwise}`);
    }
  }
}

/** The one line a device logs on evidence. */
export function describeEvidence(deviceId: string, e: LogEvidence, where: string): string {
  const what = e.kind === 'rollback'
    ? `went back from size ${e.keptSize} to ${e.receivedSize}: entries ${e.receivedSize}..${e.keptSize - 1} it had signed for are gone`
    : `forked: two root hashes signed for size ${e.keptSize}`;
  return `device ${deviceId}: CONSISTENCY_INVALID: the log ${e.origin} ${what}. Both signed checkpoints are kept in ${where} (evidence); ` +
    'readings receipted in the lost entries cannot be resent (the device dropped them on their receipts). Going on with the log as it is now.';
}
