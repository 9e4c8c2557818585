/**
 * The offline verifier and an agency renewed with the same key (protocol/agency-renewal.ts). A reading's entry pins
 * its device certificate (certRef), not the agency's; the gateway checks a reading against the agency key's current
 * (last registered) certificate, so a revocation of that certificate, whatever its reason, revokes the agency for
 * the readings it covers (gateway/registry.ts), and its bundle carries it as the agency certificate valid at the
 * reading's time. A bundle that carries an earlier certificate of the same key instead (still valid then, not
 * revoked) must not pass with the revocation list: a held revocation of a later certificate of the same key, valid at
 * the reading's time, is the chain agency's; one of an earlier (replaced) certificate is passed over unless it says
 * keyCompromise (as the gateway); a held revocation of another certificate of the agency's subject whose certificate
 * the verifier does not hold cannot be placed, and fails (UNKNOWN_KEY) instead of being passed over.
 */
import { describe, expect, test } from 'vitest';
import { createRevocation, decodeCertificate, issueCertificate, type DecodedCertificate, type RevocationReason } from '../../protocol/index.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { ALG_ES256, DAY, NOW, kidOf, pubOf, signerFor } from '../protocol/fixtures.js';
import { c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';

const READING_IAT = NOW; // sensorClaims' iat

/** Another certificate of the agency's subject by the root: its key (default the agency's), issued at `iat`. */
async function agencyCert(iat: number, o: { nbf?: number; holder?: ReturnType<typeof signerFor> } = {}): Promise<DecodedCertificate> {
  const holder = o.holder ?? c.agency;
  return decodeCertificate(await issueCertificate(c.root, kidOf(c.root), {
    iss: 'root.example', sub: 'psb.example', role: 'agency', holderKey: pubOf(holder), iat, nbf: o.nbf ?? iat, exp: NOW + 365 * DAY,
  }));
}

const revoke = (cert: DecodedCertificate, revokedFrom: number, reason: RevocationReason = 'cessationOfOperation') =>
  createRevocation(c.root, cert, { reason, revokedFrom, iat: NOW });

/** The reading's bundle with the agency certificate `agency` (default: c.agencyCert, issued at NOW - DAY). */
async function bundleWith(agency: DecodedCertificate = c.agencyCert, revocations: Uint8Array[] = []) {
  return make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, agency.bytes], revocations });
}

describe('offline verify: an agency certificate renewed with the same key', () => {
  test('the honest bundle (the renewed certificate, revoked) is CERT_REVOKED', async () => {
    const a2 = await agencyCert(NOW - DAY / 2);
    const rev = await revoke(a2, READING_IAT - 60);
    expect(fails(verifyBundle(await bundleWith(a2, [rev]), trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
    expect(fails(verifyBundle(await bundleWith(a2), trustWith(), { revocations: [rev] }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('a bundle carrying the earlier certificate instead is CERT_REVOKED too, given the revocation and its certificate', async () => {
    const a2 = await agencyCert(NOW - DAY / 2);
    const rev = await revoke(a2, READING_IAT - 60);
    const swapped = await bundleWith(c.agencyCert);
    expect(verifyBundle(swapped, trustWith()).valid).toBe(true); // nothing held: nothing to see
    expect(fails(verifyBundle(swapped, trustWith(), { revocations: [rev], certificates: [a2.bytes] }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('UNKNOWN_KEY, not passed over: a held revocation of another certificate of the agency without that certificate', async () => {
    const a2 = await agencyCert(NOW - DAY / 2);
    const rev = await revoke(a2, READING_IAT - 60);
    expect(fails(verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [rev] }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    // one that does not cover the reading's time cannot matter, whichever certificate it names
    expect(verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [await revoke(a2, READING_IAT + 1)] }).valid).toBe(true);
  });

  test('a revocation of an earlier (replaced) certificate of the key is passed over unless keyCompromise, as the gateway does', async () => {
    const a2 = await agencyCert(NOW - DAY / 2);
    for (const reason of ['superseded', 'cessationOfOperation', 'unspecified'] as const) {
      const rev = await revoke(c.agencyCert, READING_IAT - 60, reason);
      const v = verifyBundle(await bundleWith(a2), trustWith(), { revocations: [rev], certificates: [c.agencyCert.bytes] });
      expect([reason, v.valid, fails(v)]).toEqual([reason, true, []]);
    }
    const compromise = await revoke(c.agencyCert, READING_IAT - 60, 'keyCompromise');
    expect(fails(verifyBundle(await bundleWith(a2), trustWith(), { revocations: [compromise], certificates: [c.agencyCert.bytes] }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // without the certificate it names, it cannot be placed
    expect(fails(verifyBundle(await bundleWith(a2), trustWith(), { revocations: [compromise] }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
  });

  test('a later certificate not valid at the reading\'s time does not govern it (the gateway\'s bundle carries the earlier one)', async () => {
    const a2 = await agencyCert(NOW + 60, { nbf: NOW + 60 });
    const rev = await revoke(a2, READING_IAT - 60);
    const v = verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [rev], certificates: [a2.bytes] });
    expect([v.valid, fails(v)]).toEqual([true, []]);
  });

  test('a certificate of the same subject for another key (the agency re-keyed) is passed over', async () => {
    const other = await agencyCert(NOW - DAY / 2, { holder: signerFor(ALG_ES256, 'agency re-keyed') });
    const rev = await revoke(other, READING_IAT - 60);
    const v = verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [rev], certificates: [other.bytes] });
    expect([v.valid, fails(v)]).toEqual([true, []]);
  });

  test('a held certificate is checked: one not signed by the root, or not the one the revocation names, does not place it', async () => {
    const a2 = await agencyCert(NOW - DAY / 2);
    const rev = await revoke(a2, READING_IAT - 60);
    const forged = a2.bytes.slice();
    forged[forged.length - 1]! ^= 1; // another certRef: the revocation still names no certificate held
    expect(fails(verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [rev], certificates: [forged] }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    // one that does not decode is left aside: it places nothing, and fails nothing it has no part in
    const junk = new Uint8Array([0xa0]);
    expect(fails(verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [rev], certificates: [junk] }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    expect(fails(verifyBundle(await bundleWith(c.agencyCert), trustWith(), { revocations: [rev], certificates: [junk, a2.bytes] }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});
