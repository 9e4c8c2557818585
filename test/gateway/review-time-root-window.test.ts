/**
 * Review (time boundaries, gateway vs offline verifier): a root rotation scheduled in the trust file. The new root's
 * window begins at E (`notBefore`); it certified the agency's key ahead of the switch (its certificate valid from
 * before E), and takes the agency over once the old root releases it. A reading's entry pins its device certificate
 * but not its agency's: its bundle carries the last registered agency certificate valid at the reading's time. Before
 * the fix that was the new root's for a reading signed before E, logged (and receipted) under the old root's, and
 * the bundle failed offline, chain CERT_NOT_YET_VALID (the new root's window had not begun then), with the gateway's
 * own trust material. Now the bundle carries the agency certificate the gateway could have checked the reading
 * under: the last registered valid at its time whose root is trusted then.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALG_EDDSA, decodeCertificate, generateSecretKey, issueCertificate, nobleSigner, toHex, type TrustMaterial, type Verdict, verifyBundle } from '../../protocol/index.js';
import {
  connectDevice, entryBundle, gatewayTrust, kidOf, nowS, Pki, postCert, postRevocation, pubOf, reading, register, startTestGateway, type Device, type Party, type TestGateway,
} from './harness.js';

const DAY = 86_400;
const failed = (v: Verdict) => v.checks.filter((x) => x.status === 'fail').map((x) => [x.name, x.code]);

describe('review-time: a reading signed before a scheduled root rotation, its agency taken over by the new root after it', () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let g: Party;
  let d: Device;
  const root2 = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
  let switchAt: number;
  beforeAll(async () => {
    const pki = await Pki.create();
    switchAt = nowS() + 3;
    const oldRoots = JSON.parse(pki.trustJson()) as { roots: unknown[] };
    pki.trustJson = () =>
      JSON.stringify({ roots: [...oldRoots.roots, { name: 'root2.example', alg: 'EdDSA', publicKey: toHex(root2.publicKey), notBefore: switchAt }] });
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
    trust = await gatewayTrust(t);
    g = await pki.agency('rotating.example');
    d = await pki.device(g);
    await register(t.gw, g, [d]);
  });
  afterAll(() => t.stop());

  test("the receipted reading's bundle verifies with the gateway's trust material after the takeover", async () => {
    const c = await connectDevice(t.gw, d);
    let index: number;
    // Signed before the switch whatever the setup took: `nowS()` alone reached switchAt when starting the gateway and
    // registering took over 2 s (a loaded machine), and the reading was then no longer signed before the rotation.
    const iat = Math.min(nowS(), switchAt - 1);
    try {
      await c.publish(await reading(d, 1, { iat }));
      const a = await c.next();
      if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
      index = a.receipt.index;
    } finally {
      await c.end();
    }
    expect(failed(verifyBundle(await entryBundle(t, index), trust))).toEqual([]);
    // The new root certified the agency's key ahead of the switch; the old root releases the agency after the reading.
    const a2 = decodeCertificate(
      await issueCertificate(root2, kidOf(root2), {
        iss: 'root2.example', sub: g.cert.claims.sub, role: 'agency', holderKey: pubOf(g.signer), iat: iat - 10, nbf: iat - 10, exp: iat + 365 * DAY,
      }),
    );
    expect((await postRevocation(t, t.pki.root, g.cert, iat + 1, 'affiliationChanged')).status).toBe(201);
    while (nowS() < switchAt) await new Promise((r) => setTimeout(r, 100));
    expect((await postCert(t, 'agencies', a2)).status).toBe(201);
    const v = verifyBundle(await entryBundle(t, index), trust);
    expect([v.valid, failed(v)]).toEqual([true, []]);
    // A reading the device signed before the switch, kept offline and sent after the takeover: the gateway takes it
    // under the old root's certificate of the agency (valid then, its root trusted then), as its bundle verifies.
    const c2 = await connectDevice(t.gw, d);
    let later: number;
    try {
      await c2.publish(await reading(d, 2, { iat }));
      const a = await c2.next();
      expect(a.kind === 'receipt' ? 'receipt' : a.rejection.code).toBe('receipt');
      later = a.kind === 'receipt' ? a.receipt.index : -1;
    } finally {
      await c2.end();
    }
    const u = verifyBundle(await entryBundle(t, later), trust);
    expect([u.valid, failed(u)]).toEqual([true, []]);
    // The agency's key is later reported compromised through the new root's certificate, from after the reading: the
    // bundle carries that certificate beside the chain's (key-compromise.ts), and the verifier must not take it for the
    // chain's agency certificate (its root's window had not begun at the reading's time).
    expect((await postRevocation(t, { signer: root2, cert: a2 }, a2, nowS(), 'keyCompromise')).status).toBe(201);
    const bundle = await entryBundle(t, index);
    expect(bundle.certificates.length).toBe(3);
    const w = verifyBundle(bundle, trust);
    expect([w.valid, failed(w)]).toEqual([true, []]);
  });
});
