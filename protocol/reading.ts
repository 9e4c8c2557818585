/**
 * Readings: EAT-style claim sets (RFC 9711) signed by the device key as COSE_Sign1 (RFC 9052 §4.2), content type
 * 65001, kid = device key thumbprint (RFC 9679). Claims:
 *   256 ueid: device id, bstr 17 (RFC 9711 §4.2.1)     6 iat: seconds (RFC 8392 §3.1.6, used by RFC 9711 §4.3.1)
 *   -65539 seq: uint, per-device monotonic sequence number (private use, RFC 8392 §9.1)
 *   -65540 fwm: firmware measurement, SHA-256 of the running image, bstr 32 (private use: RFC 9711 §4.2.16
 *          `measurements` (273) needs a typed measurement format such as CoSWID, heavier than a sensor needs)
 *   exactly one body:
 *   -65541 sensor: {1: type text, 2: value int, 3: scale int (decimal exponent; 215 with scale -1 is 21.5), 4: unit text}
 *   -65542 biometric: see biometric.ts
 */
import type { Alg, SignatureVerifier, Signer } from './algorithms.js';
import { bytesEqual, toHex } from './bytes.js';
import { decodeToLook, encode, Tag } from './cbor.js';
import { keyThumbprint, publicKey } from './cose-key.js';
import { createSign1, verifySign1, type ProtectedHeaderCache, type Sign1 } from './cose-sign1.js';
import { CT_READING } from './content-types.js';
import { deviceIdFromKey, isDeviceIdOfThumbprint, DEVICE_ID_LENGTH, UEID_TYPE_RAND } from './device-id.js';
import { openEnvelope } from './envelope.js';
import { fail, OriginProofError } from './errors.js';
import { asMap, join, onlyKeys, reqBytes, reqInt, reqText, reqTime, TOKEN_NAME, type ClaimMap } from './schema.js';
import { BIOMETRIC_READING_TYPE, biometricBodyToMap, parseBiometricBody, rejectImageMagic, type BiometricBody } from './biometric.js';
import type { DecodedCertificate } from './certificate.js';
import { assertNotRevokedAt, type DecodedRevocation } from './revocation.js';

export const CLAIM_UEID = 256, CLAIM_READING_IAT = 6, CLAIM_SEQ = -65539, CLAIM_FIRMWARE = -65540;
export const CLAIM_SENSOR = -65541, CLAIM_BIOMETRIC = -65542;
export const SENSOR_TYPE = 1, SENSOR_VALUE = 2, SENSOR_SCALE = 3, SENSOR_UNIT = 4;
export const MAX_READING_BYTES = 1024;
export const DEFAULT_MAX_SKEW_SECONDS = 300;
export const DEFAULT_MAX_READING_AGE_SECONDS = 7 * 86_400;
const READING_KEYS = [CLAIM_UEID, CLAIM_READING_IAT, CLAIM_SEQ, CLAIM_FIRMWARE, CLAIM_SENSOR, CLAIM_BIOMETRIC];

export interface SensorBody {
  kind: 'sensor';
  type: string;
  value: number;
  scale: number;
  unit: string;
}

export type ReadingBody = SensorBody | BiometricBody;

export interface ReadingClaims {
  deviceId: Uint8Array;
  seq: number;
  iat: number;
  firmware: Uint8Array;
  body: ReadingBody;
}

export interface OpenedReading {
  bytes: Uint8Array;
  sign1: Sign1;
  kid: Uint8Array;
  claims: ReadingClaims;
}

export function readingClaimsToMap(c: ReadingClaims): ClaimMap {
  const m: ClaimMap = new Map<unknown, unknown>([[CLAIM_UEID, c.deviceId], [CLAIM_READING_IAT, c.iat], [CLAIM_SEQ, c.seq], [CLAIM_FIRMWARE, c.firmware]]);
  if (c.body.kind === 'sensor') {
    const b = c.body;
    m.set(CLAIM_SENSOR, new Map<unknown, unknown>([[SENSOR_TYPE, b.type], [SENSOR_VALUE, b.value], [SENSOR_SCALE, b.scale], [SENSOR_UNIT, b.unit]]));
  } else {
    m.set(CLAIM_BIOMETRIC, biometricBodyToMap(c.body));
  }
  return m;
}

// Field paths, made once per parent path: every reading is checked field by field, and building each path string
// anew was a measurable share of the gateway's garbage.
const PATH_NAMES = ['ueid', 'iat', 'seq', 'fwm', 'body', 'biometric', 'sensor', 'type', 'value', 'scale', 'unit'] as const;
type Paths = Record<(typeof PATH_NAMES)[number], string>;
const pathCache = new Map<string, Paths>();
function pathsUnder(path: string): Paths {
  let p = pathCache.get(path);
  if (!p) {
    p = Object.fromEntries(PATH_NAMES.map((n) => [n, join(path, n)])) as Paths;
    if (pathCache.size < 64) pathCache.set(path, p);
  }
  return p;
}
const SENSOR_UNIT_TEXT = { max: 16, pattern: /^[\x21-\x7e]+$/ };
const SENSOR_TYPE_TEXT = { pattern: TOKEN_NAME };

function parseSensor(v: unknown, path: string): SensorBody {
  const m = asMap(v, path);
  onlyKeys(m, SENSOR_KEYS, path);
  const p = pathsUnder(path);
  const type = reqText(m, SENSOR_TYPE, p.type, SENSOR_TYPE_TEXT);
  if (type === BIOMETRIC_READING_TYPE) fail('CLAIM_INVALID', 'biometric events use the biometric body', p.type);
  return {
    kind: 'sensor',
    type,
    value: reqInt(m, SENSOR_VALUE, p.value),
    scale: reqInt(m, SENSOR_SCALE, p.scale, -18, 18),
    unit: reqText(m, SENSOR_UNIT, p.unit, SENSOR_UNIT_TEXT),
  };
}
const SENSOR_KEYS = [SENSOR_TYPE, SENSOR_VALUE, SENSOR_SCALE, SENSOR_UNIT];

/** Privacy checks (BIOMETRIC_RAW_DATA) first, then the schema (CLAIM_INVALID). */
export function readingClaimsFromMap(m: ClaimMap, path = 'claims'): ReadingClaims {
  rejectImageMagic(m, path);
  const bio = m.has(CLAIM_BIOMETRIC);
  onlyKeys(m, READING_KEYS, path, bio ? 'BIOMETRIC_RAW_DATA' : 'CLAIM_INVALID');
  const p = pathsUnder(path);
  const deviceId = reqBytes(m, CLAIM_UEID, p.ueid, DEVICE_ID_LENGTH);
  if (deviceId[0] !== UEID_TYPE_RAND) fail('CLAIM_INVALID', 'ueid must be of type RAND (0x01)', p.ueid);
  const iat = reqTime(m, CLAIM_READING_IAT, p.iat);
  const seq = reqInt(m, CLAIM_SEQ, p.seq, 0);
  const firmware = reqBytes(m, CLAIM_FIRMWARE, p.fwm, 32);
  if (bio && m.has(CLAIM_SENSOR)) fail('CLAIM_INVALID', 'a reading has exactly one body', p.body);
  if (bio) return { deviceId, iat, seq, firmware, body: parseBiometricBody(m.get(CLAIM_BIOMETRIC), p.biometric) };
  if (!m.has(CLAIM_SENSOR)) fail('CLAIM_INVALID', 'a reading needs a sensor or biometric body', p.body);
  return { deviceId, iat, seq, firmware, body: parseSensor(m.get(CLAIM_SENSOR), p.sensor) };
}

/** A sensor value (value × 10^scale) as exact decimal text (215, -1 -> "21.5"): no floating point on the way. */
export function decimalText(value: number, scale: number): string {
  const neg = value < 0;
  let digits = String(Math.abs(value));
  if (scale >= 0) digits += '0'.repeat(scale);
  else {
    digits = digits.padStart(-scale + 1, '0');
    digits = `${digits.slice(0, scale)}.${digits.slice(scale)}`;
  }
  return (neg ? '-' : '') + digits;
}

/** Sign a reading with the device key; the ueid must be the signer's device id. */
export async function signReading(signer: Signer, claims: ReadingClaims): Promise<Uint8Array> {
  const key = publicKey(signer.alg, signer.publicKey);
  const map = readingClaimsToMap(claims);
  readingClaimsFromMap(map);
  if (!bytesEqual(claims.deviceId, deviceIdFromKey(key))) fail('CLAIM_INVALID', 'ueid is not the device id of the signing key', 'claims.ueid');
  return createSign1({ signer, payload: encode(map), kid: keyThumbprint(key), contentType: CT_READING });
}

/**
 * Strict decode and schema checks; no signature check (verifyReading does that with the device certificate).
 * `protectedCache`: the gateway keeps each device's last protected bucket (ProtectedHeaderCache, cose-sign1.ts).
 */
export function openReading(bytes: Uint8Array, opts: { maxBytes?: number; protectedCache?: ProtectedHeaderCache } = {}): OpenedReading {
  const env = openEnvelope(bytes, CT_READING, 'reading', opts.maxBytes ?? MAX_READING_BYTES, undefined, opts.protectedCache);
  return { bytes, sign1: env.sign1, kid: env.kid, claims: readingClaimsFromMap(env.payload) };
}

/**
 * A reading as the log holds it (no size limit: it was taken once), or undefined when it no longer opens: logged under
 * rules since tightened (the biometric privacy rule's, say). Views and bundles of its entry are still served.
 */
export function openLoggedReading(bytes: Uint8Array): OpenedReading | undefined {
  try {
    return openReading(bytes, { maxBytes: Number.MAX_SAFE_INTEGER });
  } catch (err) {
    if (err instanceof OriginProofError) return undefined;
    throw err;
  }
}

/**
 * The seq claim of a reading that failed its checks, when it can be read at all (a lenient decode, date tags kept;
 * nothing is verified): its rejection names it (SPEC §8: "whenever its payload decodes as a CBOR map with a seq") so
 * the device can tell which kept reading to drop. The payload is the third of the envelope's four items, under any
 * tag or none, whatever the other three hold: headers that do not check out (a kid as text, a label in both buckets,
 * tag 17) are MALFORMED, and the payload still names the reading (found by review: such an envelope named none, as
 * decodeSign1 refused it first). Null when the bytes are not one CBOR item, not four items with a byte-string payload,
 * the payload does not decode as a map, or seq is no uint: nothing to read without guessing.
 */
export function readingSeqOf(bytes: Uint8Array): number | null {
  try {
    let envelope = decodeToLook(bytes, 'reading');
    if (envelope instanceof Tag) envelope = envelope.value;
    const payloadBytes = Array.isArray(envelope) && envelope.length === 4 ? envelope[2] : undefined;
    const payload = payloadBytes instanceof Uint8Array ? decodeToLook(payloadBytes) : undefined;
    const seq = payload instanceof Map ? payload.get(CLAIM_SEQ) : undefined;
    return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
  } catch {
    return null;
  }
}

export interface VerifyReadingOptions {
  verifier?: SignatureVerifier;
  allowedAlgs?: readonly Alg[];
  /**
   * Receiver clock (seconds); with it, an iat more than maxSkewSeconds ahead of it or more than maxAgeSeconds behind
   * it is CLOCK_SKEW (assertReadingClock, the gateway's rule: SPEC §6).
   */
  now?: number;
  maxSkewSeconds?: number;
  maxAgeSeconds?: number;
  /** Verified revocations; the device certificate must not be revoked at the reading's iat. */
  revocations?: readonly DecodedRevocation[];
}

export interface VerifiedReading {
  deviceIdHex: string;
  seq: number;
  iat: number;
  body: ReadingBody;
  certRef: Uint8Array;
}

/**
 * Check an opened reading against the device certificate (whose chain the caller validated): kid (UNKNOWN_KEY),
 * ueid (CLAIM_INVALID), signature (BAD_SIGNATURE / ALG_NOT_ALLOWED), certificate validity and revocation at iat,
 * reading type (TYPE_NOT_ALLOWED), firmware (FIRMWARE_MISMATCH), clock (CLOCK_SKEW).
 */
export function verifyReading(opened: OpenedReading, deviceCert: DecodedCertificate, opts: VerifyReadingOptions = {}): VerifiedReading {
  checkReading(opened, deviceCert, opts);
  const { claims } = opened;
  return { deviceIdHex: toHex(claims.deviceId), seq: claims.seq, iat: claims.iat, body: claims.body, certRef: deviceCert.certRef };
}

/** The checks of `verifyReading`, without building its result (the gateway runs them for every reading). */
export function checkReading(opened: OpenedReading, deviceCert: DecodedCertificate, opts: VerifyReadingOptions = {}): void {
  const { claims } = opened;
  const profile = deviceCert.claims.profile;
  if (deviceCert.claims.role !== 'device' || !profile) fail('ROLE_VIOLATION', 'readings are signed by device certificates only', 'certificate.role');
  if (!bytesEqual(opened.kid, deviceCert.holderKid)) fail('UNKNOWN_KEY', 'kid is not the key of this device certificate', 'protected.kid');
  // The device id is 0x01 || the first 16 bytes of the key's thumbprint, which the certificate already holds.
  if (!isDeviceIdOfThumbprint(claims.deviceId, deviceCert.holderKid)) fail('CLAIM_INVALID', 'ueid is not this device', 'claims.ueid');
  verifySign1(opened.sign1, deviceCert.holderKey, opts);
  if (claims.iat < deviceCert.claims.nbf) fail('CERT_NOT_YET_VALID', 'reading is dated before the device certificate', 'claims.iat');
  if (claims.iat >= deviceCert.claims.exp) fail('CERT_EXPIRED', 'reading is dated after the device certificate expired', 'claims.iat');
  if (opts.revocations) assertNotRevokedAt(deviceCert, opts.revocations, claims.iat, 'certificate');
  const type = claims.body.kind === 'sensor' ? claims.body.type : BIOMETRIC_READING_TYPE;
  if (!profile.readingTypes.includes(type)) fail('TYPE_NOT_ALLOWED', `reading type ${type} is not in the device profile`, 'claims.body.type');
  if (!bytesEqual(claims.firmware, profile.firmware)) fail('FIRMWARE_MISMATCH', 'firmware measurement differs from the certified one', 'claims.fwm');
  if (opts.now !== undefined) {
    assertReadingClock(claims.iat, opts.now, {
      clockSkewSeconds: opts.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS,
      maxReadingAgeSeconds: opts.maxAgeSeconds ?? DEFAULT_MAX_READING_AGE_SECONDS,
    });
  }
}

/**
 * CLOCK_SKEW unless `iat` is at most clockSkewSeconds ahead of `nowS` and at most maxReadingAgeSeconds behind it
 * (SPEC §6): a reading kept while the device was offline may be days old, never ahead by more than the skew.
 */
export function assertReadingClock(iat: number, nowS: number, limits: { clockSkewSeconds: number; maxReadingAgeSeconds: number }): void {
  if (iat > nowS + limits.clockSkewSeconds) fail('CLOCK_SKEW', `reading is dated ${iat - nowS} s in the future (limit ${limits.clockSkewSeconds} s)`, 'claims.iat');
  if (iat < nowS - limits.maxReadingAgeSeconds) fail('CLOCK_SKEW', `reading is ${nowS - iat} s old (limit ${limits.maxReadingAgeSeconds} s)`, 'claims.iat');
}
