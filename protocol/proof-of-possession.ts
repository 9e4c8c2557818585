/**
 * Onboarding proof of possession: the device signs, with the key it asks the agency to certify, a COSE_Sign1
 * (RFC 9052 §4.2), content type 65004, kid = its key thumbprint (RFC 9679), over
 * {256 ueid: device id bstr 17 (RFC 9711 §4.2.1), 3 aud: agency id text (RFC 8392 §3.1.3),
 *  10 eat_nonce: the agency's challenge, bstr 8..64 (RFC 9711 §4.1), 6 iat (RFC 8392 §3.1.6)}.
 */
import type { SignatureVerifier, Signer } from './algorithms.js';
import { bytesEqual } from './bytes.js';
import { encode } from './cbor.js';
import { keyThumbprint, publicKey, type PublicKey } from './cose-key.js';
import { createSign1, verifySign1, type Sign1 } from './cose-sign1.js';
import { CT_PROOF_OF_POSSESSION } from './content-types.js';
import { deviceIdFromKey, DEVICE_ID_LENGTH } from './device-id.js';
import { openEnvelope } from './envelope.js';
import { fail, OriginProofError } from './errors.js';
import { ENTITY_ID, onlyKeys, reqBytes, reqText, reqTime, type ClaimMap } from './schema.js';

const P_UEID = 256, P_AUD = 3, P_NONCE = 10, P_IAT = 6;
export const MAX_POP_BYTES = 512;

export interface PopClaims {
  deviceId: Uint8Array;
  agencyId: string;
  nonce: Uint8Array;
  iat: number;
}

function toMap(c: PopClaims): ClaimMap {
  return new Map<unknown, unknown>([[P_UEID, c.deviceId], [P_AUD, c.agencyId], [P_NONCE, c.nonce], [P_IAT, c.iat]]);
}

function fromMap(m: ClaimMap): PopClaims {
  onlyKeys(m, [P_UEID, P_AUD, P_NONCE, P_IAT], 'claims');
  return {
    deviceId: reqBytes(m, P_UEID, 'claims.ueid', DEVICE_ID_LENGTH),
    agencyId: reqText(m, P_AUD, 'claims.aud', { pattern: ENTITY_ID }),
    nonce: reqBytes(m, P_NONCE, 'claims.nonce', 8, 64),
    iat: reqTime(m, P_IAT, 'claims.iat'),
  };
}

export async function createProofOfPossession(signer: Signer, c: Omit<PopClaims, 'deviceId'>): Promise<Uint8Array> {
  const key = publicKey(signer.alg, signer.publicKey);
  const claims: PopClaims = { ...c, deviceId: deviceIdFromKey(key) };
  fromMap(toMap(claims));
  return createSign1({ signer, payload: encode(toMap(claims)), kid: keyThumbprint(key), contentType: CT_PROOF_OF_POSSESSION });
}

export interface VerifyPopOptions {
  agencyId: string;
  nonce: Uint8Array;
  now: number;
  /** Allowed |iat - now| in seconds; default 300. */
  maxSkewSeconds?: number;
  verifier?: SignatureVerifier;
}

/** Verify a PoP for the presented public key: UNKNOWN_KEY, CLAIM_INVALID (ueid/aud/nonce), BAD_SIGNATURE, CLOCK_SKEW. */
export function verifyProofOfPossession(bytes: Uint8Array, key: PublicKey, opts: VerifyPopOptions): PopClaims {
  const env = openEnvelope(bytes, CT_PROOF_OF_POSSESSION, 'proof of possession', MAX_POP_BYTES);
  const claims = fromMap(env.payload);
  if (!bytesEqual(env.kid, keyThumbprint(key))) fail('UNKNOWN_KEY', 'kid is not the presented key', 'protected.kid');
  if (!bytesEqual(claims.deviceId, deviceIdFromKey(key))) fail('CLAIM_INVALID', 'ueid is not the device id of the presented key', 'claims.ueid');
  verifySign1(env.sign1, key, opts.verifier ? { verifier: opts.verifier } : {});
  if (claims.agencyId !== opts.agencyId) fail('CLAIM_INVALID', 'proof is for another agency', 'claims.aud');
  if (!bytesEqual(claims.nonce, opts.nonce)) fail('CLAIM_INVALID', 'nonce is not the challenge', 'claims.nonce');
  if (Math.abs(claims.iat - opts.now) > (opts.maxSkewSeconds ?? 300)) fail('CLOCK_SKEW', 'iat too far from the agency clock', 'claims.iat');
  return claims;
}

/**
 * The device's consent carried in its certificate (certificate.ts claim -65543, SPEC §2 step 3): the proof of
 * possession the device gave its agency at onboarding. It binds the certified key (kid, ueid) to the issuing agency
 * (aud): an agency cannot register a device key it was never given a proof for (found by review: any agency that
 * learnt a device's public key could register it first, and the device's own agency was then refused). The nonce and
 * iat were the agency's to check when it took the proof (verifyProofOfPossession); a renewal carries the same proof.
 * Structure only here, so that decoding stays signature-free; the signature: verifyCertifiedPossession.
 */
export function checkCertifiedPossession(bytes: Uint8Array, key: PublicKey, agencyId: string, path: string): Sign1 {
  return nested(path, () => {
    const env = openEnvelope(bytes, CT_PROOF_OF_POSSESSION, 'proof of possession', MAX_POP_BYTES);
    const claims = fromMap(env.payload);
    if (!bytesEqual(env.kid, keyThumbprint(key))) fail('UNKNOWN_KEY', 'the proof of possession is not signed by the certified key (kid)', 'protected.kid');
    if (!bytesEqual(claims.deviceId, deviceIdFromKey(key))) fail('CLAIM_INVALID', 'the proof of possession names another device (ueid)', 'claims.ueid');
    if (claims.agencyId !== agencyId) {
      fail('CLAIM_INVALID', `the proof of possession was given to agency ${claims.agencyId}, not to the issuer ${agencyId}`, 'claims.aud');
    }
    return env.sign1;
  });
}

/** The claims of a proof whose structure was checked (checkCertifiedPossession, as decodeCertificate does). */
export function certifiedPossessionClaims(bytes: Uint8Array): PopClaims {
  return fromMap(openEnvelope(bytes, CT_PROOF_OF_POSSESSION, 'proof of possession', MAX_POP_BYTES).payload);
}

/** checkCertifiedPossession, then the proof's signature with the certified key (BAD_SIGNATURE). */
export function verifyCertifiedPossession(bytes: Uint8Array, key: PublicKey, agencyId: string, path: string, verifier?: SignatureVerifier): void {
  const sign1 = checkCertifiedPossession(bytes, key, agencyId, path);
  nested(path, () => verifySign1(sign1, key, verifier ? { verifier } : {}));
}

/** Errors from inside a nested structure, named by their path in the outer one. */
function nested<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof OriginProofError)) throw err;
    throw new OriginProofError(err.code, err.message, { path: err.path ? `${path}.${err.path}` : path, cause: err });
  }
}
