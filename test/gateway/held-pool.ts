/**
 * The real verify pool, whose answers can be held (a window between a reading's arrival checks and its admission,
 * as a slow verification makes) and then released, or answered with an error (as a verify worker that died twice
 * answers: verify-pool.ts).
 */
import { VerifyPool, type VerifyCallback, type VerifyRequest } from '../../gateway/crypto/verify-pool.js';

export class HeldPool extends VerifyPool {
  holding = false;
  private readonly held: ((err?: Error) => void)[] = [];

  override check(req: VerifyRequest, done: VerifyCallback): void {
    super.check(req, (err, ok) => {
      if (!this.holding) return done(err, ok);
      this.held.push((failWith) => (failWith ? done(failWith, false) : done(err, ok)));
    });
  }

  /** Answers held so far (each arrives once its worker has verified it). */
  get waiting(): number {
    return this.held.length;
  }

  /** Answer the oldest held check with `err` instead of its result. */
  failOldest(err: Error): void {
    this.held.shift()?.(err);
  }

  release(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }
}
