/** gateway/used-connect-tokens.ts: each connect token is taken once while it could still be accepted; memory stays bounded. */
import { describe, expect, test } from 'vitest';
import { UsedConnectTokens } from '../../gateway/used-connect-tokens.js';
import { OriginProofError } from '../../protocol/errors.js';

const codeOf = (fn: () => void): string => {
  try {
    fn();
    return 'NO_ERROR';
  } catch (err) {
    return err instanceof OriginProofError ? err.code : String(err);
  }
};

describe('UsedConnectTokens', () => {
  test('REPLAY while the token could still be accepted; taken again once it could not (it is refused as expired then anyway)', () => {
    const used = new UsedConnectTokens();
    expect(codeOf(() => used.use('a', 1_000, 500))).toBe('NO_ERROR');
    expect(codeOf(() => used.use('a', 1_000, 999))).toBe('REPLAY');
    expect(codeOf(() => used.use('b', 1_000, 999))).toBe('NO_ERROR');
    expect(codeOf(() => used.use('a', 2_000, 1_000))).toBe('NO_ERROR');
    expect(codeOf(() => used.use('a', 2_000, 1_001))).toBe('REPLAY');
  });

  test('expired entries are swept (at most once a minute); past `max` the oldest go first', () => {
    const used = new UsedConnectTokens(3);
    used.use('a', 100, 0);
    used.use('b', 200, 10); // no sweep yet: the next is due at 60
    used.use('c', 300, 20);
    expect(used.size).toBe(3);
    used.use('d', 300, 30); // full: 'a', the oldest, goes
    expect(used.size).toBe(3);
    expect(codeOf(() => used.use('b', 200, 31))).toBe('REPLAY');
    expect(codeOf(() => used.use('a', 100, 32))).toBe('NO_ERROR'); // dropped early: taken again (max is far above real use); 'b' goes
    used.use('e', 400, 250); // the sweep at 250 drops 'a' (until 100)
    expect(used.size).toBe(3); // c, d, e
    expect(codeOf(() => used.use('c', 300, 251))).toBe('REPLAY');
  });
});
