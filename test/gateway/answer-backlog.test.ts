/**
 * A device that stops reading its socket cannot grow the gateway's memory with answers: beyond MAX_ANSWER_BACKLOG
 * bytes waiting on its connection, answers are dropped (QoS 0; the device resends and gets the same answer). Nor can
 * many of them together: answers waiting on backed-up connections share one budget across the gateway
 * (`mqttMaxAnswerBacklogBytes`, gateway/mqtt/answer-backlog.ts), while a device that reads its socket is answered.
 */
import { describe, expect, test } from 'vitest';
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { MAX_ANSWER_BACKLOG, maxConnectionAnswerBytes, maxTickReceiptBytes } from '../../gateway/mqtt/device-connections.js';
import { readingsTopic } from '../../protocol/index.js';
import { connectDevice, gatewayWithDevices, reading, useGatewayWithDevices, type TestGateway } from './harness.js';
import { stalledDevice } from './stalled-device.js';
import { TickReader } from './tick-reader.js';

async function metric(t: TestGateway, name: string): Promise<number> {
  const text = await t.gw.app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body);
  return [...text.matchAll(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}
const rejected = (t: TestGateway) => metric(t, 'originproof_readings_rejected_total{code="MALFORMED"}');
const accepted = (t: TestGateway) => metric(t, 'originproof_readings_accepted_total{kind="reading"}');
const dropped = (t: TestGateway, reason: 'connection' | 'gateway') => metric(t, `originproof_mqtt_answers_dropped_total{reason="${reason}"}`);

/**
 * `readings` sent at QoS 0 in one chunk on `conn` (read at once, before any answer backs it up); resolves once they are
 * all accepted (their receipts written or dropped).
 */
async function sendAll(t: TestGateway, conn: Duplex, deviceId: string, readings: Uint8Array[]): Promise<void> {
  const start = await accepted(t);
  conn.push(Buffer.concat(readings.map((r) => mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(deviceId), payload: Buffer.from(r), qos: 0, retain: false, dup: false }))));
  const deadline = Date.now() + 20_000;
  while ((await accepted(t)) - start < readings.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect((await accepted(t)) - start).toBe(readings.length);
}

/** Until `cond` holds, up to 5 s. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Until `n` more MALFORMED readings have been counted; the largest write backlog of `conns` seen meanwhile. */
async function whileRejecting(t: TestGateway, before: number, n: number, conns: Duplex[]): Promise<number> {
  const deadline = Date.now() + 25_000;
  let max = 0;
  const sample = () => (max = Math.max(max, conns.reduce((sum, c) => sum + c.writableLength, 0)));
  while ((await rejected(t)) - before < n && Date.now() < deadline) {
    sample();
    await new Promise((r) => setImmediate(r));
  }
  expect((await rejected(t)) - before).toBe(n); // every reading was decided (and counted)
  return sample();
}

describe('one connection', () => {
  const fx = useGatewayWithDevices(1);

  test('answers beyond the backlog cap of a connection that is not read are dropped; every reading is still answered or counted', async () => {
    const { t, dev } = fx;
    const d = await stalledDevice(t, dev);
    const before = await rejected(t);
    const N = 4000; // ~4000 MALFORMED rejections of ~150 bytes: more than twice the cap
    d.junk(N);
    const maxBacklog = await whileRejecting(t, before, N, [d.conn]);
    expect(maxBacklog).toBeGreaterThan(MAX_ANSWER_BACKLOG / 2); // the answers did pile up...
    expect(maxBacklog).toBeLessThanOrEqual(MAX_ANSWER_BACKLOG + 2048); // ...but only up to the cap (plus one tick's frames)
    expect(await metric(t, 'originproof_mqtt_answers_dropped_total{reason="connection"}')).toBeGreaterThan(0);
    d.conn.destroy();
  });
});

/**
 * A block's receipts for one device are written in one tick and not judged by the connection's cap (a device that
 * reads takes them before the next tick: answer-burst.test.ts); what earlier ticks left unsent is. So a device that
 * stopped reading holds at most maxConnectionAnswerBytes: MAX_ANSWER_BACKLOG plus one tick's receipts, each tick's
 * bounded by blockMaxEntries * ANSWER_BURST_BYTES_PER_BLOCK_ENTRY.
 */
describe('one connection, a block of receipts', () => {
  const N = 1000;
  const fx = useGatewayWithDevices(1, { blockMaxEntries: N, blockMaxMs: 2500 });

  test('the receipts of its first block are written, all; those of its second block are dropped, all; the buffer stays within maxConnectionAnswerBytes', async () => {
    const { t, dev } = fx;
    const bound = maxConnectionAnswerBytes(N);
    expect(bound).toBe(256 * 1024 + N * 1024);
    const readings = await Promise.all(Array.from({ length: 2 * N }, (_, i) => reading(dev, i + 1)));
    const d = await stalledDevice(t, dev);
    const accepted = () => metric(t, 'originproof_readings_accepted_total{kind="reading"}');
    const before = await accepted();
    // Both blocks' readings are read before any answer backs the connection up (the read gate would stop reading it).
    d.conn.push(Buffer.concat(readings.map((r) => mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(dev.id), payload: Buffer.from(r), qos: 0, retain: false, dup: false }))));
    const deadline = Date.now() + 30_000;
    let max = 0;
    while ((await accepted()) - before < 2 * N && Date.now() < deadline) {
      max = Math.max(max, d.conn.writableLength);
      await new Promise((r) => setTimeout(r, 5));
    }
    max = Math.max(max, d.conn.writableLength);
    expect((await accepted()) - before).toBe(2 * N);
    expect(max).toBeGreaterThan(N * 400); // the first block's receipts, all of them (~445 bytes each)...
    expect(max).toBeGreaterThan(MAX_ANSWER_BACKLOG); // ...past the cap, which judges only what earlier ticks left
    expect(max).toBeLessThanOrEqual(bound + 2048);
    expect(await metric(t, 'originproof_mqtt_answers_dropped_total{reason="connection"}')).toBe(N); // the second block's
    d.conn.destroy();
  }, 60_000);
});

describe('many connections', () => {
  test('answers waiting on backed-up connections share one budget; a device reading its socket still gets its receipt', async () => {
    const BUDGET = 100_000;
    const { t, devices } = await gatewayWithDevices(4, { mqttMaxAnswerBacklogBytes: BUDGET });
    try {
      const stalled = await Promise.all(devices.slice(0, 3).map((dev) => stalledDevice(t, dev)));
      const before = await rejected(t);
      const N = 2000; // ~300 kB of rejections each: each alone stays under its 256 kB cap only by dropping
      for (const d of stalled) d.junk(N);
      const maxBacklog = await whileRejecting(t, before, 3 * N, stalled.map((d) => d.conn));
      // Each connection holds up to its write buffer's high-water mark (16 kB) before it counts as backed up.
      const unbudgeted = stalled.reduce((sum, d) => sum + d.conn.writableHighWaterMark + 4096, 0);
      expect(maxBacklog).toBeGreaterThan(BUDGET / 2);
      expect(maxBacklog).toBeLessThanOrEqual(BUDGET + unbudgeted + 2048);
      expect(await metric(t, 'originproof_mqtt_answers_dropped_total{reason="gateway"}')).toBeGreaterThan(0);
      expect(await metric(t, 'originproof_mqtt_answer_backlog_bytes')).toBeLessThanOrEqual(BUDGET);
      expect(t.gw.broker.answerBacklog.connections).toBeGreaterThan(0); // whichever was answered first spent it

      const healthy = await connectDevice(t.gw, devices[3]!);
      await healthy.publish(await reading(devices[3]!, 1));
      expect((await healthy.next()).kind).toBe('receipt');
      await healthy.end();

      for (const d of stalled) d.conn.destroy(); // closed: their counts are released
      const deadline = Date.now() + 5000;
      while (t.gw.broker.answerBacklog.bytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect([t.gw.broker.answerBacklog.bytes, t.gw.broker.answerBacklog.connections]).toEqual([0, 0]);
    } finally {
      await t.stop();
    }
  });
});

/**
 * A tick's receipts to a connection that earlier ticks did not leave backed up are judged against the budget plus one
 * tick's receipts (maxTickReceiptBytes), so that a device reading its socket gets its block's receipts while stalled
 * devices hold the budget (answer-burst.test.ts). That allowance is one across the gateway, not one per connection:
 * stalled devices that each get a block of receipts still hold at most the bound answer-backlog.ts states.
 */
describe('many connections, a block of receipts each', () => {
  test('stalled devices hold at most the budget, one tick of receipts, and a write buffer and a frame each', async () => {
    const BUDGET = 50_000;
    const N = 200; // a block: ~89 kB of receipts for its device
    const BURSTS = 5; // ~445 kB of receipts: past the budget and the allowance together (50,000 + 204,800)
    // each device's block seals when its N readings are in, however slowly a loaded machine verifies them
    const { t, devices } = await gatewayWithDevices(1 + BURSTS, { mqttMaxAnswerBacklogBytes: BUDGET, blockMaxEntries: N, blockMaxMs: 10_000 }, undefined, { atOnce: true });
    try {
      const allowance = maxTickReceiptBytes(N);
      expect(allowance).toBe(N * 1024);
      const junk = await stalledDevice(t, devices[0]!);
      const conns = [junk.conn];
      let max = 0;
      const sample = () => (max = Math.max(max, conns.reduce((sum, c) => sum + c.writableLength, 0)));
      const before = await rejected(t);
      junk.junk(2000); // ~300 kB of rejections: the budget is spent by junk alone
      sample();
      expect(await whileRejecting(t, before, 2000, conns)).toBeLessThanOrEqual(BUDGET + junk.conn.writableHighWaterMark + 4096);
      const gatewayDrops = () => metric(t, 'originproof_mqtt_answers_dropped_total{reason="gateway"}');
      const spentDrops = await gatewayDrops();
      expect(spentDrops).toBeGreaterThan(0);

      const accepted = () => metric(t, 'originproof_readings_accepted_total{kind="reading"}');
      const held: number[] = [];
      for (const dev of devices.slice(1)) {
        const readings = await Promise.all(Array.from({ length: N }, (_, i) => reading(dev, i + 1)));
        const d = await stalledDevice(t, dev);
        conns.push(d.conn);
        const start = await accepted();
        d.conn.push(Buffer.concat(readings.map((r) => mqttPacket.generate({ cmd: 'publish', topic: readingsTopic(dev.id), payload: Buffer.from(r), qos: 0, retain: false, dup: false }))));
        const deadline = Date.now() + 20_000;
        while ((await accepted()) - start < N && Date.now() < deadline) {
          sample();
          await new Promise((r) => setTimeout(r, 5));
        }
        expect((await accepted()) - start).toBe(N); // its block is in; its receipts were written or dropped with it
        sample();
        held.push(d.conn.writableLength);
      }
      const unbudgeted = conns.reduce((sum, c) => sum + c.writableHighWaterMark + 4096, 0);
      console.log(`stalled connections held at most ${max} bytes (bound ${BUDGET + allowance + unbudgeted}); burst devices: ${held.join(', ')}`);
      expect(held[0]).toBeGreaterThan(N * 400); // the first block's receipts, all, though junk had spent the budget
      expect(max).toBeLessThanOrEqual(BUDGET + allowance + unbudgeted);
      expect(t.gw.broker.answerBacklog.bytes).toBeLessThanOrEqual(BUDGET + allowance);
      expect(await gatewayDrops()).toBeGreaterThan(spentDrops); // the later blocks' found the allowance spent
      for (const c of conns) c.destroy();
    } finally {
      await t.stop();
    }
  }, 90_000);
});

/**
 * The allowance is for a tick's receipts to a connection that earlier ticks left below its high-water mark (a device
 * that reads takes them at the next turn of the loop). A connection earlier ticks left backed up gets none: its
 * receipts are judged against the budget alone, else a stalled device would have block after block taken from the
 * allowance as if it read them, up to its own cap.
 */
describe('one connection that earlier ticks left backed up, a block of receipts', () => {
  test('its first block is written whole with the allowance; its second, judged against the spent budget alone, is dropped whole', async () => {
    const BUDGET = 50_000;
    const N = 200; // a block: ~89 kB of receipts; two are within budget + allowance (50,000 + 204,800) and the 256 kB cap
    // Blocks seal on their N readings, well within blockMaxMs: a longer timer (10 s) only slowed the gateway's start,
    // which waits for its registrations' blocks on it (~20 s).
    const { t, devices } = await gatewayWithDevices(1, { mqttMaxAnswerBacklogBytes: BUDGET, blockMaxEntries: N, blockMaxMs: 5000 });
    try {
      const dev = devices[0]!;
      const readings = await Promise.all(Array.from({ length: 2 * N }, (_, i) => reading(dev, i + 1)));
      const d = await stalledDevice(t, dev);
      await sendAll(t, d.conn, dev.id, readings); // two blocks, answered in two ticks
      const held = d.conn.writableLength;
      console.log(`stalled connection, two blocks of ${N}: holds ${held} bytes; ${await dropped(t, 'gateway')} dropped (gateway)`);
      expect(held).toBeGreaterThan(N * 400); // the first block's receipts, all (~445 bytes each)...
      expect(held).toBeLessThan(2 * N * 400); // ...and none of the second's
      expect(await dropped(t, 'gateway')).toBe(N);
      expect(await dropped(t, 'connection')).toBe(0);
      expect(t.gw.broker.answerBacklog.bytes).toBeLessThanOrEqual(held);
      d.conn.destroy();
    } finally {
      await t.stop();
    }
  }, 60_000);
});

/**
 * mqttMaxAnswerBacklogBytes 0: no answer waits on a connection past its high-water mark, but for a tick's receipts to a
 * connection earlier ticks left below it, judged against the allowance alone (answer-backlog.ts): a device that reads
 * its socket still gets its block's receipts. And bytes taken with the allowance are counted until their connection
 * drains or closes, then released: the allowance does not shrink for good.
 */
describe('mqttMaxAnswerBacklogBytes 0', () => {
  const N = 200; // a block: ~89 kB of receipts; two stalled devices' blocks are within the allowance (204,800), three not

  test('rejections past the high-water mark are all dropped; a device that reads between ticks gets every receipt of its block', async () => {
    const { t, devices } = await gatewayWithDevices(2, { mqttMaxAnswerBacklogBytes: 0, blockMaxEntries: N, blockMaxMs: 5000 }, undefined, { atOnce: true });
    try {
      const junk = await stalledDevice(t, devices[0]!);
      const before = await rejected(t);
      junk.junk(2000); // ~300 kB of rejections
      expect(await whileRejecting(t, before, 2000, [junk.conn])).toBeLessThanOrEqual(junk.conn.writableHighWaterMark + 4096);
      const spentDrops = await dropped(t, 'gateway');
      expect(spentDrops).toBeGreaterThan(0);
      expect(t.gw.broker.answerBacklog.bytes).toBe(0);

      const readings = await Promise.all(Array.from({ length: N }, (_, i) => reading(devices[1]!, i + 1)));
      const conn = await TickReader.connect(t, devices[1]!);
      conn.publish(readings);
      const deadline = Date.now() + 20_000;
      let drops = 0;
      while (conn.receipts.size + drops < N && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        drops = (await dropped(t, 'gateway')) - spentDrops + (await dropped(t, 'connection'));
      }
      expect(drops).toBe(0);
      expect(conn.receipts.size).toBe(N);
      conn.destroy();
      junk.conn.destroy();
    } finally {
      await t.stop();
    }
  }, 60_000);

  test('the bytes stalled devices took with the allowance are released when one drains and one closes; a third block then fits whole', async () => {
    const { t, devices } = await gatewayWithDevices(3, { mqttMaxAnswerBacklogBytes: 0, blockMaxEntries: N, blockMaxMs: 5000 }, undefined, { atOnce: true });
    try {
      const backlog = t.gw.broker.answerBacklog;
      const stalled = [];
      for (const dev of devices.slice(0, 2)) {
        const readings = await Promise.all(Array.from({ length: N }, (_, i) => reading(dev, i + 1)));
        const d = await stalledDevice(t, dev);
        stalled.push(d);
        const counted = backlog.bytes;
        await sendAll(t, d.conn, dev.id, readings);
        expect(d.conn.writableLength).toBeGreaterThan(N * 400); // its block's receipts, all...
        expect(backlog.bytes - counted).toBeGreaterThan(N * 400 - d.conn.writableHighWaterMark); // ...counted past 16 kB
      }
      expect(await dropped(t, 'gateway')).toBe(0);
      expect(backlog.connections).toBe(2);

      const [draining, closing] = stalled as [(typeof stalled)[0], (typeof stalled)[0]];
      const closingCount = backlog.bytes;
      draining.unstall(); // its device reads everything: the buffer drains
      await until(() => draining.conn.writableLength === 0 && backlog.connections === 1);
      expect(draining.conn.writableLength).toBe(0);
      expect(backlog.connections).toBe(1);
      expect(backlog.bytes).toBeLessThan(closingCount);
      closing.conn.destroy(); // gone without reading (aedes' close emits 'drain' on it too, then 'close' follows)
      await until(() => backlog.bytes === 0);
      expect([backlog.bytes, backlog.connections]).toEqual([0, 0]);
      expect(await metric(t, 'originproof_mqtt_answer_backlog_bytes')).toBe(0);

      // the whole allowance again: a third stalled device's block fits (it would not beside the two others')
      const dev = devices[2]!;
      const readings = await Promise.all(Array.from({ length: N }, (_, i) => reading(dev, i + 1)));
      const third = await stalledDevice(t, dev);
      await sendAll(t, third.conn, dev.id, readings);
      expect(third.conn.writableLength).toBeGreaterThan(N * 400);
      expect(await dropped(t, 'gateway')).toBe(0);
      third.conn.destroy();
      draining.conn.destroy();
    } finally {
      await t.stop();
    }
  }, 90_000);
});
