/**
 * SPEC §5: a sequence number is used only once non-volatile memory says it may have been. A reservation whose
 * write fails (here a real failing write: the state's temp file path is taken by a directory) reserves nothing, so
 * no number handed out afterwards is missing from the persisted state, and a restart never reuses one.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Device, DeviceClock, loadSecureElement, onboardDevice, readState, SequenceCounter, writeState } from '../../device-sim/index.js';
import { startSimGateway, type SimGateway } from './helpers.js';

/** Make every write of the state at `path` fail (EISDIR) until the returned function is called. */
function breakStateWrites(path: string): () => void {
  mkdirSync(`${path}.tmp`);
  return () => rmSync(`${path}.tmp`, { recursive: true });
}

describe('sequence reservations that fail to persist', () => {
  let dir: string;
  let t: SimGateway;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'op-sim-seq-'));
    t = await startSimGateway();
  });
  afterAll(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('SequenceCounter: a failed write throws and reserves nothing; the next take persists before it returns', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir, seqBlock: 10 });
    const path = o.statePath!;
    const state = readState(path);
    const c = new SequenceCounter(state, (s) => writeState(path, s));
    expect(c.take()).toBe(0);
    for (let i = 1; i < 10; i++) expect(c.take()).toBe(i); // within the persisted block: no write
    const repair = breakStateWrites(path);
    expect(() => c.take()).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(() => c.take()).toThrow(expect.objectContaining({ code: 'EISDIR' })); // still no number handed out
    expect(state.seqReserved).toBe(9);
    expect(readState(path).seqReserved).toBe(9);
    expect(() => c.jumpPast(50)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(state.seqReserved).toBe(9);
    expect(c.peek).toBe(10);
    repair();
    expect(c.take()).toBe(10);
    expect(readState(path).seqReserved).toBe(19);
    expect(state.seqReserved).toBe(19);
    // a restart continues above every number handed out
    expect(new SequenceCounter(readState(path), () => undefined).peek).toBe(20);
  });

  test('a device whose state cannot be written sends nothing, then carries on; after a restart no number is reused', async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir, seqBlock: 2 });
    const path = o.statePath!;
    const se = () => loadSecureElement(join(dir, o.state.keyFile));
    const d = new Device({ state: readState(path), statePath: path, se: se() });
    await d.connect();
    const used: number[] = [];
    for (let i = 0; i < 2; i++) used.push((await d.sendReading())!);
    const repair = breakStateWrites(path);
    await expect(d.sendReading()).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(d.sendReading()).rejects.toMatchObject({ code: 'EISDIR' });
    repair();
    for (let i = 0; i < 3; i++) used.push((await d.sendReading())!);
    expect(used).toEqual([0, 1, 2, 3, 4]);
    expect(await d.drain()).toBe(0);
    expect(d.stats.receipted).toBe(5);
    expect(d.stats.rejected).toEqual({});
    await d.close();
    expect(readState(path).seqReserved).toBeGreaterThanOrEqual(Math.max(...used));

    const again = new Device({ state: readState(path), statePath: path, se: se() });
    expect(again.nextSeq).toBeGreaterThan(Math.max(...used));
    await again.connect();
    const seq = (await again.sendReading())!;
    expect(await again.drain()).toBe(0);
    expect(again.stats.receipted).toBe(1);
    expect(again.stats.rejected).toEqual({}); // no REPLAY
    expect(seq).toBeGreaterThan(Math.max(...used));
    await again.close();
  });
  test("the last connect token's iat is kept in the state: a device restarted at once dates its next token later (else REPLAY, CONNACK 4)", async () => {
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir });
    const path = o.statePath!;
    const se = () => loadSecureElement(join(dir, o.state.keyFile));
    // a clock fixed at one second: every restart happens "within the same second"
    const fixed = Date.now();
    const clock = new DeviceClock(0, () => fixed);
    const first = new Device({ state: readState(path), statePath: path, se: se(), clock });
    await first.connect();
    await first.close();
    const kept = readState(path).lastTokenIat!;
    expect(kept).toBe(clock.now());
    const again = new Device({ state: readState(path), statePath: path, se: se(), clock });
    await again.connect(); // its token is dated kept + 1
    await again.close();
    expect(readState(path).lastTokenIat).toBe(kept + 1);
  });
});
