import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Device, loadSecureElement, onboardDevice, OutboxJournal, outboxFilePath, readState } from '../../device-sim/index.js';
import { entriesOf, startSimGateway, until, type SimGateway } from './helpers.js';

describe('the outbox survives a device restart (SPEC §7)', () => {
  let t: SimGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startSimGateway();
    dir = await mkdtemp(join(tmpdir(), 'op-sim-outbox-'));
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('readings without a receipt are resent by the restarted device; the log holds each once', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'temperature-sensor', dir });
    const boot = () => new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)), reconnectMinMs: 100, reconnectMaxMs: 500 });

    const d1 = boot();
    await d1.connect();
    const s0 = (await d1.sendReading())!;
    await d1.nextReceipt(s0);
    d1.dropReceipts = true; // s1 reaches the log, its receipt does not reach the device
    const s1 = (await d1.sendReading())!;
    await until(async () => (await entriesOf(t, d1.id)).some((e) => e.reading.seq === s1));
    const logged = (await entriesOf(t, d1.id)).find((e) => e.reading.seq === s1)!;
    await t.gw.close(); // s2 is made while the gateway is down: never published
    await until(() => !d1.isConnected);
    const s2 = (await d1.sendReading())!;
    const kept = new Map([...d1.outbox].map(([seq, e]) => [seq, e.bytes]));
    expect([...kept.keys()]).toEqual([s1, s2]);
    await d1.close(); // the process restarts: nothing in memory survives

    expect(new OutboxJournal(outboxFilePath(o.statePath!)).entries().map((e) => e.seq)).toEqual([s1, s2]);
    const d2 = boot();
    expect([...d2.outbox.keys()]).toEqual([s1, s2]);
    for (const [seq, e] of d2.outbox) expect(e.bytes).toEqual(kept.get(seq)); // the exact bytes, not re-signed
    expect(d2.nextSeq).toBeGreaterThan(s2);

    await t.restart(); // same data dir and ports
    const r1 = d2.nextReceipt(s1, 15_000);
    const r2 = d2.nextReceipt(s2, 15_000);
    await d2.connect();
    expect((await r1).index).toBe(logged.index); // the original receipt
    expect((await r2).seq).toBe(s2);
    expect(await d2.drain(5_000)).toBe(0);
    expect(d2.stats.receiptInvalid).toBe(0);
    expect(d2.stats.resent).toBe(2);
    const all = await entriesOf(t, d2.id);
    expect(all.map((e) => e.reading.seq)).toEqual([s0, s1, s2]);
    await d2.close();

    // Receipted readings are pruned from the persisted outbox.
    const d3 = boot();
    expect(d3.outbox.size).toBe(0);
    await d3.close();
  });
});

describe('OutboxJournal', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-outbox-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('readings signed together go out in one write; removals ride along; compaction keeps the live ones', async () => {
    const path = join(dir, 'a.outbox.log');
    const j = new OutboxJournal(path);
    await Promise.all(Array.from({ length: 200 }, (_, i) => j.add(i, new Uint8Array([i & 255, 1, 2]))));
    expect(j.writes).toBe(1);
    for (let i = 0; i < 190; i++) j.remove(i);
    await j.flush();
    expect(j.writes).toBe(2);
    expect(new OutboxJournal(path).entries().map((e) => e.seq)).toEqual([190, 191, 192, 193, 194, 195, 196, 197, 198, 199]);
    // Many more lines than live entries: the next write compacts.
    for (let i = 200; i < 1_400; i++) {
      await j.add(i, new Uint8Array([1]));
      j.remove(i);
    }
    await j.close();
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines.length).toBeLessThan(1_100);
    expect(new OutboxJournal(path).entries().map((e) => e.seq)).toEqual([190, 191, 192, 193, 194, 195, 196, 197, 198, 199]);
    expect(new OutboxJournal(path).entries()[0]!.bytes).toEqual(new Uint8Array([190, 1, 2]));
  });

  test('a torn last line (crash mid-write: never published) is skipped and cleaned up', async () => {
    const path = join(dir, 'b.outbox.log');
    const j = new OutboxJournal(path);
    await j.add(1, new Uint8Array([1, 2, 3]));
    await j.close();
    await appendFile(path, '+2 AQID');
    const k = new OutboxJournal(path);
    expect(k.entries().map((e) => e.seq)).toEqual([1]);
    await k.add(3, new Uint8Array([3]));
    await k.close();
    expect(await readFile(path, 'utf8')).toBe('+1 AQID\n+3 Aw==\n');
  });
});
