/**
 * What a submitter hands the ledger (ledger/ledger.ts) and what it gets back: an entry's input and its checks, the
 * result once the entry's block is durable, and how a block's submitters are answered.
 */
import { fail } from '../protocol/errors.js';
import { ENTRY_TYPES, type EntryType } from '../protocol/log-entry.js';

/** One entry to append. The ledger reads it again when its block is written: do not change it until then. */
export interface EntryInput {
  type: EntryType;
  payload: Uint8Array;
  certRef?: Uint8Array;
  receivedAtMs?: number;
  deviceId?: string;
  seq?: number;
}

export interface SubmitResult {
  index: number;
  leafHash: Uint8Array;
  receivedAtMs: number;
  checkpoint: string;
  blockHeight: number;
}

/** How `submitWith` answers: an error, or the entry's result once its block is durable. Called exactly once. */
export type SubmitCallback = (err: unknown, result?: SubmitResult) => void;

/** Answer every submitter of a block; one callback that throws does not keep the others from their answers. */
export function answerAll(waiters: SubmitCallback[], results: SubmitResult[] | undefined, err: unknown): void {
  for (let i = 0; i < waiters.length; i++) {
    try {
      if (results) waiters[i]!(undefined, results[i]!);
      else waiters[i]!(err);
    } catch (thrown) {
      rethrowLater(thrown);
    }
  }
}

/** A caller's callback threw: that is the caller's bug, reported as an uncaught exception, not swallowed. */
export function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

export function checkInput(inp: EntryInput): void {
  if (!(ENTRY_TYPES as readonly number[]).includes(inp.type)) fail('MALFORMED', `unknown entry type ${String(inp.type)}`, 'type');
  if (!(inp.payload instanceof Uint8Array)) fail('MALFORMED', 'payload must be bytes', 'payload');
  if ((inp.deviceId === undefined) !== (inp.seq === undefined)) fail('MALFORMED', 'deviceId and seq go together', 'seq');
  if (inp.seq !== undefined && (!Number.isSafeInteger(inp.seq) || inp.seq < 0)) fail('MALFORMED', 'seq must be a uint', 'seq');
  // As the log entry's encoding checks them (protocol/log-entry.ts), but now: found when the block is computed, they
  // would fail every entry of the block and every one pending.
  if (inp.receivedAtMs !== undefined && (!Number.isSafeInteger(inp.receivedAtMs) || inp.receivedAtMs < 0)) fail('MALFORMED', 'receivedAtMs must be a uint', 'receivedAtMs');
  if (inp.certRef !== undefined && (!(inp.certRef instanceof Uint8Array) || inp.certRef.length !== 32)) fail('MALFORMED', 'certRef must be 32 bytes', 'certRef');
  // The device index keys it by its UTF-8 bytes, 1..255 (ledger/keys.ts): refused here, the submitter gets the error;
  // found while writing the block, the whole block would fail. Up to 85 UTF-16 units are at most 255 bytes.
  const id = inp.deviceId;
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || (id.length > 85 && Buffer.byteLength(id, 'utf8') > 255))) {
    fail('MALFORMED', 'deviceId must be 1..255 UTF-8 bytes', 'deviceId');
  }
}
