/**
 * A device among hostile or confused answers (SPEC §7, §8): a real aedes broker on a loopback port plays the gateway
 * (a real mqtt.js client takes each reading the device publishes and answers only as the test says), so that answers
 * no correct gateway sends can reach the device. Each must be refused or ignored as SPEC says, never crash the device,
 * and never cost it a kept reading:
 *  - receipts that do not hold (a forged checkpoint signature, a leaf hash of other bytes, another kept reading's
 *    receipt under this seq, a checkpoint that does not cover the index) keep the reading;
 *  - a receipt for a reading never sent, or a second copy of one, changes nothing;
 *  - a rejection that names no kept reading (a seq not outstanding, or none) changes nothing: found by this review,
 *    a "stop sending" code there halted the device for good (no reading kept, so it never left and came back, which
 *    is what clears a halt), and the fleet skipped it for the rest of the run;
 *  - a REPLAY whose seq jump cannot be written (disk full) still drops the reading and is heard: found by this review,
 *    the failed write was thrown out of the answer handler, so no 'rejection' event and no idle().
 */
import { mkdirSync, rmSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, test } from 'vitest';
import { encodeReceipt, encodeRejection, receiptsTopic, rejectionsTopic, type ErrorCode, type Receipt } from '../../protocol/index.js';
import { Device, readState, type Onboarded } from '../../device-sim/index.js';
import { otherKey, startPlayingGateway, type PlayingGateway } from './playing-gateway.js';

describe('a device among hostile answers (SPEC §7, §8)', () => {
  let playing: PlayingGateway;
  let gateway: MqttClient;
  let onboarded: Onboarded;
  let received: Map<number, Uint8Array>;
  let receiptFor: PlayingGateway['receiptFor'];
  let d: Device;
  let logged: string[] = [];

  beforeAll(async () => {
    playing = await startPlayingGateway('op-hostile-');
    ({ gateway, onboarded, received, receiptFor } = playing);
  });
  afterAll(() => playing?.close());
  beforeEach(async () => {
    logged = [];
    d = new Device({ state: onboarded.state, se: onboarded.se, reconnectMinMs: 20, resendTimeoutMs: 60_000, log: (l) => logged.push(l) });
    await d.connect();
  });
  afterEach(() => d.close());

  /** Send a reading and wait until the playing gateway has it. */
  async function sent(): Promise<{ seq: number; bytes: Uint8Array }> {
    const seq = (await d.sendReading())!;
    await until(() => received.has(seq));
    return { seq, bytes: received.get(seq)! };
  }

  const answer = (topic: string, payload: Uint8Array) => gateway.publishAsync(topic, Buffer.from(payload), { qos: 1 });
  const receipt = (r: Receipt) => answer(receiptsTopic(d.id), encodeReceipt(r));
  const rejection = (seq: number | null, code: ErrorCode) => answer(rejectionsTopic(d.id), encodeRejection({ seq, code, message: 'from the playing gateway', path: '' }));
  /** The device's answer to what was published last: the next event of `name`. */
  const next = <T extends unknown[]>(name: string) => new Promise<T>((r) => d.once(name, (...args: unknown[]) => r(args as T)));

  test('receipts that do not hold keep the reading; the one that holds drops it; a second copy changes nothing', async () => {
    const a = await sent();
    const b = await sent();
    const bad: [string, Receipt, ErrorCode][] = [
      ['checkpoint signed by another key', await receiptFor(a.seq, a.bytes, { by: otherKey }), 'CHECKPOINT_INVALID'],
      ['leaf hash of other bytes', { ...(await receiptFor(a.seq, a.bytes)), leafHash: new Uint8Array(32).fill(1) }, 'INCLUSION_INVALID'],
      ["another kept reading's receipt under this seq", await receiptFor(a.seq, b.bytes), 'INCLUSION_INVALID'],
      ['a checkpoint that does not cover the index', await receiptFor(a.seq, a.bytes, { size: (i) => i }), 'CHECKPOINT_INVALID'],
    ];
    for (const [what, r, code] of bad) {
      const invalid = next<[Receipt, ErrorCode]>('receipt-invalid');
      await receipt(r);
      expect((await invalid)[1], what).toBe(code);
      expect([...d.outbox.keys()], what).toEqual([a.seq, b.seq]);
    }
    const good = await receiptFor(a.seq, a.bytes);
    const held = next<[Receipt, number | null]>('receipt');
    await receipt(good);
    expect((await held)[1]).not.toBeNull(); // a latency: the kept reading's receipt
    expect([...d.outbox.keys()]).toEqual([b.seq]);
    const again = next<[Receipt, number | null]>('receipt');
    await receipt(good);
    expect((await again)[1]).toBeNull();
    expect(d.stats).toMatchObject({ receipted: 1, duplicateReceipts: 1, receiptInvalid: 4 });
    expect([...d.outbox.keys()]).toEqual([b.seq]);
    // SPEC §8: alert. One line per code (two CHECKPOINT_INVALID, two INCLUSION_INVALID above), naming the first seq
    const alerts = logged.filter((l) => l.includes('ALERT'));
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatch(new RegExp(`seq ${a.seq} fails its check \\(CHECKPOINT_INVALID\\)`));
    expect(alerts[1]).toMatch(/\(INCLUSION_INVALID\)/);
  });

  test('a receipt for a reading never sent, and answers that do not decode, change nothing', async () => {
    const a = await sent();
    const never = next<[Receipt, number | null]>('receipt');
    await receipt(await receiptFor(a.seq + 1000, a.bytes));
    expect((await never)[1]).toBeNull();
    for (const [topic, junk] of [[receiptsTopic(d.id), Uint8Array.of(0xff, 0x00)], [rejectionsTopic(d.id), Uint8Array.of(0xa1, 0x01)]] as const) {
      const badAnswer = next<[Error]>('bad-answer');
      await answer(topic, junk);
      expect((await badAnswer)[0]).toMatchObject({ code: 'MALFORMED' });
    }
    expect([...d.outbox.keys()]).toEqual([a.seq]);
    expect(d.isConnected).toBe(true);
    await receipt(await receiptFor(a.seq, a.bytes));
    await until(() => d.outbox.size === 0);
  });

  test('a rejection that names no kept reading changes nothing: no halt, no seq jump, nothing dropped', async () => {
    const a = await sent();
    const nextSeq = d.nextSeq;
    for (const [seq, code] of [[a.seq + 1000, 'CERT_REVOKED'], [null, 'CERT_EXPIRED'], [a.seq + 1000, 'REPLAY'], [null, 'UNKNOWN_DEVICE']] as const) {
      const heard = next<[unknown, unknown]>('rejection');
      await rejection(seq, code);
      expect((await heard)[1], code).toBeNull(); // it names no kept reading
      expect(d.halted, `${code} for seq ${seq}`).toBeNull();
      expect(d.nextSeq).toBe(nextSeq);
      expect([...d.outbox.keys()]).toEqual([a.seq]);
    }
    // the device goes on: a new reading is made and sent
    const b = await sent();
    expect(b.seq).toBe(nextSeq);
    // and a rejection of a kept reading with a "stop sending" code does stop it (SPEC §8)
    const heard = next<[unknown, unknown]>('rejection');
    await rejection(b.seq, 'CERT_REVOKED');
    expect((await heard)[1]).not.toBeNull();
    expect(d.halted).toBe('CERT_REVOKED');
    expect([...d.outbox.keys()]).toEqual([a.seq]);
  });

  test('a REPLAY whose seq jump cannot be written (disk full): the reading is dropped and the rejection heard all the same', async () => {
    await d.close(); // one connection per device id: this test runs its own, with the state file
    const lines: string[] = [];
    const own = new Device({ state: readState(onboarded.statePath!), statePath: onboarded.statePath!, se: onboarded.se, reconnectMinMs: 20, resendTimeoutMs: 60_000, log: (l) => lines.push(l) });
    try {
      await own.connect();
      const seq = (await own.sendReading())!;
      await until(() => received.has(seq));
      mkdirSync(`${onboarded.statePath!}.tmp`); // every write of the state file fails (EISDIR) until removed
      const heard = new Promise<unknown[]>((r) => own.once('rejection', (...args: unknown[]) => r(args)));
      const idle = new Promise<void>((r) => own.once('idle', () => r()));
      const badAnswers: unknown[] = [];
      own.on('bad-answer', (err) => badAnswers.push(err));
      await answer(rejectionsTopic(own.id), encodeRejection({ seq, code: 'REPLAY', message: 'from the playing gateway', path: 'claims.seq' }));
      expect((await heard)[1]).toMatchObject({ seq });
      await idle;
      expect(own.outbox.size).toBe(0);
      expect(badAnswers).toEqual([]);
      expect(lines.some((l) => l.includes('REPLAY'))).toBe(true);
      rmSync(`${onboarded.statePath!}.tmp`, { recursive: true });
      expect((await own.signOnly()).seq).toBeGreaterThan(seq);
    } finally {
      rmSync(`${onboarded.statePath!}.tmp`, { recursive: true, force: true });
      await own.close();
    }
  });
});

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error('timed out');
}
