/**
 * Firmware test vectors (firmware-specs/vectors/*.json), generated from fixed seeds so that every byte is
 * reproducible: Ed25519 signatures are deterministic (RFC 8032 §5.1.6) and ES256 uses RFC 6979 deterministic nonces
 * (@noble/curves). Run `npm run build && npm run vectors`; test/protocol/firmware-vectors.test.ts regenerates them
 * byte for byte and checks each one as stated (valid, or rejected with `expectedError`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeDirectories } from '../node-fs/make-directories.js';
import { p256 } from '@noble/curves/nist.js';
import {
  ALG_EDDSA, ALG_ES256, CT_CERTIFICATE, CT_CONNECT_TOKEN, CT_READING, CT_REVOCATION, Tag, claimsToMap, concatBytes, createConnectToken,
  createProofOfPossession, createRevocation, createSign1, decodeCertificate, decodeSign1, deviceIdFromKey, deviceIdToHex, encode,
  issueCertificate, keyThumbprint, nobleSigner, publicKey, readingClaimsToMap, sha256, signReading, subjectCommitment, toHex,
  ENTRY_READING, ed25519NoteSigner, encodeLogEntry, encodeReceipt, formatVerifierKey, leafHash, signCheckpoint, signNote, formatCheckpoint,
  blockExtension, nextKeyExtension, revocationsExtension, EMPTY_REVOCATIONS, utf8ToBytes, type Alg, type CertificateInput, type DecodedCertificate, type ErrorCode, type ReadingClaims, type Signer,
} from '../protocol/index.js';
import { merkleHasher, splitPoint } from '../protocol/merkle/index.js';

export type VectorKind = 'reading' | 'certificate-chain' | 'connect-token' | 'revocation' | 'proof-of-possession' | 'receipt' | 'scenario';

export interface Vector {
  name: string;
  description: string;
  kind: VectorKind;
  /** Signer's algorithm and raw public key (Ed25519 32 bytes; P-256 65 bytes 04||x||y). */
  alg: 'EdDSA' | 'ES256';
  publicKey: string;
  /** Signer's secret key, so firmware can reproduce the bytes (test keys only: never ship these). */
  secretKey?: string;
  cbor: string;
  valid: boolean;
  expectedError?: ErrorCode;
  /** The verifier's clock (seconds since the Unix epoch). */
  now: number;
  /** Certificates (hex) for chain checks: leaf first ([device, agency] or [agency]), and the root. */
  chain?: string[];
  rootCertificate?: string;
  /** Revocation statements (hex) the verifier knows. */
  revocations?: string[];
  /** Kind-specific inputs (client id, audience, nonce, agency id, the revoked certificate, ...). */
  params?: Record<string, string | number>;
  /** Set when only the gateway or ledger can decide (needs state): the protocol tests skip these with a reason. */
  checkedBy?: 'gateway';
}

export const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
const DAY = 86_400;
const FIRMWARE = sha256(utf8ToBytes('originproof example firmware 1.0.0'));
export const CERT_WINDOW = { iat: NOW - 30 * DAY, nbf: NOW - 30 * DAY, exp: NOW + 335 * DAY };

const seed = (label: string) => sha256(utf8ToBytes(`originproof vector key ${label}`));
const signer = (alg: Alg, label: string) => nobleSigner(alg, seed(label));
const pub = (s: Signer) => publicKey(s.alg, s.publicKey);
const kid = (s: Signer) => keyThumbprint(pub(s));
const algName = (s: Signer): 'EdDSA' | 'ES256' => (s.alg === ALG_EDDSA ? 'EdDSA' : 'ES256');
const cti = (n: number) => new Uint8Array(16).fill(n);
const hex = toHex;

/** High-S twin of an ES256 COSE_Sign1 (s -> n - s): still a valid signature (RFC 9053 does not require low-S). */
function highS(bytes: Uint8Array): Uint8Array {
  const s1 = decodeSign1(bytes);
  const n = p256.Point.CURVE().n;
  let s = s1.signature.subarray(32).reduce((a, x) => (a << 8n) | BigInt(x), 0n);
  s = n - s;
  const sb = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) { sb[i] = Number(s & 0xffn); s >>= 8n; }
  return encode(new Tag([s1.protectedBytes, new Map(), s1.payload, concatBytes(s1.signature.subarray(0, 32), sb)], 18));
}

/** RFC 9162 §2.1.1 MTH over leaf hashes (the receipts' checkpoints: a few leaves). */
function treeRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  const k = splitPoint(leaves.length);
  return merkleHasher().hashChildren(treeRoot(leaves.slice(0, k)), treeRoot(leaves.slice(k)));
}

function flipLast(bytes: Uint8Array): Uint8Array {
  const b = bytes.slice();
  b[b.length - 1]! ^= 0x01;
  return b;
}

export async function makeVectors(): Promise<Record<string, Vector[]>> {
  const root = signer(ALG_EDDSA, 'root');
  const agency = signer(ALG_ES256, 'agency');
  const devEd = signer(ALG_EDDSA, 'device-ed25519');
  const devEs = signer(ALG_ES256, 'device-es256');
  const stranger = signer(ALG_EDDSA, 'stranger');

  const issue = async (by: Signer, input: CertificateInput) => decodeCertificate(await issueCertificate(by, kid(by), input));
  const rootCert = await issue(root, { iss: 'root.example', sub: 'root.example', role: 'root', holderKey: pub(root), cti: cti(1), ...CERT_WINDOW, exp: NOW + 3650 * DAY });
  const agencyCert = await issue(root, { iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pub(agency), cti: cti(2), ...CERT_WINDOW });
  const profile = { kind: 'temperature-sensor', readingTypes: ['temperature', 'humidity', 'biometric'], firmware: FIRMWARE };
  // Each carries the device's proof of possession for psb.example (SPEC §2), as the gateway requires.
  const devCert = async (d: Signer, n: number) =>
    issue(agency, {
      iss: 'psb.example', sub: deviceIdToHex(deviceIdFromKey(pub(d))), role: 'device', holderKey: pub(d), cti: cti(n), ...CERT_WINDOW, profile,
      proofOfPossession: await createProofOfPossession(d, { agencyId: 'psb.example', nonce: new Uint8Array(16).fill(n), iat: CERT_WINDOW.iat }),
    });
  const devEdCert = await devCert(devEd, 3);
  const devEsCert = await devCert(devEs, 4);
  const certOf = (d: Signer) => (d === devEd ? devEdCert : devEsCert);
  const chainOf = (c: DecodedCertificate) => [hex(c.bytes), hex(agencyCert.bytes)];

  // ---------- readings ----------
  const claims = (d: Signer, over: Partial<ReadingClaims> = {}): ReadingClaims => ({
    deviceId: deviceIdFromKey(pub(d)), seq: 42, iat: NOW - 5, firmware: FIRMWARE,
    body: { kind: 'sensor', type: 'temperature', value: 215, scale: -1, unit: 'Cel' }, ...over,
  });
  // The agency's salt: random-looking bytes as SPEC §3 asks (here from a fixed seed), given with the subject id in the
  // valid biometric vectors' params so a firmware author can check SHA-256(salt || subject id).
  const bioSalt = sha256(utf8ToBytes('originproof vectors: agency salt for subject commitments'));
  const bioSubject = 'employee-4711';
  const bio = { kind: 'biometric' as const, purpose: 'door-access', result: 'match' as const, score: 912, subjectCommitment: subjectCommitment(bioSalt, bioSubject) };
  const bioParams = { salt: hex(bioSalt), subjectId: bioSubject, subjectCommitment: hex(bio.subjectCommitment) };
  const rawReading = (d: Signer, map: Map<unknown, unknown>, k = kid(d)) => createSign1({ signer: d, payload: encode(map), kid: k, contentType: CT_READING });
  const reading = (d: Signer, name: string, description: string, cbor: Uint8Array, expectedError?: ErrorCode, extra: Partial<Vector> = {}): Vector => ({
    name, description, kind: 'reading', alg: algName(d), publicKey: hex(d.publicKey), secretKey: hex(seed(d === devEd ? 'device-ed25519' : 'device-es256')),
    cbor: hex(cbor), valid: !expectedError, ...(expectedError ? { expectedError } : {}), now: NOW,
    chain: chainOf(certOf(d)), rootCertificate: hex(rootCert.bytes), ...extra,
  });

  const readings: Vector[] = [];
  for (const d of [devEd, devEs]) {
    const a = algName(d);
    readings.push(reading(d, `reading-sensor-${a}`, `Temperature 21.5 Cel (value 215, scale -1), seq 42, signed ${a}`, await signReading(d, claims(d))));
    readings.push(reading(d, `reading-biometric-${a}`, `Biometric event: door-access match, score 912, subject commitment SHA-256(params.salt || params.subjectId), signed ${a}`,
      await signReading(d, claims(d, { seq: 43, body: bio })), undefined, { params: bioParams }));
  }
  const esReading = await signReading(devEs, claims(devEs));
  readings.push(reading(devEs, 'reading-sensor-ES256-high-s', 'Same reading with the high-S form of the ES256 signature (s -> n - s): valid; secure elements produce these', highS(esReading)));

  const m = (over: Partial<ReadingClaims> = {}, mutate?: (x: Map<unknown, unknown>) => void) => {
    const x = readingClaimsToMap(claims(devEd, over));
    mutate?.(x);
    return x;
  };
  const good = await signReading(devEd, claims(devEd));
  readings.push(reading(devEd, 'reading-untagged', 'COSE_Sign1 without the #6.18 tag', good.subarray(1), 'MALFORMED'));
  readings.push(reading(devEd, 'reading-wrong-content-type', 'Reading claims signed with content type 65003 (connect token)',
    await createSign1({ signer: devEd, payload: encode(m()), kid: kid(devEd), contentType: CT_CONNECT_TOKEN }), 'MALFORMED'));
  readings.push(reading(devEd, 'reading-not-deterministic', 'Protected header map with keys out of order (4 before 1): not deterministic CBOR',
    encode(new Tag([concatBytes(new Uint8Array([0xa3, 0x04, 0x58, 0x20]), kid(devEd), new Uint8Array([0x01, 0x27, 0x03, 0x19, 0xfd, 0xe9])), new Map(), encode(m()), new Uint8Array(64)], 18)), 'MALFORMED'));
  readings.push(reading(devEd, 'reading-too-large', 'A reading over 1024 bytes (long unit text)', await rawReading(devEd, m({}, (x) => (x.get(-65541) as Map<number, unknown>).set(4, 'C'.repeat(1100)))), 'TOO_LARGE'));
  readings.push(reading(devEd, 'reading-bad-signature', 'Valid reading with the last signature byte changed', flipLast(good), 'BAD_SIGNATURE'));
  readings.push(reading(devEd, 'reading-unknown-key', "Reading with this device's ueid but signed (and kid set) by another key", await rawReading(stranger, m()), 'UNKNOWN_KEY'));
  readings.push(reading(devEd, 'reading-alg-es384', 'Protected header alg -35 (ES384): only EdDSA (-8) and ES256 (-7) are allowed',
    encode(new Tag([encode(new Map<number, unknown>([[1, -35], [3, CT_READING], [4, kid(devEd)]])), new Map(), encode(m()), new Uint8Array(96)], 18)), 'ALG_NOT_ALLOWED'));
  readings.push(reading(devEd, 'reading-missing-seq', 'Claim -65539 (seq) missing', await rawReading(devEd, m({}, (x) => x.delete(-65539))), 'CLAIM_INVALID'));
  readings.push(reading(devEd, 'reading-scale-out-of-range', 'Sensor scale 40 (allowed -18..18)', await rawReading(devEd, m({}, (x) => (x.get(-65541) as Map<number, unknown>).set(3, 40))), 'CLAIM_INVALID'));
  const fmr = new Uint8Array(120); fmr.set([0x46, 0x4d, 0x52, 0x00, 0x20, 0x32, 0x30, 0x00]);
  readings.push(reading(devEd, 'reading-biometric-template', "Biometric event carrying an extra field with an ISO/IEC 19794-2 minutiae template ('FMR\\0')",
    await rawReading(devEd, m({ body: bio }, (x) => (x.get(-65542) as Map<number, unknown>).set(5, fmr))), 'BIOMETRIC_RAW_DATA'));
  readings.push(reading(devEd, 'reading-biometric-long-commitment', 'Biometric subjectCommitment of 64 bytes (must be exactly 32)',
    await rawReading(devEd, m({ body: bio }, (x) => (x.get(-65542) as Map<number, unknown>).set(4, new Uint8Array(64).fill(0x11)))), 'BIOMETRIC_RAW_DATA'));
  readings.push(reading(devEd, 'reading-biometric-subject-in-clear', "Biometric subjectCommitment holding the subject id itself as 13 bytes of text ('employee-4711'), not SHA-256(salt || subject id)",
    await rawReading(devEd, m({ body: bio }, (x) => (x.get(-65542) as Map<number, unknown>).set(4, utf8ToBytes(bioSubject)))), 'BIOMETRIC_RAW_DATA'));
  readings.push(reading(devEd, 'reading-biometric-template-pieces', 'Biometric subjectCommitment replaced by an array of four 32-byte pieces (a template cut up: no byte string over 32 bytes)',
    await rawReading(devEd, m({ body: bio }, (x) => (x.get(-65542) as Map<number, unknown>).set(4, [0, 1, 2, 3].map((i) => sha256(utf8ToBytes(`template piece ${i}`)))))), 'BIOMETRIC_RAW_DATA'));
  readings.push(reading(devEd, 'reading-type-not-allowed', "Reading type pm25 is not in the device profile's reading types",
    await signReading(devEd, claims(devEd, { body: { kind: 'sensor', type: 'pm25', value: 12, scale: 0, unit: 'ug/m3' } })), 'TYPE_NOT_ALLOWED'));
  readings.push(reading(devEd, 'reading-firmware-mismatch', 'Firmware measurement differs from the certified one', await signReading(devEd, claims(devEd, { firmware: new Uint8Array(32) })), 'FIRMWARE_MISMATCH'));
  // The gateway's clock rule (SPEC §6): at most clockSkewSeconds (300 s) ahead, at most maxReadingAgeSeconds (7 days) old.
  readings.push(reading(devEd, 'reading-clock-skew', 'iat 301 s ahead of the verifier clock (at most 300 s ahead: gateway setting clockSkewSeconds)', await signReading(devEd, claims(devEd, { iat: NOW + 301 })), 'CLOCK_SKEW'));
  readings.push(reading(devEd, 'reading-too-old', 'iat 7 days and 1 s before the verifier clock (at most 7 days old: gateway setting maxReadingAgeSeconds)',
    await signReading(devEd, claims(devEd, { iat: NOW - 7 * DAY - 1 })), 'CLOCK_SKEW'));
  readings.push(reading(devEd, 'reading-kept-offline', 'A reading kept while offline, seq 44, sent 6 days after its iat: valid (the age allowance is 7 days; only 300 s ahead is skew)',
    await signReading(devEd, claims(devEd, { iat: NOW - 6 * DAY, seq: 44 }))));
  readings.push(reading(devEd, 'reading-cert-expired', 'iat at the device certificate exp (exp is exclusive)',
    await signReading(devEd, claims(devEd, { iat: CERT_WINDOW.exp })), 'CERT_EXPIRED', { now: CERT_WINDOW.exp }));
  readings.push(reading(devEd, 'reading-cert-not-yet-valid', 'iat one second before the device certificate nbf',
    await signReading(devEd, claims(devEd, { iat: CERT_WINDOW.nbf - 1 })), 'CERT_NOT_YET_VALID', { now: CERT_WINDOW.nbf - 1 }));
  const rev = await createRevocation(agency, devEdCert, { reason: 'keyCompromise', revokedFrom: NOW - 60, iat: NOW - 30 });
  readings.push(reading(devEd, 'reading-after-revocation', 'Device key revoked (keyCompromise) from now-60; reading at now-5', good, 'CERT_REVOKED', { revocations: [hex(rev)] }));
  readings.push(reading(devEd, 'reading-before-revocation', 'Same revocation; a reading signed at now-61 stays valid',
    await signReading(devEd, claims(devEd, { iat: NOW - 61 })), undefined, { revocations: [hex(rev)] }));

  // ---------- certificate chains ----------
  const chainVec = (name: string, description: string, chain: DecodedCertificate[] | Uint8Array[], by: Signer, expectedError?: ErrorCode, extra: Partial<Vector> = {}): Vector => {
    const bytes = chain.map((c) => (c instanceof Uint8Array ? c : c.bytes));
    return {
      name, description, kind: 'certificate-chain', alg: algName(by), publicKey: hex(by.publicKey), cbor: hex(bytes[0]!), valid: !expectedError,
      ...(expectedError ? { expectedError } : {}), now: NOW, chain: bytes.map(hex), rootCertificate: hex(rootCert.bytes), ...extra,
    };
  };
  const certs: Vector[] = [
    chainVec('cert-root', 'Self-signed root certificate (role 1), Ed25519; check: it is a valid trust anchor', [rootCert.bytes], root, undefined, { chain: [] }),
    chainVec('cert-agency', 'Agency certificate (role 2) signed by the root; chain [agency]', [agencyCert], root),
    chainVec('cert-device-EdDSA', 'Device certificate (role 3, Ed25519 key) signed by the ES256 agency; chain [device, agency]', [devEdCert, agencyCert], agency),
    chainVec('cert-device-ES256', 'Device certificate (role 3, P-256 key) signed by the ES256 agency; chain [device, agency]', [devEsCert, agencyCert], agency),
  ];
  const win = CERT_WINDOW;
  const devId = (d: Signer) => deviceIdToHex(deviceIdFromKey(pub(d)));
  const wrongIss = await issue(agency, { iss: 'other.example', sub: devId(devEd), role: 'device', holderKey: pub(devEd), cti: cti(5), ...win, profile });
  certs.push(chainVec('cert-chain-iss-mismatch', 'Device certificate whose iss is not the agency id', [wrongIss, agencyCert], agency, 'CHAIN_INVALID'));
  const untrusted = signer(ALG_EDDSA, 'untrusted-root');
  const rogueAgency = await issue(untrusted, { iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pub(agency), cti: cti(6), ...win });
  certs.push(chainVec('cert-untrusted-root', 'Agency certificate signed by a key that is not a trust anchor', [rogueAgency], untrusted, 'UNKNOWN_KEY'));
  const subAgency = await issue(agency, { iss: 'psb.example', sub: 'sub.example', role: 'agency', holderKey: pub(stranger), cti: cti(7), ...win });
  certs.push(chainVec('cert-agency-issues-agency', 'An agency certifying another agency', [subAgency, agencyCert], agency, 'ROLE_VIOLATION'));
  const byDevice = await issue(devEd, { iss: devId(devEd), sub: devId(stranger), role: 'device', holderKey: pub(stranger), cti: cti(8), ...win, profile });
  certs.push(chainVec('cert-device-issues-device', 'A device certifying a device', [byDevice, devEdCert, agencyCert], devEd, 'ROLE_VIOLATION'));
  certs.push(chainVec('cert-expired', 'Device chain checked at the device certificate exp', [devEdCert, agencyCert], agency, 'CERT_EXPIRED', { now: win.exp }));
  certs.push(chainVec('cert-not-yet-valid', 'Device chain checked one second before nbf', [devEdCert, agencyCert], agency, 'CERT_NOT_YET_VALID', { now: win.nbf - 1 }));
  certs.push(chainVec('cert-bad-signature', 'Agency certificate with the last signature byte changed', [flipLast(agencyCert.bytes)], root, 'BAD_SIGNATURE'));
  const p384 = claimsToMap({ ...agencyCert.claims, sub: 'p384.example' });
  (p384.get(8) as Map<number, Map<number, unknown>>).set(1, new Map<number, unknown>([[1, 2], [-1, 2], [-2, new Uint8Array(48)], [-3, new Uint8Array(48)]]));
  certs.push(chainVec('cert-p384-holder-key', 'Agency certificate binding a P-384 key (only Ed25519 and P-256 are allowed)',
    [await createSign1({ signer: root, payload: encode(p384), kid: kid(root), contentType: CT_CERTIFICATE })], root, 'ALG_NOT_ALLOWED'));
  const wrongSub = claimsToMap({ ...devEdCert.claims, sub: devId(stranger) });
  certs.push(chainVec('cert-device-sub-not-key', 'Device certificate whose sub is not the device id derived from its cnf key',
    [await createSign1({ signer: agency, payload: encode(wrongSub), kid: kid(agency), contentType: CT_CERTIFICATE }), agencyCert.bytes], agency, 'CLAIM_INVALID'));
  certs.push(chainVec('cert-wrong-content-type', 'Certificate claims signed with content type 65001 (reading)',
    [await createSign1({ signer: root, payload: encode(claimsToMap(agencyCert.claims)), kid: kid(root), contentType: CT_READING })], root, 'MALFORMED'));
  const agencyRev = await createRevocation(root, agencyCert, { reason: 'affiliationChanged', revokedFrom: NOW - DAY, iat: NOW - DAY });
  certs.push(chainVec('cert-agency-revoked', 'Agency certificate revoked by the root from now-1 day; chain [device, agency] at now', [devEdCert, agencyCert], agency, 'CERT_REVOKED', { revocations: [hex(agencyRev)] }));

  // ---------- revocations ----------
  const revVec = (name: string, description: string, by: Signer, cbor: Uint8Array, revoked: DecodedCertificate, issuerKey: Signer, expectedError?: ErrorCode): Vector => ({
    name, description, kind: 'revocation', alg: algName(by), publicKey: hex(by.publicKey), cbor: hex(cbor), valid: !expectedError,
    ...(expectedError ? { expectedError } : {}), now: NOW, params: { revokedCertificate: hex(revoked.bytes), issuerPublicKey: hex(issuerKey.publicKey), issuerAlg: algName(issuerKey) },
  });
  const revPayload = (c: DecodedCertificate, reason: string) => encode(new Map<unknown, unknown>([[1, c.certRef], [2, c.claims.sub], [3, reason], [4, NOW], [6, NOW]]));
  const revocations: Vector[] = [
    revVec('revocation-device-by-agency', 'Agency revokes a device certificate (keyCompromise) from now-60', agency, rev, devEdCert, agency),
    revVec('revocation-agency-by-root', 'Root revokes an agency certificate (affiliationChanged)', root, agencyRev, agencyCert, root),
    revVec('revocation-device-by-root', 'Root signs a revocation of a device certificate: only the issuing agency may', root,
      await createSign1({ signer: root, payload: revPayload(devEdCert, 'superseded'), kid: kid(root), contentType: CT_REVOCATION }), devEdCert, root, 'ROLE_VIOLATION'),
    revVec('revocation-bad-reason', 'Revocation with reason "because" (not in the list)', agency,
      await createSign1({ signer: agency, payload: revPayload(devEdCert, 'because'), kid: kid(agency), contentType: CT_REVOCATION }), devEdCert, agency, 'CLAIM_INVALID'),
  ];

  // ---------- connect tokens ----------
  const tokVec = (d: Signer, name: string, description: string, cbor: Uint8Array, expectedError?: ErrorCode, over: Partial<Vector> = {}): Vector => ({
    name, description, kind: 'connect-token', alg: algName(d), publicKey: hex(d.publicKey), secretKey: hex(seed(d === devEd ? 'device-ed25519' : 'device-es256')),
    cbor: hex(cbor), valid: !expectedError, ...(expectedError ? { expectedError } : {}), now: NOW, chain: chainOf(certOf(d)), rootCertificate: hex(rootCert.bytes),
    params: { clientId: devId(d), audience: 'gw.example', skewSeconds: 300 }, ...over,
  });
  const tok = async (d: Signer, iat: number, exp: number) => createConnectToken(d, { aud: 'gw.example', iat, exp });
  const tokens: Vector[] = [
    tokVec(devEd, 'token-EdDSA', 'Connect token, 600 s lifetime, aud gw.example', await tok(devEd, NOW - 10, NOW + 590)),
    tokVec(devEs, 'token-ES256', 'Connect token, 600 s lifetime, aud gw.example', await tok(devEs, NOW - 10, NOW + 590)),
    tokVec(devEd, 'token-expired', 'Token whose exp is more than the 300 s skew in the past', await tok(devEd, NOW - 1000, NOW - 400), 'TOKEN_EXPIRED'),
    tokVec(devEd, 'token-from-future', 'Token issued more than 300 s in the future', await tok(devEd, NOW + 400, NOW + 900), 'TOKEN_EXPIRED'),
    tokVec(devEd, 'token-wrong-client-id', "Token sub is this device but the MQTT client id is another device's", await tok(devEd, NOW, NOW + 60), 'CLAIM_INVALID',
      { params: { clientId: devId(devEs), audience: 'gw.example', skewSeconds: 300 } }),
    tokVec(devEd, 'token-other-gateway', 'Token made for another gateway (aud other.example) presented to gw.example (SPEC §4: aud is the gateway id)',
      await createConnectToken(devEd, { aud: 'other.example', iat: NOW, exp: NOW + 60 }), 'CLAIM_INVALID'),
    tokVec(devEd, 'token-lifetime-too-long', 'exp - iat = 601 s (max 600)', await createSign1({ signer: devEd, kid: kid(devEd), contentType: CT_CONNECT_TOKEN,
      payload: encode(new Map<unknown, unknown>([[2, devId(devEd)], [3, 'gw.example'], [4, NOW + 601], [6, NOW]])) }), 'CLAIM_INVALID'),
    tokVec(devEd, 'token-bad-signature', 'Valid token with the last signature byte changed', flipLast(await tok(devEd, NOW, NOW + 60)), 'BAD_SIGNATURE'),
  ];

  // ---------- proof of possession ----------
  const nonce = sha256(utf8ToBytes('agency challenge 0001')).subarray(0, 16);
  const popVec = (name: string, description: string, cbor: Uint8Array, expectedError?: ErrorCode, now = NOW): Vector => ({
    name, description, kind: 'proof-of-possession', alg: 'ES256', publicKey: hex(devEs.publicKey), secretKey: hex(seed('device-es256')), cbor: hex(cbor),
    valid: !expectedError, ...(expectedError ? { expectedError } : {}), now, params: { agencyId: 'psb.example', nonce: hex(nonce) },
  });
  const pop = await createProofOfPossession(devEs, { agencyId: 'psb.example', nonce, iat: NOW - 2 });
  const pops: Vector[] = [
    popVec('pop-ES256', 'Onboarding proof of possession for psb.example with a 16-byte challenge', pop),
    popVec('pop-wrong-nonce', 'Proof made for another challenge', await createProofOfPossession(devEs, { agencyId: 'psb.example', nonce: new Uint8Array(16), iat: NOW }), 'CLAIM_INVALID'),
    popVec('pop-stale', 'Proof checked 10 minutes after it was made (allowed skew 300 s)', pop, 'CLOCK_SKEW', NOW + 600),
  ];

  // ---------- gateway / ledger scenarios (need state; checked by the gateway tests) ----------
  const r5 = await signReading(devEd, claims(devEd, { seq: 5 }));
  const scen = (name: string, description: string, expectedError: ErrorCode, cbor = r5, params: Record<string, string | number> = {}): Vector => ({
    ...reading(devEd, name, description, cbor, expectedError), kind: 'scenario', checkedBy: 'gateway', params,
  });
  const scenarios: Vector[] = [
    { ...reading(devEd, 'scenario-resend', 'Publish this reading twice: both answers are receipts of the same entry (same seq, index, receivedAtMs, certRef and leafHash; the second may carry a later checkpoint, so do not compare them byte for byte); the log holds it once', r5), kind: 'scenario', checkedBy: 'gateway', params: { repeat: 2 } },
    scen('scenario-replay', 'After seq 5 is accepted (params.after), another reading with the same seq 5 but other bytes is rejected', 'REPLAY',
      await signReading(devEd, claims(devEd, { seq: 5, body: { kind: 'sensor', type: 'temperature', value: 999, scale: -1, unit: 'Cel' } })), { after: hex(r5) }),
    scen('scenario-replay-lower', 'After seq 5 is accepted, a valid reading with seq 4 is rejected', 'REPLAY', await signReading(devEd, claims(devEd, { seq: 4 })), { after: hex(r5) }),
    scen('scenario-topic-mismatch', "Valid reading published on another device's readings topic", 'TOPIC_MISMATCH', r5, { topic: `op/v1/d/${devId(devEs)}/readings` }),
    scen('scenario-unknown-device', 'The device of this valid reading is not registered at the gateway: its CONNECT is refused with CONNACK 5 (UNKNOWN_DEVICE never arrives as a rejection)', 'UNKNOWN_DEVICE',
      await signReading(stranger, { ...claims(stranger), deviceId: deviceIdFromKey(pub(stranger)) })),
    scen('scenario-inclusion-invalid', 'Receipt for this reading whose leafHash or inclusion proof is altered: the device/verifier rejects it', 'INCLUSION_INVALID'),
    scen('scenario-consistency-invalid', 'Two checkpoints of a log that was rewritten between them: the consistency proof fails', 'CONSISTENCY_INVALID'),
    scen('scenario-checkpoint-invalid', 'Receipt whose checkpoint note signature does not verify with the gateway checkpoint key', 'CHECKPOINT_INVALID'),
    scen('scenario-unavailable', 'Reading published while the gateway is shutting down: keep it, resend it after reconnecting', 'UNAVAILABLE'),
    scen('scenario-storage-unavailable', 'Reading published while the gateway cannot write to its store (disk full, write error): keep it, resend it after reconnecting', 'STORAGE_UNAVAILABLE'),
  ];

  // ---------- receipts: what a device checks (SPEC §7): the leaf hash, the checkpoint's signature, its coverage ----------
  // The checkpoint's root is the tree's real root; the device does not check it (a receipt carries no inclusion proof).
  const cpSigner = ed25519NoteSigner('gw.example/log', seed('checkpoint'));
  const cpKey = formatVerifierKey(cpSigner.name, cpSigner.publicKey);
  const receivedAtMs = NOW * 1000 + 250;
  const entryOf = (envelope: Uint8Array, index: number) => encodeLogEntry({ type: ENTRY_READING, index, receivedAtMs, payload: envelope, certRef: devEdCert.certRef });
  const filler = (i: number) => sha256(utf8ToBytes(`filler entry ${i}`));
  /** The receipt of `r5` at `index`, with a checkpoint of tree `size` (entries before and after it are fillers). */
  const receiptOf = async (o: { index: number; size: number; by?: typeof cpSigner; leaf?: Uint8Array; extensions?: string[]; cosignedFirstBy?: typeof cpSigner; signedBy?: (typeof cpSigner)[] }) => {
    const entry = entryOf(r5, o.index);
    const leaves = Array.from({ length: o.size }, (_, i) => (i === o.index ? leafHash(entry) : filler(i)));
    const cp = { origin: 'gw.example/log', size: o.size, root: treeRoot(leaves), extensions: o.extensions ?? [] };
    const checkpoint = o.signedBy
      ? await signNote(formatCheckpoint(cp), o.signedBy)
      : o.cosignedFirstBy ? await signNote(formatCheckpoint(cp), [o.cosignedFirstBy, o.by ?? cpSigner]) : await signCheckpoint(cp, o.by ?? cpSigner);
    return { entry, cbor: encodeReceipt({ seq: 5, index: o.index, receivedAtMs, certRef: devEdCert.certRef, leafHash: o.leaf ?? leafHash(entry), checkpoint }) };
  };
  const receiptVec = async (name: string, description: string, o: Parameters<typeof receiptOf>[0], expectedError?: ErrorCode, envelope = r5, keys: Record<string, string> = {}): Promise<Vector> => {
    const { entry, cbor } = await receiptOf(o);
    return {
      name, description, kind: 'receipt', alg: 'EdDSA', publicKey: hex(cpSigner.publicKey), cbor: hex(cbor), valid: !expectedError,
      ...(expectedError ? { expectedError } : {}), now: NOW, params: { reading: hex(envelope), checkpointKey: cpKey, entry: hex(entry), ...keys },
    };
  };
  // A new checkpoint key (SPEC §7): the next key the gateway announces, and the keys a device holds after each receipt.
  // params.nextCheckpointKey: the next key the device holds before the receipt (absent: none); params.expectedKeys:
  // "<current> <next>" after it ("-" for no next key).
  const nextSigner = ed25519NoteSigner('gw.example/log', seed('next checkpoint'));
  const nextKey = formatVerifierKey(nextSigner.name, nextSigner.publicKey);
  const announced = [revocationsExtension(EMPTY_REVOCATIONS), nextKeyExtension(nextKey)];
  const keysAfter = (current: string, next: string | null) => ({ expectedKeys: `${current} ${next ?? '-'}` });
  const receipts: Vector[] = [
    await receiptVec('receipt-valid', 'Receipt of the reading at index 2 in a checkpoint of tree size 3; params.entry is the log entry whose RFC 9162 leaf hash it carries', { index: 2, size: 3 }),
    // The gateway's checkpoints carry extension lines after the root hash (SPEC §7); a device must not reject one it does not know.
    await receiptVec('receipt-checkpoint-extensions', "Receipt whose checkpoint has extension lines after the root hash, as the gateway's do (block, revocations) and one a device does not know: still valid",
      { index: 2, size: 3, extensions: [blockExtension(0, utf8ToBytes('example block header')), revocationsExtension(EMPTY_REVOCATIONS), 'witness-hint example'] }),
    // A note may carry other keys' signature lines (a witness's cosignature, SPEC §7): skipped, not a reason to reject.
    await receiptVec('receipt-checkpoint-cosigned', "Receipt whose checkpoint carries a second signature line, by another key (a witness's cosignature), before the gateway's: still valid; a device verifies the line of the gateway's key and skips the other",
      { index: 2, size: 3, cosignedFirstBy: ed25519NoteSigner('witness.example', seed('witness')) }),
    await receiptVec('receipt-later-checkpoint', 'Receipt of the reading at index 2 with a checkpoint of tree size 7 (a resend answered later)', { index: 2, size: 7 }),
    await receiptVec('receipt-leaf-hash-altered', 'Receipt whose leaf hash has one bit changed', { index: 2, size: 3, leaf: flipLast(leafHash(entryOf(r5, 2))) }, 'INCLUSION_INVALID'),
    await receiptVec('receipt-other-reading', 'A valid receipt checked against another reading than the one it answers (params.reading)', { index: 2, size: 3 }, 'INCLUSION_INVALID',
      await signReading(devEd, claims(devEd, { seq: 6 }))),
    await receiptVec('receipt-checkpoint-other-key', 'Receipt whose checkpoint is signed by a key other than params.checkpointKey (same name)', { index: 2, size: 3, by: ed25519NoteSigner('gw.example/log', seed('other checkpoint')) }, 'CHECKPOINT_INVALID'),
    await receiptVec('receipt-checkpoint-not-covering', "Receipt of index 3 with a checkpoint of tree size 3: the checkpoint does not hold the entry", { index: 3, size: 3 }, 'CHECKPOINT_INVALID'),
    await receiptVec('receipt-next-key-announced', "Receipt whose checkpoint announces the gateway's next key (extension line next-key) and is signed by both keys: valid; the device keeps the named key as its next one (params.expectedKeys)",
      { index: 2, size: 3, extensions: announced, signedBy: [cpSigner, nextSigner] }, undefined, r5, keysAfter(cpKey, nextKey)),
    await receiptVec('receipt-next-key-not-signed', 'Receipt whose checkpoint names a next key that did not sign it: valid, and no next key is kept',
      { index: 2, size: 3, extensions: announced }, undefined, r5, keysAfter(cpKey, null)),
    await receiptVec('receipt-next-key-switched', 'Receipt whose checkpoint is signed by the next key alone, checked by a device holding that next key (params.nextCheckpointKey): valid, and the next key becomes the current one',
      { index: 2, size: 3, by: nextSigner }, undefined, r5, { nextCheckpointKey: nextKey, ...keysAfter(nextKey, null) }),
    await receiptVec('receipt-next-key-not-held', 'The same receipt, checked by a device that holds no next key: the checkpoint is signed by no key it trusts',
      { index: 2, size: 3, by: nextSigner }, 'CHECKPOINT_INVALID'),
    await receiptVec('receipt-next-key-withdrawn', 'Receipt whose checkpoint, signed by the current key, names no next key, checked by a device holding one: valid, and the next key is dropped (the announcement was withdrawn)',
      { index: 2, size: 3, extensions: [revocationsExtension(EMPTY_REVOCATIONS)] }, undefined, r5, { nextCheckpointKey: nextKey, ...keysAfter(cpKey, null) }),
  ];

  return {
    'readings.json': readings,
    'certificates.json': certs,
    'revocations.json': revocations,
    'connect-tokens.json': tokens,
    'proof-of-possession.json': pops,
    'gateway-scenarios.json': scenarios,
    'receipts.json': receipts,
  };
}

export function renderVectors(vectors: Record<string, Vector[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, list] of Object.entries(vectors)) out[file] = JSON.stringify({ generatedBy: 'scripts/make-vectors.ts', vectors: list }, null, 2) + '\n';
  return out;
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? join(process.cwd(), 'firmware-specs', 'vectors');
  makeDirectories(dir);
  for (const [file, text] of Object.entries(renderVectors(await makeVectors()))) writeFileSync(join(dir, file), text);
  process.stdout.write(`wrote vectors to ${dir}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
