/**
 * The pipeline's bound on readings in flight (backpressure): at most `highWater` readings are admitted and not yet
 * decided; a reading above that is parked, and its publisher's MQTT flow waits (aedes reads no more of that
 * connection until the reading's promise resolves). A decided reading hands its slot straight to the oldest parked
 * one. Once as many readings are parked as the queue holds, `full` tells the broker to stop reading device
 * connections (mqtt/read-gate.ts): parking keeps a steady load's brief peaks in a FIFO, the gate bounds bursts.
 */
import { Fifo } from './fifo.js';

export class AdmissionQueue {
  #depth = 0;
  readonly #parked = new Fifo<() => void>();

  constructor(
    private readonly highWater: number,
    /** The queue depth changed (a metric). */
    private readonly onDepth: (depth: number) => void,
    /** A slot freed while fewer than the high-water mark are parked (the broker reads waiting devices again). */
    private readonly onSpace: () => void = () => {},
  ) {}

  /** Readings admitted and not yet decided. */
  get depth(): number {
    return this.#depth;
  }

  /** Readings waiting above the high-water mark for a slot. */
  get parked(): number {
    return this.#parked.length;
  }

  /** As many readings parked as the queue holds: stop reading devices until this clears. */
  get full(): boolean {
    return this.#parked.length >= this.highWater;
  }

  /** Take a slot if one is free (the hot path: no closure, no promise). */
  tryEnter(): boolean {
    if (this.#depth >= this.highWater) return false;
    this.#setDepth(this.#depth + 1);
    return true;
  }

  /** Wait for a slot: `start` runs when one is handed over, then the promise resolves. */
  park(start: () => void): Promise<void> {
    return new Promise<void>((resolve) =>
      this.#parked.push(() => {
        start();
        resolve();
      }),
    );
  }

  /** A reading is decided: its slot goes to the oldest parked reading if any (depth unchanged), else back. */
  release(): void {
    const next = this.#parked.shift();
    if (next) next();
    else this.#setDepth(this.#depth - 1);
    if (this.#parked.length < this.highWater) this.onSpace();
  }

  /** Give every parked reading a slot now, over the mark (shutdown: each is then answered and releases it). */
  admitParked(): void {
    for (const start of this.#parked.drain()) {
      this.#setDepth(this.#depth + 1);
      start();
    }
  }

  #setDepth(d: number): void {
    this.#depth = d;
    this.onDepth(d);
  }
}
