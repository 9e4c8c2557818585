/**
 * readingSeqOf: the seq a rejection names (SPEC §8: "whenever its payload decodes as a CBOR map with a seq", null for
 * bytes that do not get that far). Found by review: an envelope whose headers were broken (a kid as text, a label in
 * both buckets, a protected bucket that is no map, tag 17) named none though its payload decoded, so the device could
 * not tell which kept reading the MALFORMED was about. Bytes that are not one CBOR item, or no COSE_Sign1 shape with a
 * byte-string payload, still name none: there is no payload to read without guessing.
 */
import { describe, expect, it } from 'vitest';
import { CLAIM_SEQ, CT_READING, Tag, decode, encode, readingClaimsToMap, readingSeqOf } from '../../protocol/index.js';
import { ALG_EDDSA, sensorClaims, kidOf, makeChain } from './fixtures.js';

describe('readingSeqOf', async () => {
  const chain = await makeChain(ALG_EDDSA);
  const payload = encode(readingClaimsToMap(sensorClaims(chain, 42)));
  const signature = new Uint8Array(64).fill(1);
  const envelope = (prot: Map<unknown, unknown> | Uint8Array, unprot: unknown = new Map(), tag: number | null = 18, body: unknown = payload) => {
    const items = [prot instanceof Uint8Array ? prot : encode(prot), unprot, body, signature];
    return encode(tag === null ? items : new Tag(items, tag));
  };
  const headers = (over: [number, unknown][] = []) => new Map<unknown, unknown>([[1, ALG_EDDSA], [3, CT_READING], [4, kidOf(chain.device)], ...over]);

  it('a well-formed envelope, and one without its tag: its seq', () => {
    expect(readingSeqOf(envelope(headers()))).toBe(42);
    expect(readingSeqOf(envelope(headers(), new Map(), null))).toBe(42);
  });

  it('headers that do not check out, the payload decoding: its seq', () => {
    expect(readingSeqOf(envelope(headers([[4, 'kid as text']])))).toBe(42);
    expect(readingSeqOf(envelope(headers([[3, [1]]])))).toBe(42); // content type neither uint nor text
    expect(readingSeqOf(envelope(headers(), new Map([[1, ALG_EDDSA]])))).toBe(42); // alg in both buckets
    expect(readingSeqOf(envelope(encode(7)))).toBe(42); // a protected bucket that is no map
    expect(readingSeqOf(envelope(Uint8Array.of(0xff)))).toBe(42); // one that is no CBOR
    expect(readingSeqOf(envelope(headers(), [1, 2]))).toBe(42); // an unprotected bucket that is no map
    expect(readingSeqOf(envelope(headers(), new Map(), 17))).toBe(42); // COSE_Mac0's tag
    const noSignature = decode(envelope(headers())) as Tag;
    (noSignature.value as unknown[])[3] = 'no signature';
    expect(readingSeqOf(encode(noSignature))).toBe(42);
  });

  it('no payload to read, or none with a seq: null', () => {
    const good = envelope(headers());
    expect(readingSeqOf(Uint8Array.of(0xff, 0x00, 0x13))).toBeNull(); // not CBOR
    expect(readingSeqOf(good.subarray(0, good.length - 5))).toBeNull(); // cut short
    expect(readingSeqOf(Uint8Array.of(...good, 0x00))).toBeNull(); // more than one item
    expect(readingSeqOf(envelope(headers(), new Map(), 18, 'payload as text'))).toBeNull();
    expect(readingSeqOf(encode(new Tag([encode(headers()), new Map(), payload], 18)))).toBeNull(); // 3 items
    expect(readingSeqOf(encode(new Tag([encode(headers()), new Map(), payload, signature, signature], 18)))).toBeNull(); // 5
    expect(readingSeqOf(envelope(headers(), new Map(), 18, Uint8Array.of(0xff)))).toBeNull(); // a payload that is no CBOR
    const noSeq = readingClaimsToMap(sensorClaims(chain, 42));
    noSeq.delete(CLAIM_SEQ);
    expect(readingSeqOf(envelope(headers(), new Map(), 18, encode(noSeq)))).toBeNull();
    const textSeq = readingClaimsToMap(sensorClaims(chain, 42));
    textSeq.set(CLAIM_SEQ, 'forty-two');
    expect(readingSeqOf(envelope(headers(), new Map(), 18, encode(textSeq)))).toBeNull();
  });
});
