/**
 * Adversarial review 2: "every byte of a bundle is covered" (README, Verify). A bundle of a device transferred between
 * agencies carries, beside its chain, the device key's earlier certificate from the previous agency, that agency's
 * certificate and the keyCompromise statement (protocol/key-compromise.ts). Only the first carried certificate of the
 * previous agency's key was checked: a second one, with any claims (another subject, an unsigned one), rode along in
 * a bundle that still verified VALID.
 */
import { describe, expect, test } from 'vitest';
import { createRevocation, decodeCertificate, issueCertificate } from '../../protocol/index.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { ALG_ES256, DAY, FIRMWARE, NOW, kidOf, pubOf, signerFor } from '../protocol/fixtures.js';
import { badSignature, c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';

const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };
const previous = signerFor(ALG_ES256, 'previous agency');
const issued = (iat: number) => ({ iat, nbf: iat, exp: NOW + 365 * DAY });

async function material() {
  const previousCert = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'previous.example', role: 'agency', holderKey: pubOf(previous), ...issued(NOW - 10 * DAY) }));
  const earlier = decodeCertificate(await issueCertificate(previous, kidOf(previous), { iss: 'previous.example', sub: c.deviceIdHex, role: 'device', holderKey: pubOf(c.device), ...issued(NOW - 3 * DAY), profile }));
  // compromised from after the reading: the reading stays valid
  const rev = await createRevocation(previous, earlier, { reason: 'keyCompromise', revokedFrom: NOW + 60, iat: NOW });
  return { previousCert, earlier, rev };
}

describe("a second certificate of the previous agency's key riding along", () => {
  test('the genuine bundle is VALID (control)', async () => {
    const { previousCert, earlier, rev } = await material();
    const b = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, earlier.bytes, previousCert.bytes], revocations: [rev] });
    expect([verifyBundle(b, trustWith()).valid, fails(verifyBundle(b, trustWith()))]).toEqual([true, []]);
  });

  test('the same certificate with a broken signature, or an unsigned one claiming another subject: not VALID', async () => {
    const { previousCert, earlier, rev } = await material();
    const forged = badSignature(previousCert.bytes);
    const other = signerFor(ALG_ES256, 'nobody');
    const unsigned = await issueCertificate(other, kidOf(other), { iss: 'root.example', sub: 'fbi.example', role: 'agency', holderKey: pubOf(previous), ...issued(NOW - DAY) });
    const verdict = async (rider: Uint8Array) => {
      const b = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, earlier.bytes, previousCert.bytes, rider], revocations: [rev] });
      const v = verifyBundle(b, trustWith());
      return [v.valid, fails(v)];
    };
    expect(await verdict(forged)).toEqual([false, [['revocation', 'BAD_SIGNATURE']]]);
    expect(await verdict(unsigned)).toEqual([false, [['revocation', 'UNKNOWN_KEY']]]);
    // the rider first: the same (it is checked whichever comes first)
    const b = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, earlier.bytes, forged, previousCert.bytes], revocations: [rev] });
    expect(fails(verifyBundle(b, trustWith()))).toEqual([['revocation', 'BAD_SIGNATURE']]);
  });
});
