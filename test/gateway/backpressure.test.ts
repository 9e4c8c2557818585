/** Backpressure: the pipeline never holds more than queueHighWater readings; parked publishers resume in turn. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readingsTopic } from '../../protocol/index.js';
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

/**
 * A burst bigger than the queue stays in the sockets, not in the heap (gateway/mqtt/read-gate.ts): while the pipeline
 * is full (queue at the high-water mark and as many parked), devices' connections are not read, so parsed readings
 * never exceed twice the high-water mark by more than the chunk of the connection read last. Before the gate, every reading of the burst was parsed and parked at once (a
 * 200,000-reading burst from 10,000 devices ran the gateway out of heap).
 */
describe('backpressure at the socket', () => {
  const HIGH_WATER = 20;
  const PER_DEVICE = 60;
  let t: TestGateway;
  let devs: Device[];
  let late: Device;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { queueHighWater: HIGH_WATER, blockMaxMs: 100 });
    const agency = await pki.agency('env.example');
    devs = await Promise.all(Array.from({ length: 10 }, () => pki.device(agency)));
    late = await pki.device(agency);
    await register(t.gw, agency, [...devs, late]);
  });
  afterAll(() => t.stop());

  test('parsed readings stay within twice the high-water mark plus one connection, every reading is receipted, a new device still connects', async () => {
    const conns = await Promise.all(devs.map((d) => connectDevice(t.gw, d)));
    const bursts = await Promise.all(devs.map(async (d) => Promise.all(Array.from({ length: PER_DEVICE }, (_, i) => reading(d, i + 1)))));
    let maxHeld = 0;
    let maxWaiting = 0;
    const sampler = setInterval(() => {
      maxHeld = Math.max(maxHeld, t.gw.pipeline.queueDepth + t.gw.pipeline.parked);
      maxWaiting = Math.max(maxWaiting, t.gw.broker.waitingToBeRead);
    }, 1);
    // Each device publishes its whole burst in one turn (mqtt.js sends what one turn publishes in one write).
    for (let i = 0; i < devs.length; i++) for (const r of bursts[i]!) conns[i]!.client.publish(readingsTopic(devs[i]!.id), Buffer.from(r), { qos: 1 });
    // While the pipeline is full and connections wait, a device that connects now is still let in (CONNECT is never gated).
    // Waits until connections do wait: a fixed 50 ms could lapse while a loaded machine was still publishing the
    // bursts, and the timer then fired before the gateway had read any of them (seen once under a busy CPU).
    for (const until = Date.now() + 10_000; t.gw.broker.waitingToBeRead === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
    const waitingAtConnect = t.gw.broker.waitingToBeRead;
    const newcomer = await connectDevice(t.gw, late);
    void newcomer.publish(await reading(late, 1));
    const answers = await Promise.all(conns.map((c) => Promise.all(Array.from({ length: PER_DEVICE }, () => c.next()))));
    const newcomerAnswer = await newcomer.next();
    clearInterval(sampler);
    expect(answers.flat().filter((a) => a.kind === 'receipt')).toHaveLength(devs.length * PER_DEVICE);
    expect(answers.map((a) => a.map((x) => (x.kind === 'receipt' ? x.receipt.seq : -1)))).toEqual(devs.map(() => Array.from({ length: PER_DEVICE }, (_, i) => i + 1)));
    expect(newcomerAnswer.kind).toBe('receipt');
    expect(waitingAtConnect).toBeGreaterThan(0);
    expect(maxWaiting).toBeGreaterThan(0);
    expect(maxHeld).toBeGreaterThanOrEqual(2 * HIGH_WATER);
    expect(maxHeld).toBeLessThanOrEqual(2 * HIGH_WATER + PER_DEVICE);
    expect(t.gw.broker.waitingToBeRead).toBe(0);
    expect(t.gw.pipeline.parked).toBe(0);
    const metrics = (await t.gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^originproof_mqtt_connections_waiting 0$/m);
    expect(metrics).toMatch(/^originproof_pipeline_parked 0$/m);
    await Promise.all([...conns, newcomer].map((c) => c.end()));
  });
});
