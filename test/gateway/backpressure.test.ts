/** Backpressure: the pipeline never holds more than queueHighWater readings; parked publishers resume in turn. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectDevice, Pki, reading, register, startTestGateway, type Device, type TestGateway } from './harness.js';

describe('backpressure', () => {
  let t: TestGateway;
  let devs: Device[];
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { queueHighWater: 3, blockMaxMs: 150 });
    const agency = await pki.agency('env.example');
    devs = await Promise.all([1, 2, 3, 4].map(() => pki.device(agency)));
    await register(t.gw, agency, devs);
  });
  afterAll(() => t.stop());

  test('queue depth stays at or below the high-water mark and every reading is answered', async () => {
    const conns = await Promise.all(devs.map((d) => connectDevice(t.gw, d)));
    let maxDepth = 0;
    const sampler = setInterval(() => (maxDepth = Math.max(maxDepth, t.gw.pipeline.queueDepth)), 2);
    for (let s = 1; s <= 5; s++) for (let i = 0; i < devs.length; i++) void conns[i]!.publish(await reading(devs[i]!, s));
    const answers = await Promise.all(conns.map((c) => Promise.all([1, 2, 3, 4, 5].map(() => c.next()))));
    clearInterval(sampler);
    expect(answers.flat().every((a) => a.kind === 'receipt')).toBe(true);
    expect(maxDepth).toBeGreaterThan(0);
    expect(maxDepth).toBeLessThanOrEqual(3);
    expect(t.gw.pipeline.queueDepth).toBe(0);
    await Promise.all(conns.map((c) => c.end()));
  });
});
