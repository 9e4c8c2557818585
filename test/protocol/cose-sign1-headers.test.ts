/** decodeSign1's header rules that envelopes (envelope.ts) do not repeat: found by mutation testing. */
import { describe, expect, it } from 'vitest';
import { Tag, encode } from '../../protocol/cbor.js';
import { decodeSign1 } from '../../protocol/cose-sign1.js';

const kid = new Uint8Array(32).fill(7);
const sign1 = (prot: Map<number, unknown>, unprot: Map<number, unknown>): Uint8Array =>
  encode(new Tag([encode(prot), unprot, encode(new Map([[1, 2]])), new Uint8Array(64)], 18));

describe('COSE_Sign1 header buckets', () => {
  it('takes a kid in one bucket', () => {
    expect(decodeSign1(sign1(new Map<number, unknown>([[1, -8], [4, kid]]), new Map())).kid).toEqual(kid);
  });
  // Mutant C2 (cose-sign1.ts: the both-buckets check removed) decoded this, the protected kid winning silently.
  it('refuses a label in both buckets (RFC 9052 §3) with MALFORMED', () => {
    const other = new Uint8Array(32).fill(9);
    expect(() => decodeSign1(sign1(new Map<number, unknown>([[1, -8], [4, kid]]), new Map([[4, other]])), { allowUnprotectedAlg: true }))
      .toThrow(expect.objectContaining({ code: 'MALFORMED', path: 'unprotected' }));
  });
});
