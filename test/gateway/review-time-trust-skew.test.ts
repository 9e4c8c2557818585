/**
 * Review (time boundaries, gateway vs offline verifier): a gateway configured with a clock skew allowance above the
 * default 300 s (`--clock-skew`) receipts readings dated up to that far ahead, and its bundles verify offline only with
 * that allowance (the verifier bounds iat by the entry's receivedAt + skew before it chooses a checkpoint key). The
 * gateway publishes it (GET /v1/trust, `clockSkewSeconds`), but `originproof trust --root --gateway`, the README's way
 * to make a verifier's trust file from the gateway, took only the checkpoint key and origin (GET /v1/log): with that
 * trust file a receipted reading dated 500 s ahead failed `checkpoint CLOCK_SKEW`. Now the command writes the
 * gateway's clockSkewSeconds too.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseTrust, verifyBundle, type Verdict } from '../../protocol/index.js';
import { makeTrust } from '../../cli/commands/registry.js';
import { connectDevice, entryBundle, nowS, Pki, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('review-time: the trust file `trust --gateway` writes carries the gateway clock skew allowance', () => {
  let t: TestGateway;
  let g: Party;
  let d: Device;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000, clockSkewSeconds: 600 });
    g = await t.pki.agency('skew.example');
    d = await t.pki.device(g);
    await register(t.gw, g, [d]);
  });
  afterAll(() => t.stop());

  test('a reading dated 500 s ahead, receipted by a gateway allowing 600 s: its bundle verifies with that trust file', async () => {
    const c = await connectDevice(t.gw, d);
    let index: number;
    try {
      await c.publish(await reading(d, 1, { iat: nowS() + 500 }));
      const a = await c.next();
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
      index = a.receipt.index;
    } finally {
      await c.end();
    }
    const rootFile = join(t.dir, 'root.cert');
    await writeFile(rootFile, t.pki.root.cert.bytes);
    const json = JSON.parse(await makeTrust(rootFile, t.gw.httpUrl)) as Record<string, unknown>;
    const v = verifyBundle(await entryBundle(t, index), parseTrust(json));
    expect([v.valid, failed(v)]).toEqual([true, []]);
    expect(json.clockSkewSeconds).toBe(600);
  });
});
