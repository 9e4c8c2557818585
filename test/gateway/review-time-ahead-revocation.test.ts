/**
 * Review (time boundaries, gateway vs offline verifier): a reading dated ahead of the gateway's clock, within the clock
 * skew it allows (SPEC §6), is admitted and receipted. A revocation posted after that, "from now" (the CLI's default
 * `--from`) or from any time after the log received the reading, is not retroactive: the log holds the reading from
 * before the revocation's start, so the device signed it before then, whatever its clock said. Before the fix the
 * offline verifier placed the reading by its iat alone, and the reading's bundle failed `revocation CERT_REVOKED`: a
 * receipt the gateway gave broken by an ordinary release or decommissioning of the device (or its agency) minutes
 * later. A revocation from a time the log had already reached (retroactive, as a key compromise is) still covers
 * every reading dated from then on.
 */
import { describe, expect, test } from 'vitest';
import { decodeLogEntry, type TrustMaterial, type Verdict, verifyBundle } from '../../protocol/index.js';
import { certify, connectDevice, entryBundle, nowS, postCert, postRevocation, reading, register, type Device, type TestGateway, useTrustedGateway } from './harness.js';

const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

/** Publish one reading signed at `iat`; its log index and receivedAt (seconds). */
async function publishAt(t: TestGateway, d: Device, seq: number, iat: number): Promise<{ index: number; receivedS: number }> {
  const c = await connectDevice(t.gw, d);
  try {
    await c.publish(await reading(d, seq, { iat }));
    const a = await c.next();
    if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
    return { index: a.receipt.index, receivedS: Math.floor(a.receipt.receivedAtMs / 1000) };
  } finally {
    await c.end();
  }
}

describe('review-time: a reading dated ahead within the skew, then a revocation from after the log received it', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  useTrustedGateway((g) => ({ t, trust } = g));

  const verdictOf = async (index: number) => {
    const bundle = await entryBundle(t, index);
    const v = verifyBundle(bundle, trust);
    return { valid: v.valid, failed: failed(v), receivedS: Math.floor(decodeLogEntry(bundle.entry).receivedAtMs / 1000) };
  };

  test('the device released (affiliationChanged) from just after the reading was logged: its receipted reading stays valid offline', async () => {
    const g = await t.pki.agency('ahead-dev.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const { index, receivedS } = await publishAt(t, d, 1, nowS() + 200);
    expect(await verdictOf(index)).toEqual({ valid: true, failed: [], receivedS });
    expect((await postRevocation(t, g, d.cert, receivedS + 1, 'affiliationChanged')).status).toBe(201);
    expect(await verdictOf(index)).toEqual({ valid: true, failed: [], receivedS });
  });

  test('the device renewed, its earlier certificate superseded from just after: the reading logged under it stays valid offline', async () => {
    const g = await t.pki.agency('ahead-renew.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const { index, receivedS } = await publishAt(t, d, 1, nowS() + 200);
    expect((await postCert(t, 'devices', await certify(g, d, 'device', receivedS + 1))).status).toBe(201);
    expect((await postRevocation(t, g, d.cert, receivedS + 1, 'superseded')).status).toBe(201);
    expect(await verdictOf(index)).toEqual({ valid: true, failed: [], receivedS });
  });

  test("the agency's certificate revoked by its root (cessationOfOperation) from just after: its device's receipted reading stays valid offline", async () => {
    const g = await t.pki.agency('ahead-agency.example');
    const d = await t.pki.device(g);
    await register(t.gw, g, [d]);
    const { index, receivedS } = await publishAt(t, d, 1, nowS() + 200);
    expect((await postRevocation(t, t.pki.root, g.cert, receivedS + 1, 'cessationOfOperation')).status).toBe(201);
    expect(await verdictOf(index)).toEqual({ valid: true, failed: [], receivedS });
  });

  test('a keyCompromise from just after the log received the reading: valid (signed before it); one from before: CERT_REVOKED, as ever', async () => {
    const g = await t.pki.agency('ahead-kc.example');
    const [d1, d2] = [await t.pki.device(g), await t.pki.device(g)];
    await register(t.gw, g, [d1!, d2!]);
    const ahead = nowS() + 200;
    const r1 = await publishAt(t, d1!, 1, ahead);
    const r2 = await publishAt(t, d2!, 1, ahead);
    expect((await postRevocation(t, g, d1!.cert, r1.receivedS + 1, 'keyCompromise')).status).toBe(201);
    expect(await verdictOf(r1.index)).toEqual({ valid: true, failed: [], receivedS: r1.receivedS });
    // Retroactive (the log had reached revokedFrom when it received the reading, dated after it): revoked offline.
    expect((await postRevocation(t, g, d2!.cert, r2.receivedS, 'keyCompromise')).status).toBe(201);
    expect(await verdictOf(r2.index)).toEqual({ valid: false, failed: [['revocation', 'CERT_REVOKED']], receivedS: r2.receivedS });
  });
});
