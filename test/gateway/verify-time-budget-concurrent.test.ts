/**
 * POST /v1/verify's time budget (gateway/http/time-budget.ts) against verdicts asked at once. Each verdict is let in
 * by `check()` and then waits for the store (the revocation listing, the entry lookups) before its synchronous work:
 * requests that arrive together all passed the check while none had been charged yet, and then all ran, so a client
 * sending them concurrently held the event loop as long as it liked (found by review). The budget is checked again
 * just before each piece of synchronous work.
 */
import { describe, expect, test } from 'vitest';
import { encodeProofBundle, toBase64 } from '../../protocol/index.js';
import { entryBundle, reading, useGatewayWithDevices, connectDevice } from './harness.js';
import { SteppingClock } from './stepping-clock.js';

describe('the verdicts’ time budget, verdicts asked at once', () => {
  // Each verdict's work charged 4 ms on the budget's own clock (stepping-clock.ts): 10 ms a second admits three.
  const clock = new SteppingClock(4);
  const g = useGatewayWithDevices(1, { httpVerifyMsPerSecond: 10 }, { verifyBudgetClock: clock.now });

  test('a burst of concurrent verdicts is refused past the budget, not all run', async () => {
    const c = await connectDevice(g.t.gw, g.dev);
    const r = await reading(g.dev, 1);
    await c.publish(r);
    expect((await c.next()).kind).toBe('receipt');
    await c.end();
    const bundle = toBase64(encodeProofBundle(await entryBundle(g.t, 1)));
    const burst = 40;
    const answers = await Promise.all(
      Array.from({ length: burst }, (_, i) =>
        g.t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: i % 2 === 0 ? { bundle } : { envelope: toBase64(r) } }),
      ),
    );
    const codes = answers.map((a) => (a.statusCode === 200 ? 'ok' : a.json().code));
    for (const a of answers) expect([200, 429]).toContain(a.statusCode);
    // Each charged before its work: the three that found 0, 4 and 8 of the 10 ms spent ran, every other was refused
    // (the burst's reads move the clock some 350 ms: no charge leaves the window). The bundle's and the logged
    // envelope's verdicts are both the bundle's, taken valid.
    expect(codes.filter((x) => x === 'ok').length).toBe(3);
    expect(codes.filter((x) => x === 'RATE_LIMITED').length).toBe(burst - 3);
    expect(answers.filter((a) => a.statusCode === 200).every((a) => a.json().valid === true)).toBe(true);
  });
});
