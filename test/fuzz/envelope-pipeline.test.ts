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
import { ALG_EDDSA, bytesEqual, decodeSign1, nobleVerify, sigStructure } from '../../protocol/index.js';
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
    // The generator really produced every family (a broken one would pass the property on junk alone) ...
    const families = [...kinds.counts.keys()];
    for (const f of ['bit-flip', 'byte-set', 'truncate', 'extend', 'insert', 'delete', 'duplicate', 'confuse', 'swap-same', 'head', 'dup-key', 'add-entry', 'remove-entry', 'reorder', 'nest', 'wrap-tag', 'retag', 'unwrap', 'wrap-bstr', 'cbor-garbage', 'random-bytes']) {
      expect(families, f).toContain(f);
    }
    for (const f of ['confuse', 'head', 'dup-key', 'add-entry', 'remove-entry', 'reorder', 'nest', 'wrap-tag', 'retag']) expect(families, `${f} re-signed`).toContain(`${f} (signed)`);
    // ... and the mutants got past the first checks into the schema, key, algorithm and signature checks.
    for (const code of ['MALFORMED', 'TOO_LARGE', 'CLAIM_INVALID', 'UNKNOWN_KEY', 'ALG_NOT_ALLOWED', 'BAD_SIGNATURE']) expect([...codes.counts.keys()]).toContain(code);
  });

  test('re-signed mutants carry a valid device signature (a schema gap cannot hide behind BAD_SIGNATURE)', () => {
    const sample = fc.sample(envelopeMutant(valid, { sign: syncSigner(dev), maxBytes: 1024 }), { numRuns: 1500 }).filter((m) => m.resigned);
    let verified = 0;
    for (const m of sample) {
      let s;
      try {
        s = decodeSign1(m.bytes, { strict: false }); // lenient: most re-signed mutants are not deterministic CBOR
      } catch {
        continue;
      }
      expect(nobleVerify(ALG_EDDSA, dev.signer.publicKey, sigStructure(s.protectedBytes, new Uint8Array(0), s.payload), s.signature), m.kind).toBe(true);
      verified++;
    }
    expect(verified, `of ${sample.length} re-signed`).toBeGreaterThan(100);
  });
});
