/**
 * What a device does with the gateway's answers: which rejections keep the reading or stop the device (SPEC §8),
 * and the receipt check (SPEC §7: rebuild the log entry from what was sent, compare the leaf hash, verify the
 * checkpoint signature with the provisioned gateway key).
 */
import type { EventEmitter } from 'node:events';
import * as nodeCrypto from 'node:crypto';
import {
  bytesEqual, encodeLogEntry, ENTRY_READING, leafHash, OriginProofError, verifyReceipt,
  type ErrorCode, type NoteVerifier, type Receipt,
} from '../protocol/index.js';

/** Rejections after which the device keeps the reading and resends it later (SPEC §8). */
export const KEEP_CODES: readonly ErrorCode[] = ['UNAVAILABLE', 'STORAGE_UNAVAILABLE'];

/** Rejections after which the device stops sending (SPEC §8 "stop sending; alert"). */
export const STOP_CODES: readonly ErrorCode[] = ['UNKNOWN_DEVICE', 'CERT_EXPIRED', 'CERT_REVOKED', 'CHAIN_INVALID', 'ROLE_VIOLATION'];

export function nodeEd25519Verify(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean {
  try {
    const key = nodeCrypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
    return nodeCrypto.verify(null, msg, key, sig);
  } catch {
    return false;
  }
}

/**
 * The receipt `r` for the reading `bytes`: null if it holds, else the code of what failed. Without the gateway's
 * checkpoint key only the leaf hash can be checked.
 */
export function checkReceipt(r: Receipt, bytes: Uint8Array, checkpointKey: NoteVerifier | null): ErrorCode | null {
  if (!checkpointKey) {
    const entry = encodeLogEntry({ type: ENTRY_READING, index: r.index, receivedAtMs: r.receivedAtMs, payload: bytes, certRef: r.certRef });
    return bytesEqual(leafHash(entry), r.leafHash) ? null : 'INCLUSION_INVALID';
  }
  try {
    verifyReceipt(r, bytes, [checkpointKey], { verify: nodeEd25519Verify });
    return null;
  } catch (err) {
    return err instanceof OriginProofError ? err.code : 'CHECKPOINT_INVALID';
  }
}

/** The next `event` whose argument passes `pred`, within `timeoutMs` (else rejects, saying `what` did not come). */
export function nextEvent<T>(emitter: EventEmitter, event: string, pred: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (value: T) => {
      if (!pred(value)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(value);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, on);
  });
}
