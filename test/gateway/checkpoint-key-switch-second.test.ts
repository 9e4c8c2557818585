/**
 * The windows GET /v1/trust gives a retired checkpoint key and its successor (ledger/key-history.ts keyWindows) "share
 * the second" of the switch (README, Durability): a block the retired key signed is dated at or before the switch, and
 * verifiers choose keys by the block's second (notBefore <= t < notAfter). The retired key's notAfter was the switch
 * rounded up, which is the switch itself when it falls on a whole second: then a block dated that very millisecond (the
 * switch is dated no earlier than the log's last block, so a `rotate-key` run whose clock was behind the gateway's
 * dates it at that block) lay outside the retired key's window, and its entries failed offline (CHECKPOINT_INVALID).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CHECKPOINT_KEY_FILE } from '../../gateway/checkpoint-key.js';
import { Ledger } from '../../ledger/ledger.js';
import { keyWindows } from '../../ledger/key-history.js';
import { ALG_EDDSA, decodeBlockHeader, ed25519NoteSigner, fromHex, generateSecretKey, nobleSigner, toHex, verifyBundle } from '../../protocol/index.js';
import { entryBundle, gatewayTrust, gatewayWithDevices, nowS, publishEach, reading, unverifiableEntries, type TestGateway } from './harness.js';

const ORIGIN = 'originproof.local/log'; // the gateway's default origin
const failed = (v: ReturnType<typeof verifyBundle>) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

test('keyWindows: the retired key is valid through the second of its switch, also a switch on a whole second', () => {
  for (const retiredAtMs of [5_000, 5_001, 5_999]) {
    expect(keyWindows('new', [{ verifierKey: 'old', lastTreeSize: 3, retiredAtMs }])).toEqual([{ key: 'old', notAfter: 6 }, { key: 'new', notBefore: 5 }]);
  }
});

describe('a switch dated on the whole second of the log\'s last block', () => {
  let t: TestGateway | undefined;
  afterAll(() => t?.stop());

  test("the retired key's last block, dated that millisecond, verifies offline with GET /v1/trust", async () => {
    const X = nowS();
    const fx = await gatewayWithDevices(1, {}, undefined, { runtime: { now: () => X * 1000 } }); // a clock stopped on a whole second
    t = fx.t;
    const d = fx.devices[0]!;
    const [logged] = await publishEach(t, d, [await reading(d, 1)]);
    if (typeof logged !== 'object') throw new Error(`expected a receipt, got ${logged}`);
    expect(decodeBlockHeader((await entryBundle(t, logged.index)).blockHeader).timeMs).toBe(X * 1000);
    const dataDir = join(t.dir, 'data');
    await t.restart(async () => {
      // as gateway/checkpoint-rotate.ts records it from a clock behind the gateway's: max(its now, the last block's time)
      const keyPath = join(dataDir, CHECKPOINT_KEY_FILE);
      const current = ed25519NoteSigner(ORIGIN, fromHex((JSON.parse(await readFile(keyPath, 'utf8')) as { secretKey: string }).secretKey));
      const secret = generateSecretKey(ALG_EDDSA);
      await Ledger.rotateKey({ dir: join(dataDir, 'ledger'), origin: ORIGIN, signer: current, next: ed25519NoteSigner(ORIGIN, secret), nowMs: X * 1000 });
      const publicKey = nobleSigner(ALG_EDDSA, secret).publicKey;
      await writeFile(keyPath, JSON.stringify({ alg: 'ed25519', secretKey: toHex(secret), publicKey: toHex(publicKey), createdAt: new Date().toISOString() }), { mode: 0o600 });
    });
    const v = verifyBundle(await entryBundle(t, logged.index), await gatewayTrust(t), { now: X });
    expect([v.valid, failed(v)]).toEqual([true, []]);
    // and after the new key's first block (dated X too), every entry of either key
    expect((await publishEach(t, d, [await reading(d, 2)])).map((o) => typeof o)).toEqual(['object']);
    expect(await unverifiableEntries(t)).toEqual({ size: expect.any(Number), bad: [] });
  });
});
