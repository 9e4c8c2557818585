/**
 * The system clock set back (an NTP step, an operator's `date -s`) while a device runs. The wall clock dates readings
 * and tokens (SPEC §6); how long to wait (the resend timeout, the fleet's run, a drain) is measured on a monotonic
 * clock. Found by review: the outbox's resend deadlines were wall-clock times, so a clock set back an hour held every
 * unanswered reading for that hour, and `sim run --duration 1s` ran for the hour too.
 * Only Date is faked (vi.useFakeTimers toFake ['Date'], advancing with real time): timers and performance.now() stay
 * real. A real aedes broker on a loopback port plays a gateway that never answers (the device's outbox holds the
 * reading).
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { formatVerifierKey, ed25519NoteSigner, readingSeqOf } from '../../protocol/index.js';
import { Device, onboardDevice, RootAuthority, runFleet } from '../../device-sim/index.js';

const HOUR = 3_600_000;
const key = ed25519NoteSigner('gw.example/log', new Uint8Array(32).fill(3));

describe('the system clock set back while a device runs', () => {
  let broker: Aedes;
  let server: Server;
  let gateway: MqttClient;
  let url: string;
  /** How often the playing gateway received each seq. */
  const publishes = new Map<number, number>();

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    gateway = await mqtt.connectAsync(url, { clientId: 'silent-gateway', reconnectPeriod: 0 });
    await gateway.subscribeAsync('op/v1/d/+/readings', { qos: 1 });
    gateway.on('message', (_topic, payload) => {
      const seq = readingSeqOf(new Uint8Array(payload))!;
      publishes.set(seq, (publishes.get(seq) ?? 0) + 1);
    });
  });
  afterAll(async () => {
    await gateway?.endAsync();
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('an unanswered reading is resent after its timeout, however far the clock went back meanwhile', async () => {
    const root = await RootAuthority.create('root.example');
    const agency = await root.agency('env.example');
    const o = await onboardDevice(agency, {
      gateway: { httpUrl: 'http://127.0.0.1:1', mqttUrl: url, aud: 'originproof', checkpointVerifierKey: formatVerifierKey(key.name, key.publicKey) }, kind: 'water-meter', register: false,
    });
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const d = new Device({ state: o.state, se: o.se, resendTimeoutMs: 300, maxResendMs: 300, log: () => undefined });
    try {
      await d.connect();
      const seq = (await d.sendReading())!;
      await until(() => publishes.get(seq) === 1);
      vi.setSystemTime(Date.now() - HOUR);
      await until(() => (publishes.get(seq) ?? 0) >= 3, 3_000); // two resends 300 ms apart, not an hour later
      expect(d.outbox.has(seq)).toBe(true);
      // drain() waits its own time, not until the wall clock passes a deadline an hour ahead
      const t0 = performance.now();
      expect(await d.drain(300)).toBe(1);
      expect(performance.now() - t0).toBeLessThan(2_000);
    } finally {
      await d.close();
    }
  });

  test('runFleet runs for its duration, not for that plus the hour the clock went back', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    const t0 = performance.now();
    const run = runFleet({ devices: [], rate: 1, durationMs: 500, drainMs: 100, events: [{ atMs: 100, run: () => void vi.setSystemTime(Date.now() - HOUR) }] });
    const timedOut = new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), 5_000).unref());
    expect(await Promise.race([run.then(() => 'done'), timedOut])).toBe('done');
    expect(performance.now() - t0).toBeLessThan(3_000);
  });
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
