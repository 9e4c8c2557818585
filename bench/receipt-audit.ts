/**
 * The end-to-end bench's check of what its devices were answered, so that a figure counts only readings the gateway
 * really logged: every reading answered exactly once, and every receipt a valid receipt for the very reading sent
 * (its seq; the leaf hash of the log entry holding that envelope; a checkpoint signed by the gateway's key that
 * covers the entry's index), no two receipts naming one log index. The publisher keeps the answers during a timed
 * phase and audits them after it, outside its timing: the devices' process shares the gateway's two cores.
 * A receipt carries no inclusion proof, so those checks cannot tell a gateway that signs checkpoints without putting
 * the readings in its tree: a sample of each phase's receipts is also proved in the log (`checkInclusion`, with an
 * RFC 9162 proof from the gateway's GET /v1/proofs/inclusion against the root its signed checkpoint names).
 */
import { decodeReceipt, verifyReceipt } from '../protocol/receipt.js';
import { openCheckpoint, type Ed25519Verify, type NoteVerifier } from '../protocol/checkpoint.js';
import { verifyInclusion } from '../protocol/merkle/verify.js';
import { OriginProofError } from '../protocol/errors.js';

/** How a phase's readings were answered. A clean phase has receipts === readings, some of them proved in the log (inLog), and nothing else. */
export interface AnswerTally {
  readings: number;
  receipts: number;
  /** rejections by code */
  rejected: Record<string, number>;
  /** answers to a reading already answered */
  duplicates: number;
  /** answers naming no reading of the phase (an unknown seq, or one from another phase) */
  unexpected: number;
  /** receipts that fail the audit, and the first failure */
  invalid: number;
  firstInvalid?: string;
  /** receipts shown in the gateway's tree by an inclusion proof against their signed checkpoint (a sample) */
  inLog: number;
}

export function emptyTally(readings = 0): AnswerTally {
  return { readings, receipts: 0, rejected: {}, duplicates: 0, unexpected: 0, invalid: 0, inLog: 0 };
}

/** What is wrong with a phase's answers, or null when every reading got one valid receipt. */
export function tallyProblem(t: AnswerTally): string | null {
  const rejected = Object.values(t.rejected).reduce((a, b) => a + b, 0);
  const problems = [
    t.receipts !== t.readings ? `${t.receipts} receipts for ${t.readings} readings` : '',
    rejected > 0 ? `${rejected} rejected (${Object.entries(t.rejected).map(([c, n]) => `${c} ${n}`).join(', ')})` : '',
    t.duplicates > 0 ? `${t.duplicates} duplicate answers` : '',
    t.unexpected > 0 ? `${t.unexpected} unexpected answers` : '',
    t.invalid > 0 ? `${t.invalid} invalid receipts (first: ${t.firstInvalid})` : '',
    t.receipts > 0 && t.inLog === 0 ? 'no receipt proved in the log' : '',
  ].filter(Boolean);
  return problems.length > 0 ? problems.join('; ') : null;
}

/** Sum of tallies (a fleet's phases). */
export function addTallies(a: AnswerTally, b: AnswerTally): AnswerTally {
  const rejected = { ...a.rejected };
  for (const [code, n] of Object.entries(b.rejected)) rejected[code] = (rejected[code] ?? 0) + n;
  const sum: AnswerTally = {
    readings: a.readings + b.readings, receipts: a.receipts + b.receipts, rejected,
    duplicates: a.duplicates + b.duplicates, unexpected: a.unexpected + b.unexpected, invalid: a.invalid + b.invalid, inLog: a.inLog + b.inLog,
  };
  const first = a.firstInvalid ?? b.firstInvalid;
  return first === undefined ? sum : { ...sum, firstInvalid: first };
}

/**
 * Audits receipts against the gateway's checkpoint key. A checkpoint is the same for all the entries of a block, so
 * each distinct signature is verified once (memoised by key, message and signature).
 */
export class ReceiptAudit {
  private readonly indexes = new Set<number>();
  private readonly verified = new Map<string, boolean>();
  private readonly verify: Ed25519Verify;

  constructor(
    private readonly checkpointKey: NoteVerifier,
    ed25519Verify: Ed25519Verify,
  ) {
    this.verify = (sig, msg, pub) => {
      const k = `${Buffer.from(pub).toString('hex')}:${Buffer.from(sig).toString('hex')}:${Buffer.from(msg).toString('base64')}`;
      let ok = this.verified.get(k);
      if (ok === undefined) this.verified.set(k, (ok = ed25519Verify(sig, msg, pub)));
      return ok;
    };
  }

  /** Throws (an OriginProofError with its code) unless `receiptBytes` is a valid receipt for reading `seq` = `envelope`. */
  check(seq: number, envelope: Uint8Array, receiptBytes: Uint8Array): void {
    const r = decodeReceipt(receiptBytes);
    if (r.seq !== seq) throw new OriginProofError('CLAIM_INVALID', `receipt for seq ${r.seq} answered reading ${seq}`);
    verifyReceipt(r, envelope, [this.checkpointKey], { verify: this.verify });
    if (this.indexes.has(r.index)) throw new OriginProofError('INCLUSION_INVALID', `a second receipt names log index ${r.index}`);
    this.indexes.add(r.index);
  }

  /**
   * Throws (INCLUSION_INVALID, CHECKPOINT_INVALID) unless `proof` (RFC 9162, from the gateway's log) leads from the
   * receipt's leaf hash at its index to the root of the tree its signed checkpoint names.
   */
  checkInclusion(receiptBytes: Uint8Array, proof: readonly Uint8Array[] | null): void {
    const r = decodeReceipt(receiptBytes);
    const cp = openCheckpoint(r.checkpoint, [this.checkpointKey], { verify: this.verify });
    if (proof === null) throw new OriginProofError('INCLUSION_INVALID', `no inclusion proof for entry ${r.index}`);
    verifyInclusion(r.index, cp.size, r.leafHash, proof, cp.root);
  }

  /** check(), counted into `tally` instead of thrown; true when the receipt passed. */
  tallyCheck(tally: AnswerTally, seq: number, envelope: Uint8Array, receiptBytes: Uint8Array): boolean {
    try {
      this.check(seq, envelope, receiptBytes);
      return true;
    } catch (err) {
      tally.invalid++;
      tally.firstInvalid ??= err instanceof OriginProofError ? `${err.code}: ${err.message}` : String(err);
      return false;
    }
  }

  /** checkInclusion(), counted into `tally` (inLog, or invalid) instead of thrown. */
  tallyInclusion(tally: AnswerTally, receiptBytes: Uint8Array, proof: readonly Uint8Array[] | null): void {
    try {
      this.checkInclusion(receiptBytes, proof);
      tally.inLog++;
    } catch (err) {
      tally.invalid++;
      tally.firstInvalid ??= err instanceof OriginProofError ? `${err.code}: ${err.message}` : String(err);
    }
  }
}
