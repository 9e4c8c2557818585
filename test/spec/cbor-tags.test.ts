/**
 * SPEC Conventions: no CBOR tag but the COSE_Sign1 tag 18 around the reading. A CBOR library that writes a date as
 * tag 1, a large integer as a bignum (tag 2) or byte strings as typed arrays (tag 64, cbor-x's default) makes a
 * reading the gateway refuses MALFORMED; a tag where a claim's value goes is CLAIM_INVALID. Each rejection names the
 * seq (SPEC §8: the payload decodes as a map holding one), so the device drops the reading instead of keeping it.
 */
import { Encoder, Tag } from 'cbor-x';
import { describe, expect, test } from 'vitest';
import { CT_READING, createSign1, deviceIdFromKey, keyThumbprint } from '../../protocol/index.js';
import { FIRMWARE, connectDevice, nowS, pubOf, useGatewayWithDevices } from '../gateway/harness.js';

const enc = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

describe('CBOR tags inside a reading (SPEC Conventions)', () => {
  const fx = useGatewayWithDevices(1);

  test('a tag 1 date, a tag 2 bignum, tag 64 byte strings (cbor-x by default): MALFORMED; a tag 24 body: CLAIM_INVALID; each naming its seq', async () => {
    const d = fx.dev;
    const signed = (seq: number, iat: unknown, body: unknown, encoder = enc) => {
      const claims = new Map<number, unknown>([
        [6, iat], [256, deviceIdFromKey(pubOf(d.signer))], [-65539, seq], [-65540, FIRMWARE], [-65541, body],
      ]);
      return createSign1({ signer: d.signer, payload: encoder.encode(claims), kid: keyThumbprint(pubOf(d.signer)), contentType: CT_READING });
    };
    const sensor = (value: unknown) => new Map<number, unknown>([[1, 'temperature'], [2, value], [3, 0], [4, 'Cel']]);
    const c = await connectDevice(fx.t.gw, d);
    try {
      const got: [string, number | null][] = [];
      for (const bytes of [
        await signed(1, new Tag(nowS(), 1), sensor(1)),
        await signed(2, nowS(), sensor(new Tag(new Uint8Array([1, 0]), 2))),
        await signed(3, nowS(), sensor(1), new Encoder({ mapsAsObjects: false, useRecords: false })), // ueid, fwm: d840 58..
        await signed(4, nowS(), new Tag(enc.encode(sensor(1)), 24)),
        await signed(5, nowS(), sensor(1)), // the same reading without a tag is taken
      ]) {
        await c.publish(bytes);
        const a = await c.next();
        got.push(a.kind === 'rejection' ? [a.rejection.code, a.rejection.seq] : ['receipt', a.receipt.seq]);
      }
      expect(got).toEqual([['MALFORMED', 1], ['MALFORMED', 2], ['MALFORMED', 3], ['CLAIM_INVALID', 4], ['receipt', 5]]);
    } finally {
      await c.end();
    }
  });
});
