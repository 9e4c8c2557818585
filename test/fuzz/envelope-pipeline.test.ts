/**
 * Envelope fuzzing, pure layer: thousands of mutants of a valid signed reading (fuzz/envelope-mutations.ts) through
 * the gateway's own check-and-admit path (Pipeline.process of a real gateway, LevelDB in a temp dir), no MQTT.
 * Every mutant must be rejected with a code a device can decode, unless its bytes are the original's.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { envelopeMutant, envelopeTree, familyOf } from '../../fuzz/envelope-mutations.js';
import { assemble } from '../../fuzz/cbor-ast.js';
import { ACCEPTED_IDENTICAL, judgeOutcome, Tally } from '../../fuzz/oracle.js';
import { Pki, reading, register, startTestGateway, type Device, type TestGateway } from '../gateway/harness.js';
import { bytesEqual } from '../../protocol/index.js';
import { syncSigner } from './helpers.js';

const CASES = Number(process.env.FUZZ_CASES ?? 4000);

describe('envelope fuzz through the pipeline checks', () => {
  let t: TestGateway;
  let dev: Device;
  let valid: Uint8Array;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { verifyWorkers: 0, maxReadingBytes: 1024 });
    const agency = await pki.agency('fuzz.example');
    dev = await pki.device(agency);
    await register(t.gw, agency, [dev]);
    valid = await reading(dev, 1);
  });
  afterAll(() => t.stop());

  test('the envelope tree writes back the exact original bytes (mutations start from the real thing)', () => {
    expect(bytesEqual(assemble(envelopeTree(valid).item), valid)).toBe(true);
  });

  test(`${CASES} mutants: each rejected with a decodable code, none admitted unless identical`, async () => {
    const codes = new Tally();
    const kinds = new Tally();
    const before = t.gw.ledger.size();
    let identical = 0;
    await fc.assert(
      fc.asyncProperty(envelopeMutant(valid, { sign: syncSigner(dev), maxBytes: 1024, ceiling: 5120 }), async (m) => {
        const j = judgeOutcome(await t.gw.pipeline.process(dev.id, m.bytes, Date.now()), m.bytes, valid);
        if (!j.ok) throw new Error(`${m.kind}: ${j.problem}`);
        if (j.code === ACCEPTED_IDENTICAL) identical = 1;
        codes.add(j.code);
        kinds.add(familyOf(m.kind) + (m.resigned ? ' (signed)' : ''));
      }),
      { numRuns: CASES, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
    );
    console.log(`codes:\n${codes.lines().join('\n')}\nkinds:\n${kinds.lines().join('\n')}`);
    await t.gw.ledger.flush();
    expect(t.gw.ledger.size()).toBe(before + identical);
  });
});
