/**
 * A proof bundle is checked against the log's own signed checkpoint before the gateway hands it out
 * (ledger/bundle-self-check.ts). A byte changed on disk inside an entry, or in a stored leaf its proof uses, leaves
 * the store opening and decoding fine; the gateway served such a bundle (200), which a verifier finds
 * INCLUSION_INVALID, as if the record were forged. Now the request is 500 INTERNAL naming the entry, counted in
 * originproof_ledger_damage_found_total, and the undamaged entries' bundles are served as before.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { entryLocation, flipFileByte, leafLocation } from '../ledger/entry-location.js';
import { gatewayWithDevices, publishEach, reading, startTestGateway, type TestGateway } from './harness.js';

describe('proof bundles from a damaged store', () => {
  let t: TestGateway | undefined;
  afterAll(async () => {
    await t?.stop();
  });

  // Proven against the latest checkpoint: each reading here is a block of its own, and a leaf's sibling is in its proof
  // only in a tree that holds both.
  const bundle = (index: number) => t!.gw.app.inject({ url: `/v1/entries/${index}/bundle?format=json&treeSize=${t!.gw.ledger.size()}` });
  const damageCount = async () => Number(/^originproof_ledger_damage_found_total (\d+)$/m.exec((await t!.gw.app.inject({ url: '/metrics' })).body)?.[1]);

  test('a flipped byte in an entry, or in a leaf its sibling\'s proof uses: 500 INTERNAL naming the entry; the others served', async () => {
    let devices;
    ({ t, devices } = await gatewayWithDevices(1, { blockMaxEntries: 4 }));
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => reading(devices[0]!, i)));
    const outcomes = await publishEach(t, devices[0]!, rs);
    const indexes = outcomes.map((o) => (typeof o === 'object' && 'index' in o ? o.index : -1));
    expect(indexes.every((i) => i >= 0)).toBe(true);
    const [a, b, d] = [indexes[1]!, indexes[2]!, indexes[5]!];
    for (const i of [a, b, d]) expect((await bundle(i)).statusCode).toBe(200);
    expect(await damageCount()).toBe(0);
    await t.gw.close();

    const led = join(t.dir, 'data', 'ledger');
    // The last byte of the reading's signature: the entry ends with its certRef (`05 58 20` + 32 bytes).
    const at = await entryLocation(led, a);
    await flipFileByte(at.file, at.end - 36);
    t.gw = (await startTestGateway(t.pki, {}, t.dir)).gw; // the start checks sizes, not every entry's bytes
    const damaged = await bundle(a);
    expect(damaged.statusCode).toBe(500);
    expect(damaged.json()).toMatchObject({ code: 'INTERNAL' });
    expect(damaged.json().message).toMatch(new RegExp(`^entry ${a} is damaged in the gateway's store: .*ledger verify`));
    for (const i of [b, d]) expect((await bundle(i)).statusCode).toBe(200); // the stored leaf of a is whole
    expect(await damageCount()).toBe(1);
    await t.gw.close();

    // Entry d's stored leaf: every proof through it (its sibling's, and the nodes above it in this small tree) is
    // refused; d's own is not: its leaf is hashed from its entry.
    const leaf = await leafLocation(led, d);
    await flipFileByte(leaf.file, leaf.at + 7);
    t.gw = (await startTestGateway(t.pki, {}, t.dir)).gw;
    const sibling = await bundle(d ^ 1);
    expect([sibling.statusCode, sibling.json().code]).toEqual([500, 'INTERNAL']);
    expect(sibling.json().message).toMatch(new RegExp(`^entry ${d ^ 1} is damaged`));
    expect((await bundle(d)).statusCode).toBe(200);
    expect(await damageCount()).toBe(1); // counted since this start
  }, 60_000);
});
