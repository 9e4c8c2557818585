/**
 * Whether the pipeline may store readings: the store's failure (every reading answered STORAGE_UNAVAILABLE until it
 * is back) and its generation, bumped when it fails and again when it is back, so that a reading that arrived before
 * either is refused too (its device resends it after reconnecting, in seq order: pipeline.ts, Pipeline.resume).
 */
import type { OriginProofError } from '../protocol/errors.js';
import { storageError } from './storage/fail-stop-backend.js';

export class StorageGate {
  #failure: OriginProofError | null = null;
  #generation = 0;
  #resumes = 0;

  /** The generation a reading arriving now belongs to. */
  get generation(): number {
    return this.#generation;
  }

  /** How many times the store came back after a failure: the broker's connection epoch. */
  get resumes(): number {
    return this.#resumes;
  }

  suspend(failure: OriginProofError): void {
    this.#failure = failure;
    this.#generation++;
  }

  resume(): void {
    this.#generation++;
    this.#resumes++;
    this.#failure = null;
  }

  /** Throws STORAGE_UNAVAILABLE if the store failed, or failed and recovered, since the reading arrived. */
  check(generation: number): void {
    if (this.#failure) throw this.#failure;
    if (generation !== this.#generation) {
      throw storageError(new Error('the store failed and was reopened while this reading was queued; resend it after reconnecting'));
    }
  }
}
