/**
 * Starting the gateway on a data directory whose ledger is damaged or incomplete (an incomplete restore, a copy
 * made file by file, a disk problem, a manual mistake): the start is refused with a message naming what is wrong,
 * and nothing on disk is changed, instead of the gateway starting a log that hides, drops or overwrites entries it
 * accepted before.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { gatewayWithDevices, startTestGateway, type TestGateway } from './harness.js';

const segmentFiles = (led: string): Record<string, string> =>
  Object.fromEntries(readdirSync(join(led, 'entries')).map((n) => [n, readFileSync(join(led, 'entries', n)).toString('hex')]));

describe('a damaged ledger directory', () => {
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.stop(); // the first gateway was closed already: removes the directory
    t = undefined;
  });

  /** A gateway that logged a few entries, stopped: its ledger directory. */
  async function stoppedGateway(): Promise<{ led: string; size: number }> {
    ({ t } = await gatewayWithDevices(2));
    const size = t.gw.ledger.size();
    expect(size).toBeGreaterThan(0); // the agency's and the devices' registrations
    await t.gw.close();
    return { led: join(t.dir, 'data', 'ledger'), size };
  }

  test("LevelDB's files gone, the entry segment files left: refused, no new store made, the segments untouched", async () => {
    // Found by review: LevelDB made a new, empty store (createIfMissing), the gateway started a log at index 0, and
    // its first block cut the segment files back to nothing: every entry accepted before was gone.
    const { led } = await stoppedGateway();
    for (const name of readdirSync(led)) if (name !== 'entries') rmSync(join(led, name), { recursive: true });
    const before = segmentFiles(led);
    await expect(startTestGateway(t!.pki, {}, t!.dir)).rejects.toThrow(/holds a log's files \(entries\/0+\.cbor, .*\) but no LevelDB store \(its CURRENT file is missing\)/);
    expect(readdirSync(led)).toEqual(['entries']);
    expect(segmentFiles(led)).toEqual(before);
  }, 30_000);

  test('its CURRENT file alone gone: refused, naming the write-ahead log left, no new store made', async () => {
    // LevelDB would make a new manifest and CURRENT, replay the old write-ahead log into it and drop the tables the
    // lost manifest named: a store holding part of the log, or none of it.
    const { led } = await stoppedGateway();
    rmSync(join(led, 'CURRENT'));
    const before = readdirSync(led);
    await expect(startTestGateway(t!.pki, {}, t!.dir)).rejects.toThrow(/holds a log's files \([0-9]+\.log, .*\) but no LevelDB store/);
    expect(readdirSync(led)).toEqual(before);
    expect(existsSync(join(led, 'CURRENT'))).toBe(false);
  }, 30_000);
});
