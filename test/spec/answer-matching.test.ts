/**
 * SPEC §7/§8: a device pairs each answer with its kept reading by the seq the answer names, not by the order it
 * published in. A receipt leaves once its reading's block is durable, while a reading refused by its own bytes is
 * answered at once: the rejection of a later reading arrives before the receipt of an earlier one.
 */
import { describe, expect, test } from 'vitest';
import {
  CT_READING, createSign1, deviceIdFromKey, encode, keyThumbprint, readingClaimsToMap, type ReadingClaims,
} from '../../protocol/index.js';
import { FIRMWARE, connectDevice, nowS, pubOf, reading, useGatewayWithDevices, type Answer } from '../gateway/harness.js';

const seqOf = (a: Answer) => (a.kind === 'receipt' ? a.receipt.seq : a.rejection.seq);

describe('answers name their reading by seq, in whatever order they come (SPEC §7, §8)', () => {
  // blocks sealed at most every 400 ms: a receipt waits for its block, a rejection does not
  const fx = useGatewayWithDevices(1, { blockMaxMs: 400 });

  test('a later reading refused CLAIM_INVALID is answered before the earlier reading is receipted; each names its seq', async () => {
    const d = fx.dev;
    const c = await connectDevice(fx.t.gw, d);
    try {
      // seq 11 with scale 40 (CDDL -18..18): signed as a faulty firmware would, past signReading's own checks
      const claims: ReadingClaims = {
        deviceId: deviceIdFromKey(pubOf(d.signer)), seq: 11, iat: nowS(), firmware: FIRMWARE,
        body: { kind: 'sensor', type: 'temperature', value: 1, scale: 40, unit: 'Cel' },
      };
      const bad = await createSign1({ signer: d.signer, payload: encode(readingClaimsToMap(claims)), kid: keyThumbprint(pubOf(d.signer)), contentType: CT_READING });
      await Promise.all([c.publish(await reading(d, 10)), c.publish(bad)]);
      const answers = [await c.next(), await c.next()];
      expect(answers.map((a) => [a.kind, seqOf(a), a.kind === 'rejection' ? a.rejection.code : null])).toEqual([
        ['rejection', 11, 'CLAIM_INVALID'],
        ['receipt', 10, null],
      ]);
    } finally {
      await c.end();
    }
  });
});
