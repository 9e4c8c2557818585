import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { Fifo } from '../../gateway/fifo.js';

const backing = (f: Fifo<unknown>) => (f as unknown as { items: unknown[] }).items;

describe('Fifo', () => {
  test('behaves as an array queue under any mix of push, shift, peek and drain', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant<'shift'>('shift'), fc.constant<'drain'>('drain'), fc.constant<'peek'>('peek'), fc.integer({ min: 1, max: 1500 })), { maxLength: 400 }),
        (ops) => {
          const f = new Fifo<number>();
          const model: number[] = [];
          let n = 0;
          for (const op of ops) {
            if (op === 'shift') expect(f.shift()).toBe(model.shift());
            else if (op === 'peek') expect(f.peek()).toBe(model[0]);
            else if (op === 'drain') expect(f.drain()).toEqual(model.splice(0));
            else for (let i = 0; i < op; i++) {
              f.push(n);
              model.push(n++);
            }
            expect(f.length).toBe(model.length);
          }
          while (model.length > 0) expect(f.shift()).toBe(model.shift());
          expect(f.shift()).toBeUndefined();
          expect(f.length).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('one item at a time (a device lane): the backing array stays one slot, however many items went through', () => {
    const f = new Fifo<object>();
    for (let i = 0; i < 5000; i++) {
      f.push({});
      expect(f.length).toBe(1);
      f.shift();
    }
    expect(backing(f).length).toBe(1);
    expect(f.peek()).toBeUndefined();
  });

  test('a burst is released when the queue empties; a queue that never empties is compacted', () => {
    const f = new Fifo<number>();
    for (let i = 0; i < 10_000; i++) f.push(i);
    for (let i = 0; i < 10_000; i++) expect(f.shift()).toBe(i);
    expect(backing(f).length).toBe(0);
    // Always a few in the queue: the consumed prefix is dropped once it is large and most of the array.
    for (let i = 0; i < 20_000; i++) {
      f.push(i);
      f.push(-i);
      expect(f.shift()).toBe(i % 2 === 0 ? i / 2 : -((i - 1) / 2));
    }
    expect(f.length).toBe(20_000);
    expect(backing(f).length).toBeLessThan(3 * 20_000);
  });
});
