/**
 * Review (review-pop): hostile bytes in a device certificate's proof of possession (claim -65543). The certificate
 * itself is validly signed by its agency around the mutated proof, so every byte of the proof reaches
 * checkCertifiedPossession on decoding and verifyCertifiedPossession in validateChain: every outcome must be an
 * OriginProofError with a code (or acceptance, only for the untouched proof), never another exception.
 */
import { describe, expect, test } from 'vitest';
import {
  CT_CERTIFICATE, CT_PROOF_OF_POSSESSION, claimsToMap, createSign1, decodeCertificate, encode, validateChain, Tag,
  type CertificateClaims, type Signer,
} from '../../protocol/index.js';
import { OriginProofError } from '../../protocol/errors.js';
import { ALG_ES256, kidOf, makeChain, NOW } from './fixtures.js';
import { mulberry32 } from '../prng.js';

const signedOver = (issuer: Signer, claims: CertificateClaims) =>
  createSign1({ signer: issuer, payload: encode(claimsToMap(claims)), kid: kidOf(issuer), contentType: CT_CERTIFICATE });


function mutate(b: Uint8Array, r: () => number): Uint8Array {
  const out = Array.from(b);
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const op = Math.floor(r() * 5);
    const i = Math.floor(r() * out.length);
    if (op === 0) out[i] = Math.floor(r() * 256);
    else if (op === 1) out[i]! ^= 1 << Math.floor(r() * 8);
    else if (op === 2) out.splice(i, 1);
    else if (op === 3) out.splice(i, 0, Math.floor(r() * 256));
    else out.length = Math.max(1, i);
  }
  return Uint8Array.from(out);
}

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    if (err instanceof OriginProofError && typeof err.code === 'string' && err.code.length > 0) return err.code;
    return `CRASH ${String(err)}`;
  }
}

describe('fuzz: hostile proof-of-possession bytes inside a validly signed device certificate', () => {
  for (const alg of [undefined, ALG_ES256] as const) {
    test(`random mutations give an OriginProofError code, never a crash (device ${alg ?? 'EdDSA'})`, async () => {
      const c = await makeChain(alg);
      const pop = c.deviceCert.claims.proofOfPossession!;
      const r = mulberry32(alg === undefined ? 1 : 2);
      const crashes: string[] = [];
      for (let i = 0; i < 400; i++) {
        const bad = mutate(pop, r);
        const bytes = await signedOver(c.agency, { ...c.deviceCert.claims, proofOfPossession: bad });
        const o = outcome(() => {
          const d = decodeCertificate(bytes);
          validateChain([d, c.agencyCert], c.anchors, NOW);
        });
        if (o.startsWith('CRASH')) crashes.push(`${Buffer.from(bad).toString('hex')}: ${o}`);
      }
      expect(crashes).toEqual([]);
    });
  }

  test('structured hostile payloads (odd types for each claim) give codes, never a crash', async () => {
    const c = await makeChain();
    const prot = encode(new Map<number, unknown>([[1, c.device.alg], [3, CT_PROOF_OF_POSSESSION], [4, kidOf(c.device)]]));
    const base = new Map<unknown, unknown>([[256, new Uint8Array(17)], [3, 'psb.example'], [10, new Uint8Array(16)], [6, NOW]]);
    const odd: unknown[] = [-1, 2 ** 53, -(2 ** 53), 1.5, 'x', new Uint8Array(0), [], new Map(), true, null, undefined, new Tag(1, 1), 18446744073709551615n];
    const crashes: string[] = [];
    for (const key of [256, 3, 10, 6, 7, -1]) {
      for (const v of odd) {
        const m = new Map(base);
        m.set(key, v);
        let payload: Uint8Array;
        try {
          payload = encode(m);
        } catch {
          continue;
        }
        const sig = await c.device.sign(encode(['Signature1', prot, new Uint8Array(0), payload]));
        const pop = encode(new Tag([prot, new Map(), payload, sig], 18));
        const bytes = await signedOver(c.agency, { ...c.deviceCert.claims, proofOfPossession: pop });
        const o = outcome(() => validateChain([decodeCertificate(bytes), c.agencyCert], c.anchors, NOW));
        if (o.startsWith('CRASH')) crashes.push(`${key}=${String(v)}: ${o}`);
      }
    }
    expect(crashes).toEqual([]);
  });
});
