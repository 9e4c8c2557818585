/**
 * protocol/ must run in a browser. Bundle it for the browser platform (rolldown), check that nothing Node-only is
 * imported, then run the bundle in a bare V8 context that has only what a browser page has (no require, process,
 * Buffer) and use it: reproduce a firmware vector byte for byte, verify it against its certificate chain, reject a
 * forgery with its code, and verify (and reject) a Merkle inclusion proof.
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import vm from 'node:vm';
import { rolldown } from 'rolldown';
import { beforeAll, describe, expect, test } from 'vitest';

let code = '';
beforeAll(async () => {
  const bundle = await rolldown({ input: 'protocol/index.ts', platform: 'browser', logLevel: 'silent' });
  code = (await bundle.generate({ format: 'iife', name: 'OriginProof' })).output[0].code;
}, 60_000);

const vectors = JSON.parse(readFileSync('firmware-specs/vectors/readings.json', 'utf8')).vectors as {
  name: string; cbor: string; secretKey: string; alg: string; chain: string[]; rootCertificate: string; now: number;
}[];

describe('protocol/ in a browser-like context', () => {
  test('the bundle imports nothing from Node', () => {
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).not.toMatch(/["']node:/);
    expect(code).not.toMatch(/\bprocess\.(env|versions|nextTick)/);
  });

  test('signs, verifies and rejects with codes, with only browser globals', () => {
    const v = vectors.find((x) => x.name === 'reading-sensor-EdDSA')!;
    const page = {
      TextEncoder, TextDecoder, atob, btoa, console,
      crypto: { getRandomValues: (a: Uint8Array) => webcrypto.getRandomValues(a) },
      input: { cbor: v.cbor, secret: v.secretKey, chain: v.chain, root: v.rootCertificate, now: v.now },
      out: {} as Record<string, unknown>,
    };
    const ctx = vm.createContext(page);
    expect(vm.runInContext('typeof require + typeof process + typeof Buffer', ctx)).toBe('undefinedundefinedundefined');
    vm.runInContext(code, ctx);
    vm.runInContext(
      `(async () => {
        const P = OriginProof;
        const bytes = P.fromHex(input.cbor);
        const opened = P.openReading(bytes);
        const [device, agency] = input.chain.map((h) => P.decodeCertificate(P.fromHex(h)));
        const anchors = P.trustAnchors([P.anchorFromRootCertificate(P.fromHex(input.root))]);
        P.validateChain([device, agency], anchors, input.now);
        const verified = P.verifyReading(opened, device, { now: input.now });
        const signer = P.nobleSigner(P.ALG_EDDSA, P.fromHex(input.secret));
        const again = await P.signReading(signer, opened.claims);
        out.reproduced = P.toHex(again) === input.cbor;
        out.value = verified.body.value;
        const forged = Uint8Array.from(bytes); forged[forged.length - 1] ^= 1;
        try { P.verifyReading(P.openReading(forged), device, { now: input.now }); out.forged = 'VALID'; } catch (e) { out.forged = e.code; }
        const H = P.defaultMerkleHasher;
        const [l0, l1, l2] = [1, 2, 3].map((i) => H.hashLeaf(new Uint8Array([i])));
        const root = H.hashChildren(H.hashChildren(l0, l1), l2); // RFC 9162 tree of size 3
        P.verifyInclusion(2, 3, l2, [H.hashChildren(l0, l1)], root);
        try { P.verifyInclusion(1, 3, l2, [l0, l2], root); out.badProof = 'VALID'; } catch (e) { out.badProof = e.code; }
        const fresh = P.nobleSigner(P.ALG_ES256, P.generateSecretKey(P.ALG_ES256));
        const token = await P.createConnectToken(fresh, { aud: 'originproof', iat: 1000, exp: 1300 });
        out.token = P.decodeConnectToken(token).claims.aud;
      })().then(() => { out.done = true; }, (e) => { out.error = String(e && e.stack || e); });`,
      ctx,
    );
    return new Promise<void>((resolve) => {
      const check = () => {
        if (!page.out.done && !page.out.error) return setTimeout(check, 5);
        expect(page.out.error).toBeUndefined();
        expect(page.out).toMatchObject({ reproduced: true, value: 215, forged: 'BAD_SIGNATURE', token: 'originproof', badProof: 'INCLUSION_INVALID' });
        resolve();
      };
      check();
    });
  });
});
