/**
 * Holds the gateway's block writes at the store (GatewayRuntime.wrapBackend, below the fail-stop layer), to widen the
 * moments around a write: `before`, a block admitted and on its way, not stored; `after`, stored in LevelDB and not
 * yet counted by the ledger (its time and device indexes already there). `entered` is called when a write reaches a
 * hold that is set.
 */
import type { BlockWrite, LedgerBackend } from '../../ledger/backend.js';

export class BlockWriteHold {
  before: Promise<void> | null = null;
  after: Promise<void> | null = null;
  entered: (() => void) | null = null;

  readonly wrap = (inner: LedgerBackend): LedgerBackend =>
    new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBlock') {
          return async (b: BlockWrite) => {
            if (this.before) {
              this.entered?.();
              await this.before;
            }
            await target.writeBlock(b);
            if (this.after) {
              this.entered?.();
              await this.after;
            }
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
}
