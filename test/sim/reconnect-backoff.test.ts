/**
 * SPEC §4: reconnect after a backoff, exponential, with jitter. Without jitter a fleet that lost its gateway at one
 * moment came back in lockstep: every device's attempt in the same few milliseconds, round after round.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Backoff, deviceFrom, onboardDevice, type Device } from '../../device-sim/index.js';
import { startSimGateway, until, type SimGateway } from './helpers.js';

describe('Backoff (equal jitter)', () => {
  test('each delay lies in [step/2, step), the step doubling up to the cap; reset starts again', () => {
    const b = new Backoff(200, 5_000);
    const steps = [200, 400, 800, 1_600, 3_200, 5_000, 5_000];
    for (let round = 0; round < 200; round++) {
      for (const step of steps) {
        const d = b.next();
        expect(d).toBeGreaterThanOrEqual(step / 2);
        expect(d).toBeLessThan(step);
      }
      b.reset();
    }
  });

  test('the random source decides where in the range: 0 gives half the step, near 1 nearly all of it', () => {
    expect([new Backoff(1_000, 8_000, () => 0).next(), new Backoff(1_000, 8_000, () => 0.5).next(), new Backoff(1_000, 8_000, () => 0.999).next()]).toEqual([500, 750, 999]);
  });
});

describe('a fleet reconnecting after its gateway went away', () => {
  let t: SimGateway;
  const devices: Device[] = [];
  const N = 4;
  const MIN = 2_000;
  beforeAll(async () => {
    t = await startSimGateway();
    for (let i = 0; i < N; i++) {
      const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
      const r = (i + 0.5) / N; // device i's jitter: 0.125, 0.375, 0.625, 0.875
      devices.push(deviceFrom(o, { reconnectMinMs: MIN, reconnectMaxMs: 60_000, random: () => r }));
    }
    await Promise.all(devices.map((d) => d.connect()));
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await t.stop();
  });

  test('the devices spread their attempts over the backoff step instead of coming back together', async () => {
    const scheduled = devices.map(() => [] as number[]);
    devices.forEach((d, i) => d.on('reconnect-scheduled', (ms: number) => scheduled[i]!.push(ms)));
    const port = t.gw.mqttPort;
    await t.gw.close();
    // Where the gateway was, a listener that notes when each connection attempt arrives and drops it.
    const t0 = Date.now();
    const arrivals: number[] = [];
    const srv: Server = createServer((s) => {
      arrivals.push(Date.now() - t0);
      s.destroy();
    });
    await new Promise<void>((r) => srv.listen(port!, '127.0.0.1', r));
    try {
      await until(() => arrivals.length >= N && scheduled.every((s) => s.length >= 2), 15_000);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    // First round: device i waits MIN/2 + r_i * MIN/2; second round: twice that step.
    expect(scheduled.map((s) => s[0])).toEqual([1_125, 1_375, 1_625, 1_875]);
    expect(scheduled.map((s) => s[1])).toEqual([2_250, 2_750, 3_250, 3_750]);
    // The attempts reached the listener apart (250 ms apart as scheduled; a lockstep fleet's come within a few ms).
    const first = arrivals.slice(0, N).sort((a, b) => a - b);
    for (let i = 1; i < N; i++) expect(first[i]! - first[i - 1]!).toBeGreaterThan(100);
  });
});
