import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeLogEntry, encodeLogEntry, leafHash, type LogEntry } from '../../protocol/log-entry.js';
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
        },
      ),
    );
  });
  it('leaf hash is SHA-256(0x00 || entry)', () => {
    const bytes = encodeLogEntry({ type: 1, index: 0, receivedAtMs: 1, payload: new Uint8Array([1, 2]) });
    expect(leafHash(bytes)).toEqual(sha256(concatBytes(new Uint8Array([0]), bytes)));
  });
  it('rejects bad entries', () => {
    expect(() => encodeLogEntry({ type: 9 as 1, index: 0, receivedAtMs: 0, payload: new Uint8Array() })).toThrow();
    expect(() => encodeLogEntry({ type: 1, index: 0, receivedAtMs: 0, payload: new Uint8Array(), certRef: new Uint8Array(3) })).toThrow();
    expect(() => decodeLogEntry(encode(new Map<number, unknown>([[1, 1], [2, 0], [3, 0], [4, new Uint8Array()], [9, 1]])))).toThrow();
    expect(() => decodeLogEntry(encode(new Map([[1, 1], [2, 0], [3, 0]])))).toThrow();
  });
});
