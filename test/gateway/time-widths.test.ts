/**
 * Integer widths of times, end to end (SPEC conventions: integer seconds, at most 2^53 - 1; the log's receivedAtMs in
 * ms). A reading's iat past the safe integers, as a CBOR uint64 no JS number holds, or negative, is refused
 * CLAIM_INVALID naming claims.iat, never taken or crashed on. And times past 2038 (2^31 s) and past 2106 (2^32 s,
 * where CBOR needs 8 bytes for a time in seconds): a gateway whose clock reads 2106 registers a PKI made then, takes
 * connect tokens and readings dated then, and its bundles verify offline at that time.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, CT_READING, createConnectToken, createSign1, decodeLogEntry, encode, generateSecretKey, issueCertificate, decodeCertificate,
  nobleSigner, readingClaimsToMap, verifyBundle, deviceIdFromKey,
} from '../../protocol/index.js';
import {
  connectDevice, entryBundle, FIRMWARE, gatewayTrust, kidOf, pubOf, Pki, reading, register, startTestGateway, useGatewayWithDevices, type Device,
} from './harness.js';

const DAY = 86_400;

describe('a reading whose iat is no safe integer', () => {
  const fx = useGatewayWithDevices(1);

  test('2^53, 2^64 - 1 (uint64), -1 and -2^63: CLAIM_INVALID at claims.iat, seq named; a good reading after is taken', async () => {
    const d = fx.dev;
    const c = await connectDevice(fx.t.gw, d);
    try {
      for (const [seq, iat] of [[1, 2n ** 53n], [2, 2n ** 64n - 1n], [3, -1], [4, -(2n ** 63n)]] as const) {
        const claims = readingClaimsToMap({
          deviceId: deviceIdFromKey(pubOf(d.signer)), seq, iat: 0, firmware: FIRMWARE,
          body: { kind: 'sensor', type: 'temperature', value: 215, scale: -1, unit: 'Cel' },
        });
        claims.set(6, iat);
        await c.publish(await createSign1({ signer: d.signer, payload: encode(claims), kid: kidOf(d.signer), contentType: CT_READING }));
        const a = await c.next();
        expect([String(iat), a.kind === 'rejection' ? [a.rejection.code, a.rejection.path, a.rejection.seq] : 'receipt']).toEqual([String(iat), ['CLAIM_INVALID', 'claims.iat', seq]]);
      }
      await c.publish(await reading(d, 5));
      expect((await c.next()).kind).toBe('receipt');
    } finally {
      await c.end();
    }
  });
});

for (const [when, Y] of [['2038 (past 2^31 s)', 2 ** 31 + 1000], ['2106 (past 2^32 s: uint64 times)', 2 ** 32 + 1000]] as const) {
  describe(`a gateway whose clock reads ${when}`, () => {
    let t: Awaited<ReturnType<typeof startTestGateway>>;
    let d: Device;
    beforeAll(async () => {
      const pki = new Pki();
      const rootSigner = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
      pki.root = {
        signer: rootSigner,
        cert: decodeCertificate(await issueCertificate(rootSigner, kidOf(rootSigner), {
          iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pubOf(rootSigner), iat: Y - 365 * DAY, nbf: Y - 365 * DAY, exp: Y + 3650 * DAY,
        })),
      };
      t = await startTestGateway(pki, { writeRateLimit: 1000 }, undefined, { now: () => Y * 1000 + 999 });
      const g = await pki.agency('future.example', { nbf: Y - 30 * DAY, exp: Y + 365 * DAY });
      d = await pki.device(g, { nbf: Y - 30 * DAY, exp: Y + 365 * DAY });
      await register(t.gw, g, [d]);
    });
    afterAll(() => t.stop());

    test('a token and readings dated then are taken, logged at that time in ms, and verify offline then', async () => {
      const token = await createConnectToken(d.signer, { aud: 'originproof', iat: Y, exp: Y + 300 });
      const c = await connectDevice(t.gw, d, { token });
      const indices: number[] = [];
      try {
        for (const [seq, iat] of [[1, Y + 300], [2, Y], [3, Y - 7 * DAY]] as const) {
          await c.publish(await reading(d, seq, { iat }));
          const a = await c.next();
          if (a.kind !== 'receipt') throw new Error(`iat ${iat}: expected a receipt, got ${JSON.stringify(a)}`);
          indices.push(a.receipt.index);
          expect(a.receipt.receivedAtMs).toBe(Y * 1000 + 999);
        }
        await c.publish(await reading(d, 4, { iat: Y + 301 }));
        const a = await c.next();
        expect(a.kind === 'rejection' ? a.rejection.code : 'receipt').toBe('CLOCK_SKEW');
      } finally {
        await c.end();
      }
      const trust = await gatewayTrust(t);
      for (const i of indices) {
        const bundle = await entryBundle(t, i);
        expect(decodeLogEntry(bundle.entry).receivedAtMs).toBe(Y * 1000 + 999);
        const v = verifyBundle(bundle, trust, { now: Y });
        expect([i, v.valid, v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code])]).toEqual([i, true, []]);
      }
    });
  });
}

