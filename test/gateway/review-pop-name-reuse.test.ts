/**
 * Review (review-pop): the proof of possession binds the agency's id, and an id is free again once its agency is
 * revoked. When psb.example's key is revoked for keyCompromise its devices are free (registry-rules.ts), and another
 * trusted root could certify its own psb.example with another key, register it and take every device of the old one
 * with the proofs they gave the old psb.example, public in its registration entries: an agency the devices never gave a
 * proof to (only its name is the same). A takeover under the same id by another key now needs a fresh proof unless the
 * new agency answers to the same root as the one the device is registered under (the agency re-keyed): 422
 * CLAIM_INVALID (claims.pop). The agency re-keyed by its own root keeps the proofs it kept.
 */
import { randomBytes } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ALG_EDDSA, ALG_ES256, createProofOfPossession, decodeCertificate, generateSecretKey, issueCertificate, nobleSigner, toBase64, type DecodedCertificate,
} from '../../protocol/index.js';
import {
  FIRMWARE, kidOf, nobleDevice, nowS, Pki, postCert, postRevocation, pubOf, register, startTestGateway, unverifiableEntries, type Device, type Party, type TestGateway,
} from './review-pop-helpers.js';

const DAY = 86_400;

/** A PKI whose gateway trusts a second root as well (root2.example). */
class TwoRoots extends Pki {
  root2!: Party;
  static async make(): Promise<TwoRoots> {
    const p = Object.assign(new TwoRoots(), await Pki.create());
    const s = nobleSigner(ALG_EDDSA, generateSecretKey(ALG_EDDSA));
    const t = nowS();
    const cert = decodeCertificate(await issueCertificate(s, kidOf(s), {
      iss: 'root2.example', sub: 'root2.example', role: 'root', holderKey: pubOf(s), iat: t - DAY, nbf: t - DAY, exp: t + 3650 * DAY,
    }));
    p.root2 = { signer: s, cert };
    return p;
  }
  override trustJson(): string {
    return JSON.stringify({ roots: [{ certificate: toBase64(this.root.cert.bytes) }, { certificate: toBase64(this.root2.cert.bytes) }] });
  }
  async agencyBy(root: Party, id: string): Promise<Party> {
    const signer = nobleSigner(ALG_ES256, generateSecretKey(ALG_ES256));
    const t = nowS();
    const cert = decodeCertificate(await issueCertificate(root.signer, kidOf(root.signer), {
      iss: root.cert.claims.sub, sub: id, role: 'agency', holderKey: pubOf(signer), iat: t - 10, nbf: t - 60, exp: t + 365 * DAY,
    }));
    return { signer, cert };
  }
}

async function certBy(agency: Party, d: Device, iat: number, pop?: Uint8Array): Promise<DecodedCertificate> {
  const proof = pop ?? (await createProofOfPossession(d.signer, { agencyId: agency.cert.claims.sub, nonce: new Uint8Array(randomBytes(16)), iat }));
  return decodeCertificate(await issueCertificate(agency.signer, kidOf(agency.signer), {
    iss: agency.cert.claims.sub, sub: d.id, role: 'device', holderKey: pubOf(d.signer), iat, nbf: iat - 60, exp: iat + 365 * DAY,
    profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE }, proofOfPossession: proof,
  }));
}

const pause = () => new Promise((r) => setTimeout(r, 1100));

describe('a takeover under the same agency id by another key', () => {
  let t: TestGateway;
  let pki: TwoRoots;
  beforeAll(async () => {
    pki = await TwoRoots.make();
    t = await startTestGateway(pki, { writeRateLimit: 1000 });
  });
  afterAll(() => t.stop());

  test("another root's agency of the same id replays the devices' public proofs: 422 CLAIM_INVALID (claims.pop)", async () => {
    const T = nowS();
    const psb = await pki.agencyBy(pki.root, 'psb.example');
    await register(t.gw, psb, []);
    const d = nobleDevice();
    const registered = await certBy(psb, d, T - 500);
    expect((await postCert(t, 'devices', registered)).status).toBe(201);
    await pause();
    expect((await postRevocation(t, pki.root, psb.cert, nowS(), 'keyCompromise')).status).toBe(201);
    const namesake = await pki.agencyBy(pki.root2, 'psb.example');
    expect((await postCert(t, 'agencies', namesake.cert)).status).toBe(201);
    const r = await postCert(t, 'devices', await certBy(namesake, d, T - 400, registered.claims.proofOfPossession!));
    expect([r.status, r.body.code]).toEqual([422, 'CLAIM_INVALID']);
    expect(String(r.body.path)).toMatch(/^claims\.pop/);
    expect(t.gw.registry.deviceById(d.id)!.cert.issuerKid).toEqual(registered.issuerKid);
    // with the device's fresh consent to it, the namesake may take it over (the device was released by the compromise)
    expect((await postCert(t, 'devices', await certBy(namesake, d, T - 300))).status).toBe(201);
  });

  test("the same, with the other ES256 encoding of the device's registered proof (r, n - s): 422 CLAIM_INVALID (claims.pop)", async () => {
    const T = nowS();
    const ex = await pki.agencyBy(pki.root, 'ex.example');
    await register(t.gw, ex, []);
    const d = nobleDevice(ALG_ES256);
    const registered = await certBy(ex, d, T - 500);
    expect((await postCert(t, 'devices', registered)).status).toBe(201);
    await pause();
    expect((await postRevocation(t, pki.root, ex.cert, nowS(), 'keyCompromise')).status).toBe(201);
    const namesake = await pki.agencyBy(pki.root2, 'ex.example');
    expect((await postCert(t, 'agencies', namesake.cert)).status).toBe(201);
    const pop = registered.claims.proofOfPossession!;
    const n = p256.Point.CURVE().n;
    const s = BigInt('0x' + Buffer.from(pop.subarray(pop.length - 32)).toString('hex'));
    const twin = Uint8Array.from([...pop.subarray(0, pop.length - 32), ...Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]);
    expect(twin).not.toEqual(pop);
    const r = await postCert(t, 'devices', await certBy(namesake, d, T - 400, twin));
    expect([r.status, r.body.code, r.body.path]).toEqual([422, 'CLAIM_INVALID', 'claims.pop']);
  });

  test('the agency re-keyed by its own root keeps the proofs it kept (201)', async () => {
    const T = nowS();
    const own = await pki.agencyBy(pki.root, 'own.example');
    await register(t.gw, own, []);
    const d = nobleDevice();
    const registered = await certBy(own, d, T - 500);
    expect((await postCert(t, 'devices', registered)).status).toBe(201);
    await pause();
    expect((await postRevocation(t, pki.root, own.cert, nowS(), 'keyCompromise')).status).toBe(201);
    const rekeyed = await pki.agencyBy(pki.root, 'own.example');
    expect((await postCert(t, 'agencies', rekeyed.cert)).status).toBe(201);
    expect((await postCert(t, 'devices', await certBy(rekeyed, d, T - 400, registered.claims.proofOfPossession!))).status).toBe(201);
  });

  test('every entry of the log verifies offline', async () => {
    const { size, bad } = await unverifiableEntries(t);
    expect(size).toBeGreaterThan(6);
    expect(bad).toEqual([]);
  });
});
