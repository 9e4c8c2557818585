/**
 * Certificates: CWTs (RFC 8392) signed as COSE_Sign1 (RFC 8392 §7.1), content type 61, kid = the issuer key's
 * RFC 9679 thumbprint. Claims (integer keys):
 *   1 iss text (RFC 8392 §3.1.1)   2 sub text (§3.1.2)   4 exp (§3.1.4)   5 nbf (§3.1.5)   6 iat (§3.1.6)
 *   7 cti bstr 16 random (§3.1.7)  8 cnf {1: COSE_Key} (RFC 8747 §3.1, §3.2)
 *   -65537 role: uint 1 root, 2 agency, 3 device (private use, RFC 8392 §9.1: keys below -65536)
 *   -65538 device profile (devices only): {1: kind text, 2: reading types [+ text], 3: firmware SHA-256 bstr 32}
 *   -65543 pop (devices only): the device's proof of possession for the issuing agency, a COSE_Sign1 bstr
 *          (proof-of-possession.ts checkCertifiedPossession; the gateway registers no device certificate without it)
 * Root certificates are self-signed (iss == sub, kid == holder thumbprint). A device's sub is its device id hex
 * (DESIGN.md), derived from its cnf key; agencies and roots use short text ids.
 */
import { randomBytes } from '@noble/hashes/utils.js';
import { type Signer } from './algorithms.js';
import { bytesEqual } from './bytes.js';
import { encode } from './cbor.js';
import { coseKeyFromMap, coseKeyToMap, keyThumbprint, publicKey, type PublicKey } from './cose-key.js';
import { createSign1, type Sign1 } from './cose-sign1.js';
import { CT_CERTIFICATE } from './content-types.js';
import { deviceIdFromKey, deviceIdToHex } from './device-id.js';
import { fail, OriginProofError } from './errors.js';
import { checkCertifiedPossession, MAX_POP_BYTES, verifyCertifiedPossession } from './proof-of-possession.js';
import { sha256 } from './hash.js';
import { openEnvelope } from './envelope.js';
import { asMap, ENTITY_ID, join, onlyKeys, reqBytes, reqText, reqTime, TOKEN_NAME, checkText, reqInt, type ClaimMap } from './schema.js';

export const CLAIM_ISS = 1, CLAIM_SUB = 2, CLAIM_AUD = 3, CLAIM_EXP = 4, CLAIM_NBF = 5, CLAIM_IAT = 6, CLAIM_CTI = 7, CLAIM_CNF = 8;
export const CNF_COSE_KEY = 1;
export const CLAIM_ROLE = -65537;
export const CLAIM_DEVICE_PROFILE = -65538;
export const CLAIM_PROOF_OF_POSSESSION = -65543;
export const PROFILE_KIND = 1, PROFILE_TYPES = 2, PROFILE_FIRMWARE = 3;

export type Role = 'root' | 'agency' | 'device';
export const ROLE_CODES: Readonly<Record<Role, number>> = { root: 1, agency: 2, device: 3 };
const ROLE_BY_CODE = new Map<unknown, Role>(Object.entries(ROLE_CODES).map(([r, c]) => [c, r as Role]));

/** Device kinds we know of; any TOKEN_NAME is accepted so new kinds need no protocol change. */
export const DEVICE_KINDS = ['fingerprint-reader', 'temperature-sensor', 'air-quality-sensor', 'water-meter', 'energy-meter', 'noise-sensor'] as const;
export const MAX_CERTIFICATE_BYTES = 2048;

export interface DeviceProfile {
  kind: string;
  /** Reading types the device may emit; "biometric" allows biometric events. */
  readingTypes: string[];
  /** Expected firmware measurement: SHA-256 of the firmware image, 32 bytes. */
  firmware: Uint8Array;
}

export interface CertificateClaims {
  iss: string;
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  /** 16 random bytes; generated when omitted on issue. */
  cti: Uint8Array;
  holderKey: PublicKey;
  role: Role;
  profile?: DeviceProfile;
  /** Devices: the proof of possession the device gave the issuing agency (SPEC §2), kept as its bytes. */
  proofOfPossession?: Uint8Array;
}

export interface DecodedCertificate {
  bytes: Uint8Array;
  claims: CertificateClaims;
  sign1: Sign1;
  holderKey: PublicKey;
  holderKid: Uint8Array;
  issuerKid: Uint8Array;
  /** SHA-256 of the certificate bytes: how logs, readings' receipts and revocations name it. */
  certRef: Uint8Array;
}

export function claimsToMap(c: CertificateClaims): ClaimMap {
  const m: ClaimMap = new Map<unknown, unknown>([
    [CLAIM_ISS, c.iss], [CLAIM_SUB, c.sub], [CLAIM_EXP, c.exp], [CLAIM_NBF, c.nbf], [CLAIM_IAT, c.iat], [CLAIM_CTI, c.cti],
    [CLAIM_CNF, new Map([[CNF_COSE_KEY, coseKeyToMap(c.holderKey)]])],
    [CLAIM_ROLE, ROLE_CODES[c.role]],
  ]);
  if (c.profile) {
    m.set(CLAIM_DEVICE_PROFILE, new Map<number, unknown>([
      [PROFILE_KIND, c.profile.kind], [PROFILE_TYPES, c.profile.readingTypes], [PROFILE_FIRMWARE, c.profile.firmware],
    ]));
  }
  if (c.proofOfPossession) m.set(CLAIM_PROOF_OF_POSSESSION, c.proofOfPossession);
  return m;
}

function parseProfile(v: unknown, path: string): DeviceProfile {
  const m = asMap(v, path);
  onlyKeys(m, [PROFILE_KIND, PROFILE_TYPES, PROFILE_FIRMWARE], path);
  const kind = reqText(m, PROFILE_KIND, join(path, 'kind'), { pattern: TOKEN_NAME });
  const types = m.get(PROFILE_TYPES);
  const tp = join(path, 'readingTypes');
  if (!Array.isArray(types) || types.length === 0 || types.length > 32) fail('CLAIM_INVALID', 'readingTypes must be an array of 1..32 names', tp);
  const readingTypes = types.map((t, i) => checkText(t, `${tp}[${i}]`, { pattern: TOKEN_NAME }));
  if (new Set(readingTypes).size !== readingTypes.length) fail('CLAIM_INVALID', 'readingTypes has duplicates', tp);
  const firmware = reqBytes(m, PROFILE_FIRMWARE, join(path, 'firmware'), 32);
  return { kind, readingTypes, firmware };
}

/** Schema checks of a certificate claim set (CLAIM_INVALID with the claim's path). */
export function claimsFromMap(m: ClaimMap, path = 'claims'): CertificateClaims {
  onlyKeys(m, [CLAIM_ISS, CLAIM_SUB, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT, CLAIM_CTI, CLAIM_CNF, CLAIM_ROLE, CLAIM_DEVICE_PROFILE, CLAIM_PROOF_OF_POSSESSION], path);
  const roleCode = reqInt(m, CLAIM_ROLE, join(path, 'role'), 1, 3);
  const role = ROLE_BY_CODE.get(roleCode)!;
  const iss = reqText(m, CLAIM_ISS, join(path, 'iss'), { pattern: ENTITY_ID });
  const sub = reqText(m, CLAIM_SUB, join(path, 'sub'), { max: 63 });
  const iat = reqTime(m, CLAIM_IAT, join(path, 'iat'));
  const nbf = reqTime(m, CLAIM_NBF, join(path, 'nbf'));
  const exp = reqTime(m, CLAIM_EXP, join(path, 'exp'));
  if (exp <= nbf) fail('CLAIM_INVALID', 'exp must be after nbf', join(path, 'exp'));
  const cti = reqBytes(m, CLAIM_CTI, join(path, 'cti'), 16);
  const cnfPath = join(path, 'cnf');
  const cnf = asMap(m.get(CLAIM_CNF), cnfPath);
  onlyKeys(cnf, [CNF_COSE_KEY], cnfPath);
  if (!cnf.has(CNF_COSE_KEY)) fail('CLAIM_INVALID', 'cnf must hold a COSE_Key (RFC 8747 §3.2)', cnfPath);
  const keyPath = join(cnfPath, 'COSE_Key');
  const coseKey = asMap(cnf.get(CNF_COSE_KEY), keyPath);
  // Closed like every signed structure: a certified key carries its public parameters only (RFC 9053 §7.1, §7.2:
  // kty, alg, crv, x, and y for EC2), never the private `d` (-4) a misbuilt tool could leave in, nor anything else.
  onlyKeys(coseKey, coseKey.get(1) === 2 ? [1, 3, -1, -2, -3] : [1, 3, -1, -2], keyPath);
  const key = coseKeyFromMap(coseKey, keyPath);
  const holderKey = publicKey(key.alg, key.raw);
  const profilePath = join(path, 'profile');
  const popPath = join(path, 'pop');
  let profile: DeviceProfile | undefined;
  let proofOfPossession: Uint8Array | undefined;
  if (role === 'device') {
    if (!m.has(CLAIM_DEVICE_PROFILE)) fail('CLAIM_INVALID', 'a device certificate must carry a device profile', profilePath);
    profile = parseProfile(m.get(CLAIM_DEVICE_PROFILE), profilePath);
    if (sub !== deviceIdToHex(deviceIdFromKey(holderKey))) {
      fail('CLAIM_INVALID', 'a device certificate sub must be the device id derived from its cnf key', join(path, 'sub'));
    }
    if (m.has(CLAIM_PROOF_OF_POSSESSION)) {
      proofOfPossession = reqBytes(m, CLAIM_PROOF_OF_POSSESSION, popPath, 1, MAX_POP_BYTES);
      checkCertifiedPossession(proofOfPossession, holderKey, iss, popPath);
    }
  } else {
    if (m.has(CLAIM_DEVICE_PROFILE)) fail('CLAIM_INVALID', `a ${role} certificate must not carry a device profile`, profilePath);
    if (m.has(CLAIM_PROOF_OF_POSSESSION)) fail('CLAIM_INVALID', `a ${role} certificate must not carry a device's proof of possession`, popPath);
    checkText(sub, join(path, 'sub'), { pattern: ENTITY_ID });
  }
  if (role === 'root' && iss !== sub) fail('CLAIM_INVALID', 'a root certificate is self-issued: iss must equal sub', join(path, 'iss'));
  const claims: CertificateClaims = { iss, sub, iat, nbf, exp, cti, holderKey, role };
  if (profile) claims.profile = profile;
  if (proofOfPossession) claims.proofOfPossession = proofOfPossession;
  return claims;
}

export type CertificateInput = Omit<CertificateClaims, 'cti'> & { cti?: Uint8Array };

/** Sign a certificate. `issuerKid` must be the thumbprint of the signer's key (checked). */
export async function issueCertificate(issuer: Signer, issuerKid: Uint8Array, input: CertificateInput): Promise<Uint8Array> {
  if (!bytesEqual(issuerKid, keyThumbprint(publicKey(issuer.alg, issuer.publicKey)))) {
    fail('UNKNOWN_KEY', 'issuerKid is not the thumbprint of the issuer signing key', 'kid');
  }
  const claims: CertificateClaims = { ...input, cti: input.cti ?? randomBytes(16) };
  const map = claimsToMap(claims);
  const checked = claimsFromMap(map);
  // An agency signs no certificate around a proof that does not verify (claimsFromMap checked what it binds).
  if (checked.proofOfPossession) verifyCertifiedPossession(checked.proofOfPossession, checked.holderKey, checked.iss, 'claims.pop');
  if (checked.role === 'root' && !bytesEqual(issuerKid, keyThumbprint(checked.holderKey))) {
    fail('CHAIN_INVALID', 'a root certificate must be signed by its own key', 'kid');
  }
  return createSign1({ signer: issuer, payload: encode(map), kid: issuerKid, contentType: CT_CERTIFICATE });
}

/** Strict decode and schema check; no signature check (see chain.ts). */
export function decodeCertificate(bytes: Uint8Array): DecodedCertificate {
  const env = openEnvelope(bytes, CT_CERTIFICATE, 'certificate', MAX_CERTIFICATE_BYTES);
  const claims = claimsFromMap(env.payload);
  const holderKid = keyThumbprint(claims.holderKey);
  if (claims.role === 'root' && !bytesEqual(env.kid, holderKid)) {
    fail('CHAIN_INVALID', 'a root certificate must be signed by its own key (kid = holder thumbprint)', 'protected.kid');
  }
  return { bytes, claims, sign1: env.sign1, holderKey: claims.holderKey, holderKid, issuerKid: env.kid, certRef: sha256(bytes) };
}

/**
 * The certificates among `bytes` that decode; any that does not is left aside. For certificates a verifier holds
 * beside its revocations (uncommitted, from whoever served the list): one that does not decode cannot be the
 * certificate a revocation names, nor fail a verdict it has no part in.
 */
export function decodableCertificates(bytes: readonly Uint8Array[]): DecodedCertificate[] {
  return bytes.flatMap((b) => {
    try {
      return [decodeCertificate(b)];
    } catch (err) {
      if (err instanceof OriginProofError) return [];
      throw err;
    }
  });
}
