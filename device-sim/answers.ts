/**
 * What a device does with the gateway's answers: which rejections keep the reading or stop the device (SPEC §8),
 * and the receipt check (SPEC §7: rebuild the log entry from what was sent, compare the leaf hash, verify the
 * checkpoint signature with the provisioned gateway key).
 */
import type { EventEmitter } from 'node:events';
import * as nodeCrypto from 'node:crypto';
import {
  bytesEqual, encodeLogEntry, ENTRY_READING, followCheckpointKeys, leafHash, OriginProofError, verifyReceipt,
  type CheckpointKeys, type ErrorCode, type Receipt,
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
 * The receipt `r` for the reading `bytes`, checked with the gateway keys the device holds (SPEC §7): `code` null if
 * it holds, else what failed; `keys` the keys held after it (a next key announced or withdrawn, a switch: SPEC §7 "A
 * new checkpoint key"; unchanged when it fails). Without a key only the leaf hash can be checked. The leaf hash is
 * checked first, as verifyReceipt does. Only a checkpoint that names a next key, or one checked while a next key is
 * held, goes through the handover rules; any other is checked with the current key alone, as before.
 */
export function checkReceipt(r: Receipt, bytes: Uint8Array, keys: CheckpointKeys | null): { code: ErrorCode | null; keys: CheckpointKeys | null; switched: boolean } {
  const unchanged = { keys, switched: false };
  if (!keys) return { code: leafHolds(r, bytes) ? null : 'INCLUSION_INVALID', ...unchanged };
  const verify = { verify: nodeEd25519Verify };
  if (!keys.next && !r.checkpoint.includes('\nnext-key ')) return { code: codeOf(() => verifyReceipt(r, bytes, [keys.current], verify)), ...unchanged };
  // The handover rules: the key that signed decides the keys after, and checks the coverage (its signature checked
  // again: only while keys are handed over). The leaf hash first, as verifyReceipt checks it.
  if (!leafHolds(r, bytes)) return { code: 'INCLUSION_INVALID', ...unchanged };
  let after: ReturnType<typeof followCheckpointKeys> | undefined;
  const code = codeOf(() => {
    after = followCheckpointKeys(r.checkpoint, keys, nodeEd25519Verify);
    verifyReceipt(r, bytes, [after.keys.current], verify);
  });
  return code !== null || !after ? { code, ...unchanged } : { code: null, keys: after.keys, switched: after.switched };
}

/** The receipt's leaf hash is the hash of the log entry rebuilt from the reading `bytes` and the receipt's fields. */
function leafHolds(r: Receipt, bytes: Uint8Array): boolean {
  const entry = encodeLogEntry({ type: ENTRY_READING, index: r.index, receivedAtMs: r.receivedAtMs, payload: bytes, certRef: r.certRef });
  return bytesEqual(leafHash(entry), r.leafHash);
}

function codeOf(check: () => unknown): ErrorCode | null {
  try {
    check();
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
