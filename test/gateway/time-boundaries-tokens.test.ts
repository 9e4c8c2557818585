/**
 * A connect token's time rules at their exact boundaries, against a real gateway whose clock the test sets
 * (GatewayRuntime.now, at the last millisecond of second S, the gateway's start). SPEC §4: taken when
 * `iat - skew <= now < exp + skew` (else TOKEN_EXPIRED), exp - iat 1..600 s (else CLAIM_INVALID), and a first token
 * dated before the gateway's start less the skew is REPLAY. protocol/tokens.test.ts pins the window on
 * verifyConnectToken alone (exp + skew, iat - skew - 1) and connack-token-faults.test.ts the 601 s lifetime; here
 * each edge is met on the gateway, with the code counted in originproof_mqtt_connects_refused_total. Times outside the
 * safe integers (SPEC conventions: at most 2^53 - 1; a CBOR uint64 beyond it; a negative one) are CLAIM_INVALID.
 */
import { describe, expect, test } from 'vitest';
import { plainMqttUrl } from '../../gateway/gateway.js';
import { CT_CONNECT_TOKEN, createSign1, encode, keyThumbprint } from '../../protocol/index.js';
import { connackCode, connectsRefused, freshToken, nowS, pubOf, register, revoke, useGatewayWithDevices, type Device } from './harness.js';

const SKEW = 300;
const S = nowS();
let clockMs = S * 1000 + 999;

/** A token with these claims (iat, exp as given, unchecked), signed by the device: what any firmware could send. */
function token(d: Device, iat: unknown, exp: unknown): Promise<Uint8Array> {
  const claims = new Map<number, unknown>([[2, d.id], [3, 'originproof'], [4, exp], [6, iat]]);
  return createSign1({ signer: d.signer, payload: encode(claims), kid: keyThumbprint(pubOf(d.signer)), contentType: CT_CONNECT_TOKEN });
}

describe('connect token time boundaries on the gateway (clock stopped at S.999, S its start)', () => {
  // no budget of failed CONNECTs per address: this file fails on purpose, from one address
  const fx = useGatewayWithDevices(6, { mqttConnectFailuresPerMinute: 0 }, { now: () => clockMs });

  /** CONNACK code and the error code counted for it (or 'taken'). */
  async function outcome(d: Device, iat: unknown, exp: unknown, tokenBytes?: Uint8Array): Promise<string> {
    const counted = ['TOKEN_EXPIRED', 'CLAIM_INVALID', 'REPLAY', 'CERT_EXPIRED', 'CERT_REVOKED'] as const;
    const before = await Promise.all(counted.map((c) => connectsRefused(fx.t.gw, c)));
    const connack = await connackCode(plainMqttUrl(fx.t.gw), d.id, tokenBytes ?? (await token(d, iat, exp)));
    const after = await Promise.all(counted.map((c) => connectsRefused(fx.t.gw, c)));
    const codes = counted.filter((_, i) => after[i] !== before[i]);
    return connack === 0 ? `taken${codes.length ? ` ${codes.join()}` : ''}` : `${connack} ${codes.join()}`;
  }

  test(`iat = now + ${SKEW} s is taken; now + ${SKEW + 1} s is TOKEN_EXPIRED`, async () => {
    const d = fx.devices[0]!;
    expect(await outcome(d, S + SKEW + 1, S + SKEW + 61)).toBe('4 TOKEN_EXPIRED');
    expect(await outcome(d, S + SKEW, S + SKEW + 600)).toBe('taken'); // and a 600 s lifetime
  });

  test(`exp + ${SKEW} s = now is TOKEN_EXPIRED; one second later it is taken (1 s lifetime, dated at the start less the skew)`, async () => {
    const d = fx.devices[1]!;
    expect(await outcome(d, S - SKEW - 1, S - SKEW)).toBe('4 TOKEN_EXPIRED');
    expect(await outcome(d, S - SKEW, S - SKEW + 1)).toBe('taken');
  });

  test('a first token dated a second before the start less the skew is REPLAY, though its time is good', async () => {
    expect(await outcome(fx.devices[2]!, S - SKEW - 1, S - SKEW + 1)).toBe('4 REPLAY');
  });

  test('exp = iat is CLAIM_INVALID; exp = iat + 1 is taken', async () => {
    const d = fx.devices[3]!;
    expect(await outcome(d, S, S)).toBe('4 CLAIM_INVALID');
    expect(await outcome(d, S, S + 1)).toBe('taken');
  });

  test('times past 2^53 - 1, a CBOR uint64 no JS number holds, or negative: CLAIM_INVALID, never taken', async () => {
    const d = fx.devices[4]!;
    for (const [iat, exp] of [
      [S, 2n ** 53n], // exp one past the safe integers
      [S, 2n ** 53n + 1n], // a uint64 a double would round to 2^53
      [S, 2n ** 64n - 1n], // the largest CBOR uint
      [2n ** 64n - 1n, 2n ** 64n - 1n], // both
      [-1, 59], // a negative iat (CBOR major type 1)
      [S, -(2n ** 63n)], // a negative uint64-width int (3b 7fff...)
      [S, -(2n ** 64n)], // a bignum (tag 3): a tag where a claim goes
    ] as const) {
      expect([String(iat), String(exp), await outcome(d, iat, exp)]).toEqual([String(iat), String(exp), '4 CLAIM_INVALID']);
    }
    expect(await outcome(d, S, S + 60)).toBe('taken'); // none of them was taken
  });

  // last: it moves the gateway's clock on
  test('CONNACK 5 at the gateway\'s time: a certificate expiring at exp lets a CONNECT in at exp - 0.001 s, not at exp (CERT_EXPIRED); a revocation from R likewise (CERT_REVOKED)', async () => {
    const [expiring, revoked] = [await fx.t.pki.device(fx.agency, { exp: S + 2 }), fx.devices[5]!];
    await register(fx.t.gw, fx.agency, [expiring]);
    expect((await revoke(fx.t.gw, fx.agency, revoked.cert, S + 2, 'cessationOfOperation')).status).toBe(201);
    clockMs = (S + 1) * 1000 + 999;
    for (const d of [expiring, revoked]) expect(await outcome(d, null, null, await freshToken(d))).toBe('taken');
    clockMs = (S + 2) * 1000;
    expect(await outcome(expiring, null, null, await freshToken(expiring))).toBe('5 CERT_EXPIRED');
    expect(await outcome(revoked, null, null, await freshToken(revoked))).toBe('5 CERT_REVOKED');
  });
});
