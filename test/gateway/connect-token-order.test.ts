/** gateway/connect-token-order.ts: a device's connect tokens are taken in order of their iat, each at most once. */
import { afterEach, describe, expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelBackend } from '../../ledger/level-backend.js';
import { ConnectTokenOrder } from '../../gateway/mqtt/connect-token-order.js';
import { OriginProofError } from '../../protocol/errors.js';

const codeOf = (fn: () => void): string => {
  try {
    fn();
    return 'NO_ERROR';
  } catch (err) {
    return err instanceof OriginProofError ? err.code : String(err);
  }
};

describe('ConnectTokenOrder', () => {
  test('REPLAY for a token not dated later than the device\'s last accepted one; devices are independent', () => {
    const order = new ConnectTokenOrder(1_000, 300);
    expect(codeOf(() => order.take('a', 1_000))).toBe('NO_ERROR');
    expect(codeOf(() => order.take('a', 1_000))).toBe('REPLAY'); // the same token again
    expect(codeOf(() => order.take('a', 999))).toBe('REPLAY'); // an older one
    expect(codeOf(() => order.take('b', 1_000))).toBe('NO_ERROR'); // another device's
    expect(codeOf(() => order.take('a', 1_001))).toBe('NO_ERROR');
    expect(codeOf(() => order.take('a', 1_001))).toBe('REPLAY');
    expect(order.devices).toBe(2);
  });

  test('after a (re)start, a first token is taken if dated no earlier than the start less the skew', () => {
    const order = new ConnectTokenOrder(10_000, 300);
    expect(codeOf(() => order.take('a', 9_699))).toBe('REPLAY'); // made before the restart less the skew
    expect(codeOf(() => order.take('b', 9_700))).toBe('NO_ERROR'); // a device whose clock is 300 s behind
    expect(codeOf(() => order.take('b', 9_700))).toBe('REPLAY');
    expect(codeOf(() => order.take('a', 9_700))).toBe('NO_ERROR');
  });
});

describe('ConnectTokenOrder over a real store (LevelDB, temp dir)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  async function store() {
    const dir = await mkdtemp(join(tmpdir(), 'op-token-order-'));
    const level = await LevelBackend.open(dir);
    const writes: (readonly (readonly [string, number])[])[] = [];
    // the real store, with its writes recorded
    const counted = { tokenIats: () => level.tokenIats(), writeTokenIats: (rows: readonly (readonly [string, number])[]) => (writes.push(rows), level.writeTokenIats(rows)) };
    cleanups.push(async () => {
      await level.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    });
    return { level, counted, writes };
  }

  test('the takes of one turn go in one write, those made while it is in flight in the next; durable when they resolve', async () => {
    const { level, counted, writes } = await store();
    const order = await ConnectTokenOrder.load(counted, 10_000, 300);
    const first = ['a', 'b', 'c'].map((id) => order.take(id, 10_000));
    await new Promise((r) => setImmediate(r)); // the first write is in flight now
    const second = [order.take('d', 10_000), order.take('a', 10_001)];
    await Promise.all([...first, ...second]);
    expect(writes.map((w) => w.length)).toEqual([3, 2]);
    const again = await ConnectTokenOrder.load(level, 10_000, 300);
    expect(again.devices).toBe(4);
    expect(codeOf(() => again.take('a', 10_001))).toBe('REPLAY');
    expect(codeOf(() => again.take('b', 10_000))).toBe('REPLAY');
  });

  test('rows at or below the floor (start less skew) are not loaded; a failed write rejects the take and the token stays used', async () => {
    const { level, counted } = await store();
    await level.writeTokenIats([['old', 9_000], ['recent', 9_900]]);
    const order = await ConnectTokenOrder.load(counted, 10_000, 300);
    expect(order.devices).toBe(1);
    expect(codeOf(() => order.take('recent', 9_900))).toBe('REPLAY');
    await level.close(); // the store fails from here on
    const taken = order.take('new', 10_000);
    await expect(taken).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' }); // the store's own error, passed on
    expect(codeOf(() => order.take('new', 10_000))).toBe('REPLAY');
  });

  test('the rows of a failed write go with the next one, so a restart after the store recovers cannot make those tokens good again', async () => {
    const { level } = await store();
    let failures = 1;
    // the real store, its first write refused (a full disk that recovers)
    const flaky = {
      tokenIats: () => level.tokenIats(),
      writeTokenIats: (rows: readonly (readonly [string, number])[]) => (failures-- > 0 ? Promise.reject(new Error('disk full')) : level.writeTokenIats(rows)),
    };
    const order = await ConnectTokenOrder.load(flaky, 10_000, 300);
    await expect(order.take('lost', 10_000)).rejects.toThrow('disk full');
    await expect(order.take('later', 10_000)).resolves.toBeUndefined();
    const restarted = await ConnectTokenOrder.load(level, 10_000, 300);
    expect(codeOf(() => restarted.take('later', 10_000))).toBe('REPLAY');
    expect(codeOf(() => restarted.take('lost', 10_000))).toBe('REPLAY');
  });

  test('a newer token of the same device taken while a write fails is the row kept', async () => {
    const { level } = await store();
    let failures = 1;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const flaky = {
      tokenIats: () => level.tokenIats(),
      writeTokenIats: async (rows: readonly (readonly [string, number])[]) => {
        if (failures-- > 0) {
          await held;
          throw new Error('disk full');
        }
        return level.writeTokenIats(rows);
      },
    };
    const order = await ConnectTokenOrder.load(flaky, 10_000, 300);
    const first = order.take('a', 10_000);
    await new Promise((r) => setImmediate(r)); // the first write is in flight
    const newer = order.take('a', 10_005);
    release();
    await expect(first).rejects.toThrow('disk full');
    await newer;
    const restarted = await ConnectTokenOrder.load(level, 10_000, 300);
    expect(codeOf(() => restarted.take('a', 10_005))).toBe('REPLAY');
    await expect(restarted.take('a', 10_006)).resolves.toBeUndefined();
  });
});
