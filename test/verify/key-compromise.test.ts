/**
 * The offline verifier and a keyCompromise revocation of an earlier certificate of the same key
 * (protocol/key-compromise.ts): the key is revoked, so a reading it signed from revokedFrom on is CERT_REVOKED under
 * whichever certificate it was admitted; one signed before stays valid. What the bundle carries for it must each be
 * verified and needed: the earlier certificate (signed by its issuer), its keyCompromise revocation, and for a
 * device certificate from another agency that agency's certificate, signed by a trusted root.
 */
import { describe, expect, test } from 'vitest';
import {
  anchorFromRootCertificate, createRevocation, decodeCertificate, deviceIdFromKey, deviceIdToHex, issueCertificate, toBase64, parseTrust,
  type DecodedCertificate, type RevocationReason,
} from '../../protocol/index.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { ALG_EDDSA, ALG_ES256, DAY, FIRMWARE, NOW, kidOf, pubOf, signerFor } from '../protocol/fixtures.js';
import { CP, badSignature, c, fails, make, readingEntry, trustWith, vkey } from './bundle-fixtures.js';

const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };
const READING_IAT = NOW; // sensorClaims' iat
const issued = (iat: number) => ({ iat, nbf: iat, exp: NOW + 365 * DAY });

/** The device's key certified earlier by `issuer` (the chain's agency unless said). */
async function earlierDeviceCert(issuer = c.agency, iss = 'psb.example'): Promise<DecodedCertificate> {
  return decodeCertificate(await issueCertificate(issuer, kidOf(issuer), { iss, sub: c.deviceIdHex, role: 'device', holderKey: pubOf(c.device), ...issued(NOW - 3 * DAY), profile }));
}

const revoke = (issuer = c.agency, cert: DecodedCertificate, revokedFrom: number, reason: RevocationReason = 'keyCompromise') =>
  createRevocation(issuer, cert, { reason, revokedFrom, iat: NOW });

/** A reading admitted under the current device certificate, its bundle carrying `certificates` after the chain. */
async function bundleWith(extraCerts: Uint8Array[], revocations: Uint8Array[], chain = [c.deviceCert.bytes, c.agencyCert.bytes]) {
  return make({ entries: [await readingEntry()], certificates: [...chain, ...extraCerts], revocations });
}

describe('offline verify: keyCompromise through an earlier certificate of the device key', () => {
  test('CERT_REVOKED for a reading signed at or after revokedFrom; valid before it', async () => {
    const earlier = await earlierDeviceCert();
    const at = await bundleWith([earlier.bytes], [await revoke(c.agency, earlier, READING_IAT)]);
    expect(fails(verifyBundle(at, trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
    const before = await bundleWith([earlier.bytes], [await revoke(c.agency, earlier, READING_IAT + 1)]);
    const v = verifyBundle(before, trustWith());
    expect([v.valid, fails(v)]).toEqual([true, []]);
  });

  test('a revocation the verifier holds counts as one the bundle carries', async () => {
    const earlier = await earlierDeviceCert();
    const held = await revoke(c.agency, earlier, READING_IAT - 60);
    const b = await bundleWith([earlier.bytes], []);
    expect(fails(verifyBundle(b, trustWith(), { revocations: [held] }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('CLAIM_INVALID: an earlier certificate without its keyCompromise revocation, or with a revocation for another reason', async () => {
    const earlier = await earlierDeviceCert();
    expect(fails(verifyBundle(await bundleWith([earlier.bytes], []), trustWith()))).toEqual([['revocation', 'CLAIM_INVALID']]);
    const other = await revoke(c.agency, earlier, READING_IAT - 60, 'superseded');
    expect(fails(verifyBundle(await bundleWith([earlier.bytes], [other]), trustWith()))).toEqual([['revocation', 'CLAIM_INVALID']]);
    // held by the verifier, a superseded statement of an earlier certificate is passed over (it revokes no key)
    const withCompromise = await bundleWith([earlier.bytes], [await revoke(c.agency, earlier, READING_IAT + 1)]);
    expect(verifyBundle(withCompromise, trustWith(), { revocations: [other] }).valid).toBe(true);
  });

  test('BAD_SIGNATURE: an earlier certificate not signed by its issuer', async () => {
    const earlier = await earlierDeviceCert();
    const b = await bundleWith([badSignature(earlier.bytes)], [await revoke(c.agency, earlier, READING_IAT - 60)]);
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['revocation', 'BAD_SIGNATURE']]);
  });

  test('CHAIN_INVALID: the device certificate carried twice, or a certificate of another key', async () => {
    expect(fails(verifyBundle(await bundleWith([c.deviceCert.bytes], []), trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
    const stranger = signerFor(ALG_EDDSA, 'another device');
    const foreign = await issueCertificate(c.agency, kidOf(c.agency), { iss: 'psb.example', sub: deviceIdToHex(deviceIdFromKey(pubOf(stranger))), role: 'device', holderKey: pubOf(stranger), ...issued(NOW - DAY), profile });
    expect(fails(verifyBundle(await bundleWith([foreign], []), trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
    // the device's key certified as an agency (by the root): not another certificate of the device, whatever it says
    const asAgency = await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'odd.example', role: 'agency', holderKey: pubOf(c.device), ...issued(NOW - DAY) });
    expect(fails(verifyBundle(await bundleWith([asAgency], []), trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
  });

  test('the earlier certificate may come first: the device certificate is the one the entry names', async () => {
    const earlier = await earlierDeviceCert();
    const b = await bundleWith([], [await revoke(c.agency, earlier, READING_IAT)], [earlier.bytes, c.deviceCert.bytes, c.agencyCert.bytes]);
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});

describe('offline verify: an earlier certificate from another agency (before a transfer)', () => {
  const previous = signerFor(ALG_ES256, 'previous agency');
  const previousCert = async (root = c.root, iss = 'root.example') =>
    decodeCertificate(await issueCertificate(root, kidOf(root), { iss, sub: 'previous.example', role: 'agency', holderKey: pubOf(previous), ...issued(NOW - 10 * DAY) }));

  test('CERT_REVOKED with the previous agency certificate, signed by a trusted root', async () => {
    const earlier = await earlierDeviceCert(previous, 'previous.example');
    const b = await bundleWith([earlier.bytes, (await previousCert()).bytes], [await revoke(previous, earlier, READING_IAT - 60)]);
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test("UNKNOWN_KEY without the previous agency's certificate, or with one from an untrusted root; BAD_SIGNATURE with a forged one", async () => {
    const earlier = await earlierDeviceCert(previous, 'previous.example');
    const rev = await revoke(previous, earlier, READING_IAT - 60);
    expect(fails(verifyBundle(await bundleWith([earlier.bytes], [rev]), trustWith()))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    const otherRoot = signerFor(ALG_EDDSA, 'untrusted root');
    const untrusted = await previousCert(otherRoot, 'untrusted.example');
    expect(fails(verifyBundle(await bundleWith([earlier.bytes, untrusted.bytes], [rev]), trustWith()))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    const forged = badSignature((await previousCert()).bytes);
    expect(fails(verifyBundle(await bundleWith([earlier.bytes, forged], [rev]), trustWith()))).toEqual([['revocation', 'BAD_SIGNATURE']]);
  });

  test('CHAIN_INVALID: an agency certificate that issued no carried certificate', async () => {
    const b = await bundleWith([(await previousCert()).bytes], []);
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['chain', 'CHAIN_INVALID']]);
  });
});

describe('offline verify: keyCompromise through an earlier certificate of the agency key', () => {
  const earlierAgency = async (root = c.root, iss = 'root.example') =>
    decodeCertificate(await issueCertificate(root, kidOf(root), { iss, sub: 'psb.example', role: 'agency', holderKey: pubOf(c.agency), ...issued(NOW - 5 * DAY) }));

  test('CERT_REVOKED from revokedFrom; valid before it; the chain uses the agency certificate of the reading time', async () => {
    const earlier = await earlierAgency();
    const at = await bundleWith([earlier.bytes], [await revoke(c.root, earlier, READING_IAT)]);
    expect(fails(verifyBundle(at, trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
    const before = await bundleWith([], [await revoke(c.root, earlier, READING_IAT + 1)], [c.deviceCert.bytes, earlier.bytes, c.agencyCert.bytes]);
    expect(fails(verifyBundle(before, trustWith()))).toEqual([]);
  });

  test('UNKNOWN_KEY: an earlier agency certificate from a root the verifier does not trust', async () => {
    const otherRoot = signerFor(ALG_EDDSA, 'untrusted root');
    const earlier = await earlierAgency(otherRoot, 'untrusted.example');
    const b = await bundleWith([earlier.bytes], [await revoke(otherRoot, earlier, READING_IAT)]);
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    // trusting that root too, the compromise is seen
    const otherRootCert = await issueCertificate(otherRoot, kidOf(otherRoot), { iss: 'untrusted.example', sub: 'untrusted.example', role: 'root', holderKey: pubOf(otherRoot), ...issued(NOW - 10 * DAY) });
    anchorFromRootCertificate(otherRootCert); // a valid root certificate
    const both = parseTrust({ roots: [{ certificate: toBase64(c.rootCert.bytes) }, { certificate: toBase64(otherRootCert) }], checkpointKeys: [vkey(CP)], origin: 'tamper.example/log' });
    expect(fails(verifyBundle(b, both))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});

describe("offline verify: the device's agency declares the device key compromised through another certificate", () => {
  // A device's subject is its key's id, so a keyCompromise statement by its agency about any certificate of that
  // subject revokes the key: taken from the verifier's own revocations even when the bundle carries neither.
  test('CERT_REVOKED from a revocation the verifier brings, the bundle stripped to its chain; valid before revokedFrom', async () => {
    const earlier = await earlierDeviceCert();
    expect(fails(verifyBundle(await bundleWith([], []), trustWith(), { revocations: [await revoke(c.agency, earlier, READING_IAT)] }))).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(verifyBundle(await bundleWith([], []), trustWith(), { revocations: [await revoke(c.agency, earlier, READING_IAT + 1)] }).valid).toBe(true);
  });

  test('carried in the bundle without the certificate it names: taken; BAD_SIGNATURE when forged', async () => {
    const earlier = await earlierDeviceCert();
    const rev = await revoke(c.agency, earlier, READING_IAT - 60);
    expect(fails(verifyBundle(await bundleWith([], [rev]), trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(fails(verifyBundle(await bundleWith([], [badSignature(rev)]), trustWith()))).toEqual([['revocation', 'BAD_SIGNATURE']]);
  });

  test('CLAIM_INVALID: a statement about another certificate of the subject for another reason', async () => {
    const earlier = await earlierDeviceCert();
    const rev = await revoke(c.agency, earlier, READING_IAT - 60, 'superseded');
    expect(fails(verifyBundle(await bundleWith([], [rev]), trustWith()))).toEqual([['revocation', 'CLAIM_INVALID']]);
  });

  test("another agency's statement needs its certificates: without them a held one is passed over", async () => {
    const previous = signerFor(ALG_ES256, 'previous agency');
    const earlier = await earlierDeviceCert(previous, 'previous.example');
    const v = verifyBundle(await bundleWith([], []), trustWith(), { revocations: [await revoke(previous, earlier, READING_IAT - 60)] });
    expect(v.valid).toBe(true);
  });
});

describe('offline verify: a device revocation signed by an agency key revoked for keyCompromise', () => {
  // gateway/registry.ts revoke refuses such a statement (CERT_REVOKED) once the compromise is in effect: whoever stole
  // the agency key could revoke its devices from a time before the theft and void their logged readings. A statement
  // the verifier brings (--revocations) was counted anyway; now it counts only if signed (iat) before the compromise.
  const COMPROMISED_FROM = READING_IAT + 60; // after the reading: the agency's own revocation does not cover it
  const agencyCompromise = () => createRevocation(c.root, c.agencyCert, { reason: 'keyCompromise', revokedFrom: COMPROMISED_FROM, iat: COMPROMISED_FROM });
  const deviceRevocation = (iat: number, reason: RevocationReason = 'decommissioned') =>
    createRevocation(c.agency, c.deviceCert, { reason, revokedFrom: READING_IAT - 3600, iat });

  test('passed over when signed at or after the compromise (the bundle carrying the agency compromise, as the gateway makes it)', async () => {
    const b = await bundleWith([], [await agencyCompromise()]);
    expect(verifyBundle(b, trustWith()).valid).toBe(true);
    for (const iat of [COMPROMISED_FROM, COMPROMISED_FROM + DAY]) {
      const v = verifyBundle(b, trustWith(), { revocations: [await deviceRevocation(iat)] });
      expect([v.valid, fails(v)], `device revocation issued at ${iat}`).toEqual([true, []]);
    }
    // a keyCompromise of the device's subject by that key (key-compromise.ts) is passed over the same way
    const earlier = await earlierDeviceCert();
    const subject = await createRevocation(c.agency, earlier, { reason: 'keyCompromise', revokedFrom: READING_IAT - 60, iat: COMPROMISED_FROM });
    expect(verifyBundle(b, trustWith(), { revocations: [subject] }).valid).toBe(true);
  });

  test('the agency compromise held by the verifier too, or named through an earlier certificate of the agency key', async () => {
    const b = await bundleWith([], []);
    const v = verifyBundle(b, trustWith(), { revocations: [await agencyCompromise(), await deviceRevocation(COMPROMISED_FROM + 1)] });
    expect([v.valid, fails(v)]).toEqual([true, []]);
    const earlierAgency = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(c.agency), ...issued(NOW - 5 * DAY) }));
    const through = await createRevocation(c.root, earlierAgency, { reason: 'keyCompromise', revokedFrom: COMPROMISED_FROM, iat: COMPROMISED_FROM });
    const viaEarlier = verifyBundle(await bundleWith([earlierAgency.bytes], [through]), trustWith(), { revocations: [await deviceRevocation(COMPROMISED_FROM + 1)] });
    expect([viaEarlier.valid, fails(viaEarlier)]).toEqual([true, []]);
  });

  test('still CERT_REVOKED when signed before the compromise, or when the agency was revoked for another reason', async () => {
    const b = await bundleWith([], [await agencyCompromise()]);
    expect(fails(verifyBundle(b, trustWith(), { revocations: [await deviceRevocation(COMPROMISED_FROM - 1)] }))).toEqual([['revocation', 'CERT_REVOKED']]);
    const retired = await createRevocation(c.root, c.agencyCert, { reason: 'cessationOfOperation', revokedFrom: COMPROMISED_FROM, iat: COMPROMISED_FROM });
    const other = await bundleWith([], [retired]);
    expect(fails(verifyBundle(other, trustWith(), { revocations: [await deviceRevocation(COMPROMISED_FROM + 1)] }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test("one the bundle carries still counts: the gateway logged it (it took it before it knew of the compromise)", async () => {
    const b = await bundleWith([], [await deviceRevocation(COMPROMISED_FROM + 1), await agencyCompromise()]);
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});
