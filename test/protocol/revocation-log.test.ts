import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519NoteSigner, formatVerifierKey, parseVerifierKey, signCheckpoint } from '../../protocol/checkpoint.js';
import { codeOfSync } from './fixtures.js';
import {
  EMPTY_REVOCATIONS, appendRevocation, commitRevocations, openRevocationLog, revocationsExtension, revocationsOfCheckpoint,
  type LoggedRevocation,
} from '../../protocol/revocation-log.js';

/** The fold written out with node:crypto, independently of protocol/revocation-log.ts. */
function referenceDigest(list: readonly LoggedRevocation[]): Buffer {
  let r = Buffer.alloc(32);
  for (const { index, statement } of list) {
    const at = Buffer.alloc(8);
    at.writeBigUInt64BE(BigInt(index));
    r = createHash('sha256').update(r).update(at).update(createHash('sha256').update(statement).digest()).digest();
  }
  return r;
}

const signer = ed25519NoteSigner('example.gov/log', new Uint8Array(32).fill(3));
const trusted = [parseVerifierKey(formatVerifierKey(signer.name, signer.publicKey))];
const list: LoggedRevocation[] = [
  { index: 4, statement: new Uint8Array([1, 2, 3]) },
  { index: 9, statement: new Uint8Array([4, 5]) },
  { index: 17, statement: new Uint8Array([6]) },
];
const checkpointFor = (l: readonly LoggedRevocation[], size = 20, extra: string[] = []) =>
  signCheckpoint({ origin: signer.name, size, root: new Uint8Array(32).fill(1), extensions: ['block 0 AAAA', revocationsExtension(commitRevocations(l)), ...extra] }, signer);

const note0 = await checkpointFor(list);

describe('revocation commitment', () => {
  it('is the fold of DESIGN.md, byte for byte (checked with node:crypto)', () => {
    expect(Buffer.from(commitRevocations(list).digest).equals(referenceDigest(list))).toBe(true);
    expect(commitRevocations([])).toEqual(EMPTY_REVOCATIONS);
    expect(revocationsExtension(EMPTY_REVOCATIONS)).toBe(`revocations 0 ${'A'.repeat(43)}=`);
    // A fixed known answer (computed once with node:crypto), so a change to both the fold and the reference shows.
    expect(revocationsExtension(commitRevocations(list))).toBe('revocations 3 OkkWgIblEGmpypPxA2LgaFbtxdZJpIQ+Ef/Okp8FAR0=');
  });

  it('rejects lists out of log order or with an entry twice', () => {
    expect(codeOfSync(() => commitRevocations([list[1]!, list[0]!]))).toBe('MALFORMED');
    expect(codeOfSync(() => commitRevocations([list[0]!, list[0]!]))).toBe('MALFORMED');
    expect(codeOfSync(() => appendRevocation(EMPTY_REVOCATIONS, -1, new Uint8Array()))).toBe('MALFORMED');
  });

  it('parses the checkpoint line, and none is undefined', () => {
    const c = commitRevocations(list);
    expect(revocationsOfCheckpoint(['block 1 x', revocationsExtension(c)])).toEqual(c);
    expect(revocationsOfCheckpoint(['block 1 x'])).toBeUndefined();
  });

  it.each([
    ['two lines', [revocationsExtension(EMPTY_REVOCATIONS), revocationsExtension(EMPTY_REVOCATIONS)]],
    ['a count that is not a number', [`revocations x ${'A'.repeat(43)}=`]],
    ['a leading zero', [`revocations 01 ${'A'.repeat(43)}=`]],
    ['a short digest', ['revocations 1 AAAA']],
    ['no digest', ['revocations 1']],
    ['extra fields', [`revocations 1 ${'A'.repeat(43)}= more`]],
  ])('a checkpoint with %s is CHECKPOINT_INVALID', (_, ext) => {
    expect(codeOfSync(() => revocationsOfCheckpoint(ext))).toBe('CHECKPOINT_INVALID');
  });

  it('property: the fold agrees with the reference, and dropping or changing any entry changes it', () => {
    const entries = fc.uniqueArray(fc.record({ index: fc.nat({ max: 1e9 }), statement: fc.uint8Array({ maxLength: 40 }) }), { selector: (r) => r.index, maxLength: 12 })
      .map((l) => l.sort((a, b) => a.index - b.index));
    fc.assert(fc.property(entries, fc.nat(), (l, k) => {
      const c = commitRevocations(l);
      expect(Buffer.from(c.digest).equals(referenceDigest(l))).toBe(true);
      expect(c.count).toBe(l.length);
      if (l.length === 0) return;
      const i = k % l.length;
      const dropped = l.filter((_, j) => j !== i);
      expect(Buffer.from(commitRevocations(dropped).digest).equals(Buffer.from(c.digest))).toBe(false);
      const changed = l.map((r, j) => (j === i ? { index: r.index, statement: new Uint8Array([...r.statement, 0]) } : r));
      expect(Buffer.from(commitRevocations(changed).digest).equals(Buffer.from(c.digest))).toBe(false);
    }), { numRuns: 200 });
  });
});

describe('openRevocationLog', () => {
  it('accepts exactly the committed list, in any order, and names the size and signer', async () => {
    const note = await checkpointFor(list);
    const opened = openRevocationLog([list[2]!, list[0]!, list[1]!], note, trusted, { origin: signer.name });
    expect(opened).toMatchObject({ origin: signer.name, size: 20, signedBy: [signer.name] });
    expect(opened.revocations.map((r) => r.index)).toEqual([4, 9, 17]);
  });

  it('an empty log with an empty list', async () => {
    expect(openRevocationLog([], await checkpointFor([]), trusted).revocations).toEqual([]);
  });

  it.each([
    ['one left out', list.slice(1)],
    ['one changed', [list[0]!, { index: 9, statement: new Uint8Array([4, 6]) }, list[2]!]],
    ['one at another index', [list[0]!, { index: 10, statement: list[1]!.statement }, list[2]!]],
    ['one added', [...list, { index: 18, statement: new Uint8Array([7]) }]],
  ])('a list with %s is CHECKPOINT_INVALID', async (_, l) => {
    expect(codeOfSync(() => openRevocationLog(l, note0, trusted))).toBe('CHECKPOINT_INVALID');
  });

  it('rejects an entry at or past the tree size, a checkpoint without the line, another key, another origin', async () => {
    expect(codeOfSync(() => openRevocationLog([...list, { index: 20, statement: new Uint8Array([1]) }], note0, trusted))).toBe('CHECKPOINT_INVALID');
    const bare = await signCheckpoint({ origin: signer.name, size: 20, root: new Uint8Array(32).fill(1), extensions: ['block 0 AAAA'] }, signer);
    expect(codeOfSync(() => openRevocationLog(list, bare, trusted))).toBe('CHECKPOINT_INVALID');
    const other = ed25519NoteSigner(signer.name, new Uint8Array(32).fill(4));
    const forged = await signCheckpoint({ origin: signer.name, size: 20, root: new Uint8Array(32).fill(1), extensions: [revocationsExtension(commitRevocations(list))] }, other);
    expect(codeOfSync(() => openRevocationLog(list, forged, trusted))).toBe('CHECKPOINT_INVALID');
    expect(codeOfSync(() => openRevocationLog(list, note0, trusted, { origin: 'another.gov/log' }))).toBe('CHECKPOINT_INVALID');
    expect(codeOfSync(() => openRevocationLog([list[0]!, list[0]!, list[1]!, list[2]!], note0, trusted))).toBe('CHECKPOINT_INVALID');
    expect(codeOfSync(() => openRevocationLog([{ index: -1, statement: new Uint8Array() }, ...list], note0, trusted))).toBe('CHECKPOINT_INVALID');
  });
});
