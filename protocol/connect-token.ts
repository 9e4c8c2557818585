/**
 * MQTT connect token: COSE_Sign1 (RFC 9052 §4.2), content type 65003, signed by the device key, kid = device key
 * thumbprint (RFC 9679). Payload uses CWT claim keys (RFC 8392 §3.1): {2 sub: device id hex, 3 aud: text,
 * 4 exp, 6 iat}; exp - iat is 1..600 seconds. The device sends it as the MQTT password, client id = username = sub.
 */
import type { SignatureVerifier, Signer } from './algorithms.js';
import { bytesEqual } from './bytes.js';
import { encode } from './cbor.js';
import { keyThumbprint, publicKey } from './cose-key.js';
import { createSign1, verifySign1 } from './cose-sign1.js';
import { CT_CONNECT_TOKEN } from './content-types.js';
import { deviceIdFromKey, deviceIdToHex, isUeidHex } from './device-id.js';
import { openEnvelope } from './envelope.js';
import { fail } from './errors.js';
import { onlyKeys, reqText, reqTime, ENTITY_ID, type ClaimMap } from './schema.js';
import type { DecodedCertificate } from './certificate.js';

export const MAX_TOKEN_LIFETIME_SECONDS = 600;
export const MAX_CONNECT_TOKEN_BYTES = 512;
export const DEFAULT_TOKEN_SKEW_SECONDS = 300;
const T_SUB = 2, T_AUD = 3, T_EXP = 4, T_IAT = 6;

export interface ConnectTokenClaims {
  sub: string;
  aud: string;
  iat: number;
  exp: number;
}

function toMap(c: ConnectTokenClaims): ClaimMap {
  return new Map<unknown, unknown>([[T_SUB, c.sub], [T_AUD, c.aud], [T_EXP, c.exp], [T_IAT, c.iat]]);
}

function fromMap(m: ClaimMap): ConnectTokenClaims {
  onlyKeys(m, [T_SUB, T_AUD, T_EXP, T_IAT], 'claims');
  const sub = reqText(m, T_SUB, 'claims.sub', { max: 34 });
  if (!isUeidHex(sub)) fail('CLAIM_INVALID', 'sub must be a device id (34 lowercase hex)', 'claims.sub');
  const c = { sub, aud: reqText(m, T_AUD, 'claims.aud', { pattern: ENTITY_ID }), iat: reqTime(m, T_IAT, 'claims.iat'), exp: reqTime(m, T_EXP, 'claims.exp') };
  if (c.exp <= c.iat || c.exp - c.iat > MAX_TOKEN_LIFETIME_SECONDS) fail('CLAIM_INVALID', `exp must be 1..${MAX_TOKEN_LIFETIME_SECONDS} s after iat`, 'claims.exp');
  return c;
}

/** Sign a connect token; `sub` defaults to the signer's device id. */
export async function createConnectToken(signer: Signer, c: Omit<ConnectTokenClaims, 'sub'> & { sub?: string }): Promise<Uint8Array> {
  const key = publicKey(signer.alg, signer.publicKey);
  const claims: ConnectTokenClaims = { ...c, sub: c.sub ?? deviceIdToHex(deviceIdFromKey(key)) };
  fromMap(toMap(claims));
  return createSign1({ signer, payload: encode(toMap(claims)), kid: keyThumbprint(key), contentType: CT_CONNECT_TOKEN });
}

export function decodeConnectToken(bytes: Uint8Array): { claims: ConnectTokenClaims; kid: Uint8Array } {
  const env = openEnvelope(bytes, CT_CONNECT_TOKEN, 'connect token', MAX_CONNECT_TOKEN_BYTES);
  return { claims: fromMap(env.payload), kid: env.kid };
}

export interface VerifyConnectTokenOptions {
  /** Allowed clock difference (seconds) on both ends of the window; default 300. */
  skewSeconds?: number;
  /** Expected audience (the gateway's id); unchecked when omitted. */
  audience?: string;
  verifier?: SignatureVerifier;
}

/**
 * Verify a connect token for MQTT client id `clientId` at `now`: CLAIM_INVALID (sub is not the client id or the
 * certificate's device, wrong audience), UNKNOWN_KEY (kid is not the certificate's key), BAD_SIGNATURE,
 * TOKEN_EXPIRED (now + skew < iat, or now - skew >= exp).
 */
export function verifyConnectToken(
  bytes: Uint8Array,
  deviceCert: DecodedCertificate,
  clientId: string,
  now: number,
  opts: VerifyConnectTokenOptions = {},
): ConnectTokenClaims {
  const env = openEnvelope(bytes, CT_CONNECT_TOKEN, 'connect token', MAX_CONNECT_TOKEN_BYTES);
  const claims = fromMap(env.payload);
  if (claims.sub !== clientId) fail('CLAIM_INVALID', 'token sub is not the MQTT client id', 'claims.sub');
  if (deviceCert.claims.role !== 'device') fail('ROLE_VIOLATION', 'connect tokens are signed by device keys only', 'certificate.role');
  if (claims.sub !== deviceCert.claims.sub) fail('CLAIM_INVALID', 'token sub is not the certificate subject', 'claims.sub');
  if (!bytesEqual(env.kid, deviceCert.holderKid)) fail('UNKNOWN_KEY', 'kid is not the device key', 'protected.kid');
  verifySign1(env.sign1, deviceCert.holderKey, opts.verifier ? { verifier: opts.verifier } : {});
  if (opts.audience !== undefined && claims.aud !== opts.audience) fail('CLAIM_INVALID', `token audience is not ${opts.audience}`, 'claims.aud');
  const skew = opts.skewSeconds ?? DEFAULT_TOKEN_SKEW_SECONDS;
  if (now + skew < claims.iat) fail('TOKEN_EXPIRED', 'token is not valid yet (issued in the future)', 'claims.iat');
  if (now - skew >= claims.exp) fail('TOKEN_EXPIRED', 'token has expired', 'claims.exp');
  return claims;
}
