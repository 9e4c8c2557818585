import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeLogEntry, encodeLogEntry, encodeLogEntryScratch, leafHash, type LogEntry } from '../../protocol/log-entry.js';
import { encode } from '../../protocol/cbor.js';
import { concatBytes } from '../../protocol/bytes.js';
import { sha256 } from '../../protocol/hash.js';

describe('log entry (DESIGN.md)', () => {
  it('fast encoding equals the deterministic encoder and round-trips', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4), fc.maxSafeNat(), fc.maxSafeNat(), fc.uint8Array({ maxLength: 300 }),
        fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
        (type, index, receivedAtMs, payload, certRef) => {
          const e: LogEntry = { type: type as LogEntry['type'], index, receivedAtMs, payload };
          if (certRef) e.certRef = certRef;
          const bytes = encodeLogEntry(e);
          const m = new Map<number, unknown>([[1, type], [2, index], [3, receivedAtMs], [4, payload]]);
          if (certRef) m.set(5, certRef);
          expect(bytes).toEqual(encode(m));
          expect(decodeLogEntry(bytes)).toEqual(e);
          // the scratch encoding (a view into the encoder's rewound buffer) has the same bytes
          expect(encodeLogEntryScratch(e).slice()).toEqual(encodeLogEntry(e));
        },
      ),
    );
  });
  it('scratch encoding: each call rewinds the same buffer and earlier encodings are untouched', () => {
    const kept = encodeLogEntry({ type: 1, index: 5, receivedAtMs: 2 ** 40, payload: new Uint8Array(300).fill(1) });
    const copy = kept.slice();
    const ea: LogEntry = { type: 2, index: 1, receivedAtMs: 1, payload: new Uint8Array(10).fill(2) };
    const eb: LogEntry = { type: 3, index: 2, receivedAtMs: 2, payload: new Uint8Array(10).fill(3) };
    const a = encodeLogEntryScratch(ea);
    const aBytes = a.slice();
    const b = encodeLogEntryScratch(eb);
    const bBytes = b.slice();
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(aBytes).toEqual(encodeLogEntry(ea));
    expect(bBytes).toEqual(encodeLogEntry(eb));
    expect(kept).toEqual(copy);
  });
  it('leaf hash is SHA-256(0x00 || entry)', () => {
    const bytes = encodeLogEntry({ type: 1, index: 0, receivedAtMs: 1, payload: new Uint8Array([1, 2]) });
    expect(leafHash(bytes)).toEqual(sha256(concatBytes(new Uint8Array([0]), bytes)));
  });
  it('rejects bad entries (MALFORMED, not any exception)', () => {
    const malformed = expect.objectContaining({ name: 'OriginProofError', code: 'MALFORMED' });
    expect(() => encodeLogEntry({ type: 9 as 1, index: 0, receivedAtMs: 0, payload: new Uint8Array() })).toThrow(malformed);
    expect(() => encodeLogEntry({ type: 1, index: 0, receivedAtMs: 0, payload: new Uint8Array(), certRef: new Uint8Array(3) })).toThrow(malformed);
    expect(() => decodeLogEntry(encode(new Map<number, unknown>([[1, 1], [2, 0], [3, 0], [4, new Uint8Array()], [9, 1]])))).toThrow(malformed);
    expect(() => decodeLogEntry(encode(new Map([[1, 1], [2, 0], [3, 0]])))).toThrow(malformed);
  });
});
