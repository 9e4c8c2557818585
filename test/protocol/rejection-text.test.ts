/**
 * Regression (found by the envelope fuzzer): a rejection quotes what it rejects (an unknown claim key in its path,
 * a topic in its message), which the sender controls. A 300-character text key made a path over the 256 characters
 * decodeRejection allows, so the device could not read the rejection meant for it. encodeRejection now clips message
 * and path to the decoder's limits and replaces lone surrogates, which have no UTF-8 encoding.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRejection, encodeRejection, MAX_REJECTION_MESSAGE, MAX_REJECTION_PATH } from '../../protocol/index.js';

describe('rejection text limits', () => {
  it('an over-long path and message are clipped and the rejection still decodes with its code', () => {
    const r = decodeRejection(encodeRejection({ seq: 3, code: 'CLAIM_INVALID', message: `unknown claim ${'x'.repeat(5000)}`, path: `claims.${' '.repeat(300)}` }));
    expect(r.code).toBe('CLAIM_INVALID');
    expect(r.seq).toBe(3);
    expect(r.path.length).toBeLessThanOrEqual(MAX_REJECTION_PATH);
    expect(r.message.length).toBeLessThanOrEqual(MAX_REJECTION_MESSAGE);
    expect(r.path.startsWith('claims.   ')).toBe(true);
  });

  it('lone surrogates and surrogate pairs at the cut never make undecodable text', () => {
    const r = decodeRejection(encodeRejection({ seq: null, code: 'MALFORMED', message: 'key \ud800 and \udfff', path: `${'a'.repeat(MAX_REJECTION_PATH - 1)}😀😀` }));
    expect(r.message).toBe('key \ufffd and \ufffd');
    expect(r.path.length).toBeLessThanOrEqual(MAX_REJECTION_PATH);
  });

  // Any UTF-16 code units, lone surrogates included, around both limits.
  const utf16 = (maxLength: number) => fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength }).map((u) => String.fromCharCode(...u));

  it('any text in message and path: the rejection decodes, code and seq unchanged', () => {
    fc.assert(
      fc.property(utf16(1100), utf16(300), fc.option(fc.nat(), { nil: null }), (message, path, seq) => {
        const r = decodeRejection(encodeRejection({ seq, code: 'REPLAY', message, path }));
        expect([r.code, r.seq]).toEqual(['REPLAY', seq]);
      }),
      { numRuns: 200 },
    );
  });
});
