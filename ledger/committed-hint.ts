/**
 * The committed-size hint: `<dir>/entries/committed`, 32 bytes: u64 tree size, u64 block height (big-endian) of the
 * last block whose LevelDB batch committed, then the first 16 bytes of SHA-256(DOMAIN || those 16 bytes).
 *
 * Why: segment bytes past what the LevelDB store indexes are either a crash's leftovers (written and synced before a
 * batch that never committed: never receipted, cut by the next block) or entries of blocks that DID commit, in a store
 * that is older than its segment files (restored or copied apart from them, or its write-ahead log's tail lost):
 * receipted readings, which cutting would lose. The segment files alone cannot tell the two apart; this file can.
 * A valid hint larger than the store's committed size means the store is older than its segment files, and opening
 * it for the gateway is refused (LevelBackend.checkSegmentFiles).
 *
 * It never causes a false refusal: it is written only after a block's batch has committed and been synced (so the
 * store holds that size durably before the hint's write is even issued), and its writes go out in block order, so any
 * value it holds on disk, after a process crash, a power loss or in an atomic snapshot of the file system, is at most
 * the store's durable size. It is advisory, so it costs one small write per block and no more: written in place (pwrite
 * at offset 0 on a handle kept open), never fsynced, not awaited by the block's write (the receipts do not wait for it),
 * and a write that fails is dropped (the next block's writes it again). What that loses is only the hint's own
 * freshness: a hint older than the store (or none, or a torn one, which the checksum rejects) is ignored, and the
 * store opens as it did before the hint existed (a store written by an earlier version has none).
 *
 * Not caught: a store older than its segment files whose hint is no newer than the store: the hint file missing or
 * not restored with the segment files, or lost with the store's tail in the same power loss (a disk that acknowledged
 * a sync it had not done, losing the store's last blocks and the hint's last writes together). A gap of more than
 * one block's entries is refused without the hint (checkSegmentFiles' `maxUncommitted`).
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { isAccessFailure } from './errno.js';
import { nodeSha256 } from './hasher.js';
import { readU64, writeU64 } from './keys.js';

export const HINT_NAME = 'committed';
const HINT_BYTES = 32;
const BODY_BYTES = 16;
const DOMAIN = new TextEncoder().encode('originproof committed-size hint v1\0');

export interface CommittedHint {
  /** Entries in the committed blocks. */
  treeSize: number;
  /** Height of the last committed block. */
  height: number;
}

function checksum(body: Uint8Array): Uint8Array {
  const m = new Uint8Array(DOMAIN.length + BODY_BYTES);
  m.set(DOMAIN);
  m.set(body, DOMAIN.length);
  return nodeSha256(m).subarray(0, HINT_BYTES - BODY_BYTES);
}

export function encodeCommittedHint(h: CommittedHint): Uint8Array {
  const out = new Uint8Array(HINT_BYTES);
  writeU64(out, 0, h.treeSize);
  writeU64(out, 8, h.height);
  out.set(checksum(out.subarray(0, BODY_BYTES)), BODY_BYTES);
  return out;
}

/** The hint in `bytes`, or undefined when they are not one (torn, short, garbage). */
export function decodeCommittedHint(bytes: Uint8Array): CommittedHint | undefined {
  if (bytes.length !== HINT_BYTES) return undefined;
  const sum = checksum(bytes.subarray(0, BODY_BYTES));
  for (let i = 0; i < sum.length; i++) if (sum[i] !== bytes[BODY_BYTES + i]) return undefined;
  const treeSize = readU64(bytes, 0);
  const height = readU64(bytes, 8);
  if (!Number.isSafeInteger(treeSize) || !Number.isSafeInteger(height)) return undefined;
  return { treeSize, height };
}

/**
 * The hint in the file at `path`; undefined when it is missing, cannot be read (EIO) or is not a valid hint. Thrown
 * only when the process may not read it (permissions, its open-files limit: errno.ts isAccessFailure): ignored, the
 * start went on without the check the hint is there for (found by review); the start's DATA_DIR_UNUSABLE instead.
 */
export async function readCommittedHint(path: string): Promise<CommittedHint | undefined> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const buf = new Uint8Array(HINT_BYTES + 1); // one byte more: a longer file is not a hint
    let at = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, at, buf.length - at, at);
      if (bytesRead === 0 || (at += bytesRead) === buf.length) break;
    }
    return decodeCommittedHint(buf.subarray(0, at));
  } catch (err) {
    if (isAccessFailure(err)) throw err;
    return undefined;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Writes the hint after each committed block: `set` never waits and never throws; writes run one at a time, in the
 * order set, and while one runs only the latest value waits (a slow disk coalesces them, never reorders them).
 */
export class CommittedHintWriter {
  readonly #path: string;
  #fh: FileHandle | undefined;
  #wanted: CommittedHint | undefined;
  #running: Promise<void> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  /** Call only once the block of `h` has committed durably (see the header: that is what makes the hint safe). */
  set(h: CommittedHint): void {
    this.#wanted = h;
    if (!this.#running) this.#running = this.#drain();
  }

  async #drain(): Promise<void> {
    await Promise.resolve(); // `#running` is set before anything below can finish
    try {
      for (let h = this.#wanted; h; h = this.#wanted) {
        this.#wanted = undefined;
        try {
          // Created on the first write (opening the store writes nothing: `ledger verify` opens it too); not
          // O_APPEND, not truncated: each write replaces the 32 bytes at offset 0.
          this.#fh ??= await open(this.#path, constants.O_RDWR | constants.O_CREAT, 0o644);
          const bytes = encodeCommittedHint(h);
          for (let at = 0; at < bytes.length; ) at += (await this.#fh.write(bytes, at, bytes.length - at, at)).bytesWritten;
        } catch {
          // Advisory: a failed write leaves an older or torn hint, which is ignored; the next block tries again.
          await this.#dropHandle();
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #dropHandle(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  /** Waits for the pending write, then closes the handle (never throws). */
  async close(): Promise<void> {
    while (this.#running) await this.#running;
    await this.#dropHandle();
  }
}
