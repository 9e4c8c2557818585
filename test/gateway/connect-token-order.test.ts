/** gateway/connect-token-order.ts: a device's connect tokens are taken in order of their iat, each at most once. */
import { describe, expect, test } from 'vitest';
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
