/**
 * Adversarial review 2: alterations of a genuine bundle that turned out to be caught (regression tests for coverage
 * the other suites did not have): the chain agency certificate carried twice, an inclusion proof with a hash added or
 * removed, a checkpoint note with a witness cosignature (ignored) or a second line by the trusted key that does not
 * verify, the CBOR bundle re-encoded with the same content in another key order, and a revocation-log list whose
 * entries are renumbered.
 */
import { describe, expect, test } from 'vitest';
import { createRevocation, decodeProofBundle, encode, encodeProofBundle, OriginProofError, verifyBundleBytes } from '../../protocol/index.js';
import { ed25519NoteSigner, signCheckpoint } from '../../protocol/checkpoint.js';
import { commitRevocations, revocationsExtension } from '../../protocol/revocation-log.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { NOW, seedKey } from '../protocol/fixtures.js';
import { CP, ORIGIN, c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';

const two = async () => [await readingEntry(), await readingEntry({ index: 1, seq: 2 })];

describe('alterations of a genuine bundle', () => {
  test('the chain agency certificate carried twice: CHAIN_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, c.agencyCert.bytes] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
  });

  test('an inclusion proof with a hash added or removed: INCLUSION_INVALID', async () => {
    const b = await make({ entries: await two() });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([]);
    expect(fails(verifyBundle({ ...b, inclusionProof: [...b.inclusionProof, new Uint8Array(32)] }, trustWith()))).toEqual([['inclusion', 'INCLUSION_INVALID']]);
    expect(fails(verifyBundle({ ...b, inclusionProof: [] }, trustWith()))).toEqual([['inclusion', 'INCLUSION_INVALID']]);
  });

  test("a witness's cosignature is ignored; a second line by the trusted key that does not verify: CHECKPOINT_INVALID", async () => {
    const b = await make({ entries: [await readingEntry()] });
    const witness = await signCheckpoint({ origin: 'witness.example', size: 1, root: new Uint8Array(32), extensions: [] }, ed25519NoteSigner('witness.example', seedKey('witness')));
    const witnessLine = witness.slice(witness.lastIndexOf('\n\n') + 2);
    expect(fails(verifyBundle({ ...b, checkpoint: `${b.checkpoint}${witnessLine}` }, trustWith()))).toEqual([]);
    // the trusted key's own line again, signing other text (a signature from another checkpoint)
    const other = await signCheckpoint({ origin: ORIGIN, size: 9, root: new Uint8Array(32), extensions: [] }, CP);
    const replayed = other.slice(other.lastIndexOf('\n\n') + 2);
    expect(fails(verifyBundle({ ...b, checkpoint: `${b.checkpoint}${replayed}` }, trustWith()))).toEqual([['checkpoint', 'CHECKPOINT_INVALID']]);
  });

  test('the CBOR bundle re-encoded with the same content in another key order: MALFORMED (unusable, not a verdict)', async () => {
    const b = await make({ entries: [await readingEntry()] });
    const bytes = encodeProofBundle(b);
    expect(verifyBundleBytes(bytes, trustWith()).valid).toBe(true);
    const m = new Map<number, unknown>([
      [2, b.index], [1, b.entry], [3, b.treeSize], [4, b.inclusionProof], [5, b.checkpoint], [6, b.blockHeader], [7, b.certificates], [8, b.revocations],
    ]);
    // encode() canonicalises; splice the first two items by hand instead: {2: index, 1: entry, ...}
    const canonical = encode(m);
    expect(canonical).toEqual(bytes);
    const entryItem = encode(b.entry), indexItem = encode(b.index);
    const head = bytes.subarray(0, 1), afterEntry = 1 + 1 + entryItem.length, rest = bytes.subarray(afterEntry + 1 + indexItem.length);
    const swapped = new Uint8Array([...head, 0x02, ...indexItem, 0x01, ...entryItem, ...rest]);
    expect(decodeProofBundle(bytes).index).toBe(0);
    let code = '';
    try {
      verifyBundleBytes(swapped, trustWith());
    } catch (err) {
      code = (err as OriginProofError).code;
    }
    expect(code).toBe('MALFORMED');
  });

  test('a revocation-log list renumbered (the statement moved to another index): CHECKPOINT_INVALID', async () => {
    const b = await make({ entries: [await readingEntry()] });
    const statement = await createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: NOW + 3600, iat: NOW });
    const list = [{ index: 3, statement }];
    const checkpoint = await signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7), extensions: [revocationsExtension(commitRevocations(list))] }, CP);
    expect(fails(verifyBundle(b, trustWith(), { revocationLog: { checkpoint, revocations: list } }))).toEqual([]);
    expect(fails(verifyBundle(b, trustWith(), { revocationLog: { checkpoint, revocations: [{ index: 2, statement }] } }))).toEqual([['revocation', 'CHECKPOINT_INVALID']]);
    expect(fails(verifyBundle(b, trustWith(), { revocationLog: { checkpoint, revocations: [...list, ...list] } }))).toEqual([['revocation', 'CHECKPOINT_INVALID']]);
  });
});
