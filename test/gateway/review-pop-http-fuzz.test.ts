/**
 * Review (review-pop): hostile proof-of-possession bytes inside a device certificate validly signed by a registered
 * agency, posted to POST /v1/devices: every refusal is a 4xx with one of our codes, never a 500.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CT_CERTIFICATE, claimsToMap, createSign1, encode } from '../../protocol/index.js';
import { ALL_ERROR_CODES } from '../../gateway/http/error-registry.js';
import { kidOf, Pki, postCert, register, startTestGateway, type Party, type TestGateway } from './harness.js';
import { mulberry32 } from '../prng.js';

describe('fuzz: POST /v1/devices with hostile proof bytes', () => {
  let t: TestGateway;
  let agency: Party;
  beforeAll(async () => {
    const pki = await Pki.create();
    t = await startTestGateway(pki, { writeRateLimit: 100_000 });
    agency = await pki.agency('psb.example');
    await register(t.gw, agency, []);
  });
  afterAll(() => t.stop());

  test('150 mutations: 4xx with a known code (or 201 where the proof stayed valid), never 500', async () => {
    const d = await t.pki.device(agency);
    const pop = d.cert.claims.proofOfPossession!;
    const r = mulberry32(7);
    const seen = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const b = Array.from(pop);
      const k = Math.floor(r() * b.length);
      const op = Math.floor(r() * 3);
      if (op === 0) b[k] = Math.floor(r() * 256);
      else if (op === 1) b.splice(k, 1);
      else b.splice(k, 0, Math.floor(r() * 256));
      const bad = Uint8Array.from(b);
      const bytes = await createSign1({ signer: agency.signer, payload: encode(claimsToMap({ ...d.cert.claims, proofOfPossession: bad })), kid: kidOf(agency.signer), contentType: CT_CERTIFICATE });
      const res = await postCert(t, 'devices', bytes);
      if (res.status === 201) continue; // a mutation that left the proof valid (e.g. a byte rewritten to itself)
      expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
      // Any code of the gateway's registry but INTERNAL: a mutation that leaves the proof valid registers the device
      // (201), and a later such one, of the same iat, is then CONFLICT (not issued later), as any re-post would be.
      expect((ALL_ERROR_CODES as readonly unknown[]).includes(res.body.code) && res.body.code !== 'INTERNAL', String(res.body.code)).toBe(true);
      seen.add(String(res.body.code));
    }
    expect(seen.size).toBeGreaterThan(1);
  });
});
