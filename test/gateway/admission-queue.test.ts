import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from '../../gateway/admission-queue.js';

describe('admission queue (backpressure)', () => {
  it('admits up to the high-water mark, parks above it, and hands a released slot to the oldest parked reading', async () => {
    const depths: number[] = [];
    let spaces = 0;
    const q = new AdmissionQueue(2, (d) => depths.push(d), () => spaces++);
    expect([q.tryEnter(), q.tryEnter(), q.tryEnter()]).toEqual([true, true, false]);
    const started: string[] = [];
    const a = q.park(() => started.push('a'));
    const b = q.park(() => started.push('b'));
    expect(q.parked).toBe(2);
    expect(q.full).toBe(true);
    q.release();
    expect(started).toEqual(['a']);
    expect(q.depth).toBe(2); // the slot went to 'a', not back to the queue
    expect(q.full).toBe(false);
    expect(spaces).toBe(1);
    await a;
    q.release();
    q.release();
    await b;
    expect(started).toEqual(['a', 'b']);
    expect(q.depth).toBe(1);
    expect(depths).toEqual([1, 2, 1]);
  });

  it('gives every parked reading a slot at shutdown, over the mark', () => {
    const q = new AdmissionQueue(1, () => {});
    expect(q.tryEnter()).toBe(true);
    const started: number[] = [];
    for (let i = 0; i < 3; i++) void q.park(() => started.push(i));
    q.admitParked();
    expect(started).toEqual([0, 1, 2]);
    expect(q.depth).toBe(4);
    expect(q.parked).toBe(0);
    for (let i = 0; i < 4; i++) q.release();
    expect(q.depth).toBe(0);
  });
});
