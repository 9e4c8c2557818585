/**
 * The budget of refused CONNECTs per client address (gateway/mqtt/connect-failure-limit.ts), on its own clock:
 * a burst of `perMinute`, refilled at `perMinute` a minute, IPv6 counted per /64, reported once per episode.
 * test/gateway/mqtt-connect-failure-limit.test.ts runs it in the gateway with mqtt.js clients.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { addressKey, ConnectFailureLimit } from '../../gateway/mqtt/connect-failure-limit.js';

describe('addressKey', () => {
  test('IPv4 by address, IPv4-mapped IPv6 as its IPv4 address, IPv6 by its /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });

  test('something that is not an address (a socket without one) is its own key', () => {
    expect(addressKey(undefined)).toBe('');
    expect(addressKey('not-an-ip')).toBe('not-an-ip');
  });

  test('a text that is not an address is cut to 64 characters: X-Forwarded-For text does not size the budgets kept', () => {
    const text = `x${'y'.repeat(16 * 1024)}`;
    expect(addressKey(text)).toBe(text.slice(0, 64));
    expect(addressKey('2001:0db8:0001:0002:0003:0004:255.255.255.255')).toBe('2001:db8:1:2::/64'); // 45 characters, an address
  });
});

describe('ConnectFailureLimit', () => {
  test('a burst of perMinute failures, then refused until a failure has refilled', () => {
    let now = 0;
    const limit = new ConnectFailureLimit(3, () => now);
    for (let i = 0; i < 3; i++) {
      expect(limit.allows('a')).toBe(true);
      limit.failed('a');
    }
    expect(limit.allows('a')).toBe(false);
    expect(limit.allows('b')).toBe(true); // another address has its own budget
    now += 19_999;
    expect(limit.allows('a')).toBe(false);
    now += 1; // 3 a minute: one every 20 s
    expect(limit.allows('a')).toBe(true);
    limit.failed('a');
    expect(limit.allows('a')).toBe(false);
  });

  test('reports an address once when its budget runs out, again only after it has refilled whole', () => {
    let now = 0;
    const limit = new ConnectFailureLimit(2, () => now);
    expect([limit.failed('a'), limit.failed('a')]).toEqual([false, true]);
    now += 30_000; // one refilled: it tries, fails, and is out again without a second report
    expect(limit.failed('a')).toBe(false);
    now += 60_000; // full again
    expect([limit.failed('a'), limit.failed('a')]).toEqual([false, true]);
  });

  test('checks that were already running when the budget ran out still count, a minute at most', () => {
    let now = 0;
    const limit = new ConnectFailureLimit(2, () => now);
    for (let i = 0; i < 100; i++) limit.failed('a'); // allowed at once, failed later (the pending cap's concurrency)
    now += 89_999; // owed two past empty (-2), one more for the first check: 1.5 minutes
    expect(limit.allows('a')).toBe(false);
    now += 1;
    expect(limit.allows('a')).toBe(true);
  });

  test('0 is no limit', () => {
    const limit = new ConnectFailureLimit(0);
    for (let i = 0; i < 1000; i++) expect(limit.failed('a')).toBe(false);
    expect(limit.allows('a')).toBe(true);
    expect(limit.tracked).toBe(0);
  });

  test('tracks at most maxAddresses; the address that failed longest ago is forgotten first', () => {
    const limit = new ConnectFailureLimit(1, () => 0, 2);
    limit.failed('a');
    limit.failed('b');
    limit.failed('a'); // a failed last now
    limit.failed('c');
    expect(limit.tracked).toBe(2);
    expect([limit.allows('a'), limit.allows('b'), limit.allows('c')]).toEqual([false, true, false]);
  });

  test('property: an address never gets more checks than its burst plus the refill over the time elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.boolean()), { maxLength: 400 }),
        (perMinute, steps) => {
          let now = 0;
          const limit = new ConnectFailureLimit(perMinute, () => now);
          let checked = 0;
          for (const [advanceMs, fails] of steps) {
            now += advanceMs;
            if (!limit.allows('x')) continue;
            checked++;
            if (fails) limit.failed('x');
            else checked--; // a CONNECT let in costs nothing from the budget
          }
          expect(checked).toBeLessThanOrEqual(perMinute + Math.floor((now * perMinute) / 60_000) + 1);
        },
      ),
    );
  });
});
