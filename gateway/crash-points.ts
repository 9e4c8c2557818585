/**
 * TEST-ONLY fault injection for the crash tests (test/crash/): with ORIGINPROOF_TEST_CRASH_AT=<point>:<n> the
 * gateway kills itself with SIGKILL the n-th time (counted from its start) it reaches <point>. Never set it in
 * production. Unset, nothing is wrapped and nothing is counted: the hooks cost nothing.
 *
 * The points, in the order one block goes through them:
 *   checkpoint-sign      the block is computed (tree, header) and its checkpoint is being signed; nothing of it is written
 *   before-block-write   signed, about to be handed to LevelDB
 *   during-block-write   handed to LevelDB (log append and fsync on its thread), killed without waiting for the write:
 *                        after the restart the block is there or not, depending on how far LevelDB got, but whole
 *   after-block-write    the write (with fsync) returned: durable, but none of its receipts has been sent
 *   before-receipt       about to publish the n-th receipt: some receipts of a block are out, others not
 */
import { writeSync } from 'node:fs';
import type { NoteSigner } from '../protocol/checkpoint.js';
import type { BlockWrite, LedgerBackend } from '../ledger/backend.js';
import { ConfigError } from './config.js';

export const CRASH_ENV = 'ORIGINPROOF_TEST_CRASH_AT';
export const CRASH_POINTS = ['checkpoint-sign', 'before-block-write', 'during-block-write', 'after-block-write', 'before-receipt'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface CrashPlan {
  point: CrashPoint;
  nth: number;
}

/** The plan in ORIGINPROOF_TEST_CRASH_AT, or null when unset; a malformed value stops the start (ConfigError). */
export function crashPlanFromEnv(env: NodeJS.ProcessEnv = process.env): CrashPlan | null {
  const raw = env[CRASH_ENV];
  if (raw === undefined || raw === '') return null;
  const m = /^([a-z-]+):([1-9]\d{0,8})$/.exec(raw);
  if (!m || !(CRASH_POINTS as readonly string[]).includes(m[1]!)) {
    throw new ConfigError(`invalid gateway configuration:\n  ${CRASH_ENV}: expected <point>:<n> with point one of ${CRASH_POINTS.join(', ')} and n >= 1 (got ${JSON.stringify(raw)})`);
  }
  return { point: m[1] as CrashPoint, nth: Number(m[2]) };
}

export class CrashPoints {
  #count = 0;

  constructor(readonly plan: CrashPlan) {}

  /** Count a pass through `point`; at the planned one, say so on stderr and SIGKILL this process. */
  reach(point: CrashPoint): void {
    if (point !== this.plan.point || ++this.#count !== this.plan.nth) return;
    writeSync(2, `${CRASH_ENV}: reached ${point}:${this.plan.nth}, SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }

  signer<S extends NoteSigner>(signer: S): S {
    return { ...signer, sign: (msg: Uint8Array) => (this.reach('checkpoint-sign'), signer.sign(msg)) };
  }

  /** The backend with its writeBlock passing through the block-write points (everything else untouched). */
  backend(inner: LedgerBackend): LedgerBackend {
    const writeBlock = async (block: BlockWrite): Promise<void> => {
      this.reach('before-block-write');
      const written = inner.writeBlock(block);
      // By the next turn LevelDB's thread has the batch (log append, fsync); the kill does not wait for it.
      if (this.plan.point === 'during-block-write') setImmediate(() => this.reach('during-block-write'));
      await written;
      this.reach('after-block-write');
    };
    return new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBlock') return writeBlock;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Answers to devices, with the receipts passing through `before-receipt`. */
  deliver(fn: (deviceId: string, kind: 'receipts' | 'rejections', payload: Uint8Array) => void | Promise<void>): typeof fn {
    return (deviceId, kind, payload) => {
      if (kind === 'receipts') this.reach('before-receipt');
      return fn(deviceId, kind, payload);
    };
  }
}
