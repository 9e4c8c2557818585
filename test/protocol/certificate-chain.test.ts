import { describe, expect, it } from 'vitest';
import {
  createSign1, encode, CT_CERTIFICATE, claimsToMap, decodeCertificate, issueCertificate, validateChain, trustAnchors,
  createRevocation, decodeRevocation, verifyRevocation, isRevokedAt, assertNotRevokedAt, CLAIM_ROLE, CLAIM_DEVICE_PROFILE,
  CLAIM_SUB, CLAIM_CTI, CLAIM_EXP, deviceIdFromKey, deviceIdToHex, toHex, Tag, fromHex, type CertificateClaims,
  type Signer,
} from '../../protocol/index.js';
import { makeChain, NOW, DAY, kidOf, pubOf, signerFor, codeOf, codeOfSync, FIRMWARE, ALG_EDDSA, ALG_ES256 } from './fixtures.js';

async function rawCert(signer: Signer, map: Map<unknown, unknown>, kid = kidOf(signer)) {
  return createSign1({ signer, payload: encode(map), kid, contentType: CT_CERTIFICATE });
}

describe('certificates', async () => {
  const c = await makeChain();

  it('decodes what it issues, with certRef = SHA-256(bytes) and device sub = device id', () => {
    expect(c.deviceCert.claims.role).toBe('device');
    expect(c.deviceCert.claims.sub).toBe(deviceIdToHex(deviceIdFromKey(pubOf(c.device))));
    expect(toHex(c.deviceCert.issuerKid)).toBe(toHex(kidOf(c.agency)));
    expect(c.deviceCert.claims.profile?.readingTypes).toContain('temperature');
    expect(decodeCertificate(c.deviceCert.bytes).claims).toEqual(c.deviceCert.claims);
  });

  it('decoding leaves the caller\'s bytes as they were: no property added to any buffer the decoded certificate keeps', () => {
    const bytes = c.deviceCert.bytes.slice();
    const cert = decodeCertificate(bytes);
    // cbor-x caches a DataView on what it decodes from (~120 bytes per buffer a registry would keep)
    for (const kept of [bytes, cert.bytes, cert.sign1.protectedBytes, cert.sign1.payload, cert.sign1.signature]) expect(Object.keys(kept).filter((k) => !/^\d+$/.test(k))).toEqual([]);
  });

  it('validates [device, agency] and [agency] chains', () => {
    expect(validateChain([c.deviceCert.bytes, c.agencyCert.bytes], c.anchors, NOW).leaf.claims.sub).toBe(c.deviceIdHex);
    expect(validateChain([c.agencyCert], c.anchors, NOW).anchor.name).toBe('root.example');
    expect(validateChain([c.deviceCert, c.agencyCert, c.rootCert], c.anchors, NOW).certs).toHaveLength(2);
  });

  it('a trailing root certificate must carry the anchor\'s own signature: one flipped bit is BAD_SIGNATURE', () => {
    const tampered = c.rootCert.bytes.slice();
    tampered[tampered.length - 1]! ^= 1; // the last byte of the COSE_Sign1 signature
    let code = 'no error';
    try {
      validateChain([c.deviceCert, c.agencyCert, tampered], c.anchors, NOW);
    } catch (err) {
      code = (err as { code: string }).code;
    }
    expect(code).toBe('BAD_SIGNATURE');
  });

  const base = (): CertificateClaims => ({ ...c.deviceCert.claims });
  const cases: [string, (m: Map<unknown, unknown>) => void, string][] = [
    ['missing role', (m) => m.delete(CLAIM_ROLE), 'CLAIM_INVALID'],
    ['unknown role', (m) => m.set(CLAIM_ROLE, 9), 'CLAIM_INVALID'],
    ['unknown claim', (m) => m.set(99, 1), 'CLAIM_INVALID'],
    ['device without profile', (m) => m.delete(CLAIM_DEVICE_PROFILE), 'CLAIM_INVALID'],
    ['device sub not its key', (m) => m.set(CLAIM_SUB, '01' + '00'.repeat(16)), 'CLAIM_INVALID'],
    ['short cti', (m) => m.set(CLAIM_CTI, new Uint8Array(4)), 'CLAIM_INVALID'],
    ['exp before nbf', (m) => m.set(CLAIM_EXP, 1), 'CLAIM_INVALID'],
    ['profile firmware too short', (m) => (m.get(CLAIM_DEVICE_PROFILE) as Map<number, unknown>).set(3, new Uint8Array(5)), 'CLAIM_INVALID'],
    ['profile types empty', (m) => (m.get(CLAIM_DEVICE_PROFILE) as Map<number, unknown>).set(2, []), 'CLAIM_INVALID'],
  ];
  for (const [name, mutate, code] of cases) {
    it(`rejects a certificate with ${name}: ${code}`, async () => {
      const m = claimsToMap(base());
      mutate(m);
      expect(await codeOf(async () => decodeCertificate(await rawCert(c.agency, m)))).toBe(code);
    });
  }

  // A small-order Ed25519 key admits signatures anyone can make (R = identity, S = 0 verifies under the identity key
  // for every message on cofactorless verifiers such as OpenSSL): no certificate or anchor may bind one.
  const identityKey = fromHex('01' + '00'.repeat(31));
  const orderTwoKey = fromHex('ec' + 'ff'.repeat(30) + '7f'); // y = p - 1: the point of order 2
  const nonCanonicalKey = fromHex('ee' + 'ff'.repeat(30) + '7f'); // y = p + 1 >= p: not a canonical encoding
  for (const [name, raw] of [['the identity', identityKey], ['the order-2 point', orderTwoKey], ['a non-canonical encoding', nonCanonicalKey]] as const) {
    it(`refuses a device or agency certificate whose Ed25519 key is ${name}: CLAIM_INVALID`, async () => {
      const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + DAY };
      const key = { alg: ALG_EDDSA, raw } as const;
      const device = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), {
        iss: 'psb.example', sub: deviceIdToHex(deviceIdFromKey(key)), role: 'device', holderKey: key, ...window,
        profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
      }));
      expect(await codeOf(() => validateChain([device, c.agencyCert], c.anchors, NOW))).toBe('CLAIM_INVALID');
      const agency = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'weak.example', role: 'agency', holderKey: key, ...window }));
      expect(await codeOf(() => validateChain([agency], c.anchors, NOW))).toBe('CLAIM_INVALID');
      expect(await codeOf(() => trustAnchors([{ name: 'weak.root', key }]))).toBe('CLAIM_INVALID');
    });
  }

  it('refuses a device or agency certificate whose P-256 key is not a point on the curve: CLAIM_INVALID', async () => {
    const window = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + DAY };
    const good = pubOf(signerFor(ALG_ES256, 'on-curve'));
    const raw = good.raw.slice();
    raw[64]! ^= 1; // y changed: (x, y') is not on P-256
    const key = { alg: ALG_ES256, raw } as const;
    const device = decodeCertificate(await issueCertificate(c.agency, kidOf(c.agency), {
      iss: 'psb.example', sub: deviceIdToHex(deviceIdFromKey(key)), role: 'device', holderKey: key, ...window,
      profile: { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE },
    }));
    expect(await codeOf(() => validateChain([device, c.agencyCert], c.anchors, NOW))).toBe('CLAIM_INVALID');
    const agency = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'bent.example', role: 'agency', holderKey: key, ...window }));
    expect(await codeOf(() => validateChain([agency], c.anchors, NOW))).toBe('CLAIM_INVALID');
    const fine = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'fine.example', role: 'agency', holderKey: good, ...window }));
    expect(validateChain([fine], c.anchors, NOW).leaf.claims.sub).toBe('fine.example');
  });

  it('rejects a self-described root whose kid is not its own key: CHAIN_INVALID', async () => {
    const m = claimsToMap({ ...c.rootCert.claims });
    expect(await codeOf(async () => decodeCertificate(await rawCert(c.agency, m)))).toBe('CHAIN_INVALID');
  });

  it('rejects wrong content type, untagged, non-deterministic, oversized: MALFORMED / TOO_LARGE', async () => {
    const wrongCt = await createSign1({ signer: c.agency, payload: encode(claimsToMap(base())), kid: kidOf(c.agency), contentType: 65001 });
    expect(await codeOf(() => decodeCertificate(wrongCt))).toBe('MALFORMED');
    expect(await codeOf(() => decodeCertificate(c.deviceCert.bytes.subarray(1)))).toBe('MALFORMED');
    const nonDet = new Uint8Array([0xd8, 0x12, ...c.deviceCert.bytes.subarray(1)]);
    expect(await codeOf(() => decodeCertificate(nonDet))).toBe('MALFORMED');
    expect(await codeOf(() => decodeCertificate(new Uint8Array(5000)))).toBe('TOO_LARGE');
    const withUnprot = encode(new Tag([c.deviceCert.sign1.protectedBytes, new Map([[99, 1]]), c.deviceCert.sign1.payload, c.deviceCert.sign1.signature], 18));
    expect(await codeOf(() => decodeCertificate(withUnprot))).toBe('MALFORMED');
  });

  it('rejects an unsupported holder key type: ALG_NOT_ALLOWED', async () => {
    const m = claimsToMap({ ...base(), role: 'agency', sub: 'x.example', profile: undefined } as CertificateClaims);
    (m.get(8) as Map<number, Map<number, unknown>>).get(1)!.set(-1, 2); // EC2 P-384
    (m.get(8) as Map<number, Map<number, unknown>>).get(1)!.set(1, 2);
    (m.get(8) as Map<number, Map<number, unknown>>).get(1)!.set(-3, new Uint8Array(32));
    expect(await codeOf(async () => decodeCertificate(await rawCert(c.root, m)))).toBe('ALG_NOT_ALLOWED');
  });

  it('checks the issuer kid on issue: UNKNOWN_KEY', async () => {
    expect(await codeOf(() => issueCertificate(c.agency, kidOf(c.root), base()))).toBe('UNKNOWN_KEY');
  });
});

describe('chain validation rejections', async () => {
  const c = await makeChain();
  const win = { iat: NOW - DAY, nbf: NOW - DAY, exp: NOW + DAY };

  it('time: CERT_NOT_YET_VALID / CERT_EXPIRED (exp is exclusive)', () => {
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], c.anchors, NOW - 2 * DAY))).toBe('CERT_NOT_YET_VALID');
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], c.anchors, c.deviceCert.claims.exp))).toBe('CERT_EXPIRED');
    const bounded = trustAnchors([{ name: 'root.example', key: pubOf(c.root), notAfter: NOW }]);
    expect(codeOfSync(() => validateChain([c.agencyCert], bounded, NOW))).toBe('CERT_EXPIRED');
  });

  it('untrusted root: UNKNOWN_KEY; wrong issuer name or order: CHAIN_INVALID', async () => {
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], trustAnchors([]), NOW))).toBe('UNKNOWN_KEY');
    const otherName = trustAnchors([{ name: 'other.example', key: pubOf(c.root) }]);
    expect(codeOfSync(() => validateChain([c.agencyCert], otherName, NOW))).toBe('CHAIN_INVALID');
    expect(codeOfSync(() => validateChain([c.agencyCert, c.deviceCert], c.anchors, NOW))).toBe('CHAIN_INVALID');
    expect(codeOfSync(() => validateChain([], c.anchors, NOW))).toBe('CHAIN_INVALID');
    // device cert from another agency with the same name: kid mismatch
    const other = signerFor(ALG_EDDSA, 'other-agency');
    const dev = decodeCertificate(await issueCertificate(other, kidOf(other), { ...c.deviceCert.claims }));
    expect(codeOfSync(() => validateChain([dev, c.agencyCert], c.anchors, NOW))).toBe('CHAIN_INVALID');
  });

  it('forged signature: BAD_SIGNATURE', () => {
    const bytes = c.agencyCert.bytes.slice();
    bytes[bytes.length - 1]! ^= 1;
    expect(codeOfSync(() => validateChain([bytes], c.anchors, NOW))).toBe('BAD_SIGNATURE');
  });

  it('roles: agency certifying an agency, device certifying anything, root certifying a device: ROLE_VIOLATION', async () => {
    const agency2 = signerFor(ALG_EDDSA, 'agency2');
    const subAgency = await issueCertificate(c.agency, kidOf(c.agency), { iss: 'psb.example', sub: 'sub.example', role: 'agency', holderKey: pubOf(agency2), ...win });
    expect(codeOfSync(() => validateChain([subAgency, c.agencyCert], c.anchors, NOW))).toBe('ROLE_VIOLATION');
    const dev2 = signerFor(ALG_EDDSA, 'dev2');
    const devId = deviceIdToHex(deviceIdFromKey(pubOf(dev2)));
    const profile = { kind: 'water-meter', readingTypes: ['volume'], firmware: FIRMWARE };
    const byDevice = await issueCertificate(c.device, kidOf(c.device), { iss: c.deviceIdHex, sub: devId, role: 'device', holderKey: pubOf(dev2), profile, ...win });
    expect(codeOfSync(() => validateChain([byDevice, c.deviceCert, c.agencyCert], c.anchors, NOW))).toBe('ROLE_VIOLATION');
    const byRoot = await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: devId, role: 'device', holderKey: pubOf(dev2), profile, ...win });
    expect(codeOfSync(() => validateChain([byRoot], c.anchors, NOW))).toBe('ROLE_VIOLATION');
  });

  it('algorithm policy: ALG_NOT_ALLOWED', () => {
    expect(codeOfSync(() => validateChain([c.agencyCert], c.anchors, NOW, { allowedAlgs: [ALG_ES256] }))).toBe('ALG_NOT_ALLOWED');
  });
});

describe('revocation', async () => {
  const c = await makeChain();
  it('agency revokes a device from a time on; earlier readings stay valid', async () => {
    const bytes = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW + 10, iat: NOW + 20 });
    const rev = verifyRevocation(bytes, c.deviceCert, pubOf(c.agency));
    expect(isRevokedAt(c.deviceCert, [rev], NOW + 9)).toBeUndefined();
    expect(isRevokedAt(c.deviceCert, [rev], NOW + 10)).toBeDefined();
    expect(codeOfSync(() => assertNotRevokedAt(c.deviceCert, [rev], NOW + 10))).toBe('CERT_REVOKED');
    expect(codeOfSync(() => validateChain([c.deviceCert, c.agencyCert], c.anchors, NOW + 11, { revocations: [rev] }))).toBe('CERT_REVOKED');
    expect(validateChain([c.deviceCert, c.agencyCert], c.anchors, NOW + 9, { revocations: [rev] }).leaf).toBeDefined();
  });
  it('root revokes an agency; nobody else may: ROLE_VIOLATION', async () => {
    const ok = await createRevocation(c.root, c.agencyCert, { reason: 'superseded', revokedFrom: NOW, iat: NOW });
    expect(verifyRevocation(ok, c.agencyCert, pubOf(c.root)).claims.reason).toBe('superseded');
    expect(await codeOf(() => createRevocation(c.agency, c.agencyCert, { reason: 'superseded', revokedFrom: NOW, iat: NOW }))).toBe('ROLE_VIOLATION');
    // a revocation signed by the device itself (forged by hand)
    const byDevice = await createRevocation(c.agency, c.deviceCert, { reason: 'decommissioned', revokedFrom: NOW, iat: NOW });
    expect(codeOfSync(() => verifyRevocation(byDevice, c.agencyCert, pubOf(c.root)))).toBe('CLAIM_INVALID');
    const dev = await createSign1({ signer: c.device, kid: kidOf(c.device), contentType: 65002, payload: decodeRevocation(byDevice).sign1.payload });
    expect(codeOfSync(() => verifyRevocation(dev, c.deviceCert, pubOf(c.device)))).toBe('ROLE_VIOLATION');
    expect(codeOfSync(() => verifyRevocation(byDevice, c.deviceCert, pubOf(c.root)))).toBe('UNKNOWN_KEY');
  });
  it('bad reason, bad signature', async () => {
    const bytes = await createRevocation(c.agency, c.deviceCert, { reason: 'keyCompromise', revokedFrom: NOW, iat: NOW });
    const m = new Map(decodeRevocationPayload(bytes));
    m.set(3, 'because');
    const bad = await createSign1({ signer: c.agency, kid: kidOf(c.agency), contentType: 65002, payload: encode(m) });
    expect(codeOfSync(() => decodeRevocation(bad))).toBe('CLAIM_INVALID');
    const flipped = bytes.slice();
    flipped[flipped.length - 3]! ^= 4;
    expect(codeOfSync(() => verifyRevocation(flipped, c.deviceCert, pubOf(c.agency)))).toBe('BAD_SIGNATURE');
  });
});

function decodeRevocationPayload(bytes: Uint8Array): Map<unknown, unknown> {
  const r = decodeRevocation(bytes);
  return new Map<unknown, unknown>([[1, r.claims.certRef], [2, r.claims.sub], [3, r.claims.reason], [4, r.claims.revokedFrom], [6, r.claims.iat]]);
}

void fromHex;
