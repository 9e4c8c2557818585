/**
 * Review of the registry (adversarial): a key compromise is the key's, but only within one role. An agency may
 * certify a "device" whose key is another agency's public key (public: it is in that agency's certificate), and then
 * revoke that device certificate for keyCompromise, back-dated. Before the fix the registry's compromised-key map was
 * keyed by the key alone, so that statement counted as a compromise of the other agency's key: the attacker could then
 * take the victim's devices (a transfer "released" by the victim's compromise), the victim's own revocations and its
 * renewal by the root were refused (CERT_REVOKED), and the victim's readings' bundles carried the attacker's device
 * certificate, which the offline verifier (same role only: protocol/key-compromise.ts) fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRevocation, decodeProofBundle, deviceIdFromKey, deviceIdToHex, parseTrust, toBase64, verifyBundle, type TrustMaterial } from '../../protocol/index.js';
import { certify, connectDevice, nowS, Pki, post, postCert, postRevocation, pubOf, reading, register, startTestGateway, type Device, type Party, type TestGateway } from './harness.js';

const statusOf = async (t: TestGateway, d: Device) => (await t.gw.app.inject({ method: 'GET', url: `/v1/devices/${d.id}` })).json();

describe("review: an agency's keyCompromise of a device certificate holding another agency's key", () => {
  let t: TestGateway;
  let trust: TrustMaterial;
  let attacker: Party;
  let victim: Party;
  let x: Device;
  let y: Device;
  beforeAll(async () => {
    t = await startTestGateway(await Pki.create(), { writeRateLimit: 1000 });
    trust = parseTrust((await t.gw.app.inject({ method: 'GET', url: '/v1/trust' })).json());
    attacker = await t.pki.agency('attacker.example');
    victim = await t.pki.agency('victim.example');
    x = await t.pki.device(victim);
    y = await t.pki.device(victim);
    await register(t.gw, attacker, []);
    await register(t.gw, victim, [x, y]);
    // the attacker certifies the victim agency's public key as one of its devices, and reports it compromised
    const fake = await certify(attacker, victim, 'device', nowS() - 10, deviceIdToHex(deviceIdFromKey(pubOf(victim.signer))));
    expect((await postCert(t, 'devices', fake)).status).toBe(201);
    expect((await postRevocation(t, attacker, fake, nowS() - 3600, 'keyCompromise')).status).toBe(201);
  });
  afterAll(() => t.stop());

  test("the attacker cannot take the victim's device: 403 ROLE_VIOLATION", async () => {
    const taken = await postCert(t, 'devices', await certify(attacker, x, 'device', nowS()));
    expect([taken.status, taken.body.code]).toEqual([403, 'ROLE_VIOLATION']);
    expect(await statusOf(t, x)).toMatchObject({ agency: 'victim.example', status: 'active' });
  });

  test('the victim still revokes its own devices (201), and its root renews it (201)', async () => {
    expect((await postRevocation(t, victim, y.cert, nowS() - 60, 'decommissioned')).status).toBe(201);
    expect((await postCert(t, 'agencies', await certify(t.pki.root, victim, 'agency', nowS()))).status).toBe(201);
  });

  test("the victim's readings are taken and their bundles verify offline; the same after a restart", async () => {
    const z = await t.pki.device(victim);
    expect((await postCert(t, 'devices', z.cert)).status).toBe(201);
    const c = await connectDevice(t.gw, z);
    await c.publish(await reading(z, 1));
    const a = await c.next();
    await c.end();
    if (a.kind !== 'receipt') throw new Error(`expected a receipt, got ${JSON.stringify(a)}`);
    const check = async () => {
      const res = await t.gw.app.inject({ method: 'GET', url: `/v1/entries/${a.receipt.index}/bundle` });
      const bundle = decodeProofBundle(new Uint8Array(res.rawPayload));
      // also with the gateway's whole revocation list, the attacker's statement in it
      const listed = (await t.gw.app.inject({ method: 'GET', url: '/v1/revocations' })).json() as { checkpoint: string; revocations: { index: number; revocation: string; certificate?: string }[] };
      const revocationLog = {
        checkpoint: listed.checkpoint,
        revocations: listed.revocations.map((x) => ({
          index: x.index, statement: new Uint8Array(Buffer.from(x.revocation, 'base64')),
          ...(x.certificate ? { certificate: new Uint8Array(Buffer.from(x.certificate, 'base64')) } : {}),
        })),
      };
      for (const verdict of [verifyBundle(bundle, trust), verifyBundle(bundle, trust, { revocationLog })]) {
        expect(verdict.checks.filter((k) => k.status === 'fail').map((k) => [k.name, k.code])).toEqual([]);
        expect(verdict.valid).toBe(true);
      }
    };
    await check();
    await t.restart();
    await check();
    const taken = await postCert(t, 'devices', await certify(attacker, z, 'device', nowS() + 1));
    expect([taken.status, taken.body.code]).toEqual([403, 'ROLE_VIOLATION']);
    const again = await post(t.gw, '/v1/revocations', {
      revocation: toBase64(await createRevocation(victim.signer, z.cert, { reason: 'superseded', revokedFrom: nowS() + 86_400, iat: nowS() })),
    });
    expect(again.status).toBe(201);
  });
});
