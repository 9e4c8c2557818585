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

describe('the verdicts’ time budget, verdicts asked at once', () => {
  const g = useGatewayWithDevices(1, { httpVerifyMsPerSecond: 1 });

  test('a burst of concurrent verdicts is refused past the budget, not all run', async () => {
    const c = await connectDevice(g.t.gw, g.dev);
    const r = await reading(g.dev, 1);
    await c.publish(r);
    expect((await c.next()).kind).toBe('receipt');
    await c.end();
    const bundle = toBase64(encodeProofBundle(await entryBundle(g.t, 1)));
    await new Promise((res) => setTimeout(res, 1100)); // nothing charged in the last second
    const burst = 40;
    const answers = await Promise.all(
      Array.from({ length: burst }, (_, i) =>
        g.t.gw.app.inject({ method: 'POST', url: '/v1/verify', payload: i % 2 === 0 ? { bundle } : { envelope: toBase64(r) } }),
      ),
    );
    const codes = answers.map((a) => (a.statusCode === 200 ? 'ok' : a.json().code));
    for (const a of answers) expect([200, 429]).toContain(a.statusCode);
    expect(codes).toContain('RATE_LIMITED');
    // a verdict takes well over 1 ms / 10 (four signatures at least): a few get in before the budget is spent
    expect(codes.filter((x) => x === 'ok').length).toBeLessThan(10);
  });
});
