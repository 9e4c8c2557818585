/**
 * A state file whose `seqReserved` went back below readings its outbox still keeps (restored from an older backup,
 * hand-edited, or a copy from another run) must not make the device sign new readings under those kept numbers.
 * Found by the simulator review: the counter continued above `seqReserved` alone, so a new reading took a kept
 * reading's seq, replaced it in the outbox (the kept one, never logged if the gateway was down, lost for good) and
 * its answer was the kept reading's receipt, alerted as INCLUSION_INVALID ("a forged answer"). The outbox is
 * non-volatile memory too: the device continues above both, says so in one line, and resends the kept readings.
 * A real gateway (port 0, temp dir) and device.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Device, loadSecureElement, onboardDevice, readState } from '../../device-sim/index.js';
import { entriesOf, simGatewayFixture, until } from './helpers.js';

describe("a state file's seqReserved below the outbox's kept readings", () => {
  const env = simGatewayFixture('op-sim-seq-outbox-');

  test('new readings are numbered above the kept ones, which are resent unchanged and each logged once', async () => {
    const { t, dir } = env;
    const o = await onboardDevice(t.agency, { gateway: t.endpoint, kind: 'water-meter', dir });
    const lines: string[] = [];
    const boot = () => new Device({ state: readState(o.statePath!), statePath: o.statePath!, se: loadSecureElement(join(dir, o.state.keyFile)), log: (l) => lines.push(l) });
    const d1 = boot();
    const kept = [(await d1.sendReading())!, (await d1.sendReading())!, (await d1.sendReading())!]; // never connected: kept, not sent
    await d1.close();
    expect(kept).toEqual([0, 1, 2]);
    // The state file goes back: nothing reserved.
    const s = JSON.parse(readFileSync(o.statePath!, 'utf8')) as Record<string, unknown>;
    writeFileSync(o.statePath!, JSON.stringify({ ...s, seqReserved: -1 }));

    const d2 = boot();
    expect([...d2.outbox.keys()]).toEqual(kept);
    expect(d2.nextSeq).toBeGreaterThan(2);
    expect(lines).toEqual([expect.stringMatching(/seqReserved -1 .* below seq 2 kept in its outbox/)]);
    const bad: string[] = [];
    d2.on('receipt-invalid', (_r, code: string) => bad.push(code));
    await d2.connect();
    const fresh = (await d2.sendReading())!;
    expect(fresh).toBeGreaterThan(2);
    expect(await d2.drain(10_000)).toBe(0);
    await until(async () => (await entriesOf(t, d2.id)).length === 4);
    const logged = await entriesOf(t, d2.id);
    expect(logged.map((e) => e.reading.seq)).toEqual([...kept, fresh]);
    expect(bad).toEqual([]);
    expect(d2.stats.rejected).toEqual({});
    // Each receipt held against the bytes the device kept (leaf hash rebuilt from them): the kept readings went out
    // as they were signed before the restart.
    expect(d2.stats.receipted).toBe(4);
    await d2.close();
    expect(readState(o.statePath!).seqReserved).toBeGreaterThanOrEqual(fresh);
  });
});
