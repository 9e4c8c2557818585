/**
 * Adversarial review: a device key declared compromised by the agency that certified it before a transfer. The
 * gateway treats a keyCompromise revocation of any certificate of a key as revoking the key (gateway/registry-view.ts),
 * and its bundle carries the earlier certificate, its issuer's certificate and the statement (key-compromise.test.ts).
 * A forger strips those three from the bundle; the verifier holding the log's whole revocation list
 * must not answer VALID for a reading signed after revokedFrom (one it brings with --revocations alone, unverifiable,
 * is passed over: key-compromise.test.ts).
 */
import { describe, expect, test } from 'vitest';
import { ENTRY_AGENCY_REGISTRATION, ENTRY_DEVICE_REGISTRATION, createRevocation, decodeCertificate, encodeLogEntry, issueCertificate } from '../../protocol/index.js';
import { signCheckpoint } from '../../protocol/checkpoint.js';
import { commitRevocations, revocationsExtension } from '../../protocol/revocation-log.js';
import { verifyBundle } from '../../protocol/verify-bundle.js';
import { ALG_ES256, DAY, FIRMWARE, NOW, kidOf, pubOf, signerFor } from '../protocol/fixtures.js';
import { CP, ORIGIN, RECEIVED_MS, c, fails, make, readingEntry, trustWith } from './bundle-fixtures.js';

const profile = { kind: 'temperature-sensor', readingTypes: ['temperature'], firmware: FIRMWARE };
const previous = signerFor(ALG_ES256, 'previous agency');

async function material() {
  const issued = { iat: NOW - 10 * DAY, nbf: NOW - 10 * DAY, exp: NOW + 365 * DAY };
  const previousCert = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: 'previous.example', role: 'agency', holderKey: pubOf(previous), ...issued }));
  const earlier = decodeCertificate(await issueCertificate(previous, kidOf(previous), { iss: 'previous.example', sub: c.deviceIdHex, role: 'device', holderKey: pubOf(c.device), ...issued, profile }));
  const rev = await createRevocation(previous, earlier, { reason: 'keyCompromise', revokedFrom: NOW - 60, iat: NOW });
  return { previousCert, earlier, rev };
}

describe('a keyCompromise of the device key by its previous agency, stripped from the bundle', () => {
  test('the stripped bundle is not VALID against the log revocation list that holds the statement', async () => {
    const { previousCert, earlier, rev } = await material();
    const stripped = await make({ entries: [await readingEntry()] });
    const list = [{ index: 3, statement: rev }];
    const checkpoint = await signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7), extensions: [revocationsExtension(commitRevocations(list))] }, CP);
    const v = verifyBundle(stripped, trustWith(), { revocationLog: { checkpoint, revocations: list } });
    expect(v.valid).toBe(false);
    expect(fails(v)).toEqual([['revocation', 'UNKNOWN_KEY']]);
    // with the certificate it names and its agency's at hand (--certificates): placed, CERT_REVOKED
    const placed = verifyBundle(stripped, trustWith(), { revocationLog: { checkpoint, revocations: list }, certificates: [earlier.bytes, previousCert.bytes] });
    expect(fails(placed)).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('a statement the verifier brings (--revocations) with the certificate and its agency\'s (--certificates): CERT_REVOKED', async () => {
    const { previousCert, earlier, rev } = await material();
    const stripped = await make({ entries: [await readingEntry()] });
    const v = verifyBundle(stripped, trustWith(), { revocations: [rev], certificates: [earlier.bytes, previousCert.bytes] });
    expect(fails(v)).toEqual([['revocation', 'CERT_REVOKED']]);
  });

  test('passed over: a release (affiliationChanged) by the previous agency, or a keyCompromise from after the reading', async () => {
    const { earlier } = await material();
    const stripped = await make({ entries: [await readingEntry()] });
    const release = await createRevocation(previous, earlier, { reason: 'affiliationChanged', revokedFrom: NOW - 60, iat: NOW });
    const later = await createRevocation(previous, earlier, { reason: 'keyCompromise', revokedFrom: NOW + 1, iat: NOW });
    const v = verifyBundle(stripped, trustWith(), { revocations: [release, later] });
    expect([v.valid, fails(v)]).toEqual([true, []]);
  });

  test('the full gateway bundle is CERT_REVOKED (control)', async () => {
    const { previousCert, earlier, rev } = await material();
    const full = await make({ entries: [await readingEntry()], certificates: [c.deviceCert.bytes, c.agencyCert.bytes, earlier.bytes, previousCert.bytes], revocations: [rev] });
    expect(fails(verifyBundle(full, trustWith()))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});

describe('the same, for the device registration entry of the current certificate', () => {
  test('UNKNOWN_KEY against the log revocation list, CERT_REVOKED with the certificates at hand; valid without the statement', async () => {
    const { previousCert, earlier, rev } = await material();
    const entry = encodeLogEntry({ type: ENTRY_DEVICE_REGISTRATION, index: 0, receivedAtMs: RECEIVED_MS, payload: c.deviceCert.bytes, certRef: c.agencyCert.certRef });
    const stripped = await make({ entries: [entry], certificates: [c.agencyCert.bytes] });
    expect(fails(verifyBundle(stripped, trustWith()))).toEqual([]);
    const list = [{ index: 3, statement: rev }];
    const checkpoint = await signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7), extensions: [revocationsExtension(commitRevocations(list))] }, CP);
    expect(fails(verifyBundle(stripped, trustWith(), { revocationLog: { checkpoint, revocations: list } }))).toEqual([['revocation', 'UNKNOWN_KEY']]);
    const placed = verifyBundle(stripped, trustWith(), { revocationLog: { checkpoint, revocations: list }, certificates: [earlier.bytes, previousCert.bytes] });
    expect(fails(placed)).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});

describe("a device registration by an agency whose key the log says is compromised (through another of its certificates)", () => {
  test('CERT_REVOKED against the log revocation list that carries that certificate beside the statement', async () => {
    const earlierAgency = decodeCertificate(await issueCertificate(c.root, kidOf(c.root), { iss: 'root.example', sub: c.agencyCert.claims.sub, role: 'agency', holderKey: pubOf(c.agency), iat: NOW - 20 * DAY, nbf: NOW - 20 * DAY, exp: NOW + 365 * DAY }));
    const rev = await createRevocation(c.root, earlierAgency, { reason: 'keyCompromise', revokedFrom: NOW - 60, iat: NOW });
    const entry = encodeLogEntry({ type: ENTRY_DEVICE_REGISTRATION, index: 0, receivedAtMs: RECEIVED_MS, payload: c.deviceCert.bytes, certRef: c.agencyCert.certRef });
    const stripped = await make({ entries: [entry], certificates: [c.agencyCert.bytes] });
    const list = [{ index: 3, statement: rev, certificate: earlierAgency.bytes }];
    const checkpoint = await signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7), extensions: [revocationsExtension(commitRevocations(list))] }, CP);
    expect(fails(verifyBundle(stripped, trustWith(), { revocationLog: { checkpoint, revocations: list } }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // the agency's own registration entry (of its current certificate)
    const agencyEntry = encodeLogEntry({ type: ENTRY_AGENCY_REGISTRATION, index: 0, receivedAtMs: RECEIVED_MS, payload: c.agencyCert.bytes });
    const registration = await make({ entries: [agencyEntry], certificates: [] });
    expect(fails(verifyBundle(registration, trustWith()))).toEqual([]);
    expect(fails(verifyBundle(registration, trustWith(), { revocationLog: { checkpoint, revocations: list } }))).toEqual([['revocation', 'CERT_REVOKED']]);
    // another reason (superseded) revokes no key: passed over
    const superseded = [{ index: 3, statement: await createRevocation(c.root, earlierAgency, { reason: 'superseded', revokedFrom: NOW - 60, iat: NOW }), certificate: earlierAgency.bytes }];
    const cp2 = await signCheckpoint({ origin: ORIGIN, size: 5, root: new Uint8Array(32).fill(7), extensions: [revocationsExtension(commitRevocations(superseded))] }, CP);
    expect(fails(verifyBundle(stripped, trustWith(), { revocationLog: { checkpoint: cp2, revocations: superseded } }))).toEqual([]);
    // a reading of that time, for comparison (agency-renewal.ts)
    const reading = await make({ entries: [await readingEntry()] });
    expect(fails(verifyBundle(reading, trustWith(), { revocationLog: { checkpoint, revocations: list } }))).toEqual([['revocation', 'CERT_REVOKED']]);
  });
});
