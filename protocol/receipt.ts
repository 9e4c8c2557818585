/**
 * Receipts and rejections: the gateway's answers to a device (docs/DESIGN.md, firmware-specs/SPEC.md §Receipts).
 * A receipt is not signed itself: it carries the signed checkpoint of the block that holds the reading, and the
 * device checks that the leaf hash is the hash of the entry built from what it sent (see verifyReceipt in
 * receipt-verify.ts).
 *   receipt   = {1: seq, 2: index, 3: receivedAtMs, 4: certRef bstr32, 5: leafHash bstr32, 6: checkpoint text}
 *   rejection = {1: seq / null, 2: code text, 3: message text, 4: path text}
 */
import { decodeStrict, encode, encodeTransient } from './cbor.js';
import { fail, isErrorCode, type ErrorCode } from './errors.js';
import { asMap, checkBytes, checkText, onlyKeys, reqInt } from './schema.js';
import { bytesEqual } from './bytes.js';
import { openCheckpoint, type Ed25519Verify, type NoteVerifier } from './checkpoint.js';
import { encodeLogEntry, ENTRY_READING, leafHash } from './log-entry.js';

export interface Receipt {
  seq: number;
  index: number;
  receivedAtMs: number;
  certRef: Uint8Array;
  leafHash: Uint8Array;
  /** C2SP signed note (tlog-checkpoint) whose tree contains the entry. */
  checkpoint: string;
}

export interface Rejection {
  seq: number | null;
  code: ErrorCode;
  message: string;
  path: string;
}

export const MAX_RECEIPT_BYTES = 4096;
/** Longest message and path a rejection carries (characters); the gateway shortens longer ones. */
export const MAX_REJECTION_MESSAGE = 1024, MAX_REJECTION_PATH = 256;

// Lone UTF-16 surrogates (from hostile map keys quoted in a message) have no UTF-8 encoding: U+FFFD instead.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Well-formed text of at most `max` characters, cut on a code point boundary and marked with an ellipsis. */
function clip(text: string, max: number): string {
  const t = text.replace(LONE_SURROGATE, '\ufffd');
  if (t.length <= max) return t;
  const end = /[\ud800-\udbff]/.test(t[max - 2]!) ? max - 2 : max - 1;
  return `${t.slice(0, end)}\u2026`;
}

// Times in ms need more than 32 bits: as BigInt the map is already in deterministic shape and `encode` writes it as
// it is (one receipt per accepted reading), instead of making a canonical copy first.
const uint = (n: number): number | bigint => (n > 0xffffffff ? BigInt(n) : n);

export function encodeReceipt(r: Receipt): Uint8Array {
  return encode(receiptMap(r));
}

/** The same bytes as `encodeReceipt`, valid only until the next CBOR encode (cbor.ts `encodeTransient`). */
export function encodeReceiptTransient(r: Receipt): Uint8Array {
  return encodeTransient(receiptMap(r));
}

function receiptMap(r: Receipt): Map<number, unknown> {
  return new Map<number, unknown>([[1, uint(r.seq)], [2, uint(r.index)], [3, uint(r.receivedAtMs)], [4, r.certRef], [5, r.leafHash], [6, r.checkpoint]]);
}

export function decodeReceipt(bytes: Uint8Array): Receipt {
  if (bytes.length > MAX_RECEIPT_BYTES) fail('TOO_LARGE', 'receipt too large');
  const m = asMap(decodeStrict(bytes, 'receipt'), 'receipt', 'MALFORMED');
  onlyKeys(m, [1, 2, 3, 4, 5, 6], 'receipt', 'MALFORMED');
  return {
    seq: reqInt(m, 1, 'receipt.seq', 0),
    index: reqInt(m, 2, 'receipt.index', 0),
    receivedAtMs: reqInt(m, 3, 'receipt.receivedAtMs', 0),
    certRef: checkBytes(m.get(4), 'receipt.certRef', 32),
    leafHash: checkBytes(m.get(5), 'receipt.leafHash', 32),
    checkpoint: checkText(m.get(6), 'receipt.checkpoint', { max: 2048 }),
  };
}

/**
 * Messages and paths quote what was rejected (a claim key, a topic), which a sender controls: they are clipped to
 * the limits `decodeRejection` enforces, so every rejection stays decodable by the device it is meant for.
 */
export function encodeRejection(r: Rejection): Uint8Array {
  const message = clip(r.message, MAX_REJECTION_MESSAGE) || r.code;
  return encode(new Map<number, unknown>([[1, r.seq], [2, r.code], [3, message], [4, clip(r.path, MAX_REJECTION_PATH)]]));
}

export function decodeRejection(bytes: Uint8Array): Rejection {
  const m = asMap(decodeStrict(bytes, 'rejection'), 'rejection', 'MALFORMED');
  onlyKeys(m, [1, 2, 3, 4], 'rejection', 'MALFORMED');
  const seq = m.get(1);
  if (seq !== null && (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)) fail('MALFORMED', 'rejection seq must be uint or null', 'rejection.seq');
  const code = m.get(2);
  if (!isErrorCode(code)) fail('MALFORMED', `unknown rejection code ${String(code)}`, 'rejection.code');
  const path = m.get(4);
  if (typeof path !== 'string' || path.length > MAX_REJECTION_PATH) fail('MALFORMED', 'rejection path must be text (may be empty)', 'rejection.path');
  return { seq: seq as number | null, code, message: checkText(m.get(3), 'rejection.message', { max: MAX_REJECTION_MESSAGE }), path };
}

/**
 * What a device checks on a receipt (firmware-specs/SPEC.md §Receipts): the entry rebuilt from the envelope it sent
 * and the receipt's fields hashes to the receipt's leaf hash (else INCLUSION_INVALID), and the checkpoint is signed
 * by a trusted gateway key and covers the entry's index (else CHECKPOINT_INVALID). Returns the checkpoint's size.
 */
export function verifyReceipt(
  receipt: Receipt,
  envelope: Uint8Array,
  checkpointKeys: readonly NoteVerifier[],
  opts: { verify?: Ed25519Verify } = {},
): number {
  const entry = encodeLogEntry({ type: ENTRY_READING, index: receipt.index, receivedAtMs: receipt.receivedAtMs, payload: envelope, certRef: receipt.certRef });
  if (!bytesEqual(leafHash(entry), receipt.leafHash)) fail('INCLUSION_INVALID', 'the receipt leaf hash is not the hash of the entry holding this reading', 'receipt.leafHash');
  const cp = openCheckpoint(receipt.checkpoint, checkpointKeys, opts.verify ? { verify: opts.verify } : {});
  if (cp.size <= receipt.index) fail('CHECKPOINT_INVALID', `the checkpoint (size ${cp.size}) does not cover entry ${receipt.index}`, 'receipt.checkpoint');
  return cp.size;
}
