/** node:crypto signers for the bench (the pure noble signer is ~10x slower to prepare 100k readings with). */
import * as crypto from 'node:crypto';
import { ALG_EDDSA, nobleSigner, type Alg, type Signer } from '../protocol/algorithms.js';

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

export function nodeSigner(alg: Alg, secretKey: Uint8Array): Signer {
  const pub = nobleSigner(alg, secretKey).publicKey;
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  // JWK import only (KNOWN-GROUND trap 3 is about exporting JWK in a loop).
  const key =
    alg === ALG_EDDSA
      ? crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, secretKey]), format: 'der', type: 'pkcs8' })
      : crypto.createPrivateKey({ key: { kty: 'EC', crv: 'P-256', d: b64u(secretKey), x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33)) }, format: 'jwk' });
  return {
    alg,
    publicKey: pub,
    sign: (m) => new Uint8Array(alg === ALG_EDDSA ? crypto.sign(null, m, key) : crypto.sign('sha256', m, { key, dsaEncoding: 'ieee-p1363' })),
  };
}
