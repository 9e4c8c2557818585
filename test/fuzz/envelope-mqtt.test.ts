/**
 * Envelope fuzzing through the real gateway over MQTT: a registered device publishes thousands of mutants of its own
 * valid reading on its own readings topic. Each gets exactly one answer on its rejections topic, with the code the
 * pipeline's checks give that mutant; nothing reaches the log; the heap stays flat from one round to the next; and
 * the gateway still takes a valid reading afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { envelopeMutant } from '../../fuzz/envelope-mutations.js';
import { judgeOutcome, Tally } from '../../fuzz/oracle.js';
import { bytesEqual } from '../../protocol/index.js';
import { connectDevice, Pki, reading, register, startTestGateway, type ConnectedDevice, type Device, type TestGateway } from '../gateway/harness.js';
import { settledHeap, syncSigner } from './helpers.js';

const ROUND = Number(process.env.FUZZ_MQTT_ROUND ?? 2000);
const MAX_READING_BYTES = 1024;

describe('envelope fuzz over MQTT', () => {
  let t: TestGateway;
  let dev: Device;
  let c: ConnectedDevice;
  let valid: Uint8Array;
  let mutants: fc.Arbitrary<{ kind: string; bytes: Uint8Array }>;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { maxReadingBytes: MAX_READING_BYTES });
    const agency = await pki.agency('fuzz.example');
    dev = await pki.device(agency);
    await register(t.gw, agency, [dev]);
    c = await connectDevice(t.gw, dev);
    valid = await reading(dev, 1);
    // Stay under the MQTT frame cap (4 x limit + 1 KiB): a frame over it closes the connection (its own test).
    mutants = envelopeMutant(valid, { sign: syncSigner(dev), maxBytes: MAX_READING_BYTES, ceiling: 4 * MAX_READING_BYTES });
  });
  afterAll(async () => {
    await c.end();
    await t.stop();
  });

  /** Publish the batch once; the codes the device received. */
  async function round(batch: readonly { bytes: Uint8Array }[]): Promise<Tally> {
    c.answers.length = 0;
    for (let i = 0; i < batch.length; i += 200) await Promise.all(batch.slice(i, i + 200).map((m) => c.publish(m.bytes)));
    const deadline = Date.now() + 30_000;
    while (c.answers.length < batch.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100)); // an extra answer would show up here
    const got = new Tally();
    for (const a of c.answers) got.add(a.kind === 'rejection' ? a.rejection.code : `receipt for seq ${a.receipt.seq}`);
    c.answers.length = 0;
    return got;
  }

  test(`${ROUND} mutants, 3 rounds: one rejection each, with its code; log unchanged; heap flat; still serving`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const batch = fc.sample(mutants, { numRuns: ROUND, seed }).filter((m) => !bytesEqual(m.bytes, valid));
    // What the pipeline's checks say about each mutant (a rejection changes no state, so asking first is harmless).
    const expected = new Tally();
    for (const m of batch) {
      const j = judgeOutcome(await t.gw.pipeline.process(dev.id, m.bytes, Date.now()), m.bytes, valid);
      if (!j.ok) throw new Error(`${m.kind} (seed ${seed}): ${j.problem}`);
      expected.add(j.code);
    }
    const sizeBefore = t.gw.ledger.size();
    const heaps: number[] = [];
    for (let r = 0; r < 3; r++) {
      const got = await round(batch);
      expect(got.total, `answers in round ${r} (seed ${seed})`).toBe(batch.length);
      expect(Object.fromEntries(got.counts), `codes in round ${r} (seed ${seed})`).toEqual(Object.fromEntries(expected.counts));
      heaps.push(await settledHeap());
    }
    const mb = heaps.map((h) => (h / 2 ** 20).toFixed(1)).join(', ');
    console.log(`${batch.length} mutants x 3 rounds (seed ${seed}); heap + external after each round (MB): ${mb}\n${expected.lines().join('\n')}`);
    expect(t.gw.ledger.size()).toBe(sizeBefore);
    // The same mutants each round: round 0 fills every cache (among them mqtt-packet's per-length header cache, which
    // can pin an 8 KiB Buffer slab for each new packet length); rounds 1 and 2 then do identical work, so anything
    // kept per reading grows the heap by the same amount twice. Noise here is about 0.5 MB; 500 B per reading kept
    // would add 2 MB.
    expect(heaps[2]! - heaps[0]!, `heap + external growth over two rounds of ${batch.length} (MB ${mb})`).toBeLessThan(2 * batch.length * 500);

    await c.publish(valid);
    const deadline = Date.now() + 10_000;
    while (c.answers.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(c.answers.map((a) => a.kind)).toEqual(['receipt']);
    expect((await t.gw.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
