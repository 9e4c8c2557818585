/**
 * The checkpoint key handover a device follows (protocol/checkpoint-handover.ts, SPEC §7 "A new checkpoint key"):
 * the published vectors (firmware-specs/vectors/receipts.json, the receipt-next-key-* ones), the edges, and a model
 * of a gateway announcing, withdrawing and switching keys that a device seeing each checkpoint must keep up with.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  announcedNextKey, decodeReceipt, ed25519NoteSigner, followCheckpointKeys, formatCheckpoint, formatVerifierKey, fromHex, nextKeyExtension,
  OriginProofError, parseCheckpoint, parseNote, parseVerifierKey, signNote, verifyReceipt, type CheckpointKeys, type NoteSigner, type NoteVerifier,
} from '../../protocol/index.js';

const ORIGIN = 'gw.example/log';
const keyOf = (label: string) => ed25519NoteSigner(ORIGIN, new TextEncoder().encode(label.padEnd(32, '-')).slice(0, 32));
const KEYS = ['A', 'B', 'C', 'D'].map(keyOf);
const vkey = (k: { name: string; publicKey: Uint8Array }) => formatVerifierKey(k.name, k.publicKey);
const verifier = (k: NoteSigner & { publicKey: Uint8Array }): NoteVerifier => parseVerifierKey(vkey(k));
const shown = (k: CheckpointKeys) => ({ current: vkey(k.current), next: k.next ? vkey(k.next) : null });
const note = (by: NoteSigner[], extensions: string[] = [], size = 5) => signNote(formatCheckpoint({ origin: ORIGIN, size, root: new Uint8Array(32).fill(1), extensions }), by);
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof OriginProofError ? err.code : `not ours: ${String(err)}`;
  }
  return 'no error';
};
const [A, B, C] = KEYS as [NoteSigner & { publicKey: Uint8Array }, NoteSigner & { publicKey: Uint8Array }, NoteSigner & { publicKey: Uint8Array }];

describe('checkpoint key handover', () => {
  test('the published vectors: each receipt checked with the keys the device holds, and the keys it holds after', () => {
    const { vectors } = JSON.parse(readFileSync('firmware-specs/vectors/receipts.json', 'utf8')) as { vectors: { name: string; cbor: string; valid: boolean; expectedError?: string; params: Record<string, string> }[] };
    const handover = vectors.filter((v) => v.name.startsWith('receipt-next-key-'));
    expect(handover.map((v) => v.name).sort()).toEqual(['receipt-next-key-announced', 'receipt-next-key-not-held', 'receipt-next-key-not-signed', 'receipt-next-key-switched', 'receipt-next-key-withdrawn']);
    for (const v of handover) {
      const receipt = decodeReceipt(fromHex(v.cbor));
      const held: CheckpointKeys = { current: parseVerifierKey(v.params.checkpointKey!), next: v.params.nextCheckpointKey ? parseVerifierKey(v.params.nextCheckpointKey) : null };
      const trusted = held.next ? [held.current, held.next] : [held.current];
      expect(codeOf(() => verifyReceipt(receipt, fromHex(v.params.reading!), trusted)), v.name).toBe(v.valid ? 'no error' : v.expectedError);
      if (!v.valid) {
        expect(codeOf(() => followCheckpointKeys(receipt.checkpoint, held)), v.name).toBe(v.expectedError);
        continue;
      }
      const [current, next] = v.params.expectedKeys!.split(' ');
      expect(shown(followCheckpointKeys(receipt.checkpoint, held).keys), v.name).toEqual({ current, next: next === '-' ? null : next });
    }
  });

  test('a bad signature line of the current key rejects the note, even with a good one of the next key', async () => {
    const good = await note([A, B]);
    const { text, signatures } = parseNote(good);
    const bad = signatures.map((s, i) => (i === 0 ? { ...s, signature: s.signature.map((b, j) => (j === 0 ? b ^ 1 : b)) } : s));
    const forged = await signNote(text, [], bad);
    expect(codeOf(() => followCheckpointKeys(forged, { current: verifier(A), next: verifier(B) }))).toBe('CHECKPOINT_INVALID');
    expect(shown(followCheckpointKeys(good, { current: verifier(A), next: verifier(B) }).keys)).toEqual({ current: vkey(A), next: null });
  });

  test('announcements that name no next key: malformed, doubled, the current key itself, or unsigned by it', async () => {
    const held = { current: verifier(A), next: null };
    const cases: [string, string[], NoteSigner[]][] = [
      ['malformed', ['next-key not-a-key'], [A, B]],
      ['bare', ['next-key'], [A, B]],
      ['doubled', [nextKeyExtension(vkey(B)), nextKeyExtension(vkey(C))], [A, B, C]],
      ['the current key', [nextKeyExtension(vkey(A))], [A]],
      ['not signed by it', [nextKeyExtension(vkey(B))], [A, C]],
    ];
    // and one whose next key's line is there but does not verify
    const announcedByBoth = await note([A, B], [nextKeyExtension(vkey(B))]);
    const split = parseNote(announcedByBoth);
    const badNextLine = await signNote(split.text, [], split.signatures.map((sig, i) => (i === 1 ? { ...sig, signature: sig.signature.map((b, j) => (j === 0 ? b ^ 1 : b)) } : sig)));
    expect(followCheckpointKeys(announcedByBoth, held).keys.next).not.toBeNull();
    expect(shown(followCheckpointKeys(badNextLine, held).keys)).toEqual({ current: vkey(A), next: null });
    for (const [name, extensions, by] of cases) {
      const n = await note(by, extensions);
      const after = followCheckpointKeys(n, held);
      expect([name, shown(after.keys), after.switched]).toEqual([name, { current: vkey(A), next: null }, false]);
    }
    // The checker of announcements says what is wrong with the malformed and doubled ones.
    const malformed = await note([A], ['next-key not-a-key']);
    expect(codeOf(() => announcedNextKey(parseCheckpoint(parseNote(malformed).text)))).toBe('CHECKPOINT_INVALID');
    const doubled = await note([A], [nextKeyExtension(vkey(B)), nextKeyExtension(vkey(C))]);
    expect(codeOf(() => announcedNextKey(parseCheckpoint(parseNote(doubled).text)))).toBe('CHECKPOINT_INVALID');
    expect(codeOf(() => nextKeyExtension('not-a-key'))).toBe('CHECKPOINT_INVALID');
  });

  test('a later announcement replaces the next key; a switching note may announce the one after', async () => {
    const held = { current: verifier(A), next: verifier(B) };
    expect(shown(followCheckpointKeys(await note([A, C], [nextKeyExtension(vkey(C))]), held).keys)).toEqual({ current: vkey(A), next: vkey(C) });
    const switched = followCheckpointKeys(await note([B, C], [nextKeyExtension(vkey(C))]), held);
    expect([shown(switched.keys), switched.switched]).toEqual([{ current: vkey(B), next: vkey(C) }, true]);
    // Neither key: refused, the keys unchanged by the caller.
    const neither = await note([C]);
    expect(codeOf(() => followCheckpointKeys(neither, held))).toBe('CHECKPOINT_INVALID');
  });

  test('a device seeing every checkpoint keeps the keys the gateway holds, whatever it announces, withdraws and switches', async () => {
    type Step = { kind: 'plain' } | { kind: 'announce'; key: number } | { kind: 'withdraw' } | { kind: 'switch' };
    const step = fc.oneof(
      fc.constant<Step>({ kind: 'plain' }),
      fc.integer({ min: 0, max: KEYS.length - 1 }).map((key): Step => ({ kind: 'announce', key })),
      fc.constant<Step>({ kind: 'withdraw' }),
      fc.constant<Step>({ kind: 'switch' }),
    );
    let switches = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        // The gateway: its key and the next one it announces (signing with both while it does).
        let cur = 0;
        let next: number | null = null;
        let device: CheckpointKeys = { current: verifier(KEYS[0]!), next: null };
        for (const s of steps) {
          if (s.kind === 'announce' && s.key !== cur) next = s.key;
          if (s.kind === 'withdraw') next = null;
          if (s.kind === 'switch' && next !== null) {
            cur = next;
            next = null;
            switches++;
          }
          const by = next === null ? [KEYS[cur]!] : [KEYS[cur]!, KEYS[next]!];
          const n = await note(by, next === null ? [] : [nextKeyExtension(vkey(KEYS[next]!))]);
          device = followCheckpointKeys(n, device).keys;
          expect(shown(device)).toEqual({ current: vkey(KEYS[cur]!), next: next === null ? null : vkey(KEYS[next]!) });
        }
      }),
      { numRuns: 60 },
    );
    expect(switches).toBeGreaterThan(0);
  }, 60_000);
});
