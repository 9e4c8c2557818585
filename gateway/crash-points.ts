/**
 * TEST-ONLY fault injection for the crash tests (test/crash/): with ORIGINPROOF_TEST_CRASH_AT=<point>:<n> the
 * gateway kills itself with SIGKILL the n-th time (counted from its start) it reaches <point>. Never set it in
 * production. Unset, nothing is wrapped and nothing is counted: the hooks cost nothing.
 *
 * key-create           the first start's checkpoint key is written and synced to a temp file, not yet linked to its name:
 *                        after the restart no key exists, and one is made (gateway/checkpoint-key.ts)
 *
 * The points, in the order one block goes through them:
 *   checkpoint-sign      the block is computed (tree, header) and its checkpoint is being signed; nothing of it is written
 *   before-block-write   signed, about to be handed to LevelDB
 *   after-segment-write  its entries' bytes written and fdatasync'ed to the segment files, its batch not handed to
 *                        LevelDB yet: after the restart the block is absent and its bytes are cut by the next write
 *   during-block-write   the batch handed to LevelDB (batch.write called: log append and fsync on its thread),
 *                        killed without waiting for the write: after the restart the block is there or not,
 *                        depending on how far LevelDB got, but whole
 *   after-block-write    the write (with fsync) returned: durable, but none of its receipts has been sent
 *   before-receipt       about to publish the n-th receipt: some receipts of a block are out, others not
 */
import { writeSync } from 'node:fs';
import type { NoteSigner } from '../protocol/checkpoint.js';
import type { BlockWrite, LedgerBackend } from '../ledger/backend.js';
import { ConfigError } from './config.js';

export const CRASH_ENV = 'ORIGINPROOF_TEST_CRASH_AT';
export const CRASH_POINTS = ['checkpoint-sign', 'before-block-write', 'after-segment-write', 'during-block-write', 'after-block-write', 'before-receipt'] as const;
/** Points of a first start only (not of a block's path, which CRASH_POINTS lists for the kill test). */
export const START_CRASH_POINTS = ['key-create'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number] | (typeof START_CRASH_POINTS)[number];
const ALL_POINTS: readonly string[] = [...START_CRASH_POINTS, ...CRASH_POINTS];

export interface CrashPlan {
  point: CrashPoint;
  nth: number;
}

/** The plan in ORIGINPROOF_TEST_CRASH_AT, or null when unset; a malformed value stops the start (ConfigError). */
export function crashPlanFromEnv(env: NodeJS.ProcessEnv = process.env): CrashPlan | null {
  const raw = env[CRASH_ENV];
  if (raw === undefined || raw === '') return null;
  const m = /^([a-z-]+):([1-9]\d{0,8})$/.exec(raw);
  if (!m || !ALL_POINTS.includes(m[1]!)) {
    throw new ConfigError('CONFIG_INVALID', `invalid gateway configuration:\n  ${CRASH_ENV}: expected <point>:<n> with point one of ${ALL_POINTS.join(', ')} and n >= 1 (got ${JSON.stringify(raw)})`);
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

  /**
   * The backend with its writeBlock passing through the block-write points (everything else untouched). The two
   * points inside a write are the backend's own stages (LedgerBackend.setWriteStageHook), installed only when planned.
   */
  backend(inner: LedgerBackend): LedgerBackend {
    const point = this.plan.point;
    if (point === 'after-segment-write' || point === 'during-block-write') {
      if (!inner.setWriteStageHook) throw new Error(`${CRASH_ENV}: the ${inner.kind} backend has no write stages for ${point}`);
      inner.setWriteStageHook((stage) => this.reach(stage === 'segments-written' ? 'after-segment-write' : 'during-block-write'));
    }
    const writeBlock = async (block: BlockWrite): Promise<void> => {
      this.reach('before-block-write');
      await inner.writeBlock(block);
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
