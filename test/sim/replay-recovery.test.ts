/**
 * A device whose sequence numbers fell far behind what the gateway accepted (its state restored from an old backup,
 * its flash replaced): every reading is REPLAY until its seq passes the gateway's last one, and each REPLAY drops a
 * reading (SPEC §8: drop it, jump the persisted seq ahead). Found by review: each jump was one block (seqBlock, 100
 * by default) past the rejected seq, so a device 10,000 behind lost about 100 readings, one per block, before the
 * gateway took one again. The jump now doubles while readings signed after the last jump are REPLAYed too: a few
 * readings, whatever the distance. With the real gateway.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deviceFrom, onboardDevice, type Device } from '../../device-sim/index.js';
import type { Receipt, Rejection } from '../../protocol/index.js';
import { entriesOf, startSimGateway, until, type SimGateway } from './helpers.js';

describe('a device far behind the gateway on sequence numbers', () => {
  let t: SimGateway;
  beforeAll(async () => {
    t = await startSimGateway();
  });
  afterAll(() => t.stop());

  test('catches up in a few REPLAYs, never reusing a number; then one block per jump again', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter' });
    const d: Device = deviceFrom(o, { reconnectMinMs: 100, reconnectMaxMs: 500 });
    try {
      await d.connect();
      // The gateway accepted seq 10,000 from this device before (a state since lost): here a reading signed by the
      // device's own key with that seq, sent outside its outbox.
      const far = await d.signOnly(undefined, { seq: 10_000 });
      d.publishRaw(far.bytes);
      await until(async () => (await entriesOf(t, d.id)).some((e) => e.reading.seq === 10_000));

      const seqs: number[] = [];
      let replays = 0;
      for (let i = 0; i < 200; i++) {
        const answer = new Promise<'receipt' | 'REPLAY'>((resolve, reject) => {
          const onReceipt = (r: Receipt) => r.seq === seqs.at(-1) && done('receipt');
          const onRejection = (r: Rejection) => r.seq === seqs.at(-1) && (r.code === 'REPLAY' ? done('REPLAY') : reject(new Error(r.code)));
          const done = (what: 'receipt' | 'REPLAY') => {
            d.off('receipt', onReceipt);
            d.off('rejection', onRejection);
            resolve(what);
          };
          d.on('receipt', onReceipt);
          d.on('rejection', onRejection);
        });
        seqs.push((await d.sendReading())!);
        if ((await answer) === 'receipt') break;
        replays++;
      }
      expect(seqs.at(-1)).toBeGreaterThan(10_000);
      expect(replays).toBe(7); // seqs 0, 101, 302, 703, 1504, 3105, 6306 REPLAYed (jumps 100, 200, ..., 6,400), 12707 taken
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

      // Taken again, the device is back to one block per jump: the gateway moves ahead once more (by 5,000)
      const ahead = await d.signOnly(undefined, { seq: seqs.at(-1)! + 5_000 });
      d.publishRaw(ahead.bytes);
      await until(async () => (await entriesOf(t, d.id)).some((e) => e.reading.seq === ahead.seq));
      const replayed = d.nextRejection(10_000, (r) => r.code === 'REPLAY');
      const s = (await d.sendReading())!;
      expect((await replayed).seq).toBe(s);
      expect(d.nextSeq).toBe(s + 1 + 100); // one block (seqBlock 100) past it, not twice the last jump
    } finally {
      await d.close();
    }
  });
});
