/**
 * The bench's receipt audit (bench/receipt-audit.ts) against receipts from a real gateway: it passes the gateway's
 * own receipts and refuses each way a receipt can fail to prove that its reading was logged.
 */
import { describe, expect, test } from 'vitest';
import { connectDevice, reading, useGatewayWithDevices } from '../gateway/harness.js';
import { ed25519NoteSigner, encodeReceipt, formatVerifierKey, fromBase64, generateSecretKey, ALG_EDDSA, parseVerifierKey, signCheckpoint, parseCheckpoint, parseNote, type Receipt } from '../../protocol/index.js';
import { ReceiptAudit, addTallies, emptyTally, tallyProblem } from '../../bench/receipt-audit.js';
import { nodeEd25519Verify } from '../../ledger/signer.js';

const codeOf = (f: () => void): string => {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'no error';
};

describe('bench receipt audit', () => {
  const fx = useGatewayWithDevices(1);
  // Two readings answered in two blocks (the second sent once the first has its receipt).
  const got: { bytes: Uint8Array; receipt: Receipt }[] = [];
  const audit = () => new ReceiptAudit(parseVerifierKey(fx.t.gw.checkpointVerifierKey), nodeEd25519Verify);

  test('the gateway\'s receipts pass, each once', async () => {
    const c = await connectDevice(fx.t.gw, fx.dev);
    for (const seq of [1, 2]) {
      const bytes = await reading(fx.dev, seq);
      await c.publish(bytes);
      const a = await c.next();
      if (a.kind !== 'receipt') throw new Error(`reading ${seq}: ${a.rejection.code}`);
      got.push({ bytes, receipt: a.receipt });
    }
    await c.end();
    const a = audit();
    for (const [i, g] of got.entries()) expect(codeOf(() => a.check(i + 1, g.bytes, encodeReceipt(g.receipt)))).toBe('no error');
  });

  test('a receipt for another seq, another envelope, a changed leaf hash or index: refused with its code', () => {
    const [r1, r2] = got as [(typeof got)[0], (typeof got)[0]];
    expect(codeOf(() => audit().check(1, r1.bytes, encodeReceipt(r2.receipt)))).toBe('CLAIM_INVALID');
    expect(codeOf(() => audit().check(2, r1.bytes, encodeReceipt(r2.receipt)))).toBe('INCLUSION_INVALID');
    const leaf = Uint8Array.from(r1.receipt.leafHash);
    leaf[0]! ^= 1;
    expect(codeOf(() => audit().check(1, r1.bytes, encodeReceipt({ ...r1.receipt, leafHash: leaf })))).toBe('INCLUSION_INVALID');
    expect(codeOf(() => audit().check(1, r1.bytes, encodeReceipt({ ...r1.receipt, index: r1.receipt.index + 1 })))).toBe('INCLUSION_INVALID');
    expect(codeOf(() => audit().check(1, r1.bytes, Uint8Array.of(0xa1, 0x01)))).toBe('MALFORMED');
  });

  test('a checkpoint not covering the entry, or not signed by the gateway\'s key: CHECKPOINT_INVALID', async () => {
    const [r1, r2] = got as [(typeof got)[0], (typeof got)[0]];
    // the first block's checkpoint does not cover the second reading's entry
    expect(r2.receipt.index).toBeGreaterThanOrEqual(parseCheckpoint(parseNote(r1.receipt.checkpoint).text).size);
    expect(codeOf(() => audit().check(2, r2.bytes, encodeReceipt({ ...r2.receipt, checkpoint: r1.receipt.checkpoint })))).toBe('CHECKPOINT_INVALID');
    const cp = parseCheckpoint(parseNote(r1.receipt.checkpoint).text);
    const name = parseVerifierKey(fx.t.gw.checkpointVerifierKey).name;
    const forged = await signCheckpoint(cp, ed25519NoteSigner(name, generateSecretKey(ALG_EDDSA)));
    expect(codeOf(() => audit().check(1, r1.bytes, encodeReceipt({ ...r1.receipt, checkpoint: forged })))).toBe('CHECKPOINT_INVALID');
  });

  test('two receipts naming one log index: the second is refused', () => {
    const [r1] = got as [(typeof got)[0]];
    const a = audit();
    a.check(1, r1.bytes, encodeReceipt(r1.receipt));
    expect(codeOf(() => a.check(1, r1.bytes, encodeReceipt(r1.receipt)))).toBe('INCLUSION_INVALID');
  });

  test('a checkpoint that does not hold the entry: the receipt alone passes, its inclusion proof from the log does not', async () => {
    const [r1] = got as [(typeof got)[0]];
    const cp = parseCheckpoint(parseNote(r1.receipt.checkpoint).text);
    const proof = async (index: number, treeSize: number) => {
      const res = await fx.t.gw.app.inject({ method: 'GET', url: `/v1/proofs/inclusion?index=${index}&treeSize=${treeSize}` });
      return (res.json() as { proof: string[] }).proof.map(fromBase64);
    };
    const real = await proof(r1.receipt.index, cp.size);
    expect(codeOf(() => audit().checkInclusion(encodeReceipt(r1.receipt), real))).toBe('no error');
    // A gateway that signs checkpoints without putting the readings in its tree (here: any root, same size, signed by
    // the key the audit trusts): check() cannot tell, as a receipt carries no proof; the log's proof refutes it.
    const gw = ed25519NoteSigner(parseVerifierKey(fx.t.gw.checkpointVerifierKey).name, generateSecretKey(ALG_EDDSA));
    const hollow = { ...r1.receipt, checkpoint: await signCheckpoint({ ...cp, root: new Uint8Array(32).fill(7) }, gw) };
    const trusting = new ReceiptAudit(parseVerifierKey(formatVerifierKey(gw.name, gw.publicKey)), nodeEd25519Verify);
    expect(codeOf(() => trusting.check(1, r1.bytes, encodeReceipt(hollow)))).toBe('no error');
    expect(codeOf(() => trusting.checkInclusion(encodeReceipt(hollow), real))).toBe('INCLUSION_INVALID');
    // a proof cut short, or none at all (an error answer), is refused too
    expect(codeOf(() => audit().checkInclusion(encodeReceipt(r1.receipt), real.slice(1)))).toBe(cp.size > 1 ? 'INCLUSION_INVALID' : 'no error');
    const t = emptyTally(1);
    audit().tallyInclusion(t, encodeReceipt(hollow), real);
    expect([t.invalid, t.inLog]).toEqual([1, 0]);
    audit().tallyInclusion(t, encodeReceipt(r1.receipt), real);
    expect([t.invalid, t.inLog]).toEqual([1, 1]);
  });

  test('tallyCheck counts a failure with its code instead of throwing', () => {
    const [r1, r2] = got as [(typeof got)[0], (typeof got)[0]];
    const t = emptyTally(1);
    audit().tallyCheck(t, 1, r1.bytes, encodeReceipt(r2.receipt));
    expect(t.invalid).toBe(1);
    expect(t.firstInvalid).toMatch(/^CLAIM_INVALID: /);
  });
});

describe('bench answer tallies', () => {
  test('clean only when every reading has one receipt and nothing else came', () => {
    expect(tallyProblem({ ...emptyTally(3), receipts: 3, inLog: 1 })).toBeNull();
    expect(tallyProblem({ ...emptyTally(3), receipts: 2, inLog: 1 })).toBe('2 receipts for 3 readings');
    expect(tallyProblem({ ...emptyTally(3), receipts: 2, inLog: 1, rejected: { BAD_SIGNATURE: 1 } })).toContain('1 rejected (BAD_SIGNATURE 1)');
    expect(tallyProblem({ ...emptyTally(3), receipts: 3, inLog: 1, duplicates: 1 })).toBe('1 duplicate answers');
    expect(tallyProblem({ ...emptyTally(3), receipts: 3, inLog: 1, unexpected: 2 })).toBe('2 unexpected answers');
    expect(tallyProblem({ ...emptyTally(3), receipts: 3, inLog: 1, invalid: 1, firstInvalid: 'X' })).toBe('1 invalid receipts (first: X)');
    // receipts that all passed, but none proved in the gateway's log: not clean
    expect(tallyProblem({ ...emptyTally(3), receipts: 3 })).toBe('no receipt proved in the log');
  });

  test('phases add up, rejections by code summed (not overwritten)', () => {
    const a = { ...emptyTally(10), receipts: 5, inLog: 2, rejected: { BAD_SIGNATURE: 5000, CLOCK_SKEW: 10 } };
    const b = { ...emptyTally(4), receipts: 1, inLog: 1, rejected: { BAD_SIGNATURE: 3 }, invalid: 1, firstInvalid: 'Y' };
    expect(addTallies(a, b)).toEqual({ readings: 14, receipts: 6, rejected: { BAD_SIGNATURE: 5003, CLOCK_SKEW: 10 }, duplicates: 0, unexpected: 0, invalid: 1, firstInvalid: 'Y', inLog: 3 });
  });
});
