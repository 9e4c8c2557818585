/**
 * SPEC §4's CONNACK table, row 4, against a real gateway: each fault of a connect token it names gets CONNACK 4 with
 * the error code in brackets (counted in originproof_mqtt_connects_refused_total), and none is taken ("token taken:
 * no"): every faulty token is dated ahead of the good one sent last, which still connects. A gateway that moved the
 * device's order for a token it refused would lock the device out until its clock passed that token's iat.
 */
import { describe, expect, test } from 'vitest';
import { Tag } from 'cbor-x';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { CT_CONNECT_TOKEN, createConnectToken, createSign1, encode, keyThumbprint, type Signer } from '../../protocol/index.js';
import { connackCode, connectsRefused, nowS, pubOf, useGatewayWithDevices } from '../gateway/harness.js';

/** A token with these claims, signed by `signer` with `kid` (default the signer's thumbprint): what a faulty firmware makes. */
function token(signer: Signer, claims: Map<number, unknown>, kid = keyThumbprint(pubOf(signer))): Promise<Uint8Array> {
  return createSign1({ signer, payload: encode(claims), kid, contentType: CT_CONNECT_TOKEN });
}

describe('SPEC §4 CONNACK 4: each connect token fault, refused with its code and not taken', () => {
  // no budget of failed CONNECTs per address: this file fails on purpose, from one address
  const fx = useGatewayWithDevices(2, { mqttConnectFailuresPerMinute: 0 });

  test('MALFORMED, TOO_LARGE, ALG_NOT_ALLOWED, UNKNOWN_KEY, BAD_SIGNATURE, CLAIM_INVALID: CONNACK 4; then a token dated before them connects', async () => {
    const [d, other] = fx.devices as [typeof fx.dev, typeof fx.dev];
    const url = plainMqttUrl(fx.t.gw);
    const good = nowS();
    const ahead = good + 200; // within the skew: TOKEN_EXPIRED is not what refuses them
    const claims = (over: [number, unknown][] = [], drop?: number) => {
      const m = new Map<number, unknown>([[2, d.id], [3, 'originproof'], [4, ahead + 300], [6, ahead]]);
      for (const [k, v] of over) m.set(k, v);
      if (drop !== undefined) m.delete(drop);
      return m;
    };
    const valid = await token(d.signer, claims());
    const badSig = Uint8Array.from(valid);
    badSig[badSig.length - 1]! ^= 1;
    const untagged = valid.subarray(1);
    const tooLarge = new Uint8Array(513);
    tooLarge.set(valid);
    const es384 = encode(new Tag([encode(new Map<number, unknown>([[1, -35], [3, CT_CONNECT_TOKEN], [4, keyThumbprint(pubOf(d.signer))]])), new Map(), encode(claims()), new Uint8Array(96)], 18));
    const faults: [string, Uint8Array][] = [
      ['MALFORMED', untagged],
      ['TOO_LARGE', tooLarge], // over 512 bytes: not decoded at all
      ['ALG_NOT_ALLOWED', es384],
      ['UNKNOWN_KEY', await token(other.signer, claims())], // sub is D, signed and kid'd by another key
      ['BAD_SIGNATURE', badSig],
      ['CLAIM_INVALID', await token(d.signer, claims([[2, other.id]]))], // sub not D
      ['CLAIM_INVALID', await token(d.signer, claims([[4, ahead + 601]]))], // exp - iat 601 s
      ['CLAIM_INVALID', await token(d.signer, claims([], 4))], // exp missing
      ['CLAIM_INVALID', await token(d.signer, claims([[6, String(ahead)]]))], // iat mistyped
    ];
    for (const [code, bytes] of faults) {
      const before = await connectsRefused(fx.t.gw, code);
      expect([code, await connackCode(url, d.id, bytes)]).toEqual([code, 4]);
      expect([code, await connectsRefused(fx.t.gw, code)]).toEqual([code, before + 1]);
    }
    // none of them was taken: a token dated before all of them is still later than the last one taken
    expect(await connackCode(url, d.id, await createConnectToken(d.signer, { aud: 'originproof', iat: good, exp: good + 300 }))).toBe(0);
  });
});
