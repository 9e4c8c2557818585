/**
 * POST /v1/verify's share of the event loop (gateway/http/time-budget.ts, config httpVerifyMsPerSecond). A verdict
 * checks the log's whole revocation list on the loop that takes the readings (150–220 ms a request with 3,000
 * revocations, HTTP CPU review); the per-address rate limit counted requests, not their cost, so one client within it
 * could hold the loop for most of every second. Past the budget a verdict is refused 429 RATE_LIMITED before it
 * starts, and taken again once the last second's verdicts leave room; the other routes are not affected.
 */
import { describe, expect, test } from 'vitest';
import { encodeProofBundle, toBase64 } from '../../protocol/index.js';
import { TimeBudget } from '../../gateway/http/time-budget.js';
import { ApiError } from '../../gateway/http/error-registry.js';
import { entryBundle, useGatewayWithDevices } from './harness.js';
import { SteppingClock } from './stepping-clock.js';

describe('the verdicts’ time budget', () => {
  // Each verdict's work charged 4 ms on the budget's own clock (stepping-clock.ts): 10 ms a second admits three.
  const clock = new SteppingClock(4);
  const g = useGatewayWithDevices(1, { httpVerifyMsPerSecond: 10 }, { verifyBudgetClock: clock.now });

  test('past it a verdict is 429 RATE_LIMITED, other routes still answer, and verdicts are taken again as the second slides', async () => {
    const bundle = toBase64(encodeProofBundle(await entryBundle(g.t, 1)));
    const verify = () => g.t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle } });
    const first = await verify();
    expect([first.statusCode, first.json().valid]).toEqual([200, true]);
    const firstEnded = clock.last; // the end of its charged work: the last read
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await verify();
      codes.push(r.statusCode === 200 ? 'ok' : r.json().code);
    }
    // The first three found 0, 4 and 8 of the 10 ms spent: taken; the fourth found 12: refused before its work.
    expect(codes).toEqual(['ok', 'ok', 'RATE_LIMITED']);
    const refused = await verify();
    expect([refused.statusCode, refused.json().code]).toEqual([429, 'RATE_LIMITED']);
    const envelope = await g.t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { envelope: bundle } });
    expect([envelope.statusCode, envelope.json().code]).toEqual([429, 'RATE_LIMITED']);
    expect((await g.t.gw.app.inject({ method: 'GET', url: '/v1/entries/1' })).statusCode).toBe(200);
    // A second after the first verdict's work ended, its 4 ms leave the window (8 of the 10 spent): one more is taken.
    // Asked 4 ms before that (a refused verdict reads the clock once, a step), it is still refused.
    clock.set(firstEnded + 1000 - 4);
    const justBefore = await verify();
    expect([justBefore.statusCode, justBefore.json().code]).toEqual([429, 'RATE_LIMITED']);
    expect(clock.last).toBe(firstEnded + 996);
    const slid = await verify(); // its first read: firstEnded + 1000
    expect([slid.statusCode, slid.json().valid]).toEqual([200, true]);
  });
});

describe('the verdicts’ time budget on its default clock (performance.now)', () => {
  const g = useGatewayWithDevices(1, { httpVerifyMsPerSecond: 1 });

  test('the verdicts’ real work is charged: within a few verdicts at 1 ms a second, one is refused RATE_LIMITED', async () => {
    const bundle = toBase64(encodeProofBundle(await entryBundle(g.t, 1)));
    const verify = () => g.t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: { bundle } });
    const first = await verify();
    expect([first.statusCode, first.json().valid]).toEqual([200, true]);
    // A bundle's verdict (four signatures at least, the Merkle proofs, the revocation list) takes more than 1 ms
    // within a few requests: the budget is spent before the per-address limit (600 a minute) is near. A stall only
    // adds to the time charged, or slides the window for a request or two of the fifty.
    const codes: string[] = [];
    for (let i = 0; i < 50 && !codes.includes('RATE_LIMITED'); i++) {
      const r = await verify();
      codes.push(r.statusCode === 200 ? 'ok' : r.json().code);
      if (r.statusCode !== 200) expect(r.statusCode).toBe(429);
    }
    expect(codes).toContain('RATE_LIMITED');
  });
});

describe('TimeBudget', () => {
  test('charges what each piece of work took over the last second, refuses while the sum is at the budget, forgets after a second', () => {
    let now = 0;
    const budget = new TimeBudget(100, 'tests', () => now);
    const taking = (ms: number) => {
      budget.check();
      budget.charge(() => void (now += ms));
    };
    taking(60);
    taking(50); // 60 < 100 when it started: taken, and charged whole
    expect(budget.used()).toBe(110);
    let refused: unknown;
    try {
      taking(1);
    } catch (err) {
      refused = err;
    }
    expect(refused instanceof ApiError && refused.code).toBe('RATE_LIMITED');
    expect(budget.used()).toBe(110); // a refused request is charged nothing
    now = 1060; // the first piece ended at 60: a second ago
    expect(budget.used()).toBe(50);
    taking(10);
    now = 1111; // the second ended at 110
    expect(budget.used()).toBe(10);
    // Work that throws is charged too; time not charged (a wait on the store) is not.
    expect(() => budget.charge(() => {
      now += 95;
      throw new Error('boom');
    })).toThrow('boom');
    now += 500;
    expect(budget.used()).toBe(105);
  });
});
