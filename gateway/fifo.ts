/**
 * A first-in first-out queue with O(1) push and shift. `Array.prototype.shift` is O(n) once an array is long, and
 * the pipeline's parked publishers are shifted once per finished reading (profiled at ~2% of the gateway's CPU).
 *
 * Items live in `items[head..tail)`. When the queue empties, head and tail go back to 0 and the array is reused in
 * place (its slots were cleared as they were shifted), so a queue that carries one item at a time (a device's lane:
 * one reading after another) keeps a one-slot array instead of growing by one dead slot per item until the next
 * compaction (10,000 idle lanes held ~100 MB that way). Reuse allocates nothing; an array grown by a burst beyond
 * KEEP_SLOTS is dropped when the queue empties. A queue that never empties is compacted once its consumed prefix is
 * both large and most of the array.
 */
const KEEP_SLOTS = 64;
const COMPACT_AFTER = 1024;

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(item: T): void {
    if (this.tail < this.items.length) this.items[this.tail] = item;
    else this.items.push(item);
    this.tail++;
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.head < this.tail ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.tail) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.tail) {
      this.head = this.tail = 0;
      if (this.items.length > KEEP_SLOTS) this.items = [];
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.tail) {
      this.items = this.items.slice(this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return item;
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head, this.tail) as T[];
    if (this.items.length > KEEP_SLOTS) this.items = [];
    else this.items.fill(undefined, this.head, this.tail);
    this.head = this.tail = 0;
    return out;
  }
}
